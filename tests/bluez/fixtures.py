"""pytest fixtures for the BLE tests: the private BlueZ (session) and a virtual footpod (test).

Test modules import the fixtures they use (``from bluez.fixtures import bluez, footpod``); the
session fixture exports ``DBUS_SYSTEM_BUS_ADDRESS`` before any test touches bleak, which reads it
when it first connects to the system bus.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from bluez.harness import PERIPHERAL_ADAPTER, BluezEnvironment, missing_tools
from cadence.datasets import bundled_trace
from cadence.events import SourceEvent
from cadence.trace import read_trace
from sim.footpod import VirtualFootpod

FOOTPOD_NAME = "cadence test footpod"
FOOTPOD_TRACE = "alcantara-sacrum-run-t03"
RSC_INTERVAL_S = 0.25
WAIT_S = 20.0  # the longest any BLE test waits for what it expects
ADDRESS_VARIABLE = "DBUS_SYSTEM_BUS_ADDRESS"  # where bleak and dbus-fast find the system bus

requires_dbus = pytest.mark.skipif(
    bool(missing_tools()),
    reason=f"BLE tests need {' and '.join(missing_tools())} (Debian package: dbus)",
)


class _Shared:
    """The one environment of the test session, however many modules import the fixture
    (each importing module registers its own copy of a session fixture)."""

    environment: BluezEnvironment | None = None
    users = 0
    saved_address: str | None = None


@pytest.fixture(scope="session")
def bluez() -> Iterator[BluezEnvironment]:
    """dbus-daemon + patched BlueZoo with hci0 (central) and hci1 (peripheral), powered."""
    if _Shared.environment is None:
        _Shared.environment = BluezEnvironment.start()
        _Shared.saved_address = os.environ.get(ADDRESS_VARIABLE)
        os.environ[ADDRESS_VARIABLE] = _Shared.environment.address
    _Shared.users += 1
    try:
        yield _Shared.environment
    finally:
        _Shared.users -= 1
        if _Shared.users == 0:
            _Shared.environment.stop()
            _Shared.environment = None
            if _Shared.saved_address is None:
                os.environ.pop(ADDRESS_VARIABLE, None)
            else:
                os.environ[ADDRESS_VARIABLE] = _Shared.saved_address


@pytest.fixture
async def footpod(
    bluez: BluezEnvironment, request: pytest.FixtureRequest
) -> AsyncIterator[VirtualFootpod]:
    """A virtual footpod serving the bundled trace on hci1, RSC every 0.25 s; PMD in raw
    frames, or in delta frames when parametrized indirectly with True."""
    trace = read_trace(bundled_trace(FOOTPOD_TRACE))
    async with VirtualFootpod(
        trace,
        adapter=PERIPHERAL_ADAPTER,
        name=FOOTPOD_NAME,
        rsc_interval_s=RSC_INTERVAL_S,
        delta_frames=getattr(request, "param", False),
    ) as pod:
        yield pod


@pytest.fixture(autouse=True)
async def close_bleak_bus() -> AsyncIterator[None]:
    """Close bleak's per-loop BlueZ manager connection before the test's loop closes.

    bleak keeps one manager (and one bus socket) per event loop for the process's lifetime and
    frees a closed loop's only when a later loop asks for one, so the last test's socket would
    be left to the garbage collector (a ResourceWarning, an error here). This reaches into
    bleak's module state only to close that connection after the test.
    """
    yield
    from bleak.backends.bluezdbus import manager

    instance = manager._global_instances.pop(asyncio.get_running_loop(), None)
    bus = None if instance is None else instance._bus
    if bus is not None and bus.connected:
        bus.disconnect()
        await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


async def collect(
    events: AsyncIterator[SourceEvent], done: Callable[[list[SourceEvent]], bool]
) -> list[SourceEvent]:
    """A source's next events until ``done`` says so (asked after each one); fails after WAIT_S."""
    seen: list[SourceEvent] = []
    async with asyncio.timeout(WAIT_S):
        async for event in events:
            seen.append(event)
            if done(seen):
                return seen
    raise AssertionError(f"the stream ended early: {seen}")


async def forget_device(adapter: str, address: str) -> None:
    """Make ``adapter`` forget a device it has seen (``bluetoothctl remove``), so the next scan
    sees only what the device advertises now: BlueZ keeps a known device's properties (UUIDs
    included) and updates them one by one as new advertisements come in."""
    from dbus_fast import BusType
    from dbus_fast.aio import MessageBus

    from sim._gatt import bluez_interface

    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        proxy = await bluez_interface(bus, f"/org/bluez/{adapter}")
        device = f"/org/bluez/{adapter}/dev_{address.replace(':', '_')}"
        await proxy.get_interface("org.bluez.Adapter1").call_remove_device(device)
    finally:
        bus.disconnect()
        await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
