"""``cadence replay TRACE``: run a recorded trace through the live pipeline, as a sensor would."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cadence.commands._outputs import add_output_arguments, build_outputs, positive_float
from cadence.commands._stopping import run_until_stopped

if TYPE_CHECKING:
    from cadence.events import RunTotals
    from sim.replay import TraceReplay

PROGRESS_INTERVAL_S = 0.2
PROGRESS_BAR_WIDTH = 30


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = subcommands.add_parser(
        "replay",
        help="replay a recorded trace through the live pipeline (detector, metrics, alerts)",
        description="Deliver a trace CSV in sensor-sized chunks at real time, N times real "
        "time or as fast as possible, through the same pipeline as a live run; optionally "
        "record the session and inject link faults.",
    )
    replay.add_argument("trace", type=Path, metavar="TRACE", help="trace CSV file")
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=positive_float,
        default=1.0,
        metavar="N",
        help="N times real time (default 1)",
    )
    pace.add_argument("--fast", action="store_true", help="as fast as possible")
    replay.add_argument("--placement", metavar="P", help="override the trace's placement")
    replay.add_argument(
        "--record", type=Path, metavar="DIR", help="record the session into folder DIR"
    )
    replay.add_argument(
        "--chunk",
        type=_chunk_range,
        default=(20, 20),
        metavar="N[:M]",
        help="samples per notification, or a random size from N to M (default 20)",
    )
    replay.add_argument(
        "--jitter-ms",
        type=_not_negative,
        default=0.0,
        metavar="MS",
        help="deliver each chunk up to MS later than its last sample",
    )
    replay.add_argument(
        "--loss",
        type=_probability,
        default=0.0,
        metavar="P",
        help="probability that a chunk is lost (0 to 1)",
    )
    replay.add_argument(
        "--drop",
        type=_link_drop,
        action="append",
        default=[],
        metavar="START:SECONDS",
        help="the link is down from START for SECONDS (stream seconds; repeatable)",
    )
    replay.add_argument("--seed", type=int, default=0, help="seed for chunk sizes and faults")
    replay.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: when stderr is a terminal and the "
        "live view is off)",
    )
    add_output_arguments(replay)
    replay.set_defaults(run=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    from cadence.events import RunTotals
    from cadence.recording import Recorder
    from sim.replay import TraceReplay

    replay = TraceReplay(
        args.trace,
        speed=None if args.fast else args.speed,
        chunk_samples=args.chunk,
        jitter_s=args.jitter_ms / 1000.0,
        loss_probability=args.loss,
        link_drops=args.drop,
        seed=args.seed,
    )
    recorder = Recorder(args.record) if args.record is not None else None
    outputs = build_outputs(args)
    show_progress = args.progress
    if show_progress is None:
        show_progress = sys.stderr.isatty() and not args.console

    totals = RunTotals()

    async def main() -> bool:
        progress = (
            asyncio.create_task(_show_progress(replay, sys.stderr), name="cadence-progress")
            if show_progress
            else None
        )
        try:
            return await run_until_stopped(
                outputs.coach(replay, placement=args.placement, recorder=recorder, totals=totals),
                name="cadence-replay",
            )
        finally:
            if progress is not None:
                progress.cancel()
                await asyncio.gather(progress, return_exceptions=True)
                _draw_progress(replay, sys.stderr, done=True)

    if asyncio.run(main()):
        print("stopped")
    _print_totals(totals, replay, args.record)
    return 0


def _print_totals(totals: RunTotals, replay: TraceReplay, record: Path | None) -> None:
    last = next((m for m in reversed(totals.metrics) if m.cadence_spm is not None), None)
    print(f"samples   {totals.samples}")
    print(f"contacts  {len(totals.contacts)}")
    print(f"gaps      {len(totals.gaps)}")
    print(f"alerts    {len(totals.alerts)}")
    if replay.lost_chunks:
        print(f"lost      {replay.lost_chunks} chunks (injected)")
    if last is not None and last.cadence_spm is not None:
        print(f"cadence   {last.cadence_spm:.1f} spm (last {last.t_s:.0f} s)")
    if record is not None:
        print(f"recorded  {record}")


async def _show_progress(replay: TraceReplay, out: TextIO) -> None:
    while True:
        _draw_progress(replay, out, done=False)
        await asyncio.sleep(PROGRESS_INTERVAL_S)


def _draw_progress(replay: TraceReplay, out: TextIO, *, done: bool) -> None:
    total = replay.duration_s
    fraction = 1.0 if done or total <= 0 else min(1.0, replay.position_s / total)
    filled = round(fraction * PROGRESS_BAR_WIDTH)
    bar = "#" * filled + "-" * (PROGRESS_BAR_WIDTH - filled)
    end = "\n" if done else ""
    out.write(f"\r[{bar}] {fraction:6.1%} {replay.position_s:8.1f}/{total:.1f} s{end}")
    out.flush()


def _chunk_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition(":")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not N or N:M: {text!r}") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"need 1 <= N <= M: {text!r}")
    return bounds


def _link_drop(text: str) -> object:
    from sim.replay import LinkDrop

    start, _, seconds = text.partition(":")
    try:
        drop = LinkDrop(float(start), float(seconds))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not START:SECONDS: {text!r}") from None
    if not (drop.duration_s > 0 and math.isfinite(drop.start_s + drop.duration_s)):
        raise argparse.ArgumentTypeError(f"SECONDS must be above 0: {text!r}")
    return drop


def _not_negative(text: str) -> float:
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _probability(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be from 0 up to (not including) 1: {text!r}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value
