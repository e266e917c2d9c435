"""``cadence profile``: show the runner profile, set a target, learn a baseline from a recording."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cadence.errors import ConfigurationError
from cadence.profile import DEFAULT_PROFILE_PATH, RunnerProfile, load_profile, save_profile

if TYPE_CHECKING:
    from cadence.events import Metrics


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subcommands.add_parser(
        "profile",
        help="show or change the runner profile (target cadence, leg length, baseline)",
        description="The runner profile holds the target cadence, leg length and the baseline "
        "(the runner's own cadence, contact time and step length) that the alerts compare "
        "against.",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=DEFAULT_PROFILE_PATH,
        metavar="FILE",
        help=f"profile JSON file (default {DEFAULT_PROFILE_PATH})",
    )
    actions = parser.add_subparsers(title="actions", dest="action", required=True)
    show = actions.add_parser("show", help="print the profile")
    show.add_argument("--json", action="store_true", help="print the profile's JSON")
    show.set_defaults(run=run_show)

    change = actions.add_parser("set", help="set the name, target cadence or leg length")
    change.add_argument("--name", help="runner's name")
    target = change.add_mutually_exclusive_group()
    target.add_argument("--target", type=float, metavar="SPM", help="target cadence, steps/min")
    target.add_argument(
        "--clear-target",
        action="store_true",
        help="drop the explicit target: the baseline cadence + raise %% applies",
    )
    change.add_argument(
        "--raise-pct",
        type=float,
        metavar="PCT",
        help="target = baseline cadence + PCT %% when no explicit target (default 5)",
    )
    change.add_argument(
        "--leg-length", type=float, metavar="M", help="leg length, hip joint to floor, metres"
    )
    change.set_defaults(run=run_set)

    learn = actions.add_parser(
        "learn",
        help="learn the baseline from a recording of normal running (trace CSV or FIT file)",
    )
    learn.add_argument(
        "recording",
        type=Path,
        metavar="RECORDING",
        help="trace CSV (accelerometer) or .fit activity (footpod/watch: adds step length)",
    )
    learn.add_argument("--placement", metavar="P", help="override the trace's placement")
    learn.add_argument(
        "--settle-s",
        type=float,
        default=30.0,
        metavar="S",
        help="skip the first S seconds of running (default 30)",
    )
    learn.add_argument(
        "--duration-s",
        type=float,
        default=180.0,
        metavar="S",
        help="learn from at most S seconds of running after that (default 180)",
    )
    learn.add_argument(
        "--min-running-s",
        type=float,
        default=60.0,
        metavar="S",
        help="fail with fewer learnt seconds than this (default 60)",
    )
    learn.set_defaults(run=run_learn)


def run_show(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    if args.json:
        print(json.dumps(profile.to_json(), indent=2))
    else:
        describe(sys.stdout, profile, args.profile)
    return 0


def run_set(args: argparse.Namespace) -> int:
    path = Path(args.profile).expanduser()
    profile = load_profile(path) if path.exists() else RunnerProfile()
    changes: dict[str, object] = {}
    if args.name is not None:
        changes["name"] = args.name
    if args.target is not None:
        changes["target_cadence_spm"] = args.target
    if args.clear_target:
        changes["target_cadence_spm"] = None
    if args.raise_pct is not None:
        changes["target_raise_pct"] = args.raise_pct
    if args.leg_length is not None:
        changes["leg_length_m"] = args.leg_length
    if not changes and path.exists():
        raise ConfigurationError(
            "nothing to set: give --name, --target, --clear-target, --raise-pct or --leg-length"
        )
    updated = RunnerProfile.from_json({**profile.to_json(), **changes})
    save_profile(updated, path)
    describe(sys.stdout, updated, path)
    return 0


def run_learn(args: argparse.Namespace) -> int:
    from cadence.profile import BaselineLearner, with_baseline

    path = Path(args.profile).expanduser()
    profile = load_profile(path) if path.exists() else RunnerProfile()
    learner = BaselineLearner(
        settle_s=args.settle_s,
        duration_s=args.duration_s,
        min_running_s=args.min_running_s,
        source=str(args.recording),
    )
    for item in recording_metrics(args.recording, args.placement):
        if learner.update(item) is not None:
            break
    try:
        baseline = learner.finish()
    except ConfigurationError as error:
        raise ConfigurationError(f"{args.recording}: {error}") from None
    updated = with_baseline(profile, baseline)
    save_profile(updated, path)
    describe(sys.stdout, updated, path)
    return 0


def recording_metrics(path: Path, placement: str | None) -> list[Metrics]:
    """Per-second metrics of a recorded run, through the same pipeline as a live run."""
    import asyncio

    from cadence.commands._sources import offline_source
    from cadence.pipeline import run_pipeline

    return asyncio.run(run_pipeline(offline_source(path), placement=placement)).metrics


def describe(out: TextIO, profile: RunnerProfile, path: Path) -> None:
    """The profile in a few readable lines."""
    target = profile.target_spm
    if profile.target_cadence_spm is not None:
        target_text = f"{profile.target_cadence_spm:.0f} spm (set)"
    elif target is not None:
        target_text = f"{target:.0f} spm (baseline + {profile.target_raise_pct:g} %)"
    else:
        target_text = "- (set one, or learn a baseline)"
    leg = "-" if profile.leg_length_m is None else f"{profile.leg_length_m:.2f} m"
    print(f"{'profile':<14}{path}", file=out)
    print(f"{'runner':<14}{profile.name}", file=out)
    print(f"{'target':<14}{target_text}", file=out)
    print(f"{'leg length':<14}{leg}", file=out)
    baseline = profile.baseline
    if baseline is None:
        print(f"{'baseline':<14}- (cadence profile learn RECORDING)", file=out)
        return
    parts = [f"{baseline.cadence_spm:.1f} spm"]
    if baseline.gct_ms is not None:
        parts.append(f"contact {baseline.gct_ms:.0f} ms")
    if baseline.impact_g is not None:
        parts.append(f"impact {baseline.impact_g:.2f} g")
    if baseline.step_length_m is not None and baseline.speed_mps is not None:
        parts.append(f"step {baseline.step_length_m:.2f} m at {baseline.speed_mps:.2f} m/s")
    print(f"{'baseline':<14}{', '.join(parts)}", file=out)
    print(f"{'learnt from':<14}{baseline.running_s:.0f} s of {baseline.source or '?'}", file=out)
