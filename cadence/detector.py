"""Streaming foot-contact detection for accelerometer streams.

``ContactDetector.update(t, acc)`` takes any number of new samples and returns the contacts
completed so far; the per-sample work happens in compiled kernels (``cadence._kernels``) whose
state is carried between calls, so chunking never changes the result. ``detect_contacts`` is
the batch form over whole arrays, and ``detect_contact_columns`` the same as arrays (for long
recordings, where building an object per contact costs as much as finding it).

Trunk placements: a contact is reported at its foot-off (about 0.3 s after foot-on when
running). Leg placements: once the next impact is confirmed, about a stride and half a second
after foot-on (on a shank 0.35 s more, for the stride phase and rival peaks), since its foot-off
is read from the signal after it: on a foot, the push-off that ends the still phase of stance;
on a shank or ankle, the fall of the vertical acceleration when running, a duty factor when
walking.
``Contact.impact_g`` is, for the trunk, the peak vertical acceleration from foot-on to the end
of stance, gravity included (1 g standing; it saturates with a clipping sensor); for the leg,
the peak of the 15 Hz high-passed acceleration magnitude at foot-strike (gravity and swing
excluded).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Final, Required, TypedDict, Unpack

import numpy as np
import numpy.typing as npt

from cadence import _kernels
from cadence.contacts import Contact, ContactColumns, DetectorUpdate, Gap, Leg
from cadence.errors import ConfigurationError
from cadence.filters import butter2_sos
from cadence.placement import placement_is_leg

MIN_FS_HZ: Final = 20.0
MAX_FS_HZ: Final = 2000.0
UP_VECTOR_WEIGHT_S: Final = 0.02
FINISH_CAPACITY: Final = 8
# The impact template's rate, whatever the stream's: at 50 Hz a shift of a sample is 20 ms,
# too coarse to align by; finer steps add work, not precision.
TEMPLATE_HZ: Final = 500.0
RECENT_CONTACTS: Final = 16  # contacts behind the running cadence and GCT (about 5-10 s)
FOOT_PLACEMENTS: Final = ("foot", "shoe")


def placement_is_foot(placement: str) -> bool:
    """Foot and shoe placements (``footpod``, ``shoe-left``, ...): the sensor rests in stance."""
    return placement.strip().lower().startswith(FOOT_PLACEMENTS)


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
    # least squares over 360 contacts of 24 trials (benchmarks/fit_detector.py);
    # leave-one-trial-out MAE 10.5 ms.
    gct_intercept_s: float = 0.0024
    gct_per_fall: float = 0.5423
    gct_per_step: float = 0.2701
    walking_duty_steps: float = 1.22
    min_fall_after_on_s: float = 0.08
    # The tangent of the first rise lands on the force-plate foot-on on average (0.3 ms early,
    # 24 trials); leave-one-trial-out foot-on MAE 5.0 ms.
    onset_correction_s: float = -0.0003
    # Only the first 1.5 g of the rise count for its steepest part (best foot-on MAE from 1.3
    # to 1.6 g over the 24 trials; without a limit a soft landing's foot-on came 30-50 ms late).
    first_rise_g: float = 1.5
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
                self.first_rise_g,
            ]
        )


@dataclass(frozen=True, slots=True)
class LegParameters:
    """Tuning of the leg detector (shank, ankle, foot): one impact per stride.

    Fitted on the Bach shank trials (benchmarks/fit_detector.py, leave-one-trial-out errors
    there): the two leads and the foot-off lag. The rest is physics or the literature.
    """

    highpass_hz: float = 15.0
    max_gap_s: float = 0.15
    gravity_tau_s: float = 2.0
    gravity_warmup_s: float = 1.0
    # Running: the impact transient rises through 15 % of its peak 13 ms after foot-on.
    impact_lead_s: float = 0.013
    min_stride_interval_s: float = 0.45
    max_stride_interval_s: float = 1.6
    # Stance share of the stride when the running foot-off is not seen, and when walking.
    running_duty: float = 0.38
    walking_duty: float = 0.61
    walking_stride_s: float = 0.9
    min_impact_g: float = 0.5
    max_impact_window_s: float = 0.55
    onset_fraction: float = 0.15
    # An impact must reach this share of the recent impacts' level.
    level_fraction: float = 0.3
    vertical_lowpass_hz: float = 10.0
    push_off_g: float = 0.3
    off_search_from_strides: float = 0.2
    # Running foot-off: 57 ms after the low-passed vertical acceleration falls through 1 g.
    running_off_lag_s: float = 0.057
    max_rise_s: float = 0.1
    # Walking: the impact is the peak of the high-passed power low-passed at this rate; the
    # power-weighted centre of the burst within walking_burst_half_width_s of it comes 45 ms
    # after foot-on (leave-one-trial-out foot-on MAE 8.1 ms, 4.2 ms once aligned to the
    # impact template; the envelope's peak alone: 8.3 ms, one more heel strike beyond 50 ms).
    min_walking_impact_g: float = 0.1
    walking_impact_lead_s: float = 0.045
    walking_envelope_hz: float = 5.0
    walking_burst_half_width_s: float = 0.04
    default_stride_s: float = 0.8
    # Foot-mounted sensors: stance is the still phase (zero velocity) that follows the impact,
    # and foot-off the peak of the push-off that lifts the low-passed magnitude out of it. Not
    # fitted (no force-plate truth for a foot sensor here): physics and a visual check.
    foot_settle_s: float = 0.05
    foot_still_g: float = 1.0
    foot_still_highpass_g: float = 0.5
    foot_push_off_g: float = 2.5
    foot_max_stance_strides: float = 0.75
    # Walking: a toe-off's burst can outdo a soft heel strike. Stance follows a heel strike,
    # the swing a toe-off: the low-passed vertical acceleration from near to far seconds
    # after a candidate stays near 1 g in stance and drops below walking_stance_min_g when
    # the shank swings away tilted (``_kernels._judge_phases``). Not fitted: on the Bach
    # walking trials that average is 1.00-1.15 g after heel strikes and 0.30-0.60 g after
    # 95 % of toe-offs (0.99 g at most), so the threshold sits well below the heel strikes.
    walking_phase_near_s: float = 0.05
    walking_phase_far_s: float = 0.2
    walking_stance_min_g: float = 0.75
    # The same test keeps toe-offs out while the strides say running (a slow walk's first
    # strides look like a run's), over a window that ends sooner: a fast runner's stance may
    # last 0.15 s. On the Bach trials the average from 0.05 to 0.12 s is 1.44-2.42 g after
    # running heel strikes and 0.38-0.69 g after walking toe-offs. Not fitted.
    running_phase_far_s: float = 0.12
    # Foot-on from the whole impact, not its onset alone: each impact's low-passed magnitude
    # from template_before_s before its onset to template_after_s after is aligned to the
    # average of the gait's earlier impacts, within template_max_shift_s when running and
    # walking_burst_s when walking (``_kernels._align_to_template``). Not fitted: on the Bach
    # trials windows from 0.1+0.05 s to 0.3+0.3 s and weights 1/8 to 1/16 give the same
    # foot-on errors within 1 ms. A running shift of 0 turns it off for running.
    template_before_s: float = 0.2
    template_after_s: float = 0.1
    template_max_shift_s: float = 0.04
    template_min_weight: float = 0.125
    # Walking: envelope peaks within walking_burst_s of a burst's strongest and at least
    # walking_rival_ratio of it are rivals; the one a stride after the last foot-on is the heel
    # strike (``_kernels._is_heel_strike``). Not fitted: on the Bach walking trials every
    # ratio from 0.75 to 0.95 and burst from 0.06 to 0.12 s gives the same contacts found;
    # 1.0 turns it off.
    walking_burst_s: float = 0.1
    walking_rival_ratio: float = 0.8
    # End of stream: a contact whose modelled foot-off is at most this past the last sample
    # is kept (the foot-off model's errors reach tens of ms). Not fitted.
    end_off_tolerance_s: float = 0.05

    def kernel_params(self, *, foot_mounted: bool = False) -> npt.NDArray[np.float64]:
        """The values in the order ``leg_kernel`` reads them; ``foot_mounted`` selects the
        still-phase foot-off."""
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
                self.onset_fraction,
                self.level_fraction,
                self.vertical_lowpass_hz,
                self.push_off_g,
                self.off_search_from_strides,
                self.running_off_lag_s,
                self.max_rise_s,
                self.min_walking_impact_g,
                self.walking_impact_lead_s,
                self.walking_envelope_hz,
                1.0 if foot_mounted else 0.0,
                self.foot_settle_s,
                self.foot_still_g,
                self.foot_still_highpass_g,
                self.foot_push_off_g,
                self.foot_max_stance_strides,
                self.walking_phase_near_s,
                self.walking_phase_far_s,
                self.walking_stance_min_g,
                self.walking_burst_half_width_s,
                self.walking_burst_s,
                self.walking_rival_ratio,
                self.end_off_tolerance_s,
                self.running_phase_far_s,
                self.template_before_s,
                self.template_after_s,
                self.template_max_shift_s,
                self.template_min_weight,
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
        parameters: tuning for the placement's detector (default: the fitted values); meant
            for refitting against new truth.
    """

    def __init__(
        self,
        *,
        fs_hz: float,
        placement: str,
        up_vector: Sequence[float] | None = None,
        parameters: TrunkParameters | LegParameters | None = None,
    ) -> None:
        if not MIN_FS_HZ <= fs_hz <= MAX_FS_HZ or not math.isfinite(fs_hz):
            raise ConfigurationError(
                f"fs_hz={fs_hz!r}: the detector works from {MIN_FS_HZ:g} to {MAX_FS_HZ:g} Hz"
            )
        self.fs_hz = float(fs_hz)
        self.placement = placement
        self.leg_mounted = placement_is_leg(placement)
        # A leg-worn sensor reports the contacts of its own leg only.
        self._leg_label: Leg | None = "sensor" if self.leg_mounted else None
        self._up_vector = None if up_vector is None else np.asarray(up_vector, dtype=np.float64)
        if self._up_vector is not None and (
            self._up_vector.ndim != 1
            or not 1 <= self._up_vector.size <= 3
            or not np.linalg.norm(self._up_vector) > 0
        ):
            raise ConfigurationError(f"up_vector={up_vector!r}: need 1 to 3 values, not all 0")
        self._n_channels: int | None = None
        self._state = np.zeros(_kernels.STATE_SIZE)
        unknown = [
            _kernels.S_LAST_T,
            _kernels.S_LAST_ON,
            _kernels.S_PENDING_ON,
            _kernels.S_LAST_FALL,
        ]
        self._state[unknown] = math.nan
        self._kernel: _kernels.Kernel
        self._finish_kernel: _kernels.FinishKernel
        if parameters is not None and isinstance(parameters, LegParameters) != self.leg_mounted:
            raise ConfigurationError(
                f"{type(parameters).__name__} do not fit placement {placement!r}"
            )
        if self.leg_mounted:
            leg = parameters if isinstance(parameters, LegParameters) else LegParameters()
            # The impact is a sharp transient: keep what is above the leg's swing motion.
            cutoff_hz = min(leg.highpass_hz, 0.4 * fs_hz)
            self._sos = butter2_sos(cutoff_hz, fs_hz, "highpass")
            self._params = leg.kernel_params(foot_mounted=placement_is_foot(placement))
            self._state[_kernels.S_STEP_S] = leg.default_stride_s
            # The impact template (``_kernels._align_to_template``) ends the state vector.
            template_s = leg.template_before_s + leg.template_after_s
            if not template_s * TEMPLATE_HZ >= 1.0:
                raise ConfigurationError(
                    f"template_before_s + template_after_s = {template_s!r}: need at least"
                    f" {1.0 / TEMPLATE_HZ:g} s (template_max_shift_s=0 turns alignment off)"
                )
            template_size = round(template_s * TEMPLATE_HZ) + 1
            self._state = np.concatenate([self._state, np.zeros(template_size)])
            ring_s = 2.5 * leg.max_stride_interval_s
            self._kernel = _kernels.leg_kernel
            self._finish_kernel = _kernels.leg_finish
        else:
            trunk = parameters if isinstance(parameters, TrunkParameters) else TrunkParameters()
            self._sos = butter2_sos(min(trunk.lowpass_hz, 0.4 * fs_hz), fs_hz, "lowpass")
            self._params = trunk.kernel_params()
            self._state[_kernels.S_STEP_S] = trunk.default_step_s
            ring_s = 2.0
            self._kernel = _kernels.trunk_kernel
            self._finish_kernel = _kernels.trunk_finish
        # A power of two: the kernels index the rings with a bit mask.
        ring_size = int(2 ** math.ceil(math.log2(ring_s * fs_hz * 1.5)))
        self._ring_t = np.zeros(ring_size)
        self._ring_v = np.zeros(ring_size)
        self._ring_w = np.zeros((ring_size if self.leg_mounted else 1, _kernels.RING_W_COLUMNS))
        self._recent: deque[Contact] = deque(maxlen=RECENT_CONTACTS)

    def update(self, t: npt.ArrayLike, acc: npt.ArrayLike) -> DetectorUpdate:
        """Feed samples: ``t`` (n,) s, ``acc`` (n, k) m/s² with gravity; returns what completed."""
        return self._to_update(self._events(t, acc))

    def finish(self) -> DetectorUpdate:
        """End of stream: the contact the stream ended in is emitted when its foot-on is
        certain and its foot-off measured or closely bounded (see the kernels' ``*_finish``);
        otherwise it is dropped, not guessed."""
        return self._to_update(self._finish_events())

    def _events(self, t: npt.ArrayLike, acc: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The kernel's event rows (``_kernels.OUT_COLUMNS``) for new samples."""
        times = np.ascontiguousarray(t, dtype=np.float64)
        values = np.asarray(acc, dtype=np.float64)
        # Column-major is as good as row-major for the kernels (traces are read that way):
        # only a strided view is copied.
        if not (values.flags.c_contiguous or values.flags.f_contiguous):
            values = np.ascontiguousarray(values)
        if values.ndim == 1:
            values = values.reshape(-1, 1)
        if times.ndim != 1 or values.shape[0] != times.shape[0]:
            raise ConfigurationError(
                f"t has shape {times.shape} and acc {values.shape}: need (n,) and (n, k)"
            )
        if times.size == 0:
            return np.empty((0, _kernels.OUT_COLUMNS))
        self._check_channels(values.shape[1])
        # Room for every event the chunk could hold: a gap or a contact per sample at most
        # (a gap needs the sample after it; a contact several), plus the contacts pending from
        # earlier chunks that ending a segment may emit.
        capacity = times.size + 4 + FINISH_CAPACITY
        out = np.empty((capacity, _kernels.OUT_COLUMNS))
        n_events = self._kernel(
            self._state,
            self._ring_t,
            self._ring_v,
            self._ring_w,
            self._sos,
            self._params,
            times,
            values,
            out,
        )
        return out[:n_events]

    def _finish_events(self) -> npt.NDArray[np.float64]:
        # The samples not judged yet span under a second: a contact per shortest stride in
        # them, and the last one.
        out = np.empty((FINISH_CAPACITY, _kernels.OUT_COLUMNS))
        n_events = self._finish_kernel(
            self._state, self._ring_t, self._ring_v, self._ring_w, self._params, out
        )
        return out[:n_events]

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

    def _columns(self, events: npt.NDArray[np.float64]) -> ContactColumns:
        is_gap = events[:, 0] == _kernels.EVENT_GAP
        contact_rows = events[~is_gap]
        # Copies: views would keep the whole event buffer (a row per sample) alive.
        return ContactColumns(
            on_s=contact_rows[:, 1].copy(),
            off_s=contact_rows[:, 2].copy(),
            impact_g=contact_rows[:, 6].copy(),
            leg=self._leg_label,
            gaps=tuple([Gap(a, b) for a, b in events[is_gap, 1:3].tolist()]),
        )

    def _to_update(self, events: npt.NDArray[np.float64]) -> DetectorUpdate:
        if events.shape[0] == 0:
            return DetectorUpdate()
        update = self._columns(events).to_update()
        if update.gaps:
            # Running figures start afresh after a gap: only the contacts after the last one.
            self._recent.clear()
            resumed_s = update.gaps[-1].end_s
            self._recent.extend(c for c in update.contacts if c.on_s >= resumed_s)
        else:
            self._recent.extend(update.contacts[-RECENT_CONTACTS:])
        return update


class DetectorOptions(TypedDict, total=False):
    """The keyword arguments of ``ContactDetector``, for the batch functions."""

    fs_hz: Required[float]
    placement: Required[str]
    up_vector: Sequence[float] | None
    parameters: TrunkParameters | LegParameters | None


def detect_contact_columns(
    t: npt.NDArray[np.float64], acc: npt.NDArray[np.float64], **options: Unpack[DetectorOptions]
) -> ContactColumns:
    """Batch form over whole arrays, as columns: the contacts and gaps of streaming the whole
    array through a ContactDetector and finishing it."""
    detector = ContactDetector(**options)
    events = np.concatenate([detector._events(t, acc), detector._finish_events()])
    return detector._columns(events)


def detect_contacts(
    t: npt.NDArray[np.float64], acc: npt.NDArray[np.float64], **options: Unpack[DetectorOptions]
) -> DetectorUpdate:
    """Batch form: the same contacts as streaming the whole array through a ContactDetector."""
    return detect_contact_columns(t, acc, **options).to_update()
