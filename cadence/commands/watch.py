"""``cadence watch``: the coach's view of many runners at once, from an MQTT broker.

Subscribes to every runner's metrics, alerts and status under the topic prefix and redraws a
table twice a second: who is online, their cadence, ground contact time and step length, the
alerts that are raised, and how long ago each runner was last heard from. A retained message
(the broker's copy of a runner's last status, delivered on subscribing) counts from when it was
sent, not when it arrived: an "offline (finished)" from hours ago shows as hours old. The first
frame is drawn once the retained messages are in, so even ``--frames 1`` shows every runner.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fnmatch
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cadence.backoff import Backoff
from cadence.errors import ConfigurationError
from cadence.events import Alert, AlertKind, Metrics
from cadence.mqtt_broker import BrokerSettings
from cadence.mqtt_codec import (
    DEFAULT_PREFIX,
    MqttMessageError,
    RunnerStatus,
    TopicKind,
    decode,
    subscription,
)

if TYPE_CHECKING:
    import aiomqtt

WATCHED: tuple[TopicKind, ...] = ("metrics", "alerts", "status")
CLEAR_SCREEN = "\x1b[H\x1b[2J"
# Never subscribed: unsubscribing from it is a round trip that the broker must answer (MQTT
# 3.1.1 3.10.4) after it has queued the retained messages of the subscriptions before it.
SYNC_FILTER = "cadence-watch/sync"
FIRST_FRAME_WAIT_S = 3.0  # the most the first frame waits for the broker's retained messages


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    watch = subcommands.add_parser(
        "watch",
        help="show many runners at once, live from an MQTT broker",
        description="Subscribe to an MQTT broker and show every runner's status, cadence, "
        "ground contact time, step length and alerts, redrawn twice a second.",
    )
    watch.add_argument("--host", default="localhost", help="broker (default: localhost)")
    watch.add_argument("--port", type=int, help="broker port (default: 1883, or 8883 with --tls)")
    watch.add_argument("--tls", action="store_true", help="connect with TLS")
    watch.add_argument(
        "--ca-file", type=Path, metavar="PEM", help="CA certificate for --tls (default: system)"
    )
    watch.add_argument("--username", help="broker user name")
    watch.add_argument(
        "--password-env",
        metavar="VAR",
        help="name of the environment variable that holds the broker password",
    )
    watch.add_argument(
        "--runner",
        default="*",
        metavar="PATTERN",
        help="show only runners whose name matches this shell pattern, e.g. 'club-*'",
    )
    watch.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help=f"topic prefix (default: {DEFAULT_PREFIX})"
    )
    watch.add_argument(
        "--frames", type=int, metavar="N", help="stop after N redraws (default: run until ^C)"
    )
    watch.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = BrokerSettings(
        hostname=args.host,
        port=args.port if args.port is not None else (8883 if args.tls else 1883),
        username=args.username,
        password=_password(args.password_env),
        tls=args.tls,
        tls_ca_file=args.ca_file,
    )
    if args.frames is not None and args.frames < 1:
        raise ConfigurationError(f"--frames must be at least 1, not {args.frames}")
    board = WatchBoard(prefix=args.prefix, pattern=args.runner)
    title = f"cadence watch  {settings.hostname}:{settings.port}  runners {args.runner}"
    with contextlib.suppress(KeyboardInterrupt):  # ^C is how the coach stops watching
        asyncio.run(show(settings, board, sys.stdout, title=title, frames=args.frames))
    return 0


def _password(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise ConfigurationError(f"--password-env {variable}: that environment variable is unset")
    return value


@dataclass
class RunnerView:
    """What the watcher knows about one runner; times are wall-clock Unix seconds.

    ``heard_at`` is when the latest message arrived, or for a retained one when it was sent
    (``heard_retained``): the broker may have kept it for hours.
    """

    name: str
    status: RunnerStatus | None = None
    metrics: Metrics | None = None
    alerts: dict[AlertKind, Alert] = field(default_factory=dict)
    heard_at: float = 0.0
    heard_retained: bool = False


class WatchBoard:
    """Every runner's latest state, updated from received messages; bad ones are counted."""

    def __init__(self, *, prefix: str = DEFAULT_PREFIX, pattern: str = "*") -> None:
        self.prefix = prefix
        self.pattern = pattern
        self.runners: dict[str, RunnerView] = {}
        self.bad_messages = 0
        self.last_problem: str | None = None
        self.broker_state = "connecting"

    def update(
        self, topic: str, payload: bytes, *, received_at: float, retained: bool = False
    ) -> None:
        """Take in one message; ``retained`` when the broker delivered its stored copy."""
        try:
            message = decode(self.prefix, topic, payload)
        except MqttMessageError as error:
            self.bad_messages += 1
            self.last_problem = str(error)
            return
        if not fnmatch.fnmatchcase(message.runner, self.pattern):
            return
        view = self.runners.setdefault(message.runner, RunnerView(message.runner))
        item = message.item
        if isinstance(item, RunnerStatus):
            view.status = item
        elif isinstance(item, Metrics):
            view.metrics = item
        elif isinstance(item, Alert):
            view.alerts[item.kind] = item
        heard_at = message.sent_at if retained else received_at
        if heard_at >= view.heard_at:
            view.heard_at = heard_at
            view.heard_retained = retained


def render_board(board: WatchBoard, *, now: float, title: str = "") -> str:
    """The table of runners as text, one line per runner in name order."""
    header = ("RUNNER", "STATUS", "CADENCE", "GCT", "STEP", "HEARD", "ALERTS")
    rows = [_row(board.runners[name], now) for name in sorted(board.runners)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = [title] if title else []
    plural = "" if len(rows) == 1 else "s"
    lines.append(f"broker {board.broker_state}, {len(rows)} runner{plural}")
    if board.bad_messages:
        lines.append(f"{board.bad_messages} bad messages, last: {board.last_problem}")
    lines.append("")
    for cells in [header, *rows]:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
        lines.append("  ".join([*padded, cells[-1]]).rstrip())
    if not rows:
        lines.append("(no runners yet)")
    return "\n".join(lines) + "\n"


def _row(view: RunnerView, now: float) -> tuple[str, ...]:
    metrics = view.metrics or Metrics(t_s=0.0, activity="unknown")
    raised = [a for a in view.alerts.values() if a.state == "raised"]
    return (
        view.name,
        _describe_status(view.status),
        _figure(metrics.cadence_spm, "{:.0f} spm"),
        _figure(metrics.gct_ms, "{:.0f} ms"),
        _figure(metrics.step_length_m, "{:.2f} m"),
        _age(now - view.heard_at) + (" (retained)" if view.heard_retained else ""),
        "; ".join(a.message or a.kind.replace("_", " ") for a in raised) or "-",
    )


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def _describe_status(status: RunnerStatus | None) -> str:
    if status is None:
        return "?"
    text = status.state if not status.reason else f"{status.state} ({status.reason})"
    if status.source is not None and status.source.state != "connected":
        text += f", sensor {status.source.state}"
    return text


def _figure(value: float | None, template: str) -> str:
    return "-" if value is None else template.format(value)


async def follow(
    settings: BrokerSettings,
    board: WatchBoard,
    *,
    subscribed: asyncio.Event | None = None,
    caught_up: asyncio.Event | None = None,
) -> None:
    """Keep the board up to date from the broker, reconnecting with backoff; runs until cancelled.

    ``subscribed`` is set once the first subscriptions are in place; ``caught_up`` once the
    board has also taken in the retained messages the broker sent for them.
    """
    import aiomqtt

    backoff = Backoff(initial_s=0.5, max_s=10.0)
    while True:
        try:
            async with settings.connected() as client:
                for kind in WATCHED:
                    await client.subscribe(subscription(board.prefix, kind), qos=1)
                await client.unsubscribe(SYNC_FILTER)  # the retained messages are queued now
                board.broker_state = "connected"
                backoff.reset()
                if subscribed is not None:
                    subscribed.set()
                await _receive(client, board, backlog=len(client.messages), caught_up=caught_up)
        except aiomqtt.MqttError as error:
            board.broker_state = f"unreachable ({error}), retrying"
        await asyncio.sleep(backoff.next_delay_s())


async def _receive(
    client: aiomqtt.Client,
    board: WatchBoard,
    *,
    backlog: int,
    caught_up: asyncio.Event | None,
) -> None:
    """Feed the board; ``caught_up`` is set once the ``backlog`` queued messages are in."""
    if caught_up is not None and backlog == 0:
        caught_up.set()
    async for message in client.messages:
        payload = message.payload
        if isinstance(payload, bytes):
            board.update(
                message.topic.value, payload, received_at=time.time(), retained=message.retain
            )
        backlog -= 1
        if caught_up is not None and backlog == 0:
            caught_up.set()


async def show(
    settings: BrokerSettings,
    board: WatchBoard,
    out: TextIO,
    *,
    title: str = "",
    frames: int | None = None,
    interval_s: float = 0.5,
) -> None:
    """Follow the broker and redraw the board every ``interval_s`` (``frames`` times, or ever).

    The first frame waits (up to FIRST_FRAME_WAIT_S, e.g. while the broker is unreachable) until
    the board holds the retained messages, so it shows the runners the broker knows of.
    """
    caught_up = asyncio.Event()
    task = asyncio.create_task(follow(settings, board, caught_up=caught_up), name="cadence-watch")
    clear = CLEAR_SCREEN if out.isatty() else ""
    try:
        waiting = asyncio.create_task(caught_up.wait(), name="cadence-watch-first-frame")
        await asyncio.wait({waiting, task}, timeout=FIRST_FRAME_WAIT_S)
        waiting.cancel()
        await asyncio.wait({waiting})
        drawn = 0
        while frames is None or drawn < frames:
            if drawn:
                await asyncio.sleep(interval_s)
            if task.done():
                task.result()  # follow() ends only by a bug: let it be seen
            out.write(clear + render_board(board, now=time.time(), title=title) + "\n")
            out.flush()
            drawn += 1
    finally:
        task.cancel()
        await asyncio.wait({task})
