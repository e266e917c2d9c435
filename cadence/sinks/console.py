"""The console sink: a live view of the run that fits a small terminal.

``publish`` only updates a small state object (:class:`ConsoleState`); a named background task
draws it at least once a second, and at once when an alert is raised or cleared. On a terminal
the view is redrawn in place with ANSI cursor moves; into a pipe or a file it becomes one
compact line per refresh, which reads well in a log.

Drawing is split from writing: :func:`render_view` and :func:`render_line` are pure functions
of the state, and the write itself runs in a worker thread so a slow terminal (an SSH session
over a phone link) never holds up the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Self, TextIO

from cadence.contacts import Contact
from cadence.errors import ConfigurationError
from cadence.events import (
    Alert,
    AlertKind,
    Metrics,
    PipelineOutput,
    SourceStatus,
    StreamGap,
)

logger = logging.getLogger(__name__)

MIN_WIDTH = 20
DEFAULT_WIDTH = 80
ALERT_LABELS: dict[AlertKind, str] = {"low_cadence": "CADENCE LOW", "overstride": "OVERSTRIDING"}
# Slower than this is walking pace or standing: a pace in min/km would read as nonsense.
_MIN_PACE_SPEED_MPS = 0.5
_FIELD_GAP = "  "
_NO_METRICS = Metrics(t_s=0.0, activity="unknown")
# Redrawing the terminal: back to the first line of the last frame, clear to line end, clear
# everything below the new frame.
_CURSOR_UP_LINES = "\x1b[{n}F"
_CLEAR_LINE_END = "\x1b[K"
_CLEAR_BELOW = "\x1b[J"


@dataclass(slots=True)
class ConsoleState:
    """The latest of everything the view shows; ``update`` is O(1)."""

    metrics: Metrics | None = None
    alerts: dict[AlertKind, Alert] = field(default_factory=dict)
    status: SourceStatus | None = None
    gaps: int = 0
    first_t_s: float | None = None
    last_t_s: float | None = None

    def update(self, item: PipelineOutput) -> None:
        if isinstance(item, Metrics):
            self.metrics = item
            self._saw(item.t_s)
        elif isinstance(item, Alert):
            if item.state == "raised":
                self.alerts[item.kind] = item
            else:
                self.alerts.pop(item.kind, None)
            self._saw(item.t_s)
        elif isinstance(item, SourceStatus):
            self.status = item
            self._saw(item.t_s)
        elif isinstance(item, StreamGap):
            self.gaps += 1
            self._saw(item.end_s)
        elif isinstance(item, Contact):
            self._saw(item.off_s)

    def _saw(self, t_s: float) -> None:
        if self.first_t_s is None:
            self.first_t_s = t_s
        self.last_t_s = t_s if self.last_t_s is None else max(self.last_t_s, t_s)

    @property
    def elapsed_s(self) -> float:
        if self.first_t_s is None or self.last_t_s is None:
            return 0.0
        return self.last_t_s - self.first_t_s


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _number(value: float | None, fmt: str) -> str:
    return "--" if value is None else format(value, fmt)


def _figure_fields(state: ConsoleState) -> list[str]:
    m = state.metrics or _NO_METRICS
    fields = [
        f"cadence {_number(m.cadence_spm, '.0f')} spm",
        f"GCT {_number(m.gct_ms, '.0f')} ms",
        f"step {_number(m.step_length_m, '.2f')} m",
    ]
    if m.speed_mps is not None:
        speed = f"{m.speed_mps:.2f} m/s"
        if m.speed_mps >= _MIN_PACE_SPEED_MPS:
            speed += f" {_clock(1000.0 / m.speed_mps)}/km"
        fields.append(speed)
    return fields


def _run_fields(state: ConsoleState) -> list[str]:
    m = state.metrics
    fields = [
        "waiting for data" if m is None else m.activity,
        f"{0 if m is None else m.steps_total} steps",
        f"time {_clock(state.elapsed_s)}",
    ]
    if state.gaps:
        fields.append(f"{state.gaps} gap{'s' if state.gaps > 1 else ''}")
    return fields


def _sensor_fields(state: ConsoleState) -> list[str]:
    s = state.status
    if s is None:
        return ["sensor: no status yet"]
    fields = [f"sensor {s.state}"]
    if s.battery_pct is not None:
        fields.append(f"battery {s.battery_pct}%")
    if s.bad_packets:
        fields.append(f"{s.bad_packets} bad packets")
    if s.detail:
        fields.append(s.detail)
    return fields


def _alert_text(alert: Alert) -> str:
    text = f"! {ALERT_LABELS[alert.kind]}"
    if alert.message:
        return f"{text}: {alert.message}"
    if alert.value is not None and alert.threshold is not None:
        return f"{text}: {alert.value:g} (limit {alert.threshold:g})"
    return text


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _pack(fields: list[str], width: int) -> list[str]:
    """Fields side by side as far as they fit; a field too long on its own is shortened."""
    lines: list[str] = []
    for text in (_fit(f, width) for f in fields):
        if lines and len(lines[-1]) + len(_FIELD_GAP) + len(text) <= width:
            lines[-1] += _FIELD_GAP + text
        else:
            lines.append(text)
    return lines


def render_view(state: ConsoleState, width: int) -> list[str]:
    """The live view as lines no longer than ``width`` (at least :data:`MIN_WIDTH`)."""
    if width < MIN_WIDTH:
        raise ConfigurationError(f"the console needs at least {MIN_WIDTH} columns, got {width}")
    lines = _pack(_figure_fields(state), width) + _pack(_run_fields(state), width)
    if state.alerts:
        for alert in state.alerts.values():
            lines += textwrap.wrap(_alert_text(alert), width, subsequent_indent="  ")
    else:
        lines.append("no alerts")
    return lines + _pack(_sensor_fields(state), width)


def render_line(state: ConsoleState) -> str:
    """The view as one line, for a log or a pipe."""
    parts = _figure_fields(state) + _run_fields(state)
    parts += [_alert_text(a) for a in state.alerts.values()] or ["no alerts"]
    return " | ".join(parts + _sensor_fields(state))


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class ConsoleSink:
    """A live view of the run on a terminal, or one line per refresh into a pipe.

    Parameters
    ----------
    stream
        Where to draw; ``None`` is standard output.
    refresh_s
        Time between redraws, at most one second.
    width
        Columns to fit; ``None`` follows the terminal's width (80 when it has none).
    """

    def __init__(
        self, *, stream: TextIO | None = None, refresh_s: float = 1.0, width: int | None = None
    ) -> None:
        if not 0.0 < refresh_s <= 1.0:
            raise ConfigurationError(
                f"refresh_s must be above 0 and at most 1 second, got {refresh_s}"
            )
        if width is not None and width < MIN_WIDTH:
            raise ConfigurationError(f"width must be at least {MIN_WIDTH} columns, got {width}")
        self._stream = sys.stdout if stream is None else stream
        self._refresh_s = refresh_s
        self._width = width
        self._terminal = _is_terminal(self._stream)
        self._lines_on_screen = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.state = ConsoleState()
        self.frames = 0

    def publish(self, item: PipelineOutput) -> None:
        """Take the item into the view's state; an alert is drawn at once."""
        self.state.update(item)
        if isinstance(item, Alert):
            self._wake.set()

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._draw_forever(), name="cadence-console")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            # The task draws the final frame and ends; a stuck terminal must not stop the exit.
            await asyncio.wait_for(self._task, timeout=2.0)
        except TimeoutError:
            logger.warning("console output is stuck; the last frame was not drawn")
        finally:
            self._task = None

    def _columns(self) -> int:
        if self._width is not None:
            return self._width
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            return DEFAULT_WIDTH
        return max(MIN_WIDTH, columns) if columns else DEFAULT_WIDTH

    def _frame(self) -> str:
        if not self._terminal:
            return render_line(self.state) + "\n"
        lines = render_view(self.state, self._columns())
        up = _CURSOR_UP_LINES.format(n=self._lines_on_screen) if self._lines_on_screen else ""
        self._lines_on_screen = len(lines)
        return up + "".join(line + _CLEAR_LINE_END + "\n" for line in lines) + _CLEAR_BELOW

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    async def _draw(self) -> bool:
        try:
            await asyncio.to_thread(self._write, self._frame())
        except (OSError, ValueError) as error:
            logger.warning("console output failed, the live view stops: %s", error)
            return False
        self.frames += 1
        return True

    async def _draw_forever(self) -> None:
        loop = asyncio.get_running_loop()
        start_s = loop.time()
        while True:
            self._wake.clear()  # before drawing: an alert published meanwhile wakes the wait
            if self._stopping or not await self._draw():
                break
            # The next tick on a fixed grid; ticks missed while busy are skipped, not caught up.
            ticks = int((loop.time() - start_s) / self._refresh_s) + 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(start_s + ticks * self._refresh_s):
                    await self._wake.wait()
        if self._stopping:
            await self._draw()  # the final state stays on screen
