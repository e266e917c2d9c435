"""``cadence scan``: list nearby running sensors (RSC footpods, Polar PMD accelerometers)."""

from __future__ import annotations

import argparse
import json
import sys

from cadence.errors import ConfigurationError, SensorError


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scan = subcommands.add_parser(
        "scan",
        help="list nearby BLE footpods (RSC) and Polar accelerometers (PMD)",
        description="Listen for Bluetooth LE devices advertising the Running Speed and Cadence "
        'service (0x1814) or the Polar PMD service, or named like a Polar sensor ("Polar H10 '
        '0A1B2C3D": an H10 need not advertise PMD), and list them with name, address, signal '
        "strength and kind.",
    )
    scan.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="listen for S seconds (default 5)"
    )
    scan.add_argument("--adapter", metavar="hciN", help="Bluetooth adapter (default: the system's)")
    scan.add_argument(
        "--limit", type=int, metavar="N", help="stop as soon as N sensors have been heard"
    )
    scan.add_argument("--json", action="store_true", help="one JSON object per sensor")
    scan.set_defaults(run=run_scan)


def run_scan(args: argparse.Namespace) -> int:
    import asyncio

    from bleak.exc import BleakError

    from sensors.scan import FoundSensor, scan

    if args.limit is not None and args.limit < 1:
        raise ConfigurationError(f"--limit {args.limit}: need at least 1")
    limit: int | None = args.limit

    def enough(found: list[FoundSensor]) -> bool:
        return limit is not None and len(found) >= limit

    try:
        found = asyncio.run(scan(timeout_s=args.timeout, adapter=args.adapter, until=enough))
    except BleakError as error:
        raise SensorError(f"cannot scan: {error} (is bluetoothd running?)") from error
    if args.json:
        for sensor in found:
            record = {
                "name": sensor.name,
                "address": sensor.address,
                "rssi_dbm": sensor.rssi,
                "kind": [kind.kind for kind in sensor.kinds],
                "found_by": ["name" if kind.by_name else "service" for kind in sensor.kinds],
            }
            print(json.dumps(record))
        return 0
    if not found:
        print(f"no footpods or Polar sensors heard in {args.timeout:g} s", file=sys.stderr)
        return 1
    print(f"{'name':<24} {'address':<17} {'rssi':>8}  kind")
    for sensor in found:
        name = sensor.name or "(no name)"
        kinds = ", ".join(map(str, sensor.kinds))
        print(f"{name:<24} {sensor.address:<17} {sensor.rssi:>4} dBm  {kinds}")
    return 0
