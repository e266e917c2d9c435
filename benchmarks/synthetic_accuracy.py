"""Accuracy of the contact detector on synthetic runs, printed beside its accuracy on the real
recordings (never instead of it).

Synthetic sets, per placement (sacrum, shank, foot), ``--seeds`` runs of ``--minutes`` each:

- ``steady``: 172 spm, 3.33 m/s, default noise, ±16 g;
- ``drift+overstride``: 172 spm drifting to 158, two 30-s overstriding episodes (6 % lower
  cadence at the same speed, harder impacts and braking), a 1-s dropout and 2 ms sample jitter.

Every trace is scored exactly as ``benchmarks/accuracy.py`` scores the real ones (its
``score_trial``, set summaries and targets); the real sets come from running its ``evaluate``
over ``../shared/data/traces`` and the bundled traces.

Usage: python benchmarks/synthetic_accuracy.py [--data DIR ...] [--minutes M] [--seeds N]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import accuracy  # benchmarks/accuracy.py: this script's directory is on sys.path

from cadence.detector import detect_contacts
from sim.synthetic import RunnerConfig, simulate

PLACEMENTS = ("sacrum", "shank", "foot")


def scenarios(minutes: float) -> dict[str, dict[str, object]]:
    duration_s = 60.0 * minutes
    return {
        "steady": {"cadence_points": ((0.0, 172.0),)},
        "drift+overstride": {
            "cadence_points": ((0.0, 172.0), (duration_s, 158.0)),
            "overstrides": ((0.3 * duration_s, 0.3 * duration_s + 30.0),
                            (0.7 * duration_s, 0.7 * duration_s + 30.0)),
            "dropouts": ((0.5 * duration_s, 1.0),),
            "jitter_s": 0.002,
        },
    }  # fmt: skip


def synthetic_trials(minutes: float, seeds: int) -> list[accuracy.TrialResult]:
    trials = []
    for placement in PLACEMENTS:
        for scenario, options in scenarios(minutes).items():
            for seed in range(seeds):
                config = RunnerConfig(
                    duration_s=60.0 * minutes,
                    placement=placement,
                    seed=seed,
                    **options,  # type: ignore[arg-type]
                )
                run = simulate(config)
                detected = detect_contacts(
                    run.trace.t,
                    run.trace.acc,
                    fs_hz=run.trace.fs_hz,
                    placement=placement,
                    up_vector=run.trace.up_vector,
                )
                trials.append(
                    accuracy.TrialResult(
                        name=f"synthetic-{placement}-{scenario}-s{seed}",
                        set_name=f"synthetic {placement} {scenario}",
                        placement=placement,
                        activity="running",
                        score=accuracy.score_trial(run.truth, detected),
                    )
                )
    return trials


def summaries(trials: Sequence[accuracy.TrialResult]) -> list[accuracy.SetSummary]:
    return [
        accuracy.summarize_set(name, group)
        for name, group in accuracy.group_into_sets(trials).items()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", nargs="+", type=Path, default=list(accuracy.DEFAULT_DATA_DIRS), metavar="DIR"
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="per synthetic run (5)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per scenario (3)")
    args = parser.parse_args(argv)

    real_trials, _ = accuracy.evaluate(accuracy.find_trace_paths(args.data))
    synthetic = synthetic_trials(args.minutes, args.seeds)
    print("\nSynthetic runs")
    accuracy.print_trials(synthetic)
    real_sets = [s for s in summaries(real_trials) if s.activity == "running"]
    print("\nReal recordings (running sets) then synthetic sets")
    accuracy.print_sets([*real_sets, *summaries(synthetic)])
    accuracy.print_targets([*real_sets, *summaries(synthetic)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
