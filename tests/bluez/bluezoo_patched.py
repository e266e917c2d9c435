"""Run BlueZoo 1.0.2 with three run-time fixes where it differs from real BlueZ.

Started by :mod:`bluez.harness` as ``python bluezoo_patched.py <bluezoo arguments>``. The patch is
pinned to BlueZoo 1.0.2 (it refuses to run on another version) and changes only the emulator,
never bleak: the project's sources talk to it through bleak's real BlueZ D-Bus backend.

1. Discovery reports a device once (InterfacesAdded) and later scan cycles change nothing, so a
   scanner that starts after the first report never hears of it. Real BlueZ sends an RSSI
   update per advertisement; the patch bumps RSSI on every scan cycle.
2. ``Device1.Disconnect`` marks only the object it is called on as disconnected: a drop made on
   the peripheral's side never reaches the central. The patch disconnects both ends.
3. The GATT objects exported for a connection stay on the bus after it ends, so the next
   connection fails with EEXIST, and the peripheral's characteristics stay "notifying" so a
   new subscription would never be forwarded. On disconnect the patch unexports them and calls
   ``StopNotify`` on the peripheral's characteristics, as BlueZ does when the last client goes.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from typing import Any

import bluezoo.bluezoo  # type: ignore[import-untyped]
from bluezoo.adapter import Adapter  # type: ignore[import-untyped]
from bluezoo.device import Device  # type: ignore[import-untyped]
from bluezoo.gatt import GattCharacteristicClientLink  # type: ignore[import-untyped]

PINNED_VERSION = "1.0.2"
DEVICE_INTERFACE = "org.bluez.Device1"

_original_add_device = Adapter.add_device


async def _add_device(self: Any, device: Any) -> None:
    existing = self.devices.get(f"{self.get_object_path()}/dev_{device.address.replace(':', '_')}")
    await _original_add_device(self, device)
    if existing is not None and existing is not device:
        # Fix 1: a fresh advertisement is news to a scanner that started late.
        existing.rssi = -40 if existing.rssi != -40 else -41
        existing.properties_changed.emit((DEVICE_INTERFACE, {"RSSI": ("n", existing.rssi)}, []))


def _other_end(device: Any) -> Any:
    """The object for the same link in the peer adapter (its view of our adapter)."""
    path = f"{device.peer_adapter.get_object_path()}/dev_{device.adapter.address.replace(':', '_')}"
    return device.peer_adapter.devices.get(path)


async def _disconnect(self: Any, uuid: str | None = None) -> None:
    for end in (self, _other_end(self)):
        if end is None:
            continue
        end.connecting_task.cancel()
        # Fix 3: the link's GATT objects go with the link.
        for link in end.services.values():
            if isinstance(link, GattCharacteristicClientLink):
                link.client_props_changed_subscription.unsubscribe()
                if link.client.Notifying.get(False):
                    await link.client.StopNotify()
            end.peer_adapter.mock.remove_object(link)
        end.services.clear()
        # Fix 2: both ends learn that the link is down.
        if end.services_resolved:
            await end.ServicesResolved.set_async(False)
        if end.connected:
            await end.Connected.set_async(False)


def main() -> None:
    installed = version("bluezoo")
    if installed != PINNED_VERSION:
        sys.exit(f"bluezoo_patched.py patches BlueZoo {PINNED_VERSION}, found {installed}")
    Adapter.add_device = _add_device
    Device.disconnect = _disconnect
    bluezoo.bluezoo.main()


if __name__ == "__main__":
    main()
