"""Re-derive the synthetic runner's calibration from the real recordings in ``../shared/data``.

Prints the contact-time fit and the waveform tables that ``sim/_waveforms.py`` holds, so the
numbers there can be checked or regenerated. Reads the GPL Bach traces only here, at
calibration time: what carries over into the project is a few dozen averaged numbers per
template, not the recordings.

Usage: python -m sim.calibrate [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cadence.trace import Trace, read_trace, read_truth
from cadence.units import STANDARD_GRAVITY_MS2
from sim._waveforms import (
    EARLY_STANCE,
    FOOT_DUTY,
    FOOT_FOOT_ON_LEAD_S,
    LEG_FLIGHT_POINTS,
    LEG_STANCE_POINTS,
    TRUNK_FLIGHT_POINTS,
    TRUNK_STANCE_POINTS,
    early_stance_peaks_g,
    phase_average,
)

FloatArray = npt.NDArray[np.float64]
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
LEVEL_SLOPE_PCT = 0.0
STEEP_DOWNHILL_SLOPE_PCT = -10.0
FOOT_MIN_STRIDE_S = 0.5
FOOT_MIN_IMPACT_G = 3.0


@dataclass(frozen=True)
class Trial:
    name: str
    trace: Trace
    foot_on_s: FloatArray
    foot_off_s: FloatArray


def load_trials(data_dir: Path, pattern: str) -> list[Trial]:
    trials = []
    for path in sorted(data_dir.glob(pattern)):
        if path.name.endswith(".truth.csv"):
            continue
        truth = read_truth(path.with_name(path.name.removesuffix(".csv") + ".truth.csv"))
        trials.append(Trial(path.stem, read_trace(path), truth.foot_on_s, truth.foot_off_s))
    return trials


def contact_time_fit(trials: Sequence[Trial]) -> tuple[FloatArray, float]:
    """Least squares of each trial's median GCT on speed, median step time and slope."""
    rows, gct = [], []
    for trial in trials:
        step_s = float(np.median(np.diff(trial.foot_on_s)))
        speed = float(trial.trace.metadata["speed_mps"])
        slope = float(trial.trace.metadata["slope_pct"])
        rows.append([1.0, speed, step_s, slope])
        gct.append(float(np.median(trial.foot_off_s - trial.foot_on_s)))
    design, target = np.array(rows), np.array(gct)
    coefficients = np.linalg.lstsq(design, target, rcond=None)[0]
    rmse = float(np.sqrt(np.mean((design @ coefficients - target) ** 2)))
    return coefficients, rmse


def trunk_templates(trials: Sequence[Trial]) -> tuple[FloatArray, FloatArray]:
    """Mean (stance, flight) waveforms in g, axes (up, forward), over the trials' steps."""
    stances, flights = [], []
    for trial in trials:
        stance, flight = phase_average(
            trial.trace.t,
            trial.trace.acc / STANDARD_GRAVITY_MS2,
            trial.foot_on_s[:-1],
            trial.foot_off_s[:-1],
            trial.foot_on_s[1:],
            TRUNK_STANCE_POINTS,
            TRUNK_FLIGHT_POINTS,
        )
        stances.append(stance)
        flights.append(flight)
    return np.mean(stances, axis=0), np.mean(flights, axis=0)


def leg_templates(trials: Sequence[Trial], up_sign: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean (stance, swing) waveforms in g over the sensor leg's strides, all trials pooled."""
    stances, swings = [], []
    for trial in trials:
        stance, swing = phase_average(
            trial.trace.t,
            trial.trace.acc * up_sign / STANDARD_GRAVITY_MS2,
            trial.foot_on_s[:-1],
            trial.foot_off_s[:-1],
            trial.foot_on_s[1:],
            LEG_STANCE_POINTS,
            LEG_FLIGHT_POINTS,
        )
        weight = trial.foot_on_s.size - 1
        stances.append(stance * weight)
        swings.append(swing * weight)
    total = sum(trial.foot_on_s.size - 1 for trial in trials)
    return np.sum(stances, axis=0) / total, np.sum(swings, axis=0) / total


def foot_frame(acc: FloatArray) -> FloatArray:
    """Rotation rows (up, side, forward) for a shoe sensor of unknown orientation: up along the
    mean acceleration (gravity), forward along the largest remaining variance."""
    up = acc.mean(axis=0)
    up /= np.linalg.norm(up)
    horizontal = acc - np.outer(acc @ up, up)
    _, _, directions = np.linalg.svd(horizontal - horizontal.mean(axis=0), full_matrices=False)
    forward = directions[0] - (directions[0] @ up) * up
    forward /= np.linalg.norm(forward)
    return np.array([up, np.cross(forward, up), forward])


def foot_impacts_s(t: FloatArray, acc: FloatArray) -> FloatArray:
    """Impact peaks of |a| above FOOT_MIN_IMPACT_G, at least FOOT_MIN_STRIDE_S apart."""
    from scipy.signal import find_peaks

    magnitude_g = np.linalg.norm(acc, axis=1) / STANDARD_GRAVITY_MS2
    fs_hz = 1.0 / float(np.median(np.diff(t)))
    peaks, _ = find_peaks(
        magnitude_g, height=FOOT_MIN_IMPACT_G, distance=int(FOOT_MIN_STRIDE_S * fs_hz)
    )
    return np.asarray(t[peaks], dtype=np.float64)


def foot_strides(t: FloatArray, acc: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(foot-on, foot-off, next foot-on) of a shoe sensor's regular strides, from its impact
    peaks: foot-on FOOT_FOOT_ON_LEAD_S before the peak, foot-off at FOOT_DUTY of the stride."""
    impacts = foot_impacts_s(t, acc)
    strides = np.diff(impacts)
    typical = float(np.median(strides))
    keep = np.abs(strides - typical) < 0.2 * typical
    on = impacts[:-1][keep] - FOOT_FOOT_ON_LEAD_S
    next_on = impacts[1:][keep] - FOOT_FOOT_ON_LEAD_S
    return on, on + FOOT_DUTY * (next_on - on), next_on


def foot_templates(trace: Trace) -> tuple[FloatArray, FloatArray]:
    """Stride templates of the shoe sensor (no truth: strides from `foot_strides`)."""
    acc = trace.acc @ foot_frame(trace.acc).T
    on, off, next_on = foot_strides(trace.t, acc)
    return phase_average(
        trace.t, acc / STANDARD_GRAVITY_MS2, on, off, next_on, LEG_STANCE_POINTS, LEG_FLIGHT_POINTS
    )


def foot_step_peaks_g(trace: Trace) -> FloatArray:
    acc = trace.acc @ foot_frame(trace.acc).T
    on, off, _ = foot_strides(trace.t, acc)
    return early_stance_peaks_g(trace.t, acc[:, 0] / STANDARD_GRAVITY_MS2, on, off)


def template_peak_g(stance: FloatArray) -> float:
    """The template's early-stance up peak, sampled as `early_stance_peaks_g` samples a step."""
    u = np.arange(stance.shape[0]) / stance.shape[0]
    return float(stance[u <= EARLY_STANCE, 0].max())


def median_step_peak_g(trials: Sequence[Trial], up_sign: float = 1.0) -> float:
    peaks = [
        early_stance_peaks_g(
            trial.trace.t,
            up_sign * trial.trace.acc[:, 0] / STANDARD_GRAVITY_MS2,
            trial.foot_on_s,
            trial.foot_off_s,
        )
        for trial in trials
    ]
    return float(np.median(np.concatenate(peaks)))


def impact_scale(stance: FloatArray, median_peak_g: float) -> float:
    """Factor on the template's early excursion that gives the median single-step peak."""
    return float((median_peak_g - stance[0, 0]) / (template_peak_g(stance) - stance[0, 0]))


def table_source(name: str, values: FloatArray) -> str:
    """Python source of a `_waveforms` table: one axis after another, ten values a line."""
    rows = np.atleast_2d(values)
    lines = []
    for row in rows:
        lines += [" ".join(f"{v:7.3f}" for v in row[i : i + 10]) for i in range(0, row.size, 10)]
    body = "\n".join(f"    {line}" for line in lines)
    return f'{name} = _table(\n    """\n{body}\n    """,\n    axes={rows.shape[0]},\n)'


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, metavar="DIR")
    args = parser.parse_args(argv)
    np.set_printoptions(precision=3, suppress=True, linewidth=100)

    alcantara = load_trials(args.data, "alcantara-sacrum-run-t*.csv")
    coefficients, rmse = contact_time_fit(alcantara)
    print(f"GCT fit over {len(alcantara)} Alcantara trials (intercept, speed, step_s, slope_pct):")
    print(f"  {coefficients}  RMSE {1000 * rmse:.1f} ms")

    def slope(trial: Trial) -> float:
        return float(trial.trace.metadata["slope_pct"])

    level = [trial for trial in alcantara if slope(trial) == LEVEL_SLOPE_PCT]
    downhill = [trial for trial in alcantara if slope(trial) == STEEP_DOWNHILL_SLOPE_PCT]
    stance, flight = trunk_templates(level)
    steep_stance, _ = trunk_templates(downhill)
    print(f"\nsacrum templates from the {len(level)} level trials: {[t.name for t in level]}")
    up_mean = np.mean([trial.trace.acc[:, 0].mean() / STANDARD_GRAVITY_MS2 for trial in level])
    print(f"  mean up acceleration {up_mean:.3f} g")
    level_peak, steep_peak = median_step_peak_g(level), median_step_peak_g(downhill)
    print(
        f"  early-stance peak: template {template_peak_g(stance):.2f} g; median single step: "
        f"level {level_peak:.2f} g, -10 % downhill {steep_peak:.2f} g (mean template "
        f"{template_peak_g(steep_stance):.2f} g)"
    )
    print(f"  SACRUM_IMPACT_SCALE = {impact_scale(stance, level_peak):.3f}")
    gain = (steep_peak - stance[0, 0]) / (level_peak - stance[0, 0]) - 1.0
    print(f"  OVERSTRIDE_IMPACT_GAIN = {gain:.3f}")
    print(table_source("SACRUM_STANCE_G", stance.T))
    print(table_source("SACRUM_FLIGHT_G", flight.T))

    bach = load_trials(args.data, "bach-shank-running-t*.csv")
    # The Bach x axis reads -1 g standing: flip it (and y, to keep the frame right-handed).
    up_sign = np.array([-1.0, -1.0, 1.0])
    shank_stance, shank_swing = leg_templates(bach, up_sign)
    print(f"\nshank templates from {[t.name for t in bach]}")
    shank_peak = median_step_peak_g(bach, up_sign=-1.0)
    print(f"  median single-step peak {shank_peak:.2f} g (clipped recordings: a lower bound)")
    print(f"  SHANK_IMPACT_SCALE = {impact_scale(shank_stance, shank_peak):.3f}")
    print(table_source("SHANK_STANCE_G", shank_stance.T))
    print(table_source("SHANK_SWING_G", shank_swing.T))

    foot = read_trace(args.data / "wmf-foot-run.csv")
    foot_stance, foot_swing = foot_templates(foot)
    print("\nfoot templates from wmf-foot-run")
    foot_peak = float(np.median(foot_step_peaks_g(foot)))
    print(f"  median single-stride peak {foot_peak:.2f} g")
    print(f"  FOOT_IMPACT_SCALE = {impact_scale(foot_stance, foot_peak):.3f}")
    print(table_source("FOOT_STANCE_G", foot_stance.T))
    print(table_source("FOOT_SWING_G", foot_swing.T))
    return 0


if __name__ == "__main__":
    sys.exit(main())
