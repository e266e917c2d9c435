"""``cadence run``: coach a run live, from a sensor, a trace or the built-in demo run.

Every run is recorded (raw samples, contacts, metrics, alerts) into a session folder, so it can
be replayed and analysed later.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cadence.commands._outputs import (
    add_output_arguments,
    build_outputs,
    positive_float,
    save_learnt_baseline,
)
from cadence.commands._stopping import run_until_stopped

if TYPE_CHECKING:
    from cadence.events import RunTotals
    from cadence.source import Source

# The demo: 10 minutes at 172 spm (a baseline is learnt from the first minutes), a minute of
# low cadence, then 40 s of overstriding, then good running again; replayed at 40x.
DEMO_MINUTES = 10.0
DEMO_CADENCE_POINTS = ((0.0, 172.0), (290.0, 172.0), (300.0, 158.0), (360.0, 158.0),
                       (370.0, 172.0))  # fmt: skip
DEMO_OVERSTRIDE_S = ((420.0, 460.0),)
# Steps 11 % longer at the same speed: past the overstride rule's 8 % threshold.
DEMO_OVERSTRIDE_CADENCE_DROP = 0.10
DEMO_TARGET_SPM = 168.0
DEMO_SPEED = 40.0


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subcommands.add_parser(
        "run",
        help="coach a run live: from a BLE sensor, a trace, or the built-in demo",
        description="Run the live coach: steps, cadence and contact time as they happen, "
        "alerts by sound, on screen and over MQTT, and a recording of everything. "
        "Without a sensor, --demo replays a built-in synthetic run with a low-cadence stretch "
        "and an overstriding episode.",
    )
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--demo", action="store_true", help="a built-in 10-minute run, replayed at 40x"
    )
    source.add_argument(
        "--trace", type=Path, metavar="FILE", help="replay a trace CSV at real time"
    )
    source.add_argument(
        "--footpod", metavar="NAME|ADDRESS", help="a BLE running footpod (RSC service)"
    )
    source.add_argument(
        "--polar", metavar="NAME|ADDRESS", help="a Polar H10 / Verity Sense (PMD accelerometer)"
    )
    ble = run.add_argument_group("Bluetooth")
    ble.add_argument("--adapter", metavar="HCI", help="Bluetooth adapter, e.g. hci0")
    ble.add_argument(
        "--rate", type=int, default=200, metavar="HZ", help="PMD sample rate (default 200)"
    )
    ble.add_argument(
        "--range-g", type=int, default=8, metavar="G", help="PMD range in g (default 8)"
    )
    run.add_argument(
        "--speed", type=positive_float, default=None, metavar="N", help="replay N times faster"
    )
    run.add_argument("--placement", metavar="P", help="where the sensor is worn")
    run.add_argument(
        "--record", type=Path, metavar="DIR",
        help="session folder (default: a new folder under ~/.local/share/cadence/sessions)",
    )  # fmt: skip
    run.add_argument("--no-record", action="store_true", help="do not record the session")
    add_output_arguments(run)
    run.set_defaults(run=run_live)


def run_live(args: argparse.Namespace) -> int:
    from cadence.events import RunTotals
    from cadence.recording import Recorder

    with tempfile.TemporaryDirectory(prefix="cadence-demo-") as scratch:
        if args.demo:
            source = _demo_source(Path(scratch), speed=args.speed or DEMO_SPEED)
            # The demo runner is nobody: a fresh profile, never saved over the user's.
            args.profile = Path(scratch) / "demo-profile.json"
            if args.target is None:
                args.target = DEMO_TARGET_SPM
        elif args.trace is not None:
            source = _trace_source(args.trace, speed=args.speed or 1.0)
        else:
            source = _ble_source(args)
        outputs = build_outputs(args)
        folder = None if args.no_record else (args.record or _new_session_folder())
        recorder = Recorder(folder) if folder is not None else None
        totals = RunTotals()

        stopped = asyncio.run(
            run_until_stopped(
                outputs.coach(source, placement=args.placement, recorder=recorder, totals=totals),
                name="cadence-run",
            )
        )
        if stopped:
            print("\nstopped")
        _print_end(totals, folder)
        saved = None if args.demo else save_learnt_baseline(outputs)
    if saved is not None:
        print(f"baseline  learnt from this run, saved in {saved}")
    return 0


def _demo_source(folder: Path, *, speed: float) -> Source:
    from sim.replay import TraceReplay
    from sim.synthetic import RunnerConfig, simulate, write_run

    config = RunnerConfig(
        duration_s=DEMO_MINUTES * 60.0,
        cadence_points=DEMO_CADENCE_POINTS,
        overstrides=DEMO_OVERSTRIDE_S,
        overstride_cadence_drop=DEMO_OVERSTRIDE_CADENCE_DROP,
        placement="sacrum",
    )
    trace_path, _, _ = write_run(folder / "demo-run.csv", simulate(config))
    return TraceReplay(trace_path, speed=speed)


def _trace_source(path: Path, *, speed: float) -> Source:
    from sim.replay import TraceReplay

    return TraceReplay(path, speed=speed)


def _ble_source(args: argparse.Namespace) -> Source:
    from sensors import PolarAccelerometer, RscFootpod

    wanted = args.footpod or args.polar
    # A BLE address is six hex pairs; anything else is a device name to look for.
    by_address = re.fullmatch(r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", wanted) is not None
    which = {"address": wanted} if by_address else {"name": wanted}
    if args.footpod:
        return RscFootpod(adapter=args.adapter, **which)
    return PolarAccelerometer(
        sample_rate_hz=args.rate,
        range_g=args.range_g,
        placement=args.placement or "chest",
        adapter=args.adapter,
        **which,
    )


def _new_session_folder() -> Path:
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return data_home / "cadence" / "sessions" / stamp


def _print_end(totals: RunTotals, folder: Path | None) -> None:
    print()
    print(f"steps     {len(totals.contacts)} contacts, {len(totals.gaps)} gaps")
    for alert in totals.alerts:
        minutes, seconds = divmod(alert.t_s, 60.0)
        print(f"alert     {int(minutes):02d}:{seconds:04.1f}  {alert.state:<8} {alert.message}")
    if not totals.alerts:
        print("alerts    none")
    if folder is not None:
        print(f"recorded  {folder}")
