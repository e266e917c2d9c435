"""Find running sensors nearby: devices advertising RSC (0x1814) or Polar PMD, or named like a
Polar sensor ("Polar H10 0A1B2C3D")."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cadence.errors import ConfigurationError
from cadence.events import SourceKind
from sensors._dbus import system_bus_errors
from sensors._link import bluez_args, validate_adapter
from sensors.pmd import PMD_SERVICE_UUID, is_polar_name
from sensors.rsc import RSC_SERVICE_UUID

if TYPE_CHECKING:
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

KIND_BY_SERVICE: dict[str, SourceKind] = {
    RSC_SERVICE_UUID: "footpod",
    PMD_SERVICE_UUID: "accelerometer",
}
PROTOCOL_BY_KIND: dict[SourceKind, str] = {"footpod": "RSC", "accelerometer": "PMD"}


@dataclass(frozen=True, slots=True)
class SensorKind:
    """What a device can be used as, and whether only its name says so (see docs/ble.md)."""

    kind: SourceKind
    by_name: bool = False

    def __str__(self) -> str:
        protocol = PROTOCOL_BY_KIND[self.kind]
        return f"{self.kind} ({protocol}, by name)" if self.by_name else f"{self.kind} ({protocol})"


@dataclass(frozen=True, slots=True)
class FoundSensor:
    """A sensor heard while scanning; ``rssi`` is the last signal strength in dBm."""

    name: str | None
    address: str
    rssi: int
    kinds: tuple[SensorKind, ...]


def sensor_kinds(service_uuids: Sequence[str], name: str | None = None) -> tuple[SensorKind, ...]:
    """What a device can be used as, from the services it advertises, or else from its name: a
    Polar sensor may advertise only Heart Rate, its name telling what it is (Polar H10 ...)."""
    advertised = {uuid.lower() for uuid in service_uuids}
    kinds = [SensorKind(kind) for uuid, kind in KIND_BY_SERVICE.items() if uuid in advertised]
    if PMD_SERVICE_UUID not in advertised and is_polar_name(name):
        kinds.append(SensorKind("accelerometer", by_name=True))
    return tuple(kinds)


async def scan(
    *,
    timeout_s: float = 5.0,
    adapter: str | None = None,
    until: Callable[[list[FoundSensor]], bool] | None = None,
) -> list[FoundSensor]:
    """Listen for ``timeout_s`` and return the running sensors heard, strongest first.

    ``until`` ends the scan early once it returns True for the sensors found so far.
    """
    from bleak import BleakScanner

    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ConfigurationError(f"timeout_s={timeout_s!r}: need > 0")
    validate_adapter(adapter)
    found: dict[str, FoundSensor] = {}
    enough = asyncio.Event()

    def on_advertisement(device: BLEDevice, advertisement: AdvertisementData) -> None:
        name = advertisement.local_name or device.name
        kinds = sensor_kinds(advertisement.service_uuids, name)
        if not kinds:
            return
        found[device.address] = FoundSensor(
            name=name,
            address=device.address,
            rssi=advertisement.rssi,
            kinds=kinds,
        )
        if until is not None and until(list(found.values())):
            enough.set()

    # No service filter: a Polar sensor that advertises only Heart Rate is known by its name.
    scanner = BleakScanner(detection_callback=on_advertisement, **bluez_args(adapter))
    with system_bus_errors():
        await scanner.start()
    try:
        async with asyncio.timeout(timeout_s):
            await enough.wait()
    except TimeoutError:
        pass
    finally:
        await scanner.stop()
    return sorted(found.values(), key=lambda sensor: -sensor.rssi)
