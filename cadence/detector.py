"""Streaming foot-contact detection for accelerometer streams.

``ContactDetector.update(t, acc)`` takes any number of new samples and returns the contacts
completed so far; the per-sample work happens in compiled kernels (``cadence._kernels``) whose
state is carried between calls, so chunking never changes the result. ``detect_contacts`` is
the batch form over whole arrays.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Final

import numpy as np
import numpy.typing as npt

from cadence import _kernels
from cadence.contacts import Contact, DetectorUpdate, Gap
from cadence.errors import ConfigurationError
from cadence.filters import butter2_sos
from cadence.summary import placement_is_leg

MIN_FS_HZ: Final = 20.0
MAX_FS_HZ: Final = 2000.0
UP_VECTOR_WEIGHT_S: Final = 0.02
RECENT_CONTACTS: Final = 16  # contacts behind the running cadence and GCT (about 5-10 s)


@dataclass(frozen=True, slots=True)
class TrunkParameters:
    """Tuning of the trunk detector; the GCT model was fitted on the Alcantara sacrum trials."""

    hysteresis_g: float = 0.15
    min_step_interval_s: float = 0.2
    max_step_interval_s: float = 1.0
    max_gap_s: float = 0.15
    gravity_tau_s: float = 2.0
    gravity_warmup_s: float = 1.0
    onset_search_s: float = 0.15
    baseline_window_s: float = 0.1
    offset_level_g: float = 0.3
    # GCT = intercept + per_fall x (fall to offset_level_g - foot-on) + per_step x step period:
    # least squares over 359 contacts of 24 trials; leave-one-trial-out MAE 10.1 ms.
    gct_intercept_s: float = -0.0045
    gct_per_fall: float = 0.5568
    gct_per_step: float = 0.2811
    walking_duty_steps: float = 1.22
    min_fall_after_on_s: float = 0.08
    # The tangent lands 2-3 ms after the force-plate foot-on on average (24 trials).
    onset_correction_s: float = 0.0026
    lowpass_hz: float = 6.0
    default_step_s: float = 0.33

    def kernel_params(self) -> npt.NDArray[np.float64]:
        """The values in the order ``trunk_kernel`` reads them."""
        return np.array(
            [
                self.hysteresis_g,
                self.min_step_interval_s,
                self.max_step_interval_s,
                self.max_gap_s,
                self.gravity_tau_s,
                self.gravity_warmup_s,
                self.onset_search_s,
                self.baseline_window_s,
                self.offset_level_g,
                self.gct_intercept_s,
                self.gct_per_fall,
                self.gct_per_step,
                self.walking_duty_steps,
                self.min_fall_after_on_s,
                self.onset_correction_s,
            ]
        )


@dataclass(frozen=True, slots=True)
class LegParameters:
    """Tuning of the leg detector (shank, ankle, foot): one impact per stride."""

    highpass_hz: float = 15.0
    max_gap_s: float = 0.15
    gravity_tau_s: float = 2.0
    gravity_warmup_s: float = 1.0
    impact_lead_s: float = 0.04
    min_stride_interval_s: float = 0.45
    max_stride_interval_s: float = 1.6
    running_duty: float = 0.38
    walking_duty: float = 0.61
    walking_stride_s: float = 0.9
    min_impact_g: float = 0.5
    max_impact_window_s: float = 0.55
    default_stride_s: float = 0.8

    def kernel_params(self) -> npt.NDArray[np.float64]:
        """The values in the order ``leg_kernel`` reads them."""
        return np.array(
            [
                self.max_gap_s,
                self.gravity_tau_s,
                self.gravity_warmup_s,
                self.impact_lead_s,
                self.min_stride_interval_s,
                self.max_stride_interval_s,
                self.running_duty,
                self.walking_duty,
                self.walking_stride_s,
                self.min_impact_g,
                self.max_impact_window_s,
            ]
        )


class ContactDetector:
    """Finds foot contacts live in an accelerometer stream.

    Args:
        fs_hz: nominal sample rate of the stream (50-500 Hz); samples may arrive irregularly.
        placement: where the sensor sits: a trunk placement (sacrum, lower_back, hip, ...) or a
            leg placement (shank, ankle, foot, shoe).
        up_vector: the sensor-frame direction that points up when standing (one value per
            acceleration column), if known; otherwise it is learnt from gravity.
    """

    def __init__(
        self, *, fs_hz: float, placement: str, up_vector: Sequence[float] | None = None
    ) -> None:
        if not MIN_FS_HZ <= fs_hz <= MAX_FS_HZ or not math.isfinite(fs_hz):
            raise ConfigurationError(
                f"fs_hz={fs_hz!r}: the detector works from {MIN_FS_HZ:g} to {MAX_FS_HZ:g} Hz"
            )
        self.fs_hz = float(fs_hz)
        self.placement = placement
        self.leg_mounted = placement_is_leg(placement)
        self._up_vector = None if up_vector is None else np.asarray(up_vector, dtype=np.float64)
        if self._up_vector is not None and (
            self._up_vector.ndim != 1
            or not 1 <= self._up_vector.size <= 3
            or not np.linalg.norm(self._up_vector) > 0
        ):
            raise ConfigurationError(f"up_vector={up_vector!r}: need 1 to 3 values, not all 0")
        self._n_channels: int | None = None
        self._state = np.zeros(_kernels.STATE_SIZE)
        self._state[[_kernels.S_LAST_T, _kernels.S_LAST_ON, _kernels.S_PENDING_ON]] = math.nan
        self._kernel: _kernels.Kernel
        if self.leg_mounted:
            leg = LegParameters()
            # The impact is a sharp transient: keep what is above the leg's swing motion.
            cutoff_hz = min(leg.highpass_hz, 0.4 * fs_hz)
            self._sos = butter2_sos(cutoff_hz, fs_hz, "highpass")
            self._params = leg.kernel_params()
            self._state[_kernels.S_STEP_S] = leg.default_stride_s
            ring_s = 2.5 * leg.max_stride_interval_s
            self._kernel = _kernels.leg_kernel
        else:
            trunk = TrunkParameters()
            self._sos = butter2_sos(min(trunk.lowpass_hz, 0.4 * fs_hz), fs_hz, "lowpass")
            self._params = trunk.kernel_params()
            self._state[_kernels.S_STEP_S] = trunk.default_step_s
            ring_s = 2.0
            self._kernel = _kernels.trunk_kernel
        ring_size = int(2 ** math.ceil(math.log2(ring_s * fs_hz * 1.5)))
        self._ring_t = np.zeros(ring_size)
        self._ring_v = np.zeros(ring_size)
        self._recent: deque[Contact] = deque(maxlen=RECENT_CONTACTS)

    def update(self, t: npt.ArrayLike, acc: npt.ArrayLike) -> DetectorUpdate:
        """Feed samples: ``t`` (n,) s, ``acc`` (n, k) m/s² with gravity; returns what completed."""
        times = np.ascontiguousarray(t, dtype=np.float64)
        values = np.ascontiguousarray(acc, dtype=np.float64)
        if values.ndim == 1:
            values = values.reshape(-1, 1)
        if times.ndim != 1 or values.shape[0] != times.shape[0]:
            raise ConfigurationError(
                f"t has shape {times.shape} and acc {values.shape}: need (n,) and (n, k)"
            )
        if times.size == 0:
            return DetectorUpdate()
        self._check_channels(values.shape[1])
        # Room for every event the chunk could hold: one per minimum step, plus gaps.
        capacity = times.size // 2 + 4
        out = np.empty((capacity, _kernels.OUT_COLUMNS))
        n_events = self._kernel(
            self._state, self._ring_t, self._ring_v, self._sos, self._params, times, values, out
        )
        return self._to_update(out[:n_events])

    def finish(self) -> DetectorUpdate:
        """End of stream: a contact still waiting for its foot-off is dropped, not guessed."""
        self._state[_kernels.S_PENDING_ON] = math.nan
        return DetectorUpdate()

    @property
    def cadence_spm(self) -> float | None:
        """Recent cadence (steps/min, both legs) over the last few seconds of running."""
        ons = [c.on_s for c in self._recent]
        if len(ons) < 2 or ons[-1] <= ons[0]:
            return None
        steps_per_contact = 2 if self.leg_mounted else 1
        return 60.0 * steps_per_contact * (len(ons) - 1) / (ons[-1] - ons[0])

    @property
    def gct_ms(self) -> float | None:
        """Recent median ground contact time in ms."""
        if not self._recent:
            return None
        return 1000.0 * median(c.gct_s for c in self._recent)

    @property
    def rejected_samples(self) -> int:
        """Samples dropped because their time did not move forward."""
        return int(self._state[_kernels.S_N_REJECTED])

    def _check_channels(self, n_channels: int) -> None:
        if self._n_channels is None:
            if not 1 <= n_channels <= 3:
                raise ConfigurationError(f"acc has {n_channels} columns: need 1 to 3 axes")
            if self._up_vector is not None:
                if self._up_vector.size != n_channels:
                    raise ConfigurationError(
                        f"up_vector has {self._up_vector.size} values for {n_channels} axes"
                    )
                unit = self._up_vector / np.linalg.norm(self._up_vector)
                gravity = _kernels.STANDARD_GRAVITY * unit
                self._state[_kernels.S_GX : _kernels.S_GX + n_channels] = gravity
                # A known orientation counts as a short stretch of samples in the warm-up
                # average: it steadies the first steps, and the data soon corrects its tilt.
                self._state[_kernels.S_N_SEEN] = UP_VECTOR_WEIGHT_S * self.fs_hz
            self._n_channels = n_channels
        elif n_channels != self._n_channels:
            raise ConfigurationError(
                f"acc has {n_channels} columns; this stream started with {self._n_channels}"
            )

    def _to_update(self, events: npt.NDArray[np.float64]) -> DetectorUpdate:
        contacts: list[Contact] = []
        gaps: list[Gap] = []
        for row in events:
            if row[0] == _kernels.EVENT_GAP:
                gaps.append(Gap(float(row[1]), float(row[2])))
                self._recent.clear()
            else:
                contact = Contact(float(row[1]), float(row[2]), "sensor" if row[3] else None)
                contacts.append(contact)
                self._recent.append(contact)
        return DetectorUpdate(tuple(contacts), tuple(gaps))


def detect_contacts(
    t: npt.NDArray[np.float64],
    acc: npt.NDArray[np.float64],
    *,
    fs_hz: float,
    placement: str,
    up_vector: Sequence[float] | None = None,
) -> DetectorUpdate:
    """Batch form: the same contacts as streaming the whole array through a ContactDetector."""
    detector = ContactDetector(fs_hz=fs_hz, placement=placement, up_vector=up_vector)
    first = detector.update(t, acc)
    last = detector.finish()
    return DetectorUpdate(first.contacts + last.contacts, first.gaps + last.gaps)
