"""The leg detector across a change of gait: Bach shank running and walking trials joined end to
end (a walk break in a run, and a run after a walk), scored against their joined truth.

Both kinds of trial come from the same treadmill and sensor, so the joins differ from a real walk
break only by the jump at the seam. Each trial's truth lists only its own contacts, so a contact
detected across the seam counts as extra.

Usage: python benchmarks/transitions.py [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cadence.detector import detect_contacts
from cadence.scoring import score_contacts
from cadence.trace import read_trace, read_truth, truth_path_for

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "traces"
JOINS = (
    ("bach-shank-running-t01", "bach-shank-walking-t03"),
    ("bach-shank-running-t02", "bach-shank-walking-t16"),
    ("bach-shank-running-t13", "bach-shank-walking-t11"),
    ("bach-shank-walking-t04", "bach-shank-running-t01"),
    ("bach-shank-walking-t12", "bach-shank-running-t02"),
    ("bach-shank-walking-t10", "bach-shank-running-t13"),
)


def score_join(data_dir: Path, first: str, second: str) -> str:
    paths = [data_dir / f"{name}.csv" for name in (first, second)]
    traces = [read_trace(path) for path in paths]
    truths = []
    for path in paths:
        truth_path = truth_path_for(path)
        if truth_path is None:
            raise SystemExit(f"{path}: no truth file")
        truths.append(read_truth(truth_path))
    a, b = traces
    shift_s = a.t[-1] + 1.0 / a.fs_hz - b.t[0]
    t = np.concatenate([a.t, b.t + shift_s])
    acc = np.concatenate([a.acc, b.acc])
    detected = detect_contacts(t, acc, fs_hz=a.fs_hz, placement="shank", up_vector=a.up_vector)
    score = score_contacts(
        np.concatenate([truths[0].foot_on_s, truths[1].foot_on_s + shift_s]),
        np.concatenate([truths[0].foot_off_s, truths[1].foot_off_s + shift_s]),
        np.array([c.on_s for c in detected.contacts]),
        np.array([c.off_s for c in detected.contacts]),
        steps_per_contact=2,
    )
    return (
        f"{first:<24} -> {second:<24} {score.n_true:>5} {score.n_found:>5} {score.n_extra:>5}"
        f" {score.foot_on_error_mae_ms:>9.1f} {score.gct_mae_ms:>9.1f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="trace folder")
    args = parser.parse_args(argv)
    if not (args.data / f"{JOINS[0][0]}.csv").exists():
        print(f"{args.data}: the Bach shank trials are not there", file=sys.stderr)
        return 1
    print(f"{'first':<24}    {'then':<24} {'true':>5} {'found':>5} {'extra':>5} {'on MAE ms':>9}"
          f" {'GCT MAE':>9}")  # fmt: skip
    for first, second in JOINS:
        print(score_join(args.data, first, second))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
