"""SensorClock against a simulated sensor whose crystal drifts against the host's, with BLE
arrival latency, lost frames and a sensor restart; truth is the host time of every sample."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray

from cadence.errors import ConfigurationError
from sensors.clock import SensorClock

FS_HZ = 200.0
FRAME_SAMPLES = 36  # an H10 ACC frame at 16 bit
HOST_EPOCH_S = 5000.0  # the host's monotonic clock does not start at zero


@dataclass(frozen=True, slots=True)
class Segment:
    """Samples from one power-on of the sensor: its clock starts at ``sensor_start_s``."""

    duration_s: float
    sensor_start_s: float
    outage_before_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Run:
    t_s: NDArray[np.float64]  # stream times from the clock
    truth_s: NDArray[np.float64]  # host time of each delivered sample since the first one
    sensor_s: NDArray[np.float64]  # sensor time of each delivered sample
    first_sample_of_segment: list[int]  # index of each segment's first delivered sample
    clock: SensorClock


def simulate(
    segments: list[Segment],
    *,
    drift_ppm: float,
    seed: int,
    drop_fraction: float = 0.0,
) -> Run:
    """Feed a SensorClock the frames a drifting sensor would send over a jittery link."""
    rng = np.random.default_rng(seed)
    clock = SensorClock(nominal_fs_hz=FS_HZ)
    t: list[NDArray[np.float64]] = []
    truth: list[NDArray[np.float64]] = []
    sensor: list[NDArray[np.float64]] = []
    starts: list[int] = []
    host_start_s = 0.0
    last_arrival_s = -np.inf
    for segment in segments:
        host_start_s += segment.outage_before_s
        frames = int(segment.duration_s * FS_HZ) // FRAME_SAMPLES
        index = np.arange(frames * FRAME_SAMPLES)
        sensor_s = segment.sensor_start_s + index / FS_HZ  # the sensor's crystal ticks at fs
        host_s = host_start_s + index / FS_HZ / (1 + drift_ppm * 1e-6)
        starts.append(sum(len(times) for times in truth))
        for frame in range(frames):
            if rng.random() < drop_fraction:
                continue
            samples = slice(frame * FRAME_SAMPLES, (frame + 1) * FRAME_SAMPLES)
            latency_s = rng.uniform(0.010, 0.150)
            arrival_s = max(host_s[samples][-1] + latency_s, last_arrival_s)  # BLE keeps order
            last_arrival_s = arrival_s
            timestamp_ns = round(sensor_s[samples][-1] * 1e9)
            t.append(clock.update(timestamp_ns, FRAME_SAMPLES, HOST_EPOCH_S + arrival_s))
            truth.append(host_s[samples])
            sensor.append(sensor_s[samples])
        host_start_s = float(host_s[-1]) + 1 / FS_HZ
    all_truth = np.concatenate(truth)
    return Run(np.concatenate(t), all_truth - all_truth[0], np.concatenate(sensor), starts, clock)


@pytest.mark.parametrize(("drift_ppm", "seed"), [(50.0, 1), (-50.0, 2)])
def test_two_hour_run_follows_host_time_despite_drift(drift_ppm: float, seed: int) -> None:
    run = simulate([Segment(7200.0, sensor_start_s=852_076_800.0)], drift_ppm=drift_ppm, seed=seed)
    error_s = run.t_s - run.truth_s
    # the simulated sensor really drifts: its own elapsed time ends ~360 ms away from the host's
    sensor_elapsed_s = run.sensor_s - run.sensor_s[0]
    assert abs(sensor_elapsed_s[-1] - run.truth_s[-1]) > 0.35
    assert np.abs(error_s).max() < 0.005
    assert np.abs(error_s[run.truth_s > 300.0]).max() < 0.0025
    assert run.clock.sensor_drift_ppm == pytest.approx(drift_ppm, abs=1.0)
    assert run.t_s[0] == 0.0
    # strictly increasing, and spaced as the sensor spaced them (to within the slew limit)
    spacing_ratio = np.diff(run.t_s) / np.diff(sensor_elapsed_s)
    assert spacing_ratio.min() > 0
    assert np.abs(spacing_ratio - 1).max() < 1e-3 + 60e-6
    assert (run.clock.jumps, run.clock.gaps) == (0, 0)


def test_lost_frames_leave_holes_without_shifting_later_samples() -> None:
    run = simulate(
        [Segment(1200.0, sensor_start_s=10.0)], drift_ppm=30.0, seed=3, drop_fraction=0.02
    )
    assert run.clock.gaps > 10
    assert run.clock.jumps == 0
    assert np.abs(run.t_s - run.truth_s).max() < 0.005
    holes = np.diff(run.truth_s) > 1.5 / FS_HZ
    assert holes.sum() > 10
    np.testing.assert_allclose(np.diff(run.t_s)[holes], np.diff(run.truth_s)[holes], atol=0.005)


def test_sensor_restart_is_a_jump_placed_by_arrival_time() -> None:
    segments = [
        Segment(1800.0, sensor_start_s=852_076_800.0),
        Segment(1800.0, sensor_start_s=3.0, outage_before_s=4.0),  # clock reset, 4 s offline
    ]
    run = simulate(segments, drift_ppm=50.0, seed=4)
    assert run.clock.jumps == 1
    assert np.all(np.diff(run.t_s) > 0)
    error_s = run.t_s - run.truth_s
    restart = run.first_sample_of_segment[1]
    # the first frame after the restart is late by at most its own latency
    assert -0.002 < error_s[restart] < 0.152
    # the outage shows as a hole of about 4 s in stream time
    assert run.t_s[restart] - run.t_s[restart - 1] == pytest.approx(4.0 + 1 / FS_HZ, abs=0.155)
    # and once the new envelope has formed, times are as good as before the restart
    settled = run.truth_s > run.truth_s[restart] + 600.0
    assert np.abs(error_s[settled]).max() < 0.005
    assert np.abs(error_s[:restart]).max() < 0.005


def test_first_frame_uses_the_nominal_rate_and_starts_at_zero() -> None:
    clock = SensorClock(nominal_fs_hz=50.0)
    times = clock.update(10**12, 5, 100.0)
    np.testing.assert_allclose(times, [0.0, 0.02, 0.04, 0.06, 0.08])
    # the next frame is spaced by the sensor's timestamps (here 21 ms per sample, not 20)
    later = clock.update(10**12 + 5 * 21_000_000, 5, 100.2)
    np.testing.assert_allclose(np.diff(np.concatenate([times[-1:], later])), 0.021, rtol=2e-3)


def test_a_frame_needs_samples() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        SensorClock(nominal_fs_hz=50.0).update(0, 0, 0.0)


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"nominal_fs_hz": 0.0}, "nominal_fs_hz=0.0"),
        ({"nominal_fs_hz": 50.0, "drift_window_s": float("nan")}, "drift_window_s=nan"),
        ({"nominal_fs_hz": 50.0, "min_fit_span_s": 2000.0}, "min_fit_span_s=2000.0"),
        ({"nominal_fs_hz": 50.0, "envelope_bin_s": 700.0}, "at least two bins"),
        ({"nominal_fs_hz": 50.0, "max_slew_ppm": -1.0}, "max_slew_ppm=-1.0"),
    ],
)
def test_settings_that_cannot_work_are_refused(arguments: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        SensorClock(**arguments)
