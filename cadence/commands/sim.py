"""``cadence sim footpod --trace FILE``: be a BLE footpod (RSC + Polar PMD) serving a trace.

Uses only BlueZ's documented D-Bus API, so it works on a Raspberry Pi's own radio as well as on
an emulated adapter. While it runs, ``kill -USR1 PID`` drops the link from the footpod's side and
``kill -USR2 PID`` sends one malformed RSC and one malformed PMD packet (fault injection).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cadence.errors import ConfigurationError

if TYPE_CHECKING:
    from sim.footpod import VirtualFootpod


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = subcommands.add_parser(
        "sim",
        help="simulate a sensor: a virtual BLE footpod serving a trace",
        description="Simulated sensors for testing without hardware.",
    )
    devices = sim.add_subparsers(title="devices", dest="device", required=True)
    footpod = devices.add_parser(
        "footpod",
        help="advertise a BLE footpod (RSC 0x1814 and Polar PMD) serving a trace",
        description="Register a GATT application and an LE advertisement with BlueZ and serve "
        "the trace: RSC cadence from its detected steps and speed from its metadata, PMD "
        "acceleration resampled to the rate the client asks for. Runs until interrupted. "
        "Signals: USR1 drops the link, USR2 sends malformed packets.",
    )
    footpod.add_argument("--trace", type=Path, required=True, metavar="FILE", help="trace CSV")
    footpod.add_argument("--adapter", default="hci0", metavar="hciN", help="adapter (default hci0)")
    footpod.add_argument("--name", default="cadence footpod", help="advertised name")
    footpod.add_argument(
        "--rsc-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between RSC notifications (default 1)",
    )
    footpod.add_argument(
        "--frame-samples",
        type=int,
        default=36,
        metavar="N",
        help="accelerometer samples per PMD notification (default 36, as an H10 at 200 Hz)",
    )
    footpod.add_argument(
        "--delta", action="store_true", help="send delta-compressed PMD frames instead of raw"
    )
    footpod.set_defaults(run=run_footpod)


def run_footpod(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib

    from cadence.trace import read_trace
    from sim.footpod import VirtualFootpod

    if not args.trace.is_file():
        raise ConfigurationError(f"{args.trace}: no such trace file")
    footpod = VirtualFootpod(
        read_trace(args.trace),
        adapter=args.adapter,
        name=args.name,
        rsc_interval_s=args.rsc_interval,
        samples_per_frame=args.frame_samples,
        delta_frames=args.delta,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(footpod))
    return 0


async def _serve(footpod: VirtualFootpod) -> None:
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    drops: set[asyncio.Task[int]] = set()

    def drop_link() -> None:
        task = asyncio.create_task(footpod.drop_link(), name="footpod-drop-link")
        drops.add(task)
        task.add_done_callback(drops.discard)

    def send_malformed() -> None:
        footpod.send_malformed_rsc()
        footpod.send_malformed_pmd()

    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, drop_link)
    loop.add_signal_handler(signal.SIGUSR2, send_malformed)
    async with footpod:
        print(
            f"footpod {footpod.name!r} advertising on {footpod.adapter} "
            f"(RSC + Polar PMD); Ctrl-C stops",
            flush=True,
        )
        await stop.wait()
        for task in list(drops):
            await task
