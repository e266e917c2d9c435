"""Fit the few timing constants of the contact detector against force-plate truth, with
leave-one-trial-out (LOTO) errors so that the numbers say how they carry to unseen runners.

What is fitted, per placement (everything else is fixed by physics or the literature):

- trunk: the foot-on correction of the tangent onset (one constant) and the GCT line
  ``gct = intercept + per_fall x fall + per_step x step period`` (three constants; the peak
  vertical acceleration as a fourth term fits these trials a little better, 10.2 ms LOTO MAE,
  but saturates on clipping sensors);
- leg, running: the lead of foot-on before the impact transient's rise and the lag of foot-off
  after the vertical acceleration's fall through 1 g (two constants);
- leg, walking: the lead of foot-on before the power-weighted centre of the heel-strike
  burst (one constant); foot-off is a duty factor of the stride (0.61, not fitted here; the
  truth's stance share is printed). The stance test that keeps toe-offs from being taken for
  heel strikes (``walking_stance_min_g``) is not fitted; its effect is printed per trial
  (contacts found and extra with and without it). Nor is the choice among a burst's like
  peaks by the stride (``walking_rival_ratio``, ``walking_burst_s``).

The detector is run with those constants at zero, the raw event times are matched to the
truth (within ±120 ms so that a biased raw time still pairs), and each constant is a mean or a
least-squares fit. LOTO: each trial is scored with the constants fitted on the others.

Usage: python benchmarks/fit_detector.py [--data DIR]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cadence.detector import LegParameters, TrunkParameters, detect_contacts
from cadence.scoring import match_contacts, score_contacts
from cadence.trace import Trace, Truth, read_trace, read_truth, truth_path_for

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "traces"
PAIRING_TOLERANCE_S = 0.12

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Paired:
    """Matched contacts of one trial: raw detector times and the truth."""

    name: str
    activity: str
    raw_on_s: FloatArray
    raw_off_s: FloatArray  # trunk: foot-on + fall time; leg: raw foot-off
    period_s: FloatArray  # trunk: step period the kernel used
    true_on_s: FloatArray
    true_off_s: FloatArray


def load(data_dir: Path, prefix: str) -> list[tuple[str, Trace, Truth]]:
    trials = []
    for path in sorted(data_dir.glob(f"{prefix}*.csv")):
        truth_path = truth_path_for(path)
        if path.name.endswith(".truth.csv") or truth_path is None:
            continue
        trials.append((path.name.split(".")[0], read_trace(path), read_truth(truth_path)))
    return trials


def on_off(
    trace: Trace, parameters: TrunkParameters | LegParameters
) -> tuple[FloatArray, FloatArray]:
    detected = detect_contacts(
        trace.t,
        trace.acc,
        fs_hz=trace.fs_hz,
        placement=trace.placement or "",
        up_vector=trace.up_vector,
        parameters=parameters,
    )
    on_s = np.array([c.on_s for c in detected.contacts])
    off_s = np.array([c.off_s for c in detected.contacts])
    return on_s, off_s


def pair(
    name: str,
    trace: Trace,
    truth: Truth,
    on_s: FloatArray,
    off_s: FloatArray,
    period_s: FloatArray,
) -> Paired:
    match = match_contacts(truth.foot_on_s, on_s, PAIRING_TOLERANCE_S)
    i, j = match.true_index, match.detected_index
    keep = np.isfinite(truth.foot_off_s[i])
    i, j = i[keep], j[keep]
    activity = trace.metadata.get("activity", "").split()[0]
    return Paired(
        name,
        activity,
        on_s[j],
        off_s[j],
        period_s[j],
        truth.foot_on_s[i],
        truth.foot_off_s[i],
    )


def trunk_pairs(data_dir: Path) -> list[Paired]:
    raw = {"onset_correction_s": 0.0, "gct_intercept_s": 0.0}
    fall_only = TrunkParameters(**raw, gct_per_fall=1.0, gct_per_step=0.0)
    step_only = TrunkParameters(**raw, gct_per_fall=0.0, gct_per_step=1.0)
    paired = []
    for name, trace, truth in load(data_dir, "alcantara-sacrum-run"):
        on_s, fall_off_s = on_off(trace, fall_only)
        step_on_s, step_off_s = on_off(trace, step_only)
        # Foot-on does not depend on the GCT line; only the last contact may come and go.
        period_by_on = dict(zip(step_on_s, step_off_s - step_on_s, strict=True))
        kept = np.array([t in period_by_on for t in on_s], dtype=bool)
        period_s = np.array([period_by_on[t] for t in on_s[kept]])
        paired.append(pair(name, trace, truth, on_s[kept], fall_off_s[kept], period_s))
    return paired


def leg_pairs(data_dir: Path) -> list[Paired]:
    raw = LegParameters(impact_lead_s=0.0, running_off_lag_s=0.0, walking_impact_lead_s=0.0)
    paired = []
    for name, trace, truth in load(data_dir, "bach-shank"):
        on_s, off_s = on_off(trace, raw)
        paired.append(pair(name, trace, truth, on_s, off_s, np.full(on_s.size, np.nan)))
    return paired


def report_walking_stance_test(data_dir: Path) -> None:
    """Contacts found / extra per walking trial with the stance test and without it."""
    without = LegParameters(walking_stance_min_g=-math.inf)
    print("\nleg walking: stance test on / off (found, extra)")
    for name, trace, truth in load(data_dir, "bach-shank-walking"):
        counts = []
        for parameters in (LegParameters(), without):
            on_s, off_s = on_off(trace, parameters)
            score = score_contacts(
                truth.foot_on_s, truth.foot_off_s, on_s, off_s, steps_per_contact=2
            )
            counts.append(f"{score.n_found:>3} {score.n_extra:>2}")
        print(f"  {name:<28} of {truth.foot_on_s.size:>3}: {counts[0]}  /  {counts[1]}")


def concat(trials: Sequence[Paired], field: str) -> FloatArray:
    return np.concatenate([getattr(p, field) for p in trials])


def fit_trunk(trials: Sequence[Paired]) -> tuple[float, FloatArray]:
    """Onset correction (mean raw foot-on error) and the GCT line's three coefficients."""
    correction = float(np.mean(concat(trials, "raw_on_s") - concat(trials, "true_on_s")))
    fall = concat(trials, "raw_off_s") - concat(trials, "raw_on_s") + correction
    design = np.column_stack([np.ones_like(fall), fall, concat(trials, "period_s")])
    target = concat(trials, "true_off_s") - concat(trials, "true_on_s")
    coefficients: FloatArray = np.linalg.lstsq(design, target, rcond=None)[0].astype(np.float64)
    return correction, coefficients


def trunk_errors(
    trial: Paired, correction: float, coefficients: FloatArray
) -> tuple[FloatArray, FloatArray]:
    on_s = trial.raw_on_s - correction
    fall = trial.raw_off_s - trial.raw_on_s + correction
    gct = coefficients[0] + coefficients[1] * fall + coefficients[2] * trial.period_s
    return on_s - trial.true_on_s, gct - (trial.true_off_s - trial.true_on_s)


def fit_leg(trials: Sequence[Paired]) -> tuple[float, float]:
    """Lead (mean raw foot-on error) and lag (minus the mean raw foot-off error)."""
    lead = float(np.mean(concat(trials, "raw_on_s") - concat(trials, "true_on_s")))
    lag = -float(np.mean(concat(trials, "raw_off_s") - concat(trials, "true_off_s")))
    return lead, lag


def leg_errors(trial: Paired, lead: float, lag: float) -> tuple[FloatArray, FloatArray]:
    on_s = trial.raw_on_s - lead
    off_s = trial.raw_off_s + lag
    return on_s - trial.true_on_s, (off_s - on_s) - (trial.true_off_s - trial.true_on_s)


def report(label: str, errors: Sequence[tuple[str, FloatArray, FloatArray]]) -> None:
    print(f"\n{label}: leave-one-trial-out errors (ms)")
    print(f"  {'trial':<28} {'n':>3} {'on bias':>8} {'on MAE':>7} {'GCT bias':>9} {'GCT MAE':>8}")
    for name, on_err, gct_err in errors:
        print(
            f"  {name:<28} {on_err.size:>3} {1e3 * on_err.mean():>8.1f}"
            f" {1e3 * np.abs(on_err).mean():>7.1f} {1e3 * gct_err.mean():>9.1f}"
            f" {1e3 * np.abs(gct_err).mean():>8.1f}"
        )
    on_all = np.concatenate([e[1] for e in errors])
    gct_all = np.concatenate([e[2] for e in errors])
    print(
        f"  {'pooled':<28} {on_all.size:>3} {1e3 * on_all.mean():>8.1f}"
        f" {1e3 * np.abs(on_all).mean():>7.1f} {1e3 * gct_all.mean():>9.1f}"
        f" {1e3 * np.abs(gct_all).mean():>8.1f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, metavar="DIR")
    args = parser.parse_args(argv)

    trunk = trunk_pairs(args.data)
    if trunk:
        correction, coefficients = fit_trunk(trunk)
        print(
            f"trunk, all {len(trunk)} trials: onset_correction_s={correction:.4f}"
            f" gct_intercept_s={coefficients[0]:.4f} gct_per_fall={coefficients[1]:.4f}"
            f" gct_per_step={coefficients[2]:.4f}"
        )
        loto = []
        for k, trial in enumerate(trunk):
            others = [p for m, p in enumerate(trunk) if m != k]
            loto.append((trial.name, *trunk_errors(trial, *fit_trunk(others))))
        report("trunk (sacrum running)", loto)

    leg = leg_pairs(args.data)
    for activity in ("running", "walking"):
        trials = [p for p in leg if p.activity == activity]
        if not trials:
            continue
        lead, lag = fit_leg(trials)
        stance_share = concat(trials, "true_off_s") - concat(trials, "true_on_s")
        strides = np.concatenate([np.diff(p.true_on_s) for p in trials])
        print(
            f"\nleg {activity}, all {len(trials)} trials: impact lead {lead:.4f} s,"
            f" foot-off lag {lag:.4f} s (truth: stance {np.median(stance_share):.3f} s of"
            f" a {np.median(strides):.3f} s stride)"
        )
        loto = []
        for k, trial in enumerate(trials):
            others = [p for m, p in enumerate(trials) if m != k]
            lead_k, lag_k = fit_leg(others)
            if activity == "walking":
                lag_k = -lead_k  # foot-off is a duty factor after foot-on: it moves with it
            loto.append((trial.name, *leg_errors(trial, lead_k, lag_k)))
        report(f"leg ({activity})", loto)
    report_walking_stance_test(args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
