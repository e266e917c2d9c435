"""Second-order Butterworth sections designed in closed form.

The same coefficients as ``scipy.signal.butter(2, cutoff_hz, kind, fs=fs_hz, output="sos")``
(bilinear transform with pre-warping), without importing scipy.signal, which alone costs
about 0.6 s of start-up.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt


def butter2_sos(
    cutoff_hz: float, fs_hz: float, kind: Literal["lowpass", "highpass"]
) -> npt.NDArray[np.float64]:
    """One biquad section ``[b0, b1, b2, 1, a1, a2]`` as a (1, 6) array."""
    if not 0.0 < cutoff_hz < fs_hz / 2.0:
        raise ValueError(f"cutoff {cutoff_hz} Hz must lie between 0 and fs/2 = {fs_hz / 2} Hz")
    k = math.tan(math.pi * cutoff_hz / fs_hz)
    norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    a1 = 2.0 * (k * k - 1.0) * norm
    a2 = (1.0 - math.sqrt(2.0) * k + k * k) * norm
    if kind == "lowpass":
        b0 = k * k * norm
        b1 = 2.0 * b0
    else:
        b0 = norm
        b1 = -2.0 * b0
    return np.array([[b0, b1, b0, 1.0, a1, a2]])
