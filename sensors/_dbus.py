"""Failing to reach the system D-Bus (no dbus daemon, no BlueZ) as a SensorError that says where
it looked and what to start, instead of a bare ``[Errno 2] No such file or directory``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Final

from cadence.errors import SensorError

# dbus-fast's default (Debian links /var/run to /run).
DEFAULT_SYSTEM_BUS_ADDRESS: Final = "unix:path=/var/run/dbus/system_bus_socket"
HINT: Final = "is dbus and bluetoothd running? on a Raspberry Pi: sudo systemctl start bluetooth"


def system_bus_address() -> str:
    """The address bleak and dbus-fast connect to, and where it came from."""
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    if address:
        return f"{address} (from DBUS_SYSTEM_BUS_ADDRESS)"
    return f"{DEFAULT_SYSTEM_BUS_ADDRESS} (the default; DBUS_SYSTEM_BUS_ADDRESS is not set)"


def bus_unreachable(error: OSError) -> SensorError:
    """The error for a failed connection to the system bus."""
    why = error.strerror or str(error) or type(error).__name__
    return SensorError(f"cannot reach the system D-Bus at {system_bus_address()}: {why}; {HINT}")


@contextlib.contextmanager
def system_bus_errors() -> Iterator[None]:
    """Turn the errors of connecting to the bus's socket into :func:`bus_unreachable`.

    Only socket-level failures are caught (no such socket, refused, not allowed): once on the
    bus, bleak reports its problems as BleakError or D-Bus errors, never these.
    """
    try:
        yield
    except (FileNotFoundError, ConnectionRefusedError, PermissionError) as error:
        raise bus_unreachable(error) from error
