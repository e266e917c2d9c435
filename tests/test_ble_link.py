"""The BLE layer's parts that need no radio: backoff, argument checks, scan kinds, lazy imports,
and what the virtual footpod serves. The real-peer tests are test_ble_footpod / test_ble_polar."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

from cadence.errors import ConfigurationError
from cadence.trace import Trace
from sensors._link import Backoff
from sensors.footpod import RscFootpod
from sensors.pmd import PMD_SERVICE_UUID
from sensors.polar import PolarAccelerometer
from sensors.rsc import RSC_SERVICE_UUID
from sensors.scan import sensor_kinds
from sim.footpod import STANDARD_GRAVITY_MS2, RscModel, resample_acc_mg


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0)
    rng = random.Random(7)
    delays = [[backoff.delay_s(attempt, rng) for attempt in range(7)] for _ in range(200)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    for attempt, ceiling in enumerate(ceilings):
        column = np.array([row[attempt] for row in delays])
        assert np.all(column >= ceiling / 2)
        assert np.all(column <= ceiling)
        # Jittered: retries of many sources spread over the upper half of the ceiling.
        assert column.max() - column.min() > 0.4 * ceiling / 2
    # Thousands of failed attempts still wait at most the cap.
    assert backoff.delay_s(10_000, rng) <= 4.0


def test_backoff_is_reproducible_with_a_seed() -> None:
    backoff = Backoff(initial_s=1.0, max_s=30.0)
    first = [backoff.delay_s(n, random.Random(3)) for n in range(5)]
    again = [backoff.delay_s(n, random.Random(3)) for n in range(5)]
    other = [backoff.delay_s(n, random.Random(4)) for n in range(5)]
    assert first == again
    assert first != other


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"address": "not-an-address"}, "address="),
        ({"name": " "}, "name="),
        ({"adapter": "bluetooth0"}, "adapter="),
        ({"silence_periods": 0.5}, "silence_periods="),
        ({"backoff_initial_s": 0}, "backoff_initial_s="),
        ({"backoff_initial_s": 5.0, "backoff_max_s": 1.0}, "backoff_max_s="),
        ({"find_timeout_s": float("nan")}, "find_timeout_s="),
        ({"expected_interval_s": -1.0}, "expected_interval_s="),
    ],
)
def test_footpod_arguments_are_checked_at_construction(
    arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RscFootpod(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sample_rate_hz": 0}, "sample_rate_hz="),
        ({"range_g": 70_000}, "range_g="),
        ({"placement": ""}, "placement="),
        ({"adapter": "hci"}, "adapter="),
    ],
)
def test_polar_arguments_are_checked_at_construction(
    arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PolarAccelerometer(**arguments)  # type: ignore[arg-type]


def test_source_info_before_connecting() -> None:
    polar = PolarAccelerometer(address="a0:9e:1a:00:00:01", sample_rate_hz=100)
    assert (polar.info.kind, polar.info.fs_hz, polar.info.placement) == (
        "accelerometer",
        100.0,
        "chest",
    )
    assert RscFootpod(name="Stryd").info.kind == "footpod"


def test_scan_kinds_from_advertised_services() -> None:
    assert sensor_kinds([RSC_SERVICE_UUID.upper()]) == ("footpod",)
    assert sensor_kinds([PMD_SERVICE_UUID, "0000180d-0000-1000-8000-00805f9b34fb"]) == (
        "accelerometer",
    )
    assert sensor_kinds(["0000180d-0000-1000-8000-00805f9b34fb"]) == ()


def test_importing_the_sources_does_not_import_bleak() -> None:
    code = (
        "import sys, cadence, sensors, sensors.footpod, sensors.polar, sensors.scan, sim.footpod;"
        "from sensors import RscFootpod, PolarAccelerometer, scan;"
        "print(sorted(m for m in ('bleak', 'dbus_fast') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def _trace(t: np.ndarray, acc: np.ndarray, axes: tuple[str, ...], **metadata: str) -> Trace:
    return Trace("synthetic", metadata, t, acc, axes, np.zeros((t.size, 0)), ())


def test_footpod_serves_acceleration_in_mg_with_missing_axes_zero() -> None:
    t = np.arange(0, 2.0, 0.002)  # 500 Hz
    up = STANDARD_GRAVITY_MS2 * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    trace = _trace(t, np.column_stack([up, np.full_like(t, -2.0)]), ("x", "z"))
    times, acc_mg = resample_acc_mg(trace, 200)
    assert times.size == 400  # 0 .. 1.995 s at 5 ms, within the trace (to 1.998 s)
    np.testing.assert_allclose(times[1:] - times[:-1], 0.005)
    assert acc_mg.dtype == np.int32
    assert np.all(acc_mg[:, 1] == 0)  # no y axis in the trace
    assert np.all(acc_mg[:, 2] == round(-2.0 / STANDARD_GRAVITY_MS2 * 1000))
    # 1 g +- 0.5 g at 3 Hz, to within the mG rounding and the interpolation between samples.
    expected = 1000 * (1 + 0.5 * np.sin(2 * np.pi * 3 * times))
    assert np.max(np.abs(acc_mg[:, 0] - expected)) < 1.0


def test_footpod_cadence_and_speed_come_from_steps_and_metadata() -> None:
    contacts = np.arange(0.1, 10.0, 1 / 3)  # 180 steps/min
    model = RscModel(
        contact_on_s=contacts, steps_per_contact=1, speed_mps=3.2, running=True, duration_s=10
    )
    early = model.measurement_at(0.3)
    assert early.cadence_spm == 0  # fewer than two steps yet
    steady = model.measurement_at(6.0)
    assert steady.cadence_spm == 180
    assert steady.speed_mps == 3.2
    assert steady.total_distance_m == pytest.approx(19.2)
    leg = RscModel(
        contact_on_s=contacts * 2, steps_per_contact=2, speed_mps=0, running=False, duration_s=20
    )
    assert leg.measurement_at(12.0).cadence_spm == 180  # one contact per stride, two steps
