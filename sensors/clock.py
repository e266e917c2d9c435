"""Sample times for a sensor that stamps frames with its own clock (Polar PMD).

A PMD frame carries the sensor's time of its *last* sample; the host only knows when the frame
arrived, which is later by a BLE latency that varies from frame to frame (10-150 ms and more).
:class:`SensorClock` turns each frame into per-sample *stream times* in seconds, such that:

0. **One time axis with the host.** Given ``host_start_s``, stream time is host time: the first
   sample goes where its frame's arrival puts it (arrival less the frame's span), but not before
   ``host_start_s`` (a source passes when the link came up, on the same axis as its link
   statuses, so data never precedes the "connected" that announced it). Without it, stream time
   zero is the first sample.

1. **Spacing follows the sensor.** Within a run of back-to-back frames, a frame's samples are
   spread evenly between the previous frame's timestamp and its own (as the Polar SDK does): the
   sensor's crystal, not the radio, says how far apart samples are. After lost frames (the time
   since the previous frame does not match the number of samples) the samples end at the frame's
   timestamp at the usual spacing, leaving a hole in stream time where the lost samples were.
2. **Drift is corrected.** Sensor and host crystals differ by tens of ppm: 50 ppm is 360 ms over
   two hours, more than a step's contact time. Stream time follows host seconds: host arrival
   time against sensor time is fitted by a line, host = intercept + rate x sensor, over the
   last ``drift_window_s``. Arrivals are late by a variable latency, so a mean fit would be
   biased by (and as noisy as) the jitter; instead sensor time is cut into ``envelope_bin_s``
   bins, each bin keeps only its earliest arrival (the minimum-latency envelope, which sits a
   nearly constant minimum latency above the truth), and the line is fitted to those minima by
   least squares. Until the bins span ``min_fit_span_s`` the rate is held at its prior (1, or
   the previous segment's) and only the intercept is fitted.
3. **Times only go forward, without steps.** The target stream time of a sample is
   ``fit(sensor time) - stream_offset``, where ``stream_offset`` is the fitted host time of the
   first sample (refined while that sample is inside the fit window, frozen after). Stream time
   is not set to the target, it is integrated: each sample adds its sensor interval times the
   fitted rate, plus a slew of at most ``max_slew_ppm`` that closes the gap to the target with
   time constant ``slew_time_constant_s`` (as NTP slews a clock rather than stepping it). So
   times strictly increase and spacing is the sensor's to within ``max_slew_ppm``.
4. **Jumps start a new segment.** A timestamp that goes backwards, or that the fit says arrived
   more than ``jump_tolerance_s`` before it was taken or more than ``max_latency_s`` after, means
   the sensor's clock was reset (restart, reconnect). The frame is then placed by its arrival
   time (late by that frame's latency, at most), strictly after the previous sample, and a new
   fit starts from the old rate; the slew takes out the latency error as the new envelope forms.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cadence.errors import ConfigurationError

_NS_PER_S = 1e9


@dataclass(slots=True)
class _Bin:
    """The earliest arrival seen in one bin of sensor time."""

    index: int
    sensor_s: float
    host_s: float


class _Envelope:
    """Minimum-latency envelope of (sensor time, host arrival) points and its line fit."""

    def __init__(
        self, *, bin_s: float, window_s: float, min_fit_span_s: float, prior_rate: float
    ) -> None:
        self._bin_s = bin_s
        self._max_bins = max(2, math.ceil(window_s / bin_s))
        self._min_fit_span_s = min_fit_span_s
        self._bins: deque[_Bin] = deque()
        self.rate = prior_rate
        self.intercept = 0.0
        self._line_fitted = False

    def add(self, sensor_s: float, host_s: float) -> None:
        index = math.floor(sensor_s / self._bin_s)
        last = self._bins[-1] if self._bins else None
        if last is None or index > last.index:
            self._bins.append(_Bin(index, sensor_s, host_s))
            while len(self._bins) > self._max_bins:
                self._bins.popleft()
            self._line_fitted = self._fit_line()
        elif index == last.index and host_s - sensor_s < last.host_s - last.sensor_s:
            last.sensor_s, last.host_s = sensor_s, host_s
        if not self._line_fitted:
            self.intercept = min(b.host_s - self.rate * b.sensor_s for b in self._bins)

    def _fit_line(self) -> bool:
        """Least squares through the complete bins' minima, if they span enough sensor time."""
        complete = list(self._bins)[:-1]  # the newest bin's minimum can still fall
        if len(complete) < 2 or complete[-1].sensor_s - complete[0].sensor_s < self._min_fit_span_s:
            return False
        x = np.array([b.sensor_s for b in complete])
        y = np.array([b.host_s for b in complete])
        dx = x - x.mean()
        self.rate = float(dx @ (y - y.mean()) / (dx @ dx))
        self.intercept = float(y.mean() - self.rate * x.mean())
        return True

    def host_s(self, sensor_s: float) -> float:
        """The envelope's host time for a sensor time."""
        return self.intercept + self.rate * sensor_s


class SensorClock:
    """Per-sample stream times from frame timestamps and host arrival times (see module doc).

    Args:
        nominal_fs_hz: the configured sample rate; spaces the first frame and tells back-to-back
            frames from lost ones (must be within 25 % of the sensor's real rate).
        drift_window_s: how much history the drift fit uses.
        envelope_bin_s: sensor time per envelope bin (each keeps its earliest arrival).
        min_fit_span_s: bins must span this much before the rate is fitted.
        jump_tolerance_s: an arrival this much earlier than the fit allows is a clock jump.
        max_latency_s: an arrival this much later than the fit is a clock jump.
        max_slew_ppm: the most the slew may stretch or shrink sample spacing.
        slew_time_constant_s: how fast the slew closes the gap to the fitted time.
        host_start_s: put stream time on the host's axis (the one of ``arrival_s``), no sample
            before this host time; ``None``: stream time zero is the first sample.
    """

    _GAP_TOLERANCE = 0.25  # fraction of a frame's expected span
    _SPACING_SMOOTHING = 0.05

    def __init__(
        self,
        *,
        nominal_fs_hz: float,
        drift_window_s: float = 1200.0,
        envelope_bin_s: float = 20.0,
        min_fit_span_s: float = 40.0,
        jump_tolerance_s: float = 0.5,
        max_latency_s: float = 10.0,
        max_slew_ppm: float = 1000.0,
        slew_time_constant_s: float = 10.0,
        host_start_s: float | None = None,
    ) -> None:
        for name, value in (
            ("nominal_fs_hz", nominal_fs_hz),
            ("drift_window_s", drift_window_s),
            ("envelope_bin_s", envelope_bin_s),
            ("jump_tolerance_s", jump_tolerance_s),
            ("max_latency_s", max_latency_s),
            ("slew_time_constant_s", slew_time_constant_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name}={value}: must be a positive number")
        if not 0 <= min_fit_span_s < drift_window_s:
            raise ConfigurationError(
                f"min_fit_span_s={min_fit_span_s}: must be in 0..drift_window_s ({drift_window_s})"
            )
        if envelope_bin_s * 2 > drift_window_s:
            raise ConfigurationError(
                f"envelope_bin_s={envelope_bin_s}: the drift window ({drift_window_s} s) "
                "must hold at least two bins"
            )
        if not 0 <= max_slew_ppm < 1e5:
            raise ConfigurationError(f"max_slew_ppm={max_slew_ppm}: must be in 0..100000")
        if host_start_s is not None and not math.isfinite(host_start_s):
            raise ConfigurationError(f"host_start_s={host_start_s}: must be a finite time")
        self.nominal_fs_hz = nominal_fs_hz
        self.drift_window_s = drift_window_s
        self.envelope_bin_s = envelope_bin_s
        self.min_fit_span_s = min_fit_span_s
        self.jump_tolerance_s = jump_tolerance_s
        self.max_latency_s = max_latency_s
        self.max_slew_ppm = max_slew_ppm
        self.slew_time_constant_s = slew_time_constant_s
        self.host_start_s = host_start_s
        self.jumps = 0
        self.gaps = 0
        self._spacing_ns = _NS_PER_S / nominal_fs_hz
        self._envelope = self._new_envelope(1.0)
        self._host_origin_s: float | None = None
        self._segment_origin_ns = 0
        self._last_ns = 0
        self._last_t_s = 0.0
        self._first_sample_s = 0.0  # sensor time of the first sample, first segment's scale
        self._stream_offset_s = 0.0
        self._offset_frozen = False
        self._shift_s = 0.0  # emitted = internal (zero at the first sample) + shift

    @property
    def sensor_drift_ppm(self) -> float:
        """How fast the sensor's clock runs against the host's, as currently fitted."""
        return (1.0 / self._envelope.rate - 1.0) * 1e6

    def _new_envelope(self, prior_rate: float) -> _Envelope:
        return _Envelope(
            bin_s=self.envelope_bin_s,
            window_s=self.drift_window_s,
            min_fit_span_s=self.min_fit_span_s,
            prior_rate=prior_rate,
        )

    def _sensor_s(self, timestamp_ns: float) -> float:
        return (timestamp_ns - self._segment_origin_ns) / _NS_PER_S

    def update(self, timestamp_ns: int, n_samples: int, arrival_s: float) -> NDArray[np.float64]:
        """Stream times of a frame's ``n_samples`` samples, the last taken at ``timestamp_ns``
        (sensor clock) and the frame received at ``arrival_s`` (host clock, e.g. monotonic)."""
        if n_samples < 1:
            raise ValueError(f"a frame needs at least one sample, got {n_samples}")
        if self._host_origin_s is None:
            self._host_origin_s = arrival_s
            return self._start(timestamp_ns, n_samples, arrival_s)
        host_s = arrival_s - self._host_origin_s
        step_ns = timestamp_ns - self._last_ns
        residual_s = host_s - self._envelope.host_s(self._sensor_s(timestamp_ns))
        if step_ns <= 0 or not -self.jump_tolerance_s <= residual_s <= self.max_latency_s:
            return self._jump(timestamp_ns, n_samples, host_s)
        return self._advance(timestamp_ns, n_samples, host_s)

    def _back_from_last_s(self, n_samples: int) -> NDArray[np.float64]:
        """Sensor seconds from each of ``n_samples`` evenly spaced samples to the last one."""
        return self._spacing_ns / _NS_PER_S * np.arange(n_samples - 1, -1, -1, dtype=np.float64)

    def _start(self, timestamp_ns: int, n_samples: int, arrival_s: float) -> NDArray[np.float64]:
        self._segment_origin_ns = timestamp_ns
        back_s = self._back_from_last_s(n_samples)
        self._first_sample_s = -float(back_s[0])
        self._envelope.add(0.0, 0.0)
        self._stream_offset_s = self._envelope.host_s(self._first_sample_s)
        if self.host_start_s is not None:
            # Internal times count from the first sample; this puts them on the host's axis.
            first_s = arrival_s - float(back_s[0]) * self._envelope.rate
            self._shift_s = max(first_s, self.host_start_s)
        return self._emit(timestamp_ns, (back_s[0] - back_s) * self._envelope.rate)

    def _since_last_s(self, timestamp_ns: int, n_samples: int) -> NDArray[np.float64]:
        """Sensor seconds from the previous frame's last sample to each of this frame's samples:
        evenly spread when the frames are back to back, at the usual spacing after a hole."""
        step_ns = timestamp_ns - self._last_ns
        expected_ns = n_samples * self._spacing_ns
        if abs(step_ns - expected_ns) <= self._GAP_TOLERANCE * expected_ns:
            spacing_ns = step_ns / n_samples
            self._spacing_ns += self._SPACING_SMOOTHING * (spacing_ns - self._spacing_ns)
            return spacing_ns / _NS_PER_S * np.arange(1, n_samples + 1, dtype=np.float64)
        self.gaps += 1
        return step_ns / _NS_PER_S - self._back_from_last_s(n_samples)

    def _advance(self, timestamp_ns: int, n_samples: int, host_s: float) -> NDArray[np.float64]:
        since_last_s = self._since_last_s(timestamp_ns, n_samples)
        sensor_s = self._sensor_s(timestamp_ns)
        # Once the first sample leaves the fit window, its fitted host time can only get worse.
        self._offset_frozen = self._offset_frozen or sensor_s > self.drift_window_s
        self._envelope.add(sensor_s, host_s)
        if not self._offset_frozen:
            self._stream_offset_s = self._envelope.host_s(self._first_sample_s)
        target_s = self._envelope.host_s(self._sensor_s(self._last_ns)) - self._stream_offset_s
        limit = self.max_slew_ppm * 1e-6
        slew = min(max((target_s - self._last_t_s) / self.slew_time_constant_s, -limit), limit)
        return self._emit(
            timestamp_ns, self._last_t_s + since_last_s * (self._envelope.rate + slew)
        )

    def _jump(self, timestamp_ns: int, n_samples: int, host_s: float) -> NDArray[np.float64]:
        self.jumps += 1
        self._offset_frozen = True  # the first sample's sensor time means nothing any more
        self._envelope = self._new_envelope(self._envelope.rate)
        self._segment_origin_ns = timestamp_ns
        self._envelope.add(0.0, host_s)
        back_s = self._back_from_last_s(n_samples) * self._envelope.rate
        spacing_s = self._spacing_ns / _NS_PER_S * self._envelope.rate
        last_s = max(host_s - self._stream_offset_s, self._last_t_s + spacing_s + back_s[0])
        return self._emit(timestamp_ns, last_s - back_s)

    def _emit(self, timestamp_ns: int, times: NDArray[np.float64]) -> NDArray[np.float64]:
        self._last_ns = timestamp_ns
        self._last_t_s = float(times[-1])
        return times + self._shift_s
