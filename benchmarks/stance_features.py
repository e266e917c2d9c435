"""Overstriding indicators: per-contact features of an accelerometer trace, and step length.

Overstriding is the foot landing too far ahead of the body; at a given speed it shows as a
longer step (Heiderscheit et al. 2011 MSSE 43:296; Lieberman et al. 2015 J Exp Biol 218:3406).
A footpod that reports speed gives step length directly (:func:`step_length_m`). A trunk
accelerometer alone cannot see step length, so :func:`stance_features` measures what the
literature links to it at each contact: contact time and duty factor, the vertical peaks at
foot-on and over stance (force-like), the loading rate, and the forward speed lost in early
stance (braking). ``benchmarks/overstride_indicators.py`` measures which of them follow step
length on real trials with known step length; ``docs/alerts.md`` keeps the numbers.

Plain functions over whole arrays: no state, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cadence.units import STANDARD_GRAVITY_MS2

# Window after foot-on for the impact peak and the loading rate: the passive (impact) phase of
# the vertical force lasts about the first 50 ms of stance in running.
IMPACT_WINDOW_S = 0.05

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StanceFeatures:
    """Per-contact features (one array element per contact, NaN where not measurable).

    Accelerations are in g with gravity removed, vertical positive up and forward positive
    ahead. ``braking_mps`` is the forward speed lost from foot-on to its lowest point during
    stance (Garmin's "step speed loss" idea); NaN without a forward axis.
    """

    on_s: FloatArray
    contact_ms: FloatArray
    step_s: FloatArray
    duty_factor: FloatArray
    impact_peak_g: FloatArray
    stance_peak_g: FloatArray
    stance_mean_g: FloatArray
    loading_rate_g_per_s: FloatArray
    braking_mps: FloatArray
    braking_integral_mps: FloatArray

    def as_dict(self) -> dict[str, FloatArray]:
        """Feature name -> per-contact values (``on_s`` left out)."""
        return {
            "step_rate_spm": 60.0 / self.step_s,
            "contact_ms": self.contact_ms,
            "duty_factor": self.duty_factor,
            "impact_peak_g": self.impact_peak_g,
            "stance_peak_g": self.stance_peak_g,
            "stance_mean_g": self.stance_mean_g,
            "loading_rate_g_per_s": self.loading_rate_g_per_s,
            "braking_mps": self.braking_mps,
            "braking_integral_mps": self.braking_integral_mps,
        }


def step_length_m(speed_mps: float, cadence_spm: float) -> float:
    """Step length (one foot-on to the next, either foot) from speed and step rate."""
    if not cadence_spm > 0:
        raise ValueError(f"cadence_spm must be > 0, got {cadence_spm}")
    return speed_mps * 60.0 / cadence_spm


def body_axes_g(
    acc_mps2: FloatArray,
    up_vector: Sequence[float],
    forward_vector: Sequence[float] | None,
) -> tuple[FloatArray, FloatArray | None]:
    """Vertical and forward acceleration in g with the recording's mean (gravity) removed.

    The mean over whole strides of steady running is gravity on the vertical axis and the tilt
    of the sensor on the forward one, so removing it leaves the body's own acceleration.
    """
    acc = np.asarray(acc_mps2, dtype=np.float64)
    if acc.ndim == 1:
        acc = acc.reshape(-1, 1)

    def project(vector: Sequence[float]) -> FloatArray:
        unit = np.asarray(vector, dtype=np.float64)
        unit = unit / np.linalg.norm(unit)
        along = acc @ unit
        return np.asarray((along - along.mean()) / STANDARD_GRAVITY_MS2, dtype=np.float64)

    return project(up_vector), None if forward_vector is None else project(forward_vector)


def stance_features(
    t_s: FloatArray,
    vertical_g: FloatArray,
    forward_g: FloatArray | None,
    on_s: FloatArray,
    off_s: FloatArray,
    *,
    impact_window_s: float = IMPACT_WINDOW_S,
) -> StanceFeatures:
    """Features of every contact ``[on_s[i], off_s[i]]`` (both feet, in time order).

    ``step_s`` runs to the next contact's foot-on, so the last contact has NaN step time and
    duty factor. A contact with fewer than three samples gets NaN signal features.
    """
    t = np.asarray(t_s, dtype=np.float64)
    ons = np.asarray(on_s, dtype=np.float64)
    offs = np.asarray(off_s, dtype=np.float64)
    n = ons.size
    step = np.full(n, np.nan)
    step[:-1] = np.diff(ons)
    contact_s = offs - ons
    columns = {
        name: np.full(n, np.nan)
        for name in ("impact", "peak", "mean", "loading", "braking", "integral")
    }
    for i in range(n):
        start, stop = np.searchsorted(t, [ons[i], offs[i]])
        if stop - start < 3:
            continue
        ts = t[start:stop]
        vertical = vertical_g[start:stop]
        early = ts <= ons[i] + min(impact_window_s, 0.5 * contact_s[i])
        columns["impact"][i] = vertical[early].max()
        columns["peak"][i] = vertical.max()
        columns["mean"][i] = _time_mean(ts, vertical)
        columns["loading"][i] = _max_slope(ts[early], vertical[early])
        if forward_g is not None:
            speed_change = _cumulative_integral(ts, forward_g[start:stop] * STANDARD_GRAVITY_MS2)
            columns["braking"][i] = -min(0.0, float(speed_change.min()))
            negative = np.minimum(forward_g[start:stop], 0.0) * STANDARD_GRAVITY_MS2
            columns["integral"][i] = -float(_cumulative_integral(ts, negative)[-1])
    return StanceFeatures(
        on_s=ons,
        contact_ms=contact_s * 1000.0,
        step_s=step,
        duty_factor=contact_s / step,
        impact_peak_g=columns["impact"],
        stance_peak_g=columns["peak"],
        stance_mean_g=columns["mean"],
        loading_rate_g_per_s=columns["loading"],
        braking_mps=columns["braking"],
        braking_integral_mps=columns["integral"],
    )


def _cumulative_integral(t: FloatArray, y: FloatArray) -> FloatArray:
    """Trapezoidal running integral starting at 0 (irregular sample times allowed)."""
    increments = 0.5 * (y[1:] + y[:-1]) * np.diff(t)
    return np.concatenate(([0.0], np.cumsum(increments)))


def _time_mean(t: FloatArray, y: FloatArray) -> float:
    duration = float(t[-1] - t[0])
    return float(_cumulative_integral(t, y)[-1] / duration) if duration > 0 else float(y.mean())


def _max_slope(t: FloatArray, y: FloatArray) -> float:
    if y.size < 2:
        return float("nan")
    return float(np.max(np.diff(y) / np.diff(t)))
