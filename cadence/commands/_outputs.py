"""Options shared by the commands that run the live pipeline (``run``, ``replay``): the runner's
profile and alert rules, and the sinks (console, audio, MQTT)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cadence.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from cadence.alerts import AlertRules
    from cadence.events import RunTotals
    from cadence.profile import RunnerProfile
    from cadence.recording import Recorder
    from cadence.sinks import Sink
    from cadence.source import Source

DEFAULT_MQTT_PORT = 1883


@dataclass(slots=True)
class Outputs:
    """What the options asked for: rules (None: no alerts) and the sinks, in publish order."""

    rules: AlertRules | None
    sinks: list[Sink]
    profile_path: Path
    profile_had_baseline: bool

    def coach(
        self,
        source: Source,
        *,
        placement: str | None,
        recorder: Recorder | None,
        totals: RunTotals,
    ) -> Coroutine[Any, Any, RunTotals]:
        """The live pipeline from ``source`` to these rules and sinks (and the recorder)."""
        from cadence.pipeline import run_pipeline

        return run_pipeline(
            source,
            placement=placement,
            rules=self.rules,
            sinks=self.sinks,
            recorder=recorder,
            totals=totals,
        )


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return value


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    from cadence.profile import DEFAULT_PROFILE_PATH

    coach = parser.add_argument_group("coaching")
    coach.add_argument(
        "--profile", type=Path, default=DEFAULT_PROFILE_PATH, metavar="FILE",
        help=f"runner profile (default {DEFAULT_PROFILE_PATH}); without a baseline in it, the "
        "first minutes of running are learnt as one, and `cadence run` saves it there",
    )  # fmt: skip
    coach.add_argument(
        "--target", type=float, metavar="SPM", help="target cadence for this run (steps/min)"
    )
    coach.add_argument("--no-alerts", action="store_true", help="no alert rules")
    sound = parser.add_argument_group("sound")
    sound.add_argument("--no-audio", action="store_true", help="no cues, speech or metronome")
    sound.add_argument("--no-speech", action="store_true", help="cues without spoken messages")
    sound.add_argument(
        "--metronome", nargs="?", const=-1.0, type=float, metavar="SPM",
        help="play a metronome (default: at the target cadence)",
    )  # fmt: skip
    screen = parser.add_argument_group("screen")
    screen.add_argument(
        "--console", action=argparse.BooleanOptionalAction, default=True,
        help="live view on the terminal (default on)",
    )  # fmt: skip
    mqtt = parser.add_argument_group("MQTT")
    mqtt.add_argument(
        "--mqtt", metavar="HOST[:PORT]", help="publish metrics and alerts to this broker"
    )
    mqtt.add_argument("--runner", metavar="NAME", help="runner name in the topics")
    mqtt.add_argument("--mqtt-username", metavar="USER")
    mqtt.add_argument(
        "--mqtt-password-env", metavar="VAR", help="read the MQTT password from this variable"
    )
    mqtt.add_argument("--mqtt-tls", action="store_true", help="connect with TLS")
    mqtt.add_argument("--mqtt-ca", type=Path, metavar="FILE", help="CA certificate for TLS")


def build_outputs(args: argparse.Namespace) -> Outputs:
    profile_path = Path(args.profile).expanduser()
    profile = _load_or_new_profile(profile_path)
    if args.target is not None:
        profile = replace(profile, target_cadence_spm=args.target)
    rules = None
    if not args.no_alerts:
        from cadence.alerts import AlertRules

        rules = AlertRules(profile=profile)
    sinks: list[Sink] = []
    if args.console:
        from cadence.sinks.console import ConsoleSink

        sinks.append(ConsoleSink(stream=sys.stdout))
    if not args.no_audio:
        from cadence.sinks.audio import AudioSink

        sinks.append(
            AudioSink(metronome_spm=_metronome_spm(args, profile), speak=not args.no_speech)
        )
    if args.mqtt:
        sinks.append(_mqtt_sink(args, profile))
    return Outputs(rules, sinks, profile_path, profile.baseline is not None)


def save_learnt_baseline(outputs: Outputs) -> Path | None:
    """Keep a baseline learnt during the run in the profile; returns where it was saved."""
    from cadence.profile import save_profile

    rules = outputs.rules
    if rules is None or outputs.profile_had_baseline or rules.profile.baseline is None:
        return None
    return save_profile(rules.profile, outputs.profile_path)


def _load_or_new_profile(path: Path) -> RunnerProfile:
    from cadence.profile import RunnerProfile, load_profile

    if not path.exists():
        return RunnerProfile()
    return load_profile(path)


def _metronome_spm(args: argparse.Namespace, profile: RunnerProfile) -> float | None:
    if args.metronome is None:
        return None
    if args.metronome > 0:
        return float(args.metronome)
    if profile.target_spm is None:
        raise ConfigurationError(
            "--metronome without SPM needs a target cadence: give --target or --metronome SPM"
        )
    return profile.target_spm


def _mqtt_sink(args: argparse.Namespace, profile: RunnerProfile) -> Sink:
    from cadence.sinks.mqtt import MqttSink

    host, _, port_text = str(args.mqtt).rpartition(":") if ":" in args.mqtt else (args.mqtt, "", "")
    try:
        port = int(port_text) if port_text else DEFAULT_MQTT_PORT
    except ValueError:
        raise ConfigurationError(f"--mqtt {args.mqtt}: the port must be a number") from None
    password = None
    if args.mqtt_password_env:
        password = os.environ.get(args.mqtt_password_env)
        if password is None:
            raise ConfigurationError(f"--mqtt-password-env: ${args.mqtt_password_env} is not set")
    return MqttSink(
        runner=args.runner or profile.name,
        hostname=host,
        port=port,
        username=args.mqtt_username,
        password=password,
        tls=args.mqtt_tls,
        tls_ca_file=args.mqtt_ca,
    )
