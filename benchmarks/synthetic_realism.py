"""How close synthetic traces come to the real recordings they were calibrated on.

Each real recording gets a synthetic twin: same placement, sample rate, duration, speed, slope
and cadence (from its truth; the wmf shoe trace, which has none, at its authors' 170 spm), and
for the Bach shank the same ±8 g range. Then, per set of recordings:

- impact peak: the largest up-axis value in the first 35 % of each stance, in g (median and
  10th-90th percentile over cycles);
- contact shape: Pearson r between the mean real and mean synthetic cycle (stance then flight
  or swing, each resampled over its own duration), per axis;
- spectra: Welch PSD of the up axis (2-s segments): dominant frequency, share of power in
  0-5, 5-15 and 15-50 Hz, and r between the real and synthetic log-PSD over 0.5-30 Hz.

The sacrum and shank templates were learnt from the level Alcantara trials and the Bach
running trials themselves, so their rows are in-sample; the sloped Alcantara trials are held
out of the template (the contact-time fit saw all 24). Shoe cycles are aligned on impact peaks
(no truth) exactly as in the calibration.

Usage: python benchmarks/synthetic_realism.py [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import welch

from cadence.trace import Trace, Truth, read_trace, read_truth
from cadence.units import STANDARD_GRAVITY_MS2
from sim._waveforms import (
    FOOT_DUTY,
    FOOT_FOOT_ON_LEAD_S,
    LEG_FLIGHT_POINTS,
    LEG_STANCE_POINTS,
    TEMPLATES,
    TRUNK_FLIGHT_POINTS,
    TRUNK_STANCE_POINTS,
    phase_average,
)
from sim.calibrate import foot_frame, foot_impacts_s
from sim.synthetic import RunnerConfig, simulate

FloatArray = npt.NDArray[np.float64]
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "traces"
EARLY_STANCE = 0.35
BANDS_HZ = ((0.0, 5.0), (5.0, 15.0), (15.0, 50.0))
LOG_PSD_BAND_HZ = (0.5, 30.0)
WMF_CADENCE_SPM = 170.0
WMF_SPEED_MPS = 3.0
BACH_RANGE_G = 8.0


@dataclass(frozen=True)
class Cycles:
    """A recording in g in the template's axis order, and its cycles (foot-on, foot-off, next
    foot-on of the same cycle)."""

    acc_g: FloatArray
    t: FloatArray
    fs_hz: float
    on: FloatArray
    off: FloatArray
    next_on: FloatArray
    up_row: int


def from_truth(trace: Trace, on: FloatArray, off: FloatArray, up_sign: FloatArray) -> Cycles:
    return Cycles(
        trace.acc * up_sign / STANDARD_GRAVITY_MS2,
        trace.t,
        trace.fs_hz,
        on[:-1],
        off[:-1],
        on[1:],
        0,
    )


def from_impacts(trace: Trace, rotate: bool) -> Cycles:
    """Shoe cycles aligned on impact peaks, with the calibration's foot-on lead and duty."""
    acc = trace.acc @ foot_frame(trace.acc).T if rotate else trace.acc
    impacts = foot_impacts_s(trace.t, acc)
    strides = np.diff(impacts)
    keep = np.abs(strides - np.median(strides)) < 0.2 * np.median(strides)
    on = impacts[:-1][keep] - FOOT_FOOT_ON_LEAD_S
    next_on = impacts[1:][keep] - FOOT_FOOT_ON_LEAD_S
    off = on + FOOT_DUTY * (next_on - on)
    return Cycles(acc / STANDARD_GRAVITY_MS2, trace.t, trace.fs_hz, on, off, next_on, 0)


def mean_cycle(cycles: Sequence[Cycles], stance_points: int, flight_points: int) -> FloatArray:
    """(points, axes): the mean stance then flight waveform over all recordings' cycles."""
    parts = [
        np.concatenate(
            phase_average(c.t, c.acc_g, c.on, c.off, c.next_on, stance_points, flight_points)
        )
        for c in cycles
    ]
    weights = np.array([c.on.size for c in cycles], dtype=np.float64)
    return np.asarray(np.tensordot(weights / weights.sum(), np.array(parts), 1))


def impact_peaks_g(cycles: Cycles) -> FloatArray:
    peaks = []
    for on, off in zip(cycles.on, cycles.off, strict=True):
        window = (cycles.t >= on) & (cycles.t <= on + EARLY_STANCE * (off - on))
        if np.any(window):
            peaks.append(cycles.acc_g[window, cycles.up_row].max())
    return np.array(peaks, dtype=np.float64)


def spectrum(cycles: Cycles) -> tuple[FloatArray, FloatArray]:
    up = cycles.acc_g[:, cycles.up_row]
    freqs, psd = welch(up - up.mean(), fs=cycles.fs_hz, nperseg=min(up.size, int(2 * cycles.fs_hz)))
    return np.asarray(freqs), np.asarray(psd)


@dataclass(frozen=True)
class SpectrumSummary:
    dominant_hz: float
    band_shares: tuple[float, ...]
    freqs: FloatArray
    log_psd: FloatArray


def summarize_spectra(cycles: Sequence[Cycles]) -> SpectrumSummary:
    """Mean PSD over recordings (on the first one's frequency grid)."""
    freqs, first = spectrum(cycles[0])
    psds = [first] + [np.interp(freqs, *spectrum(c)) for c in cycles[1:]]
    psd = np.mean(psds, axis=0)
    total = psd[freqs > 0].sum()
    shares = tuple(
        float(psd[(freqs >= lo) & (freqs < hi) & (freqs > 0)].sum() / total) for lo, hi in BANDS_HZ
    )
    band = (freqs >= LOG_PSD_BAND_HZ[0]) & (freqs <= LOG_PSD_BAND_HZ[1])
    dominant = float(freqs[1:][np.argmax(psd[1:])])
    return SpectrumSummary(dominant, shares, freqs[band], np.log10(psd[band] + 1e-12))


def twin(trace: Trace, cadence_spm: float, seed: int, range_g: float = 16.0) -> tuple[Trace, Truth]:
    placement = trace.placement or "sacrum"
    speed = float(trace.metadata.get("speed_mps", 0) or 0) or (
        float(trace.metadata.get("speed_kmh", 0) or 0) / 3.6 or WMF_SPEED_MPS
    )
    config = RunnerConfig(
        duration_s=trace.duration_s,
        cadence_points=((0.0, cadence_spm),),
        speed_mps=speed,
        slope_pct=float(trace.metadata.get("slope_pct", 0) or 0),
        placement=placement,
        fs_hz=trace.fs_hz,
        range_g=range_g,
        seed=seed,
    )
    run = simulate(config)
    return run.trace, run.truth


@dataclass(frozen=True)
class Row:
    name: str
    n_real: int
    peaks_real: FloatArray
    peaks_synthetic: FloatArray
    shape_r: tuple[float, ...]
    spectrum_real: SpectrumSummary
    spectrum_synthetic: SpectrumSummary


def compare(
    name: str, real: Sequence[Cycles], synthetic: Sequence[Cycles], points: tuple[int, int]
) -> Row:
    real_mean, synthetic_mean = mean_cycle(real, *points), mean_cycle(synthetic, *points)
    shape_r = tuple(
        float(np.corrcoef(real_mean[:, k], synthetic_mean[:, k])[0, 1])
        for k in range(real_mean.shape[1])
    )
    return Row(
        name,
        len(real),
        np.concatenate([impact_peaks_g(c) for c in real]),
        np.concatenate([impact_peaks_g(c) for c in synthetic]),
        shape_r,
        summarize_spectra(real),
        summarize_spectra(synthetic),
    )


def sacrum_rows(data_dir: Path) -> list[Row]:
    level: tuple[list[Cycles], list[Cycles]] = ([], [])
    sloped: tuple[list[Cycles], list[Cycles]] = ([], [])
    sign = np.ones(2)
    for index, path in enumerate(sorted(data_dir.glob("alcantara-sacrum-run-t??.csv"))):
        trace = read_trace(path)
        truth = read_truth(path.with_name(path.stem + ".truth.csv"))
        cadence = 60.0 / float(np.median(np.diff(truth.foot_on_s)))
        synthetic, synthetic_truth = twin(trace, cadence, seed=index)
        target = level if float(trace.metadata["slope_pct"]) == 0 else sloped
        target[0].append(from_truth(trace, truth.foot_on_s, truth.foot_off_s, sign))
        target[1].append(
            from_truth(synthetic, synthetic_truth.foot_on_s, synthetic_truth.foot_off_s, sign)
        )
    points = (TRUNK_STANCE_POINTS, TRUNK_FLIGHT_POINTS)
    return [
        compare("sacrum level (in-sample)", *level, points),
        compare("sacrum sloped (held out)", *sloped, points),
    ]


def shank_row(data_dir: Path) -> Row:
    real, synthetic = [], []
    sign = np.array([-1.0, -1.0, 1.0])  # as in the calibration: x read -1 g standing
    for index, path in enumerate(sorted(data_dir.glob("bach-shank-running-t??.csv"))):
        trace = read_trace(path)
        truth = read_truth(path.with_name(path.stem + ".truth.csv"))
        cadence = 120.0 / float(np.median(np.diff(truth.foot_on_s)))
        twin_trace, twin_truth = twin(trace, cadence, seed=index, range_g=BACH_RANGE_G)
        real.append(from_truth(trace, truth.foot_on_s, truth.foot_off_s, sign))
        synthetic.append(
            from_truth(twin_trace, twin_truth.foot_on_s, twin_truth.foot_off_s, np.ones(3))
        )
    return compare("shank (in-sample)", real, synthetic, (LEG_STANCE_POINTS, LEG_FLIGHT_POINTS))


def foot_row(data_dir: Path) -> Row:
    trace = read_trace(data_dir / "wmf-foot-run.csv")
    trace = Trace(
        trace.source,
        trace.metadata,
        trace.t,
        trace.acc,
        trace.acc_axes,
        np.empty((trace.t.size, 0)),
        (),
    )
    synthetic, _ = twin(trace, WMF_CADENCE_SPM, seed=0)
    real_cycles = from_impacts(trace, rotate=True)
    synthetic_cycles = from_impacts(synthetic, rotate=False)
    points = (LEG_STANCE_POINTS, LEG_FLIGHT_POINTS)
    return compare("foot (in-sample, no truth)", [real_cycles], [synthetic_cycles], points)


def fmt_peaks(peaks: FloatArray) -> str:
    p10, p50, p90 = np.percentile(peaks, [10, 50, 90])
    return f"{p50:.2f} [{p10:.2f}-{p90:.2f}]"


def print_rows(rows: Sequence[Row]) -> None:
    print(
        f"\n{'set':<28} {'n':>3} {'impact peak g real':>20} {'synthetic':>20}"
        f" {'shape r (axes)':>20} {'dom Hz r/s':>11} {'log-PSD r':>9}"
    )
    for row in rows:
        shape = " ".join(f"{r:.3f}" for r in row.shape_r)
        dominant = f"{row.spectrum_real.dominant_hz:.1f}/{row.spectrum_synthetic.dominant_hz:.1f}"
        real_log = row.spectrum_real.log_psd
        synth_log = np.interp(
            row.spectrum_real.freqs, row.spectrum_synthetic.freqs, row.spectrum_synthetic.log_psd
        )
        psd_r = float(np.corrcoef(real_log, synth_log)[0, 1])
        print(
            f"{row.name:<28} {row.n_real:>3} {fmt_peaks(row.peaks_real):>20}"
            f" {fmt_peaks(row.peaks_synthetic):>20} {shape:>20} {dominant:>11} {psd_r:>9.3f}"
        )
    bands = " / ".join(f"{lo:g}-{hi:g}" for lo, hi in BANDS_HZ)
    print(f"\nShare of up-axis power in {bands} Hz (real | synthetic)")
    for row in rows:
        real = " ".join(f"{share:.3f}" for share in row.spectrum_real.band_shares)
        synth = " ".join(f"{share:.3f}" for share in row.spectrum_synthetic.band_shares)
        print(f"  {row.name:<28} {real} | {synth}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, metavar="DIR")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"{args.data}: not found")
        return 1
    rows = [*sacrum_rows(args.data), shank_row(args.data), foot_row(args.data)]
    axes = {name: template.axes for name, template in TEMPLATES.items()}
    print(
        f"shape r axes: sacrum {axes['sacrum']} (up, forward); shank/foot {axes['shank']}"
        " (up, side, forward)"
    )
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
