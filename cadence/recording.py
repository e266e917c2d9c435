"""Record everything a run receives and decides into a session folder, without losing any of it.

A session folder holds:

- ``samples.csv``: the raw accelerometer samples as trace CSV v1 (m/s², times and values written
  exactly, so ``cadence analyze`` of the recording finds the very contacts found live);
- ``footpod.csv``: footpod summary records (speed, cadence, ...);
- ``contacts.csv``, ``metrics.csv``, ``alerts.csv``: what the pipeline decided;
- ``events.csv``: link status changes and gaps;
- ``session.json``: what the source was, when the run started, and whether it ended cleanly.

The pipeline hands rows to :class:`Recorder` without waiting: a writer thread formats them and
writes whole lines, flushing at least every ``flush_interval_s``. Killing the process (even with
SIGKILL) leaves files that read back completely up to the last flush; a line cut off mid-write is
reported and skipped by :func:`read_recording`.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import math
import os
import queue
import threading
import time
import types
import typing
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import numpy as np
import numpy.typing as npt

from cadence.contacts import Contact
from cadence.errors import ConfigurationError, TraceFormatError, TraceFormatWarning
from cadence.events import (
    Alert,
    Metrics,
    PipelineOutput,
    SourceInfo,
    SourceStatus,
    StreamGap,
    SummaryRecord,
)
from cadence.trace import NO_DATA_ROWS, RECORDER_WRITER, Trace, read_trace

SAMPLES_FILE = "samples.csv"
FOOTPOD_FILE = "footpod.csv"
CONTACTS_FILE = "contacts.csv"
METRICS_FILE = "metrics.csv"
ALERTS_FILE = "alerts.csv"
EVENTS_FILE = "events.csv"
SESSION_FILE = "session.json"
RECORDING_FORMAT = "cadence-recording"
RECORDING_VERSION = 1

_EVENT_COLUMNS = ("t_s", "event", "end_s", "detail")
_STOP: Final = object()
# Lines a file that cannot be written keeps for a later try (about a minute of 500 Hz samples).
MAX_WAITING_LINES = 30_000
logger = logging.getLogger(__name__)
_Row = TypeVar("_Row")


@dataclass(frozen=True, slots=True)
class Recording:
    """A session folder read back. ``complete`` is False when the run did not end cleanly."""

    folder: Path
    session: dict[str, Any]
    samples: Trace | None
    footpod: list[SummaryRecord] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    metrics: list[Metrics] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.session.get("complete", False))


class Recorder:
    """Writes a run into ``folder`` from a background thread; every method returns at once.

    Args:
        folder: the session folder; created if missing, and must not already hold a recording.
        flush_interval_s: longest time rows wait in memory before reaching the files (<= 1 s).
        fsync: also ask the OS to put each flush on disk (survives power loss, costs SD cards).
    """

    def __init__(
        self, folder: str | os.PathLike[str], *, flush_interval_s: float = 0.5, fsync: bool = False
    ) -> None:
        if not 0 < flush_interval_s <= 1.0:
            raise ConfigurationError(f"flush_interval_s must be in (0, 1] s: {flush_interval_s}")
        self.folder = Path(folder)
        self.flush_interval_s = flush_interval_s
        self.fsync = fsync
        # Unbounded on purpose: recorded data is never dropped; the writer keeps up easily.
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._session: dict[str, Any] = {}
        self._error: BaseException | None = None

    async def __aenter__(self) -> Self:
        # Nothing is created until the source is open (start): a sensor that cannot be reached
        # leaves no empty session behind.
        if (self.folder / SESSION_FILE).exists():
            raise ConfigurationError(f"{self.folder}: already holds a recording; choose another")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is None:
            return  # never started: nothing was recorded
        self._session["ended_at"] = _now_iso()
        # Cancelled is how a runner stops a live run (Ctrl-C): a clean end, not a crash.
        stopped = exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        self._session["complete"] = exc_type is None or stopped
        if exc_type is None:
            self._session["ended_by"] = "end of stream"
        elif stopped:
            self._session["ended_by"] = "stopped"
        else:
            self._session["ended_by"] = f"error: {exc_type.__name__}: {exc}"
        self._queue.put((SESSION_FILE, dict(self._session)))
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        if self._error is not None:
            raise self._error

    def start(self, info: SourceInfo) -> None:
        """Describe the source and start writing; called once, before any data."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(
            target=self._write_loop, name="cadence-recorder", daemon=True
        )
        self._thread.start()
        self._session = {
            "format": RECORDING_FORMAT,
            "version": RECORDING_VERSION,
            "source": asdict(info),
            "started_at": _now_iso(),
            "ended_at": None,
            "complete": False,
        }
        self._queue.put((SESSION_FILE, dict(self._session)))
        if info.kind == "accelerometer":
            self._queue.put((SAMPLES_FILE, _samples_header(info)))

    def record_samples(
        self, t_s: npt.NDArray[np.float64], acc_ms2: npt.NDArray[np.float64]
    ) -> None:
        """Queue raw samples (m/s²) exactly as the detector received them."""
        self._queue.put((SAMPLES_FILE, (t_s, acc_ms2)))

    def record_footpod(self, record: SummaryRecord) -> None:
        self._queue.put((FOOTPOD_FILE, record))

    def publish(self, item: PipelineOutput) -> None:
        """Queue one pipeline output (the Sink interface)."""
        if isinstance(item, Contact):
            self._queue.put((CONTACTS_FILE, item))
        elif isinstance(item, Metrics):
            self._queue.put((METRICS_FILE, item))
        elif isinstance(item, Alert):
            self._queue.put((ALERTS_FILE, item))
        elif isinstance(item, StreamGap):
            self._queue.put((EVENTS_FILE, (item.start_s, "gap", item.end_s, item.reason)))
        elif isinstance(item, SourceStatus):
            detail = item.detail
            if item.bad_packets:
                detail = f"{detail}; {item.bad_packets} bad packets"
            self._queue.put((EVENTS_FILE, (item.t_s, item.state, "", detail)))

    # -- the writer thread ------------------------------------------------------------------

    def _write_loop(self) -> None:
        writer = _FolderWriter(self.folder, fsync=self.fsync)
        try:
            next_flush = time.monotonic() + self.flush_interval_s
            while True:
                timeout = max(0.0, next_flush - time.monotonic())
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    break
                if isinstance(item, tuple):
                    writer.add(*item)
                if time.monotonic() >= next_flush:
                    writer.flush()
                    next_flush = time.monotonic() + self.flush_interval_s
        except BaseException as error:  # reported to the pipeline when it exits
            self._error = error
        finally:
            writer.close()


class _FolderWriter:
    """Formats rows per file and writes them as whole lines on flush.

    A file that cannot be written (disk full, no permission) does not stop the others: its
    lines wait for the next flush, one warning names the file and the error, and only past
    ``MAX_WAITING_LINES`` are its oldest lines given up (counted, and reported at the end).
    """

    def __init__(self, folder: Path, *, fsync: bool) -> None:
        self.folder = folder
        self.fsync = fsync
        self._files: dict[str, io.TextIOWrapper] = {}
        self._pending: dict[str, list[str]] = {}
        self._failing: set[str] = set()
        self.lost_lines: dict[str, int] = {}

    def add(self, name: str, payload: object) -> None:
        if name == SESSION_FILE:
            self._write_session(payload)  # type: ignore[arg-type]
            return
        lines = self._pending.setdefault(name, [])
        if name not in self._files and not lines and name != SAMPLES_FILE:
            lines.append(_csv_line(_columns_of(name)))
        if name == SAMPLES_FILE:
            header_or_samples: Any = payload
            lines.append(
                header_or_samples
                if isinstance(header_or_samples, str)
                else _sample_lines(header_or_samples)
            )
        elif name == EVENTS_FILE:
            lines.append(_csv_line(payload))  # type: ignore[arg-type]
        else:
            lines.append(_csv_line(_row_of(payload)))

    def flush(self) -> None:
        for name, lines in self._pending.items():
            if not lines:
                continue
            try:
                self._write(name, "".join(lines))
            except OSError as error:
                self._fail(name, error)
                excess = len(lines) - MAX_WAITING_LINES
                if excess > 0:
                    del lines[:excess]
                    self.lost_lines[name] = self.lost_lines.get(name, 0) + excess
                continue
            lines.clear()
            if name in self._failing:
                self._failing.discard(name)
                logger.warning("recording: %s is being written again", self.folder / name)

    def close(self) -> None:
        self.flush()
        for name, lines in self._pending.items():
            if lines:
                self.lost_lines[name] = self.lost_lines.get(name, 0) + len(lines)
        for name, count in self.lost_lines.items():
            logger.warning("recording: %d lines of %s could not be written", count, name)
        for file in self._files.values():
            with contextlib.suppress(OSError):
                file.close()

    def _write(self, name: str, text: str) -> None:
        file = self._files.get(name)
        if file is None:
            file = open(self.folder / name, "a", encoding="utf-8", newline="")  # noqa: SIM115
            self._files[name] = file
        file.write(text)
        file.flush()
        if self.fsync:
            os.fsync(file.fileno())

    def _fail(self, name: str, error: OSError) -> None:
        if name not in self._failing:
            self._failing.add(name)
            logger.warning(
                "recording: cannot write %s (%s); keeping its lines and trying again",
                self.folder / name,
                error.strerror or error,
            )

    def _write_session(self, session: dict[str, Any]) -> None:
        # Replace atomically: a kill mid-write leaves the previous complete version.
        temporary = self.folder / f".{SESSION_FILE}.tmp"
        try:
            temporary.write_text(json.dumps(session, indent=2) + "\n", encoding="utf-8")
            os.replace(temporary, self.folder / SESSION_FILE)
        except OSError as error:
            self._fail(SESSION_FILE, error)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _samples_header(info: SourceInfo) -> str:
    metadata = {"writer": RECORDER_WRITER, "source": f"live recording of {info.name}"}
    if info.placement:
        metadata["placement"] = info.placement
    if info.fs_hz:
        metadata["fs_hz"] = f"{info.fs_hz:g}"
    if info.axes:
        metadata["axes"] = info.axes
    lines = ["# cadence-trace: 1\n", *(f"# {k}: {v}\n" for k, v in metadata.items())]
    lines.append(",".join(["t", *(f"a{axis}" for axis in info.acc_axes)]) + "\n")
    return "".join(lines)


def _sample_lines(samples: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]) -> str:
    # repr() of a float is the shortest text that reads back as the same float: exact round trip.
    t_s, acc = samples
    rows = np.column_stack([t_s, acc]).tolist()
    return "".join(",".join(map(repr, row)) + "\n" for row in rows)


_ROW_TYPES: dict[str, type[Any]] = {
    FOOTPOD_FILE: SummaryRecord,
    CONTACTS_FILE: Contact,
    METRICS_FILE: Metrics,
    ALERTS_FILE: Alert,
}


def _columns_of(name: str) -> Sequence[str]:
    if name == EVENTS_FILE:
        return _EVENT_COLUMNS
    return [f.name for f in fields(_ROW_TYPES[name])]


def _row_of(item: Any) -> list[object]:
    return [getattr(item, f.name) for f in fields(item)]


def _csv_line(values: Sequence[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


# -- reading back ---------------------------------------------------------------------------


def read_recording(folder: str | os.PathLike[str]) -> Recording:
    """Read a session folder. A line cut off by a kill is skipped with a TraceFormatWarning."""
    folder = Path(folder)
    session_path = folder / SESSION_FILE
    try:
        session = json.loads(session_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problem = "not a recording: session.json is missing"
        raise TraceFormatError(session_path, None, problem) from None
    except json.JSONDecodeError as error:
        raise TraceFormatError(session_path, error.lineno, f"unreadable: {error.msg}") from None
    if session.get("format") != RECORDING_FORMAT:
        raise TraceFormatError(session_path, None, f"not a {RECORDING_FORMAT} session file")
    samples_path = folder / SAMPLES_FILE
    samples = _read_samples(samples_path)
    return Recording(
        folder=folder,
        session=session,
        samples=samples,
        footpod=_read_rows(folder / FOOTPOD_FILE, SummaryRecord),
        contacts=_read_rows(folder / CONTACTS_FILE, Contact),
        metrics=_read_rows(folder / METRICS_FILE, Metrics),
        alerts=_read_rows(folder / ALERTS_FILE, Alert),
        events=_read_dicts(folder / EVENTS_FILE),
    )


def _read_samples(path: Path) -> Trace | None:
    if not path.exists():
        return None
    try:
        return read_trace(path)
    except TraceFormatError as error:
        if error.problem == NO_DATA_ROWS:  # killed before the first samples were flushed
            return None
        raise


def _complete_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        kept = text[: text.rfind("\n") + 1]
        warnings.warn(
            f"{path}:{kept.count(chr(10)) + 1}: last line is cut off (the recording stopped "
            "mid-write); ignored it",
            TraceFormatWarning,
            stacklevel=3,
        )
        text = kept
    return text.splitlines()


def _read_dicts(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return list(csv.DictReader(_complete_lines(path)))


def _read_rows(path: Path, row_type: Callable[..., _Row]) -> list[_Row]:
    hints = typing.get_type_hints(row_type)
    converters = {name: _converter(hint) for name, hint in hints.items()}
    rows = []
    for line_number, row in enumerate(_read_dicts(path), start=2):
        try:
            rows.append(row_type(**{k: converters[k](v) for k, v in row.items()}))
        except (KeyError, ValueError, TypeError) as error:
            raise TraceFormatError(path, line_number, f"unreadable row: {error}") from None
    return rows


def _converter(hint: object) -> Callable[[str], object]:
    """Text to a field's type: float, int, bool or text (Literal), each optionally None."""
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    members = typing.get_args(hint) if is_union else (hint,)
    optional = type(None) in members
    kind = next(member for member in members if member is not type(None))
    base: Callable[[str], object] = str
    if kind is float:
        base = float
    elif kind is int:
        base = int
    elif kind is bool:
        base = _parse_bool

    def convert(text: str) -> object:
        if text == "" and optional:
            return None
        value = base(text)
        if isinstance(value, float) and not math.isfinite(value) and not optional:
            raise ValueError(f"not a finite number: {text!r}")
        return value

    return convert


def _parse_bool(text: str) -> bool:
    if text not in ("True", "False"):
        raise ValueError(f"not True/False: {text!r}")
    return text == "True"
