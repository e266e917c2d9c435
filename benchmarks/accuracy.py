"""Accuracy of the contact detector on real recordings, scored against treadmill ground truth.

Runs the detector over every trace in the data directories (default ``../shared/data/traces``
next to the repository) and over the traces bundled with the package, then prints:

- per trace with truth: contacts found / missed / extra, cadence, foot-on, foot-off and GCT
  errors;
- per set (source + placement + activity): median and max |cadence error| over trials, % found,
  % extra, GCT bias and MAE pooled over contacts, and whether the set meets its targets;
- per trace without truth: detected cadence, its spread over 10-s windows, the longest interval
  between contacts and the gaps the detector reported.

Usage: python benchmarks/accuracy.py [--data DIR ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cadence.contacts import Contact, DetectorUpdate
from cadence.datasets import bundled_traces
from cadence.detector import detect_contacts
from cadence.scoring import ContactScore, cadence_spm, score_contacts
from cadence.trace import Trace, Truth, read_trace, read_truth, truth_path_for
from cadence.units import STANDARD_GRAVITY_MS2

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIRS = (REPO_ROOT.parent / "shared" / "data" / "traces",)
CADENCE_WINDOW_S = 10.0
MIN_CONTACTS_PER_WINDOW = 3
# A window counts as "moving" when no interval between its contacts exceeds this many
# step (or stride) periods of the whole trace: a stop inside it would drag its cadence down.
MOVING_MAX_INTERVAL_PERIODS = 2.5
STILL_WINDOW_S = 1.0
STILL_STD_G = 0.03  # a sensor at rest: acceleration magnitude varies by less than this


@dataclass(frozen=True)
class Target:
    """One pass/fail criterion on a SetSummary attribute."""

    label: str
    metric: str
    limit: float
    at_most: bool
    absolute: bool = False

    def met(self, summary: SetSummary) -> bool | None:
        """None when the set has no value for the metric (e.g. no foot-off truth)."""
        value = float(getattr(summary, self.metric))
        if math.isnan(value):
            return None
        if self.absolute:
            value = abs(value)
        return value <= self.limit if self.at_most else value >= self.limit


RUNNING_TARGETS = (
    Target(
        "median-trial |cadence error| <= 0.3 spm", "median_abs_cadence_error_spm", 0.3, at_most=True
    ),
    Target("every-trial |cadence error| <= 1 spm", "max_abs_cadence_error_spm", 1.0, at_most=True),
    Target("found >= 99.5 %", "found_pct", 99.5, at_most=False),
    Target("extra <= 0.5 %", "extra_pct", 0.5, at_most=True),
    Target("GCT MAE <= 12 ms", "gct_mae_ms", 12.0, at_most=True),
    Target("|GCT bias| <= 5 ms", "gct_bias_ms", 5.0, at_most=True, absolute=True),
)
WALKING_TARGETS = (
    Target("found >= 99 %", "found_pct", 99.0, at_most=False),
    Target("extra <= 1 %", "extra_pct", 1.0, at_most=True),
    Target("GCT MAE <= 30 ms", "gct_mae_ms", 30.0, at_most=True),
)
TARGETS_BY_ACTIVITY = {"running": RUNNING_TARGETS, "walking": WALKING_TARGETS}


@dataclass(frozen=True)
class TrialResult:
    name: str
    set_name: str
    placement: str
    activity: str
    score: ContactScore


@dataclass(frozen=True)
class UntruthedResult:
    name: str
    placement: str
    activity: str
    n_contacts: int
    steps_per_contact: int
    window_cadence_median_spm: float
    window_cadence_p10_spm: float
    window_cadence_p90_spm: float
    moving_windows: int
    moving_cadence_p10_spm: float
    moving_cadence_median_spm: float
    moving_cadence_p90_spm: float
    overall_cadence_spm: float
    longest_interval_s: float
    longest_interval_still_pct: float
    median_duty: float
    gaps_s: list[tuple[float, float]]


@dataclass(frozen=True)
class SetSummary:
    name: str
    activity: str
    n_trials: int
    median_abs_cadence_error_spm: float
    max_abs_cadence_error_spm: float
    found_pct: float
    extra_pct: float
    gct_bias_ms: float
    gct_mae_ms: float


# --- finding and reading traces -------------------------------------------------------------


def trace_name(path: Path) -> str:
    return path.name.split(".")[0]


def find_trace_paths(data_dirs: Sequence[Path]) -> list[Path]:
    """Traces in the data directories, then bundled traces not already found by name."""
    paths: list[Path] = []
    for data_dir in data_dirs:
        if not data_dir.is_dir():
            print(f"{data_dir}: not found, skipped")
            continue
        paths += sorted(p for p in data_dir.glob("*.csv") if not p.name.endswith(".truth.csv"))
    seen = {trace_name(p) for p in paths}
    paths += [Path(p) for p in bundled_traces() if trace_name(Path(p)) not in seen]
    return paths


def activity_of(trace: Trace) -> str:
    """'running', 'walking' or 'unknown', from the free-text `activity` metadata."""
    text = trace.metadata.get("activity", "").strip().lower()
    return next((word for word in ("running", "walking") if text.startswith(word)), "unknown")


def placement_of(trace: Trace) -> str:
    return trace.placement or "unknown"


def set_name_of(name: str, trace: Trace) -> str:
    return f"{name.split('-')[0]} {placement_of(trace)} {activity_of(trace)}"


# --- scoring ----------------------------------------------------------------------------------


def on_off_s(
    contacts: Iterable[Contact],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    listed = list(contacts)
    on_s = np.array([c.on_s for c in listed], dtype=np.float64)
    off_s = np.array([c.off_s for c in listed], dtype=np.float64)
    return on_s, off_s


def score_trial(truth: Truth, detected: DetectorUpdate) -> ContactScore:
    """One-leg truth is scored against the sensor leg's contacts, a stride per contact."""
    one_leg = (truth.sides or "").startswith("sensor")
    contacts = [c for c in detected.contacts if not one_leg or c.leg in ("sensor", None)]
    det_on_s, det_off_s = on_off_s(contacts)
    return score_contacts(
        truth.foot_on_s,
        truth.foot_off_s,
        det_on_s,
        det_off_s,
        steps_per_contact=2 if one_leg else 1,
    )


def window_cadences_spm(
    foot_on_s: npt.NDArray[np.float64], steps_per_contact: int, *, moving_only: bool = False
) -> npt.NDArray[np.float64]:
    """Cadence in consecutive 10-s windows from the first contact; windows with fewer than
    three contacts are left out (stops show in the longest interval and the gaps instead).
    ``moving_only`` also leaves out windows holding an interval of more than 2.5 typical
    periods: a stop or a walk break inside a window is not a cadence."""
    if foot_on_s.size < MIN_CONTACTS_PER_WINDOW:
        return np.empty(0)
    max_interval_s = MOVING_MAX_INTERVAL_PERIODS * float(np.median(np.diff(foot_on_s)))
    cadences = []
    for start_s in np.arange(foot_on_s[0], foot_on_s[-1], CADENCE_WINDOW_S):
        in_window = foot_on_s[(foot_on_s >= start_s) & (foot_on_s < start_s + CADENCE_WINDOW_S)]
        if in_window.size < MIN_CONTACTS_PER_WINDOW:
            continue
        if moving_only and np.diff(in_window).max() > max_interval_s:
            continue
        cadences.append(cadence_spm(in_window, steps_per_contact))
    return np.array(cadences, dtype=np.float64)


def still_pct(trace: Trace, start_s: float, end_s: float) -> float:
    """Share of the 1-s windows between two times in which the sensor was at rest."""
    windows = np.arange(start_s, end_s - STILL_WINDOW_S, STILL_WINDOW_S)
    if windows.size == 0:
        return math.nan
    magnitude_g = np.linalg.norm(trace.acc, axis=1) / STANDARD_GRAVITY_MS2
    bounds = np.searchsorted(trace.t, np.append(windows, windows[-1] + STILL_WINDOW_S))
    still = [
        magnitude_g[lo:hi].std() < STILL_STD_G
        for lo, hi in itertools.pairwise(bounds)
        if hi - lo > 1
    ]
    return 100.0 * float(np.mean(still)) if still else math.nan


def median_duty(contacts: Sequence[Contact], steps_per_contact: int) -> float:
    """Median share of the stride spent in contact (running about 0.3-0.4, walking about
    0.6), over contacts followed by the next one within 2.5 typical periods (no stop)."""
    ordered = sorted(contacts, key=lambda c: c.on_s)
    if len(ordered) < 3:
        return math.nan
    intervals = np.diff([c.on_s for c in ordered])
    moving = intervals <= MOVING_MAX_INTERVAL_PERIODS * float(np.median(intervals))
    gct_s = np.array([c.gct_s for c in ordered[:-1]])
    # A trunk contact is one step: a stride is two of its intervals.
    stride_s = intervals * (2 // steps_per_contact)
    return float(np.median(gct_s[moving] / stride_s[moving]))


def summarize_untruthed(name: str, trace: Trace, detected: DetectorUpdate) -> UntruthedResult:
    """Plausibility of detections without truth. When every contact is the sensor leg's (a
    leg-worn sensor that does not infer the other leg), each contact counts as a stride."""
    one_leg = bool(detected.contacts) and all(c.leg == "sensor" for c in detected.contacts)
    steps_per_contact = 2 if one_leg else 1
    foot_on_s = np.sort(on_off_s(detected.contacts)[0])
    windows = window_cadences_spm(foot_on_s, steps_per_contact)
    p10, median, p90 = np.percentile(windows, [10, 50, 90]) if windows.size else [math.nan] * 3
    moving = window_cadences_spm(foot_on_s, steps_per_contact, moving_only=True)
    moving_p10, moving_median, moving_p90 = (
        np.percentile(moving, [10, 50, 90]) if moving.size else [math.nan] * 3
    )
    longest = int(np.argmax(np.diff(foot_on_s))) if foot_on_s.size > 1 else -1
    return UntruthedResult(
        name=name,
        placement=placement_of(trace),
        activity=activity_of(trace),
        n_contacts=int(foot_on_s.size),
        steps_per_contact=steps_per_contact,
        window_cadence_median_spm=float(median),
        window_cadence_p10_spm=float(p10),
        window_cadence_p90_spm=float(p90),
        moving_windows=int(moving.size),
        moving_cadence_p10_spm=float(moving_p10),
        moving_cadence_median_spm=float(moving_median),
        moving_cadence_p90_spm=float(moving_p90),
        overall_cadence_spm=cadence_spm(foot_on_s, steps_per_contact),
        longest_interval_s=float(np.diff(foot_on_s).max()) if foot_on_s.size > 1 else math.nan,
        longest_interval_still_pct=(
            still_pct(trace, foot_on_s[longest], foot_on_s[longest + 1])
            if longest >= 0
            else math.nan
        ),
        median_duty=median_duty(detected.contacts, steps_per_contact),
        gaps_s=[(gap.start_s, gap.end_s) for gap in detected.gaps],
    )


def summarize_set(name: str, trials: Sequence[TrialResult]) -> SetSummary:
    """Cadence per trial (a trial without a cadence counts as infinitely wrong); counts and
    GCT errors pooled over contacts."""
    scores = [trial.score for trial in trials]
    abs_cadence_errors = np.nan_to_num(np.abs([s.cadence_error_spm for s in scores]), nan=math.inf)
    n_true = sum(s.n_true for s in scores)
    n_with_off = sum(s.n_with_off for s in scores)
    with_off = [s for s in scores if s.n_with_off > 0]

    def pooled_ms(values: Iterable[float]) -> float:
        weighted = sum(s.n_with_off * v for s, v in zip(with_off, values, strict=True))
        return weighted / n_with_off if n_with_off else math.nan

    return SetSummary(
        name=name,
        activity=trials[0].activity,
        n_trials=len(trials),
        median_abs_cadence_error_spm=float(np.median(abs_cadence_errors)),
        max_abs_cadence_error_spm=float(np.max(abs_cadence_errors)),
        found_pct=100.0 * sum(s.n_found for s in scores) / n_true if n_true else math.nan,
        extra_pct=100.0 * sum(s.n_extra for s in scores) / n_true if n_true else math.nan,
        gct_bias_ms=pooled_ms(s.gct_bias_ms for s in with_off),
        gct_mae_ms=pooled_ms(s.gct_mae_ms for s in with_off),
    )


def group_into_sets(trials: Sequence[TrialResult]) -> dict[str, list[TrialResult]]:
    sets: dict[str, list[TrialResult]] = {}
    for trial in trials:
        sets.setdefault(trial.set_name, []).append(trial)
    return sets


# --- printing ---------------------------------------------------------------------------------


def fmt(value: float, decimals: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{decimals}f}"


def print_trials(trials: Sequence[TrialResult]) -> None:
    print(
        f"\n{'trace':<34} {'placement':<9} {'activity':<8} {'true':>5} {'found':>5} {'miss':>4}"
        f" {'extra':>5} {'cad err':>8} {'on mean/MAE':>12} {'off mean/MAE':>13}"
        f" {'GCT bias/MAE':>13}"
    )
    print(f"{'':<76} {'spm':>8} {'ms':>12} {'ms':>13} {'ms':>13}")
    for trial in trials:
        s = trial.score
        print(
            f"{trial.name:<34} {trial.placement:<9} {trial.activity:<8} {s.n_true:>5}"
            f" {s.n_found:>5} {s.n_missed:>4} {s.n_extra:>5} {fmt(s.cadence_error_spm, 2):>8}"
            f" {fmt(s.foot_on_error_mean_ms) + '/' + fmt(s.foot_on_error_mae_ms):>12}"
            f" {fmt(s.foot_off_error_mean_ms) + '/' + fmt(s.foot_off_error_mae_ms):>13}"
            f" {fmt(s.gct_bias_ms) + '/' + fmt(s.gct_mae_ms):>13}"
        )


def print_sets(summaries: Sequence[SetSummary]) -> None:
    print(
        f"\n{'set':<26} {'trials':>6} {'|cad err| med/max':>18} {'found %':>8} {'extra %':>8}"
        f" {'GCT bias ms':>11} {'GCT MAE ms':>10}"
    )
    for s in summaries:
        cadence = f"{fmt(s.median_abs_cadence_error_spm, 2)}/{fmt(s.max_abs_cadence_error_spm, 2)}"
        print(
            f"{s.name:<26} {s.n_trials:>6} {cadence:>18} {fmt(s.found_pct, 2):>8}"
            f" {fmt(s.extra_pct, 2):>8} {fmt(s.gct_bias_ms):>11} {fmt(s.gct_mae_ms):>10}"
        )


def print_targets(summaries: Sequence[SetSummary]) -> None:
    print("\nTargets")
    for summary in summaries:
        targets = TARGETS_BY_ACTIVITY.get(summary.activity, ())
        verdicts = [target.met(summary) for target in targets]
        overall = "MET" if all(v is not False for v in verdicts) else "NOT MET"
        print(f"  {summary.name}: {overall if targets else 'no targets'}")
        for target, verdict in zip(targets, verdicts, strict=True):
            mark = {True: "ok  ", False: "FAIL", None: "n/a "}[verdict]
            print(f"    {mark} {target.label}")


def print_untruthed(results: Sequence[UntruthedResult]) -> None:
    print(
        f"\nWithout truth (cadence in spm over 10-s windows: all with 3+ contacts, and those"
        f" without a stop)\n{'trace':<26} {'placement':<9} {'contacts':>8}"
        f" {'all p10/med/p90':>17} {'moving n':>8} {'moving p10/med/p90':>18} {'overall':>8}"
        f" {'longest interval s':>18} {'of it still':>11} {'duty':>5} {'gaps':>5}"
        f" {'longest gap s':>13}"
    )
    for r in results:
        every = (
            f"{fmt(r.window_cadence_p10_spm, 0)}/{fmt(r.window_cadence_median_spm, 0)}"
            f"/{fmt(r.window_cadence_p90_spm, 0)}"
        )
        moving = (
            f"{fmt(r.moving_cadence_p10_spm, 0)}/{fmt(r.moving_cadence_median_spm, 0)}"
            f"/{fmt(r.moving_cadence_p90_spm, 0)}"
        )
        longest_gap_s = max((end - start for start, end in r.gaps_s), default=math.nan)
        print(
            f"{r.name:<26} {r.placement:<9} {r.n_contacts:>8} {every:>17}"
            f" {r.moving_windows:>8} {moving:>18} {fmt(r.overall_cadence_spm):>8}"
            f" {fmt(r.longest_interval_s, 2):>18} {fmt(r.longest_interval_still_pct, 0) + ' %':>11}"
            f" {fmt(r.median_duty, 2):>5} {len(r.gaps_s):>5} {fmt(longest_gap_s, 2):>13}"
        )


# --- JSON -------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """NaN and infinity become null: they are not JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def write_json(
    path: Path,
    trials: Sequence[TrialResult],
    summaries: Sequence[SetSummary],
    untruthed: Sequence[UntruthedResult],
) -> None:
    sets = []
    for summary in summaries:
        targets = TARGETS_BY_ACTIVITY.get(summary.activity, ())
        checks = [{"target": t.label, "met": t.met(summary)} for t in targets]
        sets.append({**asdict(summary), "targets": checks})
    report = {
        "trials": [asdict(trial) for trial in trials],
        "sets": sets,
        "without_truth": [asdict(result) for result in untruthed],
    }
    path.write_text(json.dumps(json_safe(report), indent=2) + "\n")
    print(f"\nwrote {path}")


# --- main -------------------------------------------------------------------------------------


def evaluate(paths: Sequence[Path]) -> tuple[list[TrialResult], list[UntruthedResult]]:
    trials: list[TrialResult] = []
    untruthed: list[UntruthedResult] = []
    for path in paths:
        name = trace_name(path)
        trace = read_trace(path)
        if trace.placement is None:
            print(f"{name}: no placement in its metadata, skipped")
            continue
        detected = detect_contacts(
            trace.t,
            trace.acc,
            fs_hz=trace.fs_hz,
            placement=trace.placement,
            up_vector=trace.up_vector,
        )
        truth_path = truth_path_for(path)
        if truth_path is None:
            untruthed.append(summarize_untruthed(name, trace, detected))
            continue
        score = score_trial(read_truth(truth_path), detected)
        trials.append(
            TrialResult(
                name, set_name_of(name, trace), placement_of(trace), activity_of(trace), score
            )
        )
    return trials, untruthed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        nargs="+",
        type=Path,
        default=list(DEFAULT_DATA_DIRS),
        metavar="DIR",
        help="directories of trace CSVs (default: ../shared/data/traces)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write all numbers here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    paths = find_trace_paths(args.data)
    if not paths:
        print("no traces found")
        return 1
    trials, untruthed = evaluate(paths)
    summaries = [summarize_set(name, group) for name, group in group_into_sets(trials).items()]
    print_trials(trials)
    print_sets(summaries)
    print_targets(summaries)
    print_untruthed(untruthed)
    if args.json is not None:
        write_json(args.json, trials, summaries, untruthed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
