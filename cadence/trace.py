"""Trace CSV (version 1) and ground-truth files: reading, writing, and the `Trace` they hold.

A trace file is ``# key: value`` metadata lines, a header row (``t`` then any of
``ax ay az gx gy gz``) and one row per sample. Clean files are parsed by a compiled byte scanner
(faster than ``pandas.read_csv``); a line it refuses is re-read cell by cell to say exactly what
is wrong with it. Unusable rows are skipped with one `TraceFormatWarning`, or raise with
``strict=True``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import numpy.typing as npt

from cadence.errors import ConfigurationError, TraceFormatError, TraceFormatWarning

FloatArray = npt.NDArray[np.float64]

FORMAT_VERSION = "1"
AXES = ("x", "y", "z")
TIME_COLUMN = "t"
TRUTH_COLUMNS = ("foot_on_s", "foot_off_s")
_KNOWN_COLUMNS = (TIME_COLUMN, *(f"a{axis}" for axis in AXES), *(f"g{axis}" for axis in AXES))
# The `writer` metadata of recordings made by cadence.recording, whose lines always end in \n.
RECORDER_WRITER = "cadence-recorder"
NO_DATA_ROWS = "no data rows after the header"
_UTF8_BOM = b"\xef\xbb\xbf"
_WRITE_BLOCK_ROWS = 65_536
_MAX_PARSE_THREADS = 4
_MIN_PIECE_BYTES = 4_000_000


@dataclass(frozen=True, slots=True)
class Trace:
    """One recording: sample times, acceleration and angular rate, and the file's metadata.

    ``acc`` and ``gyro`` columns follow ``acc_axes`` / ``gyro_axes`` (always in x, y, z order);
    either may have no columns. Arrays are converted to float64 and checked on construction.
    """

    source: str
    metadata: dict[str, str]
    t: FloatArray
    acc: FloatArray
    acc_axes: tuple[str, ...]
    gyro: FloatArray
    gyro_axes: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("t", "acc", "gyro"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        n = self.t.shape[0] if self.t.ndim == 1 else -1
        if n < 0:
            raise ConfigurationError(f"t must be one-dimensional, got shape {self.t.shape}")
        _check_channels("acc", self.acc, self.acc_axes, n)
        _check_channels("gyro", self.gyro, self.gyro_axes, n)
        if not np.all(np.isfinite(self.t)) or np.any(np.diff(self.t) <= 0):
            raise ConfigurationError("t must be finite and strictly increasing")

    @property
    def placement(self) -> str | None:
        """First word of the ``placement`` metadata, lower-cased: "phone (armband)" -> "phone"."""
        match = re.match(r"[\w-]+", self.metadata.get("placement", ""))
        return match.group().lower() if match else None

    @property
    def fs_hz(self) -> float:
        """Nominal sample rate: the ``fs_hz`` metadata if it starts with a number, else the
        median sample interval's inverse (NaN for fewer than two samples)."""
        match = re.match(r"\s*(\d+\.?\d*(?:[eE][-+]?\d+)?)", self.metadata.get("fs_hz", ""))
        if match and float(match.group(1)) > 0:
            return float(match.group(1))
        if self.t.size < 2:
            return math.nan
        return float(1.0 / np.median(np.diff(self.t)))

    @property
    def duration_s(self) -> float:
        """Time from the first to the last sample."""
        return float(self.t[-1] - self.t[0]) if self.t.size else 0.0

    @property
    def up_vector(self) -> tuple[float, ...] | None:
        """Unit vector over ``acc_axes`` pointing up, from ``axes`` metadata such as "x=up"."""
        return self._direction_vector("up", "down")

    @property
    def forward_vector(self) -> tuple[float, ...] | None:
        """Unit vector over ``acc_axes`` pointing forward, from ``axes`` metadata "z=forward"."""
        return self._direction_vector("forward", "backward")

    def _direction_vector(self, direction: str, opposite: str) -> tuple[float, ...] | None:
        axes_text = self.metadata.get("axes", "").lower()
        pattern = rf"(?<![\w-])([+-]?)([xyz])\s*=\s*({direction}|{opposite})\b"
        match = re.search(pattern, axes_text)
        if match is None or match.group(2) not in self.acc_axes:
            return None
        sign = -1.0 if (match.group(1) == "-") != (match.group(3) == opposite) else 1.0
        return tuple(sign if axis == match.group(2) else 0.0 for axis in self.acc_axes)


@dataclass(frozen=True, slots=True)
class Truth:
    """Reference foot contacts: ``foot_off_s`` is NaN where the file gives no foot-off.

    ``sides`` is the ``# sides:`` metadata without its parenthesised note ("both",
    "sensor-side leg only"), or None.
    """

    foot_on_s: FloatArray
    foot_off_s: FloatArray
    sides: str | None


def _check_channels(name: str, values: FloatArray, axes: tuple[str, ...], n: int) -> None:
    if values.shape != (n, len(axes)):
        raise ConfigurationError(
            f"{name} must have shape ({n}, {len(axes)}) for axes {axes}, got {values.shape}"
        )
    if len(set(axes)) != len(axes) or not set(axes) <= set(AXES):
        raise ConfigurationError(f"{name} axes must be distinct names from {AXES}, got {axes}")
    if not np.all(np.isfinite(values)):
        raise ConfigurationError(f"{name} must be finite")


# ---------------------------------------------------------------------------------------------
# Reading


def read_trace(path: str | os.PathLike[str], *, strict: bool = False) -> Trace:
    """Read a trace CSV file.

    Unusable data rows are skipped with one `TraceFormatWarning` naming the first; with
    ``strict=True`` (or when more than half of the rows are unusable) they raise
    `TraceFormatError` instead, as does any problem with the file's structure. A row that
    repeats the previous one exactly (a logger artefact) is dropped without a warning.
    """
    source = os.fspath(path)
    raw = Path(path).read_bytes()
    preamble = _read_preamble(raw, source)
    if preamble.metadata.get("writer") == RECORDER_WRITER:
        raw = _without_cut_off_line(raw, source)
    acc_columns, gyro_columns = _trace_columns(source, preamble)
    rows = _parse_trace_body(raw, preamble, strict)
    _drop_rows_out_of_time(rows)
    _settle(source, preamble, rows, strict)
    values = rows.values
    return Trace(
        source=source,
        metadata=preamble.metadata,
        t=values[:, 0].copy(),
        acc=values[:, [index for _, index in acc_columns]],
        acc_axes=tuple(axis for axis, _ in acc_columns),
        gyro=values[:, [index for _, index in gyro_columns]],
        gyro_axes=tuple(axis for axis, _ in gyro_columns),
    )


def _without_cut_off_line(raw: bytes, source: str) -> bytes:
    """A recorder ends every line it writes: an unterminated last line was cut off mid-write
    (the process was killed), so its numbers may be incomplete. Drop it, and say so."""
    if raw.endswith(b"\n"):
        return raw
    complete = raw[: raw.rfind(b"\n") + 1]
    cut_line = complete.count(b"\n") + 1
    warnings.warn(
        f"{source}:{cut_line}: last line is cut off (the recording stopped mid-write); ignored it",
        TraceFormatWarning,
        stacklevel=3,
    )
    return complete


def read_truth(path: str | os.PathLike[str], *, strict: bool = False) -> Truth:
    """Read a ``*.truth.csv`` file of foot contacts; bad rows are handled as in `read_trace`."""
    source = os.fspath(path)
    raw = Path(path).read_bytes()
    preamble = _read_preamble(raw, source)
    if preamble.columns != TRUTH_COLUMNS:
        raise TraceFormatError(
            source, preamble.header_line, f"header must be {','.join(TRUTH_COLUMNS)!r}"
        )
    rows = _parse_truth_body(raw, preamble)
    _drop_rows_out_of_time(rows)
    _settle(source, preamble, rows, strict)
    return Truth(
        foot_on_s=rows.values[:, 0].copy(),
        foot_off_s=rows.values[:, 1].copy(),
        sides=_without_note(preamble.metadata.get("sides")),
    )


def _without_note(value: str | None) -> str | None:
    """'both (step times from a foot-worn counter)' -> 'both'."""
    if value is None:
        return None
    return re.sub(r"\s*\(.*$", "", value) or None


def truth_path_for(trace_path: str | os.PathLike[str]) -> Path | None:
    """The ground-truth file beside a trace ("x.csv" -> "x.truth.csv"), if it exists."""
    path = Path(trace_path)
    stem = path.name.removesuffix(".csv")
    candidate = path.with_name(f"{stem}.truth.csv")
    return candidate if candidate.is_file() else None


@dataclass(frozen=True, slots=True)
class _Preamble:
    metadata: dict[str, str]
    columns: tuple[str, ...]
    header_line: int
    body_start: int  # byte offset of the line after the header


class _BadRowError(Exception):
    """A data row that cannot be used; the message says why."""


@dataclass(slots=True)
class _Skipped:
    """How many rows were unusable, and the earliest one in the file."""

    count: int = 0
    first_line: int = 0
    first_problem: str = ""

    def add(self, line: int, problem: str, count: int = 1) -> None:
        if self.count == 0 or line < self.first_line:
            self.first_line, self.first_problem = line, problem
        self.count += count


@dataclass(slots=True)
class _Rows:
    """Parsed data rows with enough bookkeeping to name the file line of any of them."""

    values: FloatArray
    # (first row, its line number): rows from there on lie on consecutive lines.
    segments: list[tuple[int, int]]
    skipped: _Skipped
    line_count: int = 0  # lines read, data or not

    def line_of(self, row: int) -> int:
        index = bisect.bisect_right(self.segments, row, key=lambda segment: segment[0]) - 1
        first_row, first_line = self.segments[index]
        return first_line + row - first_row


def _read_preamble(raw: bytes, source: str) -> _Preamble:
    """Metadata lines up to the header row; blank lines are allowed among them."""
    if not raw.strip():
        raise TraceFormatError(source, 1, "empty file")
    metadata: dict[str, str] = {}
    position = len(_UTF8_BOM) if raw.startswith(_UTF8_BOM) else 0
    line = 0
    while position < len(raw):
        line += 1
        end = _line_end(raw, position)
        text = _decode(raw[position:end], source, line).strip()
        position = end + 1
        if text.startswith("#"):
            _add_metadata(metadata, text, source, line)
        elif text:
            columns = tuple(cell.strip() for cell in text.split(","))
            return _Preamble(metadata, columns, line, min(position, len(raw)))
    raise TraceFormatError(source, line, "no header row (only '#' lines)")


def _add_metadata(metadata: dict[str, str], text: str, source: str, line: int) -> None:
    key, colon, value = text[1:].partition(":")
    if not colon:
        return  # a plain comment
    key = key.strip().lower()
    metadata[key] = value.strip()
    if key == "cadence-trace" and metadata[key] != FORMAT_VERSION:
        problem = f"unsupported trace format version {metadata[key]!r} (expected {FORMAT_VERSION})"
        raise TraceFormatError(source, line, problem)


def _trace_columns(
    source: str, preamble: _Preamble
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(axis, column index) of the acceleration and of the angular-rate columns, x-y-z order."""
    columns, line = preamble.columns, preamble.header_line
    if columns[0] != TIME_COLUMN:
        if _is_number(columns[0]):
            raise TraceFormatError(source, line, "no header row: expected e.g. 't,ax,ay,az'")
        raise TraceFormatError(source, line, f"header must start with 't', not {columns[0]!r}")
    for index, name in enumerate(columns):
        if name not in _KNOWN_COLUMNS:
            known = ", ".join(_KNOWN_COLUMNS)
            raise TraceFormatError(source, line, f"unknown column {name!r} (known: {known})")
        if name in columns[:index]:
            raise TraceFormatError(source, line, f"duplicate column {name!r}")

    def present(prefix: str) -> list[tuple[str, int]]:
        return [(axis, columns.index(prefix + axis)) for axis in AXES if prefix + axis in columns]

    return present("a"), present("g")


def _parse_trace_body(raw: bytes, preamble: _Preamble, strict: bool) -> _Rows:
    """Parse the data rows, in one thread per piece of a large file (the scanner releases the
    GIL), and join the pieces in file order."""
    cuts = _piece_boundaries(raw, preamble.body_start)
    budget = _BadRowBudget(raw, preamble.body_start, strict)
    pieces = [(raw, preamble.columns, budget, *bounds) for bounds in itertools.pairwise(cuts)]
    if len(pieces) == 1:
        return _joined([_parse_piece(*pieces[0])], preamble.header_line + 1)
    with ThreadPoolExecutor(max_workers=len(pieces)) as pool:
        parsed = list(pool.map(_parse_piece, *zip(*pieces, strict=True)))
    return _joined(parsed, preamble.header_line + 1)


def _piece_boundaries(raw: bytes, body_start: int) -> list[int]:
    """Byte offsets that cut the body into about equal pieces at line starts."""
    body_size = len(raw) - body_start
    count = max(1, min(os.cpu_count() or 1, _MAX_PARSE_THREADS, body_size // _MIN_PIECE_BYTES))
    cuts = [body_start]
    for index in range(1, count):
        newline = raw.find(b"\n", body_start + body_size * index // count)
        if newline < 0 or newline + 1 >= len(raw):
            break
        if newline + 1 > cuts[-1]:
            cuts.append(newline + 1)
    return [*cuts, len(raw)]


@dataclass(slots=True)
class _BadRowBudget:
    """Shared by the threads reading one file, to stop them once the outcome is decided:
    the first bad row when strict, more bad rows than half the lines otherwise."""

    raw: bytes
    body_start: int
    strict: bool
    skipped: int = 0
    line_count: int | None = None

    def spend(self) -> bool:
        """Count one bad row; True when reading on cannot change the outcome."""
        self.skipped += 1  # a lost update between threads only delays stopping
        if self.line_count is None:
            self.line_count = self.raw.count(b"\n", self.body_start) + 1
        return self.strict or 2 * self.skipped > self.line_count


def _parse_piece(
    raw: bytes, columns: tuple[str, ...], budget: _BadRowBudget, start: int, end: int
) -> _Rows:
    """Rows of ``raw[start:end]``, with line numbers counted from 0 at ``start``.

    Runs of clean lines go through the compiled scanner; each line it stops at is re-read in
    Python to decide whether it is usable, blank, or bad (and why).
    """
    # Each row takes at least two bytes per column, so this bounds the row count without a pass.
    capacity = (end - start + 1) // (2 * len(columns)) + 1
    rows = _Rows(np.empty((capacity, len(columns))), [], _Skipped())
    buffer = np.frombuffer(raw, dtype=np.uint8)
    row, position, line = 0, start, 0
    while position < end:
        clean_end, position = _scan_clean_rows(buffer, position, end, rows.values, row)
        if clean_end > row:
            rows.segments.append((row, line))
            line += clean_end - row
            row = clean_end
        if position >= end:
            break
        line_end = _line_end(raw, position)
        try:
            cells = _parse_cells(raw[position:line_end], columns, unterminated=line_end == len(raw))
        except _BadRowError as bad:
            rows.skipped.add(line, str(bad))
            if budget.spend():
                break
        else:
            if cells is not None:
                rows.values[row] = cells
                rows.segments.append((row, line))
                row += 1
        line += 1
        position = line_end + 1
    rows.values = rows.values[:row]
    rows.line_count = line
    return rows


def _joined(pieces: list[_Rows], first_line: int) -> _Rows:
    """One `_Rows` in file line numbers from consecutive pieces numbered from line 0 each."""
    values = pieces[0].values if len(pieces) == 1 else np.concatenate([p.values for p in pieces])
    joined = _Rows(values, [], _Skipped())
    row_base, line_base = 0, first_line
    for piece in pieces:
        joined.segments += [(row + row_base, line + line_base) for row, line in piece.segments]
        if piece.skipped.count:
            first = piece.skipped.first_line + line_base
            joined.skipped.add(first, piece.skipped.first_problem, piece.skipped.count)
        row_base += len(piece.values)
        line_base += piece.line_count
    return joined


def _parse_truth_body(raw: bytes, preamble: _Preamble) -> _Rows:
    """Truth files are small: every line goes through the cell-by-cell parser."""
    lines = raw[preamble.body_start :].split(b"\n")
    rows = _Rows(np.empty((len(lines), 2)), [], _Skipped())
    row = 0
    for offset, text in enumerate(lines):
        line = preamble.header_line + 1 + offset
        try:
            cells = _parse_cells(
                text, TRUTH_COLUMNS, unterminated=offset == len(lines) - 1, optional=1
            )
            if cells is not None and cells[1] <= cells[0]:
                raise _BadRowError(f"foot-off ({cells[1]!r}) is not after foot-on ({cells[0]!r})")
        except _BadRowError as bad:
            rows.skipped.add(line, str(bad))
            continue
        if cells is not None:
            rows.values[row] = cells
            rows.segments.append((row, line))
            row += 1
    rows.values = rows.values[:row]
    return rows


def _parse_cells(
    text: bytes, columns: Sequence[str], *, unterminated: bool, optional: int | None = None
) -> list[float] | None:
    """Values of one data line, None for a blank line; raises `_BadRowError` saying what is wrong.

    ``optional`` is the index of a column that may be empty (NaN).
    """
    try:
        stripped = text.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _BadRowError("not UTF-8 text") from None
    if not stripped:
        return None
    cells = [cell.strip() for cell in stripped.split(",")]
    try:
        if len(cells) != len(columns):
            raise _BadRowError(f"{len(cells)} cells, expected {len(columns)}")
        return [
            math.nan if index == optional and not cell else _finite_cell(cell, columns[index])
            for index, cell in enumerate(cells)
        ]
    except _BadRowError as bad:
        if unterminated:
            raise _BadRowError(f"truncated last line ({bad})") from None
        raise


def _finite_cell(cell: str, column: str) -> float:
    if not cell:
        raise _BadRowError(f"empty cell in column {column!r}")
    try:
        value = float(cell)
    except ValueError:
        raise _BadRowError(f"not a number in column {column!r}: {cell!r}") from None
    if not math.isfinite(value):
        raise _BadRowError(f"{cell!r} in column {column!r} is not a finite number")
    return value


def _drop_rows_out_of_time(rows: _Rows) -> None:
    """Drop rows whose first column is not above every earlier kept row's (time must increase).

    A dropped row never raises the running maximum, so the maximum over all earlier rows equals
    the maximum over the kept ones and the test is vectorised.
    """
    t = rows.values[:, 0]
    if t.size < 2 or np.all(t[1:] > t[:-1]):
        return
    _drop_repeated_samples(rows)
    t = rows.values[:, 0]
    latest_before = np.maximum.accumulate(t)[:-1]
    out_of_time = np.concatenate(([False], t[1:] <= latest_before))
    if not out_of_time.any():
        return  # only exact repeats, now gone
    first = int(np.argmax(out_of_time))
    value, latest = t[first], latest_before[first - 1]
    problem = (
        f"time repeats ({float(value)!r})"
        if value == latest
        else f"time goes backwards ({float(value)!r} after {float(latest)!r})"
    )
    rows.skipped.add(rows.line_of(first), problem, count=int(out_of_time.sum()))
    rows.values = rows.values[~out_of_time]


def _drop_repeated_samples(rows: _Rows) -> None:
    """Drop rows that repeat the previous row exactly: loggers do that, and nothing is lost."""
    repeats = np.concatenate(([False], np.all(rows.values[1:] == rows.values[:-1], axis=1)))
    if np.any(repeats):
        kept = np.flatnonzero(~repeats)
        segment_starts = [row for row, _ in rows.segments]
        # A kept row starts a segment where it did before or where it follows a dropped row.
        starts = np.flatnonzero((np.diff(kept, prepend=-2) != 1) | np.isin(kept, segment_starts))
        rows.segments = [(int(new), rows.line_of(int(kept[new]))) for new in starts]
        rows.values = rows.values[kept]


def _settle(source: str, preamble: _Preamble, rows: _Rows, strict: bool) -> None:
    """Raise for no data or too many bad rows (or any, if strict); otherwise warn once."""
    skipped, kept = rows.skipped, len(rows.values)
    if skipped.count == 0:
        if kept == 0:
            raise TraceFormatError(source, preamble.header_line, NO_DATA_ROWS)
        return
    if strict:
        raise TraceFormatError(source, skipped.first_line, skipped.first_problem)
    if skipped.count > kept:
        problem = f"more than half of the data rows are unusable; first: {skipped.first_problem}"
        raise TraceFormatError(source, skipped.first_line, problem)
    plural = "" if skipped.count == 1 else "s"
    warnings.warn(
        f"{source}: skipped {skipped.count} unusable row{plural}; "
        f"first at line {skipped.first_line}: {skipped.first_problem}",
        TraceFormatWarning,
        stacklevel=3,
    )


def _line_end(raw: bytes, position: int) -> int:
    end = raw.find(b"\n", position)
    return len(raw) if end < 0 else end


def _decode(line: bytes, source: str, line_number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceFormatError(source, line_number, "not UTF-8 text") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# The compiled scanner for clean lines

# Powers of ten that a float64 holds exactly: m * 10**e and m / 10**e are then correctly
# rounded for an integer mantissa m < 2**53, i.e. exactly what float() of the text gives.
_EXACT_POWERS_OF_TEN = np.array([10.0**exponent for exponent in range(23)])
_MAX_EXACT_MANTISSA = 2**53
_SPACE, _COMMA, _MINUS, _PLUS, _DOT = 32, 44, 45, 43, 46
_ZERO, _NINE, _LOWER_E, _UPPER_E, _CR, _LF = 48, 57, 101, 69, 13, 10


def _scan_clean_rows_py(
    buffer: npt.NDArray[np.uint8], position: int, size: int, out: FloatArray, row: int
) -> tuple[int, int]:
    """Parse lines of exactly ``out.shape[1]`` plain decimal numbers from ``buffer[:size]``
    into ``out[row:]``.

    Stops at the first line that is anything else (blank, short, 'nan', too many digits ...)
    and returns (rows filled so far, byte offset of that line), or ``size``.
    """
    n_columns = out.shape[1]
    while position < size and row < out.shape[0]:
        line_start = position
        ok = True
        for column in range(n_columns):
            while position < size and buffer[position] == _SPACE:
                position += 1
            negative = False
            if position < size and (buffer[position] == _MINUS or buffer[position] == _PLUS):
                negative = buffer[position] == _MINUS
                position += 1
            mantissa = 0
            digits = 0
            exponent = 0
            seen_dot = False
            while position < size:
                byte = buffer[position]
                if _ZERO <= byte <= _NINE:
                    mantissa = mantissa * 10 + (byte - _ZERO)
                    digits += 1
                    exponent -= 1 if seen_dot else 0
                    if mantissa > _MAX_EXACT_MANTISSA:
                        break  # before int64 overflows; float() will read this line
                elif byte == _DOT and not seen_dot:
                    seen_dot = True
                else:
                    break
                position += 1
            if digits == 0 or mantissa > _MAX_EXACT_MANTISSA:
                ok = False
                break
            if position < size and (buffer[position] == _LOWER_E or buffer[position] == _UPPER_E):
                position += 1
                exponent_negative = False
                if position < size and (buffer[position] == _MINUS or buffer[position] == _PLUS):
                    exponent_negative = buffer[position] == _MINUS
                    position += 1
                written = 0
                exponent_digits = 0
                while position < size and _ZERO <= buffer[position] <= _NINE and written < 4:
                    written = written * 10 + (buffer[position] - _ZERO)
                    exponent_digits += 1
                    position += 1
                if exponent_digits == 0 or exponent_digits == 4:
                    ok = False
                    break
                exponent += -written if exponent_negative else written
            if exponent > 22 or exponent < -22:
                ok = False
                break
            if exponent >= 0:
                value = mantissa * _EXACT_POWERS_OF_TEN[exponent]
            else:
                value = mantissa / _EXACT_POWERS_OF_TEN[-exponent]
            out[row, column] = -value if negative else value
            while position < size and buffer[position] == _SPACE:
                position += 1
            if column < n_columns - 1:
                if position < size and buffer[position] == _COMMA:
                    position += 1
                else:
                    ok = False
                    break
        if ok and position < size and buffer[position] == _CR:
            position += 1
        if ok and position < size:
            ok = buffer[position] == _LF
            position += 1
        if not ok:
            return row, line_start
        row += 1
    return row, position


_scan_clean_rows_compiled = numba.njit(cache=True, nogil=True)(_scan_clean_rows_py)


def _scan_clean_rows(
    buffer: npt.NDArray[np.uint8], position: int, end: int, out: FloatArray, row: int
) -> tuple[int, int]:
    rows_filled, stop = _scan_clean_rows_compiled(buffer, position, end, out, row)
    return int(rows_filled), int(stop)


# ---------------------------------------------------------------------------------------------
# Writing


def write_trace(path: str | os.PathLike[str], trace: Trace) -> None:
    """Write ``trace`` as trace CSV version 1: t with 6 decimals, values with 5.

    `read_trace` gives back the values as printed; raises `ConfigurationError` for metadata or
    times that the format cannot hold.
    """
    t_rounded = np.round(trace.t, 6)
    if np.any(np.diff(t_rounded) <= 0):
        raise ConfigurationError("sample times closer than 1 µs cannot be written with 6 decimals")
    columns = [TIME_COLUMN, *(f"a{a}" for a in trace.acc_axes), *(f"g{a}" for a in trace.gyro_axes)]
    values = np.column_stack([trace.t, trace.acc, trace.gyro])
    # One %-format call per block of rows formats ~2x faster than np.savetxt's call per row.
    row_format = ",".join(["%.6f"] + ["%.5f"] * (len(columns) - 1)) + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as file:
        file.write(_metadata_text(trace.metadata))
        file.write(",".join(columns) + "\n")
        for start in range(0, len(values), _WRITE_BLOCK_ROWS):
            block = values[start : start + _WRITE_BLOCK_ROWS]
            file.write((row_format * len(block)) % tuple(block.ravel().tolist()))


def _metadata_text(metadata: dict[str, str]) -> str:
    lines = [f"# cadence-trace: {FORMAT_VERSION}\n"]
    for key, value in metadata.items():
        name = key.strip().lower()
        if name == "cadence-trace":
            continue
        if not name or ":" in name or "\n" in name + value:
            raise ConfigurationError(f"metadata {key!r}: {value!r} cannot be written as '# k: v'")
        lines.append(f"# {name}: {value.strip()}\n")
    return "".join(lines)
