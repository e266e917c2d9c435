"""``cadence simulate``: write a synthetic run (trace CSV v1, its truth and its per-step file).

Times on the command line are minutes unless they end in ``s`` (seconds) or ``m`` (minutes):
``--overstride 10:12`` is minute 10 to 12, ``--dropout 95s:3s`` a 3-second gap at 95 s.
"""

from __future__ import annotations

import argparse
import re

from cadence.errors import ConfigurationError

PLACEMENTS = ("sacrum", "shank", "foot")
_TIME = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([sm]?)\s*")


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subcommands.add_parser(
        "simulate",
        help="generate a synthetic run with known foot contacts (for tests and benchmarks)",
        description="Generate the accelerometer trace of a synthetic runner built from "
        "waveforms learnt on real recordings, with its truth: run.csv (trace CSV v1), "
        "run.truth.csv (foot contacts) and run.episodes.csv (every step: cadence, contact "
        "time, step length, speed, overstriding). Times are minutes unless they end in 's' "
        "(seconds) or 'm' (minutes). Options: docs/simulate.md.",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="RUN.csv", help="trace file to write"
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="run length (default 30)")
    parser.add_argument(
        "--cadence",
        default="172:158",
        metavar="PROFILE",
        help="steps/min: '172' constant, '172:158' (or more values) spread evenly over the "
        "run, or 'TIME=SPM,...' knots such as '0=172,20=158' (default 172:158)",
    )
    parser.add_argument(
        "--placement",
        choices=PLACEMENTS,
        default="sacrum",
        help="sensor on the sacrum (both feet in the truth) or on the left shank or shoe "
        "(that leg's contacts only); default sacrum",
    )
    parser.add_argument("--fs-hz", type=float, default=100.0, help="sample rate (default 100)")
    parser.add_argument("--speed", type=float, default=3.33, help="m/s (default 3.33)")
    parser.add_argument("--slope", type=float, default=0.0, help="treadmill slope %% (0)")
    parser.add_argument(
        "--overstride",
        action="append",
        default=[],
        metavar="START:END",
        help="an overstriding episode (repeatable): lower cadence at the same speed, longer "
        "contacts, harder impact and braking",
    )
    parser.add_argument(
        "--overstride-drop",
        type=float,
        default=0.06,
        metavar="FRACTION",
        help="cadence drop while overstriding (default 0.06)",
    )
    parser.add_argument(
        "--dropout",
        action="append",
        default=[],
        metavar="START:DURATION",
        help="a span with no samples (repeatable), e.g. 5:2s",
    )
    parser.add_argument(
        "--noise", type=float, default=0.02, metavar="G", help="white noise SD in g (0.02)"
    )
    parser.add_argument(
        "--range-g", type=float, default=16.0, metavar="G", help="sensor range: clip at +/-G (16)"
    )
    parser.add_argument(
        "--jitter-ms", type=float, default=0.0, metavar="MS", help="sample-time jitter SD (0)"
    )
    parser.add_argument(
        "--step-cv", type=float, default=0.015, metavar="CV", help="step-time variability (0.015)"
    )
    parser.add_argument(
        "--asymmetry",
        type=float,
        default=0.02,
        metavar="FRACTION",
        help="left/right difference in step time and impact (0.02)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(run=run)


def parse_time_s(text: str) -> float:
    """'90s' -> 90, '20m' or '20' -> 1200."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise ConfigurationError(f"{text!r} is not a time: use minutes, or e.g. 90s or 20m")
    value = float(match.group(1))
    return value if match.group(2) == "s" else 60.0 * value


def parse_span(text: str, option: str) -> tuple[float, float]:
    """'START:SECOND' -> both in seconds."""
    first, colon, second = text.partition(":")
    if not colon:
        raise ConfigurationError(f"{option} {text!r}: expected two times joined by ':'")
    return parse_time_s(first), parse_time_s(second)


def parse_cadence(text: str, duration_s: float) -> tuple[tuple[float, float], ...]:
    """A cadence profile as (time_s, spm) knots; see ``--cadence``."""
    try:
        if "=" in text:
            points = []
            for item in text.split(","):
                time_text, _, spm_text = item.partition("=")
                points.append((parse_time_s(time_text), float(spm_text)))
            return tuple(points)
        values = [float(value) for value in text.split(":")]
    except ValueError:
        raise ConfigurationError(f"--cadence {text!r}: not a cadence profile") from None
    if len(values) == 1:
        return ((0.0, values[0]),)
    step = duration_s / (len(values) - 1)
    return tuple((index * step, value) for index, value in enumerate(values))


def run(args: argparse.Namespace) -> int:
    from sim.synthetic import RunnerConfig, simulate, write_run

    duration_s = 60.0 * args.minutes
    config = RunnerConfig(
        duration_s=duration_s,
        cadence_points=parse_cadence(args.cadence, duration_s),
        speed_mps=args.speed,
        slope_pct=args.slope,
        placement=args.placement,
        fs_hz=args.fs_hz,
        overstrides=tuple(parse_span(text, "--overstride") for text in args.overstride),
        overstride_cadence_drop=args.overstride_drop,
        noise_g=args.noise,
        range_g=args.range_g,
        jitter_s=args.jitter_ms / 1000.0,
        step_cv=args.step_cv,
        asymmetry=args.asymmetry,
        dropouts=tuple(parse_span(text, "--dropout") for text in args.dropout),
        seed=args.seed,
    )
    result = simulate(config)
    paths = write_run(args.output, result)
    print(
        f"{config.placement} run of {args.minutes:g} min: {result.trace.t.size} samples, "
        f"{result.steps.foot_on_s.size} steps, {result.truth.foot_on_s.size} truth contacts"
    )
    for path in paths:
        print(f"wrote {path}")
    return 0
