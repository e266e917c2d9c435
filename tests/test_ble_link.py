"""The BLE layer's parts that need no radio: backoff, argument checks, scan kinds, lazy imports,
and what the virtual footpod serves. The real-peer tests are test_ble_footpod / test_ble_polar."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from bluez.fixtures import FOOTPOD_TRACE

from cadence.backoff import Backoff
from cadence.datasets import bundled_trace
from cadence.errors import ConfigurationError, SensorError
from cadence.trace import Trace, read_trace
from sensors.footpod import RscFootpod
from sensors.pmd import HEART_RATE_SERVICE_UUID, PMD_SERVICE_UUID
from sensors.polar import PolarAccelerometer
from sensors.rsc import RSC_SERVICE_UUID
from sensors.scan import SensorKind, scan, sensor_kinds
from sim.footpod import STANDARD_GRAVITY_MS2, RscModel, VirtualFootpod, resample_acc_mg


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0, seed=7)
    delays = []
    for _ in range(200):
        backoff.reset()
        delays.append([backoff.next_delay_s() for _attempt in range(7)])
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    for attempt, ceiling in enumerate(ceilings):
        column = np.array([row[attempt] for row in delays])
        assert np.all(column >= ceiling / 2)
        assert np.all(column <= ceiling)
        # Jittered: retries of many sources spread over the upper half of the ceiling.
        assert column.max() - column.min() > 0.4 * ceiling / 2
    # Thousands of failed attempts still wait at most the cap.
    for _ in range(10_000):
        assert backoff.next_delay_s() <= 4.0


def test_backoff_reset_starts_again_from_the_first_wait() -> None:
    backoff = Backoff(initial_s=1.0, max_s=60.0, seed=1)
    for _ in range(5):
        backoff.next_delay_s()
    assert backoff.next_delay_s() >= 16.0  # attempt 5: ceiling 32 s
    backoff.reset()
    assert backoff.next_delay_s() <= 1.0


def test_backoff_is_reproducible_with_a_seed() -> None:
    def delays(seed: int) -> list[float]:
        backoff = Backoff(initial_s=1.0, max_s=30.0, seed=seed)
        return [backoff.next_delay_s() for _ in range(5)]

    assert delays(3) == delays(3)
    assert delays(3) != delays(4)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"initial_s": 0.0, "max_s": 1.0}, r"initial_s=0\.0: need a wait > 0 s"),
        ({"initial_s": float("nan"), "max_s": 1.0}, r"initial_s=nan"),
        ({"initial_s": 2.0, "max_s": 1.0}, r"max_s=1\.0: need a finite cap >= initial_s"),
        ({"initial_s": 1.0, "max_s": float("inf")}, r"max_s=inf"),
    ],
)
def test_backoff_arguments_are_checked(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Backoff(initial_s=arguments["initial_s"], max_s=arguments["max_s"])


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
    assert sensor_kinds([RSC_SERVICE_UUID.upper()]) == (SensorKind("footpod"),)
    assert sensor_kinds([PMD_SERVICE_UUID, HEART_RATE_SERVICE_UUID]) == (
        SensorKind("accelerometer"),
    )
    assert sensor_kinds([HEART_RATE_SERVICE_UUID]) == ()
    assert [str(kind) for kind in sensor_kinds([RSC_SERVICE_UUID, PMD_SERVICE_UUID])] == [
        "footpod (RSC)",
        "accelerometer (PMD)",
    ]


@pytest.mark.parametrize(
    ("name", "services", "expected"),
    [
        # An H10 advertises Heart Rate and its name; PMD is in its GATT table, not its advert.
        ("Polar H10 0A1B2C3D", [HEART_RATE_SERVICE_UUID], ["accelerometer (PMD, by name)"]),
        ("Polar Sense 0A1B2C3D", [], ["accelerometer (PMD, by name)"]),
        # Advertising PMD says it outright: no guess needed.
        ("Polar H10 0A1B2C3D", [PMD_SERVICE_UUID], ["accelerometer (PMD)"]),
        # Not Polar's naming rule ("Polar <model> <id>"): not listed.
        ("Polar", [HEART_RATE_SERVICE_UUID], []),
        ("Polar H10", [HEART_RATE_SERVICE_UUID], []),
        ("Polaris lamp 1", [], []),
        ("My Polar H10 0A1B2C3D", [], []),
        (None, [HEART_RATE_SERVICE_UUID], []),
    ],
)
def test_scan_knows_a_polar_sensor_by_its_name(
    name: str | None, services: list[str], expected: list[str]
) -> None:
    assert [str(kind) for kind in sensor_kinds(services, name)] == expected


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


# -- no system bus: a clear error naming where it looked --------------------------------------

MISSING_BUS = "unix:path=/tmp/nonexistent-xyz"


@pytest.fixture
def no_system_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system bus address points at a socket that does not exist (no dbus, no BlueZ)."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", MISSING_BUS)


def assert_names_the_bus(message: str) -> None:
    assert f"cannot reach the system D-Bus at {MISSING_BUS} (from DBUS_SYSTEM_BUS_ADDRESS)" in (
        message
    )
    assert "No such file or directory" in message
    assert "is dbus and bluetoothd running?" in message
    assert "sudo systemctl start bluetooth" in message


@pytest.mark.usefixtures("no_system_bus")
async def test_scan_without_a_system_bus_says_which_bus() -> None:
    with pytest.raises(SensorError) as raised:
        await scan(timeout_s=0.5)
    assert_names_the_bus(str(raised.value))


@pytest.mark.usefixtures("no_system_bus")
@pytest.mark.parametrize("source_class", [RscFootpod, PolarAccelerometer])
async def test_opening_a_source_without_a_system_bus_says_which_bus(
    source_class: type[RscFootpod | PolarAccelerometer],
) -> None:
    with pytest.raises(SensorError) as raised:
        async with source_class(find_timeout_s=0.5):
            pass
    assert_names_the_bus(str(raised.value))


@pytest.mark.usefixtures("no_system_bus")
async def test_the_virtual_footpod_without_a_system_bus_says_which_bus() -> None:
    trace = read_trace(bundled_trace(FOOTPOD_TRACE))
    with pytest.raises(SensorError) as raised:
        async with VirtualFootpod(trace, adapter="hci0"):
            pass
    assert_names_the_bus(str(raised.value))


@pytest.mark.usefixtures("no_system_bus")
@pytest.mark.parametrize(
    "argv",
    [
        ["scan", "--timeout", "0.5"],
        ["sim", "footpod", "--trace", str(bundled_trace(FOOTPOD_TRACE))],
        ["run", "--footpod", "AA:BB:CC:00:11:22"],
    ],
    ids=["scan", "sim-footpod", "run-footpod"],
)
def test_commands_without_a_system_bus_fail_naming_the_bus(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from cadence.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("cadence: error: ")
    assert_names_the_bus(err)
    assert "[Errno 2]" not in err
