"""SensorClock on the host's time axis (``host_start_s``): where the first sample goes, and that
drift correction and holes work the same from there. No BLE needed: frames are made up here."""

from __future__ import annotations

import numpy as np
import pytest

from cadence.errors import ConfigurationError
from sensors.clock import SensorClock

FS_HZ = 200.0
FRAME = 36
SPAN_S = (FRAME - 1) / FS_HZ  # first to last sample of a frame
NS = 1_000_000_000


def frame_stamp_ns(k: int) -> int:
    """Sensor timestamp of frame k's last sample (a sensor clock far from zero)."""
    return 7 * NS + round(((k + 1) * FRAME - 1) * NS / FS_HZ)


def test_the_first_sample_goes_where_its_frame_arrival_puts_it() -> None:
    clock = SensorClock(nominal_fs_hz=FS_HZ, host_start_s=10.0)
    first = clock.update(frame_stamp_ns(0), FRAME, 12.5)
    assert first[-1] == pytest.approx(12.5, abs=1e-12)
    assert first[0] == pytest.approx(12.5 - SPAN_S, abs=1e-12)
    # Later frames follow the sensor's spacing from there, whatever their latency.
    second = clock.update(frame_stamp_ns(1), FRAME, 12.5 + FRAME / FS_HZ + 0.04)
    np.testing.assert_allclose(np.diff(np.concatenate([first, second])), 1 / FS_HZ, atol=1e-12)


def test_no_sample_goes_before_the_host_start() -> None:
    # The frame arrived sooner than its span after the start: the sensor's first sample cannot
    # precede the start, so the frame is placed at it.
    clock = SensorClock(nominal_fs_hz=FS_HZ, host_start_s=10.0)
    times = clock.update(frame_stamp_ns(0), FRAME, 10.1)
    assert times[0] == 10.0
    np.testing.assert_allclose(np.diff(times), 1 / FS_HZ, atol=1e-12)


def test_a_hole_keeps_its_length_on_the_host_axis() -> None:
    clock = SensorClock(nominal_fs_hz=FS_HZ, host_start_s=0.0)
    arrival_s = 3.0
    before = clock.update(frame_stamp_ns(0), FRAME, arrival_s)
    lost = 5  # frames
    after = clock.update(frame_stamp_ns(1 + lost), FRAME, arrival_s + (1 + lost) * FRAME / FS_HZ)
    assert after[0] - before[-1] == pytest.approx((lost * FRAME + 1) / FS_HZ, abs=1e-9)
    assert clock.gaps == 1


def test_without_a_host_start_zero_is_the_first_sample() -> None:
    clock = SensorClock(nominal_fs_hz=FS_HZ)
    assert clock.update(frame_stamp_ns(0), FRAME, 12.5)[0] == 0.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_host_start_must_be_a_finite_time(bad: float) -> None:
    with pytest.raises(ConfigurationError, match="host_start_s"):
        SensorClock(nominal_fs_hz=FS_HZ, host_start_s=bad)
