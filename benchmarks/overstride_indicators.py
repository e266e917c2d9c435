"""Which accelerometer indicators follow step length? Evidence from trials with known step length.

The Alcantara sacrum trials (Alcantara et al. 2022 PeerJ 10:e12752) ran one runner on an
instrumented treadmill at fixed speed and slope with different step rates, so within a
(speed, slope) group the true step length (speed / true step rate) differs between trials while
speed does not: exactly the "longer steps at the same speed" of overstriding.

For every trial the candidate indicators are taken per contact from the raw signal
(benchmarks/stance_features.py) and summarised by their median; once at the force-plate
contacts (truth) and once at the contacts the streaming detector finds. Printed:

1. per (speed, slope) group with 3+ trials: the Spearman rank correlation of each indicator
   with true step length, with the mean and minimum over groups (|rho| near 1 in every group is
   what an overstride indicator needs);
2. the within-group change of each indicator per +10 % step length, and its change per +10 %
   speed at constant step length (from a least-squares fit over all 24 trials with slope
   levels as fixed effects): a usable indicator moves with step length more than with speed.

Usage: python benchmarks/overstride_indicators.py [--data DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.stats import spearmanr
from stance_features import body_axes_g, stance_features

from cadence.detector import detect_contacts
from cadence.trace import read_trace, read_truth, truth_path_for

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "traces"
MIN_GROUP_TRIALS = 3
# Higher step length should raise these, lower these (sign of the expected correlation).
EXPECTED_SIGN = {
    "step_rate_spm": -1,
    "contact_ms": 1,
    "duty_factor": 1,
    "impact_peak_g": 1,
    "stance_peak_g": 1,
    "stance_mean_g": 1,
    "loading_rate_g_per_s": 1,
    "braking_mps": 1,
    "braking_integral_mps": 1,
    # The streaming detector's own per-contact impact (trunk: peak vertical acceleration in
    # stance, gravity included), what Metrics.impact_g carries; detected contacts only.
    "detector_impact_g": 1,
}


@dataclass(frozen=True)
class Trial:
    name: str
    speed_mps: float
    slope_pct: float
    step_length_m: float
    truth: dict[str, float]
    detected: dict[str, float]


def load_trial(path: Path) -> Trial:
    trace = read_trace(path)
    truth_path = truth_path_for(path)
    if truth_path is None:
        raise FileNotFoundError(f"{path}: no truth file beside it")
    truth = read_truth(truth_path)
    up = trace.up_vector
    if up is None:
        raise ValueError(f"{path}: axes metadata names no up axis")
    vertical, forward = body_axes_g(trace.acc, up, trace.forward_vector)
    speed = float(trace.metadata["speed_mps"])
    ons = truth.foot_on_s
    true_step_s = float((ons[-1] - ons[0]) / (ons.size - 1))
    detected = detect_contacts(
        trace.t, trace.acc, fs_hz=trace.fs_hz, placement="sacrum", up_vector=up
    ).contacts

    def medians(on_s: npt.NDArray[np.float64], off_s: npt.NDArray[np.float64]) -> dict[str, float]:
        features = stance_features(trace.t, vertical, forward, on_s, off_s)
        values = {name: float(np.nanmedian(v)) for name, v in features.as_dict().items()}
        return {**values, "detector_impact_g": math.nan}

    return Trial(
        name=path.stem,
        speed_mps=speed,
        slope_pct=float(trace.metadata["slope_pct"]),
        step_length_m=speed * true_step_s,
        truth=medians(truth.foot_on_s, truth.foot_off_s),
        detected={
            **medians(np.array([c.on_s for c in detected]), np.array([c.off_s for c in detected])),
            "detector_impact_g": float(
                np.median([c.impact_g for c in detected if c.impact_g is not None] or [math.nan])
            ),
        },
    )


def group_correlations(
    trials: list[Trial], source: str
) -> dict[tuple[float, float], dict[str, float]]:
    groups: dict[tuple[float, float], list[Trial]] = defaultdict(list)
    for trial in trials:
        groups[(trial.speed_mps, trial.slope_pct)].append(trial)
    out: dict[tuple[float, float], dict[str, float]] = {}
    for key, members in sorted(groups.items()):
        if len(members) < MIN_GROUP_TRIALS:
            continue
        lengths = [m.step_length_m for m in members]
        out[key] = {
            name: float(spearmanr(lengths, [getattr(m, source)[name] for m in members])[0])
            for name in EXPECTED_SIGN
        }
    return out


def pooled_within_group_rho(trials: list[Trial], source: str, name: str) -> float:
    """Spearman rho over all trials in groups of 2+ after removing each group's mean (log)."""
    groups: dict[tuple[float, float], list[Trial]] = defaultdict(list)
    for trial in trials:
        groups[(trial.speed_mps, trial.slope_pct)].append(trial)
    lengths: list[float] = []
    values: list[float] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        length = np.log([m.step_length_m for m in members])
        value = np.array([getattr(m, source)[name] for m in members])
        lengths.extend(length - length.mean())
        values.extend(value - value.mean())
    return float(spearmanr(lengths, values)[0])


def elasticities(trials: list[Trial], source: str, name: str) -> tuple[float, float]:
    """% change per +10 % step length (same speed) and per +10 % speed (same step length)."""
    values = np.array([getattr(t, source)[name] for t in trials])
    if not np.all(values > 0):
        return math.nan, math.nan
    slopes = sorted({t.slope_pct for t in trials})
    design = np.column_stack(
        [
            np.log([t.step_length_m for t in trials]),
            np.log([t.speed_mps for t in trials]),
            *([float(t.slope_pct == s) for t in trials] for s in slopes),
        ]
    )
    coefficients = np.linalg.lstsq(design, np.log(values), rcond=None)[0]
    return 100.0 * (1.1 ** coefficients[0] - 1.0), 100.0 * (1.1 ** coefficients[1] - 1.0)


def report(trials: list[Trial]) -> dict[str, object]:
    result: dict[str, object] = {}
    for source in ("truth", "detected"):
        correlations = group_correlations(trials, source)
        keys = list(correlations)
        print(
            f"\nSpearman rho with true step length within (speed m/s, slope %) groups, "
            f"indicators at {source} contacts"
        )
        header = "".join(f"{f'{s:g}/{p:+g}':>10}" for s, p in keys)
        columns = f"{'mean':>8}{'min*':>8}{'pooled':>8}{'+10% SL':>9}{'+10% v':>9}"
        print(f"{'indicator':<22}{header}{columns}")
        rows = {}
        for name, sign in EXPECTED_SIGN.items():
            rhos = [correlations[k][name] for k in keys]
            # "min" is the weakest group in the expected direction.
            worst = min(sign * r for r in rhos)
            per_length, per_speed = elasticities(trials, source, name)
            pooled = pooled_within_group_rho(trials, source, name)
            cells = "".join(f"{r:>10.2f}" for r in rhos)
            print(
                f"{name:<22}{cells}{float(np.mean(rhos)):>8.2f}{sign * worst:>8.2f}{pooled:>8.2f}"
                f"{per_length:>8.1f}%{per_speed:>8.1f}%"
            )
            rows[name] = {
                "rho_by_group": {f"{s:g}/{p:+g}": r for (s, p), r in zip(keys, rhos, strict=True)},
                "rho_mean": float(np.mean(rhos)),
                "rho_weakest": sign * worst,
                "rho_pooled_within_group": pooled,
                "pct_per_10pct_step_length": per_length,
                "pct_per_10pct_speed": per_speed,
            }
        result[source] = rows
    print("\n* min: the weakest group in the expected direction (sign kept); pooled: one rho over")
    print("  the trials of every group of 2+ (here the 16 trials at 3.33 m/s) after removing")
    print("  each group's mean.")
    print("  +10% SL: change per +10 % step length at the same speed; +10% v: change per +10 %")
    print("  speed at the same step length (log-log fit over all trials, slope fixed effects).")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args()
    paths = sorted(args.data.glob("alcantara-sacrum-run-t[0-9][0-9].csv"))
    if not paths:
        raise SystemExit(f"no Alcantara trials in {args.data}")
    trials = [load_trial(path) for path in paths]
    print(f"{len(trials)} trials")
    for t in trials:
        print(
            f"  {t.name}: {t.speed_mps:g} m/s {t.slope_pct:+g} %  step length "
            f"{t.step_length_m:.3f} m  contact {t.truth['contact_ms']:.0f} ms  "
            f"stance mean {t.truth['stance_mean_g']:.2f} g"
        )
    result = report(trials)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
