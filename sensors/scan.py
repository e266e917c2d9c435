"""Find running sensors nearby: devices advertising RSC (0x1814) or Polar PMD."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cadence.errors import ConfigurationError
from cadence.events import SourceKind
from sensors._link import bluez_args, validate_adapter
from sensors.pmd import PMD_SERVICE_UUID
from sensors.rsc import RSC_SERVICE_UUID

if TYPE_CHECKING:
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

KIND_BY_SERVICE: dict[str, SourceKind] = {
    RSC_SERVICE_UUID: "footpod",
    PMD_SERVICE_UUID: "accelerometer",
}


@dataclass(frozen=True, slots=True)
class FoundSensor:
    """A sensor heard while scanning; ``rssi`` is the last signal strength in dBm."""

    name: str | None
    address: str
    rssi: int
    kinds: tuple[SourceKind, ...]


def sensor_kinds(service_uuids: Sequence[str]) -> tuple[SourceKind, ...]:
    """What a device can be used as, from the services it advertises."""
    advertised = {uuid.lower() for uuid in service_uuids}
    return tuple(kind for uuid, kind in KIND_BY_SERVICE.items() if uuid in advertised)


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
        kinds = sensor_kinds(advertisement.service_uuids)
        if not kinds:
            return
        found[device.address] = FoundSensor(
            name=advertisement.local_name or device.name,
            address=device.address,
            rssi=advertisement.rssi,
            kinds=kinds,
        )
        if until is not None and until(list(found.values())):
            enough.set()

    async with BleakScanner(
        detection_callback=on_advertisement,
        service_uuids=list(KIND_BY_SERVICE),
        **bluez_args(adapter),
    ):
        try:
            async with asyncio.timeout(timeout_s):
                await enough.wait()
        except TimeoutError:
            pass
    return sorted(found.values(), key=lambda sensor: -sensor.rssi)
