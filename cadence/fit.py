"""Read FIT activity files from watches and footpods as :class:`~cadence.events.SummaryRecord`s.

A FIT file's ``record`` messages (usually one per second, every few seconds with "smart
recording") become the same summary stream a live footpod gives, so a recorded run goes through
the same metrics and alert rules: ``cadence analyze run.fit``.

Library: Garmin's own ``garmin-fit-sdk``. Garmin maintains it alongside the FIT profile (it is
generated from the profile, so new fields and devices arrive with each profile release); it
applies the profile's scales and offsets, expands components (``enhanced_speed`` from ``speed``),
checks the file CRC and decodes developer fields with their ``field_description`` names and units,
and it returns the messages it decoded before a failure together with the error, which is what
keeping the records before the damage needs. The SDK's licence is Garmin's FIT Protocol License
Agreement (royalty-free, not an open-source licence); the project only depends on it and ships
none of its code.

Compressed-timestamp headers (old Forerunners such as the FR70 with a footpod write every record
with one) are read with ``fitdecode`` (MIT): garmin-fit-sdk 21.x stops at the first one. When the
SDK stops at such a header, the whole file is decoded again with fitdecode and its messages are
mapped to the SDK's form (:func:`_decode_with_fitdecode`: fields by profile name, ``date_time``
as UTC datetimes, developer values keyed by their ``field_description``), so everything after
decoding (sports, cadence conversion, gaps, developer fields, damage) is the same code; on every
file the SDK reads, both paths give equal activities (tests/test_fit.py). Why not the others:
rewriting compressed headers into normal ones before the SDK sees them means parsing every
definition to know message sizes, adding a timestamp field to each affected definition (a new
local message type or a redefinition wherever normal and compressed headers share one),
recomputing the CRC and mapping byte offsets back for damage reports: a second FIT parser, in
effect. Using fitdecode for every file would need the same mapping and would not be simpler, but
it would put every file on a single-maintainer library whose profile trails Garmin's (fitdecode
0.11 carries profile 21.171, the SDK 21.218); as a fallback it serves only the files the SDK
cannot read. fitdecode also expands ``compressed_speed_distance`` (3 bytes: 12 bits of speed in
1/100 m/s, 12 bits of distance in 1/16 m rolling over every 256 m) into ``speed`` and an
accumulated ``distance``, so those need no decoding here (the tests decode the raw bytes).

Units and conventions (checked on the bundled files, ``cadence/data/fit``):

- ``cadence`` in a running or walking record is strides per minute (the profile's "rpm", one
  foot): the fenix 5 walk reads 61 and its run 89, i.e. 122 and 178 steps/min. It is doubled,
  with ``fractional_cadence`` (1/128 stride/min) added first. Records of a known non-foot sport
  (cycling, swimming, transition, ...) get no cadence: their "rpm" are crank turns or strokes.
  When the sport is unknown (a truncated file lost its session message) the cadence is taken as
  strides, since foot devices are what this project reads.
- ``enhanced_speed`` (else ``speed``) in m/s; ``distance`` in m; ``stance_time`` in ms;
  ``vertical_oscillation`` in mm (profile scale 10, units mm: 80-110 mm on the runs here);
  ``step_length`` in mm (one step: 995 mm at 178 spm and 2.99 m/s on the fenix 5 run) → m.
  A stance time, vertical oscillation or step length of 0 means "no reading" (Stryd writes 0
  while standing) and becomes ``None``.
- Developer fields are matched by their ``field_description`` name and converted by their
  declared units (:data:`DEVELOPER_FALLBACKS`); they are used only where the standard field is
  missing. The Stryd files here carry ``Form Power`` and ``Air Power`` (Watts), ``Leg Spring
  Stiffness`` (KN/m), ``Speed`` (M/S) and ``Distance`` (Meters); Stryd writes its pace, cadence,
  ground time and vertical oscillation to the standard fields. All developer fields are kept in
  :attr:`FitActivity.developer`. A Stryd developer cadence is not used: its unit (strides or
  steps) is not declared in a way that can be checked.
- ``running`` comes from the session covering the record, else the file's single sport, else
  the record's own ``activity_type`` (the fenix 5 marks walking seconds "running" whenever it
  has running dynamics, so the session wins); walking and hiking are ``False``.
- Times are the file's ``date_time`` values counted from the FIT epoch (1989-12-31 UTC), as the
  SDK does. The FR70 writes the device's system time (values below 0x10000000, seconds since an
  arbitrary point), so its ``start_time`` is in 1990; the ``t_s`` between records are right.
"""

from __future__ import annotations

import io
import re
import warnings
from bisect import bisect_left
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, Self

from garmin_fit_sdk import CrcCalculator, Decoder, Stream

from cadence.errors import FitFormatError, TraceFormatWarning
from cadence.events import SourceEvent, SourceInfo, StreamGap, SummaryRecord

# Longer than this between two records without a timer stop is a hole in the recording. Smart
# recording writes a record every 1-9 s while running, so this sits above that.
MAX_RECORD_INTERVAL_S = 10.0

# Sports whose record cadence counts strides: True for running, False for walking-like.
FOOT_SPORTS: Mapping[str, bool] = {"running": True, "walking": False, "hiking": False}
# Values of ``sport``/``activity_type`` that say nothing about the activity.
UNKNOWN_SPORTS = frozenset({"generic", "all", "invalid"})

# Developer field name → (summary field, {units in lower case: factor to the summary unit}).
DEVELOPER_FALLBACKS: Mapping[str, tuple[str, Mapping[str, float]]] = {
    "speed": ("speed_mps", {"m/s": 1.0}),
    "distance": ("distance_m", {"meters": 1.0, "m": 1.0}),
    "ground time": ("gct_ms", {"milliseconds": 1.0, "ms": 1.0}),
    "vertical oscillation": (
        "vertical_oscillation_mm",
        {"millimeters": 1.0, "mm": 1.0, "centimeters": 10.0, "cm": 10.0},
    ),
}

_TIMER_STOPS = frozenset({"stop", "stop_all", "stop_disable", "stop_disable_all"})
_HEADER_SIZES = (12, 14)
_COMPRESSED_TIMESTAMP_HEADER = 0x80
_CRC_PROBLEM = "file CRC does not match: some bytes are corrupt, values read may be wrong"
# FIT date_time 0 is 1989-12-31T00:00:00Z.
_FIT_EPOCH_S = 631065600
_SDK_PREFIX = re.compile(r"^FIT Runtime Error( at byte: \d+)?\s*")


@dataclass(frozen=True, slots=True)
class DeveloperField:
    """One developer field over the activity: a value (or ``None``) per kept record."""

    name: str
    units: str | None
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class FitActivity:
    """What a FIT file holds for the pipeline.

    ``start_time`` is the time of the first record (``t_s == 0``). ``sport`` is the sessions'
    sport, ``"multisport"`` when they differ. ``fields`` names the :class:`SummaryRecord` fields
    that at least one record has. ``damage`` is ``None`` when the file read completely, else
    names the file, the byte offset where the damage starts and the problem; the records before
    it are kept. ``gaps`` are timer pauses (``"pause"``) and holes longer than
    ``MAX_RECORD_INTERVAL_S`` (``"no records"``), in stream seconds.
    """

    source: str
    sport: str | None
    sub_sport: str | None
    device: str | None
    start_time: datetime | None
    records: tuple[SummaryRecord, ...]
    gaps: tuple[StreamGap, ...]
    damage: str | None
    fields: frozenset[str]
    developer: tuple[DeveloperField, ...] = ()


def read_fit(
    path: str | Path, *, max_record_interval_s: float = MAX_RECORD_INTERVAL_S
) -> FitActivity:
    """Read a FIT activity file; see the module docstring for units and conventions.

    Raises :class:`FitFormatError` when nothing usable can be read (not a FIT file, damaged
    header, no records). Damage after some records, and skipped records (timestamps that do not
    advance), give one :class:`TraceFormatWarning` and the records read so far.
    """
    path = Path(path)
    messages, damage = _decode(path)
    return _activity(path, messages, damage, max_record_interval_s)


def _activity(
    path: Path,
    messages: Mapping[str, Any],
    damage: tuple[int, str] | None,
    max_record_interval_s: float,
) -> FitActivity:
    """The activity in decoded messages, whichever library decoded them."""
    kinds = _SportTable(messages)
    descriptions = _developer_descriptions(messages.get("field_description_mesgs", []))
    conversions = _developer_conversions(descriptions)
    timed = [
        (raw["timestamp"], raw)
        for raw in messages.get("record_mesgs", [])
        if isinstance(raw.get("timestamp"), datetime)
    ]
    kept = [timed[i] for i in _increasing([timestamp for timestamp, _ in timed])]
    skipped = len(messages.get("record_mesgs", [])) - len(kept)
    if not kept:
        problem = damage[1] if damage else "no record messages with a timestamp"
        raise FitFormatError(path, damage[0] if damage else None, problem)

    start = kept[0][0]
    records: list[SummaryRecord] = []
    developer: dict[int, list[float | None]] = {key: [] for key in descriptions}
    for timestamp, raw in kept:
        dev = _developer_values(raw.get("developer_fields"))
        fallback = {
            target: dev[key] * factor for key, (target, factor) in conversions.items() if key in dev
        }
        t_s = (timestamp - start).total_seconds()
        records.append(_summary(raw, t_s, kinds.at(timestamp), fallback))
        for key, series in developer.items():
            series.append(dev.get(key))

    damage_text = None
    if damage is not None:
        offset, problem = damage
        damage_text = str(FitFormatError(path, offset, problem))
    notes = [damage_text] if damage_text else []
    if skipped:
        notes.append(f"{path}: skipped {skipped} records with a repeated or out-of-order time")
    if notes:
        warnings.warn(
            "; ".join(notes) + f"; kept {len(records)} records", TraceFormatWarning, stacklevel=3
        )

    pauses = [(t - start).total_seconds() for t in _timer_stops(messages)]
    return FitActivity(
        source=str(path),
        sport=kinds.file_sport,
        sub_sport=kinds.file_sub_sport,
        device=_device(messages.get("file_id_mesgs", [])),
        start_time=start,
        records=tuple(records),
        gaps=tuple(_find_gaps(records, pauses, max_record_interval_s)),
        damage=damage_text,
        fields=frozenset(
            name
            for name in SummaryRecord.__dataclass_fields__
            if name != "t_s" and any(getattr(r, name) is not None for r in records)
        ),
        developer=tuple(
            DeveloperField(name, units, tuple(developer[key]))
            for key, (name, units) in descriptions.items()
        ),
    )


class FitSource:
    """A FIT file as a :class:`~cadence.source.Source`: its gaps and records in time order.

    The file is read on enter (or an already read :class:`FitActivity` is given); iterating
    yields as fast as the consumer takes (no pacing).
    """

    def __init__(
        self,
        path_or_activity: str | Path | FitActivity,
        *,
        max_record_interval_s: float = MAX_RECORD_INTERVAL_S,
    ) -> None:
        self._given: FitActivity | None = None
        if isinstance(path_or_activity, FitActivity):
            self._given = path_or_activity
            path_or_activity = path_or_activity.source
        self.path = Path(path_or_activity)
        self.max_record_interval_s = max_record_interval_s
        self._info = SourceInfo(name=self.path.name, kind="footpod")
        self.activity: FitActivity | None = None

    @property
    def info(self) -> SourceInfo:
        return self._info

    async def __aenter__(self) -> Self:
        self.activity = self._given or read_fit(
            self.path, max_record_interval_s=self.max_record_interval_s
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.activity = None

    def __aiter__(self) -> AsyncIterator[SourceEvent]:
        if self.activity is None:
            raise RuntimeError("FitSource must be entered (async with) before iterating")
        return _events(self.activity)


async def _events(activity: FitActivity) -> AsyncIterator[SourceEvent]:
    gaps = iter(activity.gaps)
    gap = next(gaps, None)
    for record in activity.records:
        # A gap ends at the first record after it.
        while gap is not None and gap.end_s <= record.t_s:
            yield gap
            gap = next(gaps, None)
        yield record


def _decode(path: Path) -> tuple[dict[str, Any], tuple[int, str] | None]:
    """The file's messages by ``<name>_mesgs`` and, if decoding stopped early, (byte, problem)."""
    try:
        data = path.read_bytes()
    except OSError as os_error:
        raise FitFormatError(path, None, f"cannot read the file: {os_error.strerror}") from os_error
    header_size, data_size = _check_header(path, data)
    decoded = _decode_with_sdk(data, header_size, data_size)
    if decoded is None:  # a compressed-timestamp header: see the module docstring
        decoded = _decode_with_fitdecode(data, header_size, data_size)
    return decoded


def _decode_with_sdk(
    data: bytes, header_size: int, data_size: int
) -> tuple[dict[str, Any], tuple[int, str] | None] | None:
    """garmin-fit-sdk's messages, or ``None`` if it stopped at a compressed-timestamp header."""
    stream = Stream.from_byte_array(bytearray(data))
    decoded_to = header_size  # end of the last complete message

    def mark(*_: object) -> None:
        nonlocal decoded_to
        decoded_to = stream.position()

    messages, errors = Decoder(stream).read(
        merge_heart_rates=False, mesg_listener=mark, mesg_definition_listener=mark
    )
    if not errors:
        return dict(messages), None
    error = errors[0]
    if "CRC Error" in str(error):
        problem = _CRC_PROBLEM
    elif isinstance(error, IndexError) or stream.position() >= len(data):
        problem = _truncated(data, header_size, data_size)
    elif data[decoded_to] & _COMPRESSED_TIMESTAMP_HEADER:
        return None
    else:
        problem = f"undecodable data: {_SDK_PREFIX.sub('', str(error))}"
    return dict(messages), (decoded_to, problem)


def _decode_with_fitdecode(
    data: bytes, header_size: int, data_size: int
) -> tuple[dict[str, Any], tuple[int, str] | None]:
    """fitdecode's messages in garmin-fit-sdk's form: the fields :func:`read_fit` uses.

    Each message is a dict of its non-``None`` fields by profile name (the same names both
    libraries generate from the FIT profile); ``date_time`` fields become UTC datetimes as the SDK
    makes them (system times below 0x10000000 included); developer values go under
    ``developer_fields``, keyed by the index of their ``field_description`` message.
    """
    import fitdecode  # type: ignore[import-untyped]  # only for files the SDK cannot read

    messages: dict[str, list[dict[str, Any]]] = {}
    developer_keys: dict[tuple[object, object], int] = {}
    decoded_to = header_size
    reader = fitdecode.FitReader(
        io.BytesIO(data),
        check_crc=fitdecode.CrcCheck.RAISE,
        error_handling=fitdecode.ErrorHandling.RAISE,
        keep_raw_chunks=True,
    )
    try:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage):
                message, developer = _fitdecode_fields(frame.fields, developer_keys)
                kind = messages.setdefault(f"{frame.name}_mesgs", [])
                if frame.name == "field_description":
                    field_key = (
                        message.get("developer_data_index"),
                        message.get("field_definition_number"),
                    )
                    developer_keys[field_key] = len(kind)
                if developer:
                    message["developer_fields"] = developer
                kind.append(message)
            if frame.chunk is not None:
                decoded_to = frame.chunk.offset + len(frame.chunk.bytes)
    except fitdecode.FitCRCError:
        return messages, (decoded_to, _CRC_PROBLEM)
    except fitdecode.FitEOFError:
        return messages, (decoded_to, _truncated(data, header_size, data_size))
    except fitdecode.FitError as error:
        return messages, (decoded_to, f"undecodable data: {error}")
    finally:
        reader.close()
    return messages, None


def _fitdecode_fields(
    fields: Sequence[Any], developer_keys: Mapping[tuple[object, object], int]
) -> tuple[dict[str, Any], dict[int, Any]]:
    """One fitdecode message's (standard fields by name, developer values by key)."""
    standard: dict[str, Any] = {}
    developer: dict[int, Any] = {}
    for field in fields:
        value = field.value
        if value is None:
            continue
        definition = field.field_def
        if definition is not None and definition.is_dev:
            key = developer_keys.get((definition.dev_data_index, definition.def_num))
            if key is not None:
                developer[key] = value
            continue
        if field.field is not None and field.field.type.name == "date_time" and type(value) is int:
            value = datetime.fromtimestamp(_FIT_EPOCH_S + value, UTC)
        standard[field.name] = value
    return standard, developer


def _truncated(data: bytes, header_size: int, data_size: int) -> str:
    declared_end = header_size + data_size + 2
    declared = f" of the {declared_end} its header declares" if len(data) < declared_end else ""
    return f"truncated: the file has {len(data)} bytes{declared}, this message is cut off"


def _check_header(path: Path, data: bytes) -> tuple[int, int]:
    """(header size, data size) of the first file header, or FitFormatError."""
    if not data:
        raise FitFormatError(path, 0, "empty file")
    if data[0] not in _HEADER_SIZES or data[8:12] != b".FIT":
        raise FitFormatError(path, 0, "not a FIT file (no FIT file header with '.FIT')")
    header_size = data[0]
    if len(data) < header_size + 2:
        raise FitFormatError(path, len(data), "truncated: the file ends before its first message")
    if header_size == 14:
        stored = int.from_bytes(data[12:14], "little")
        if stored not in (0, CrcCalculator.calculate_crc(data, 0, 12)):
            raise FitFormatError(path, 12, "file header damaged: its CRC does not match")
    return header_size, int.from_bytes(data[4:8], "little")


class _SportTable:
    """Which sport each moment of the file belongs to, from its sessions and sport messages."""

    def __init__(self, messages: Mapping[str, Any]) -> None:
        self._sessions: list[tuple[datetime, float, str | None]] = []
        sports: list[tuple[str | None, str | None]] = []
        for session in messages.get("session_mesgs", []):
            sport = _sport_name(session.get("sport"))
            start = session.get("start_time")
            elapsed = session.get("total_elapsed_time")
            if isinstance(start, datetime) and isinstance(elapsed, float | int):
                self._sessions.append((start, float(elapsed), sport))
            sports.append((sport, _sport_name(session.get("sub_sport"))))
        if not sports:
            for message in messages.get("sport_mesgs", []):
                sports.append(
                    (_sport_name(message.get("sport")), _sport_name(message.get("sub_sport")))
                )
        distinct = dict.fromkeys(sports)
        self.file_sport: str | None = None
        self.file_sub_sport: str | None = None
        if len(distinct) == 1:
            self.file_sport, self.file_sub_sport = sports[0]
        elif len({sport for sport, _ in distinct}) > 1:
            self.file_sport = "multisport"

    def at(self, timestamp: datetime) -> str | None:
        for start, elapsed_s, sport in self._sessions:
            if 0.0 <= (timestamp - start).total_seconds() <= elapsed_s:
                return sport
        return None if self.file_sport == "multisport" else self.file_sport


def _sport_name(value: object) -> str | None:
    if isinstance(value, str) and value not in UNKNOWN_SPORTS:
        return value
    return None


def _summary(
    raw: Mapping[str, Any], t_s: float, session_sport: str | None, fallback: Mapping[str, float]
) -> SummaryRecord:
    """One record; ``fallback`` holds developer values by summary field, in its units."""
    # The session's sport wins: the fenix 5 flags walking seconds with running dynamics "running".
    sport = session_sport or _sport_name(raw.get("activity_type"))
    foot = sport is None or sport in FOOT_SPORTS
    cadence = _number(raw.get("cadence"))
    if cadence is not None:
        cadence = 2.0 * (cadence + (_number(raw.get("fractional_cadence")) or 0.0))
    step_length_mm = _positive(raw.get("step_length"))
    return SummaryRecord(
        t_s=t_s,
        speed_mps=_first(raw.get("enhanced_speed"), raw.get("speed"), fallback.get("speed_mps")),
        cadence_spm=cadence if foot else None,
        step_length_m=step_length_mm / 1000.0 if step_length_mm is not None else None,
        distance_m=_first(raw.get("distance"), fallback.get("distance_m")),
        gct_ms=_positive(raw.get("stance_time")) or _positive(fallback.get("gct_ms")),
        vertical_oscillation_mm=(
            _positive(raw.get("vertical_oscillation"))
            or _positive(fallback.get("vertical_oscillation_mm"))
        ),
        running=FOOT_SPORTS.get(sport) if sport is not None else None,
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _positive(value: object) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _first(*values: object) -> float | None:
    for value in values:
        number = _number(value)
        if number is not None:
            return number
    return None


def _developer_descriptions(
    descriptions: Sequence[Mapping[str, Any]],
) -> dict[int, tuple[str, str | None]]:
    """Developer field key (the SDK's index into the descriptions) → (name, units)."""
    out: dict[int, tuple[str, str | None]] = {}
    for key, description in enumerate(descriptions):
        name, units = description.get("field_name"), description.get("units")
        if isinstance(name, str):
            out[key] = (name, units if isinstance(units, str) else None)
    return out


def _developer_conversions(
    descriptions: Mapping[int, tuple[str, str | None]],
) -> dict[int, tuple[str, float]]:
    """Developer field key → (summary field, factor) for the fields a summary may fall back on."""
    out: dict[int, tuple[str, float]] = {}
    for key, (name, units) in descriptions.items():
        target, factors = DEVELOPER_FALLBACKS.get(name.lower(), ("", {}))
        factor = factors.get((units or "").lower())
        if factor is not None:
            out[key] = (target, factor)
    return out


def _developer_values(values: object) -> dict[int, float]:
    """A record's scalar developer values by key (arrays and strings are left out)."""
    if not isinstance(values, dict):
        return {}
    out: dict[int, float] = {}
    for key, value in values.items():
        number = _number(value)
        if isinstance(key, int) and number is not None:
            out[key] = number
    return out


def _timer_stops(messages: Mapping[str, Any]) -> list[datetime]:
    return [
        event["timestamp"]
        for event in messages.get("event_mesgs", [])
        if event.get("event") == "timer"
        and event.get("event_type") in _TIMER_STOPS
        and isinstance(event.get("timestamp"), datetime)
    ]


def _increasing(times: Sequence[datetime]) -> list[int]:
    """Indices of a longest strictly increasing run of times: the fewest records skipped.

    A repeated second, a record from the past, or one corrupt timestamp far in the future each
    cost one record, never the records after them.
    """
    tails: list[datetime] = []
    tail_index: list[int] = []
    previous: list[int] = []
    for i, time in enumerate(times):
        k = bisect_left(tails, time)
        if k == len(tails):
            tails.append(time)
            tail_index.append(i)
        else:
            tails[k] = time
            tail_index[k] = i
        previous.append(tail_index[k - 1] if k else -1)
    chain: list[int] = []
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        chain.append(i)
        i = previous[i]
    return chain[::-1]


def _find_gaps(
    records: Sequence[SummaryRecord], stops_s: Sequence[float], max_record_interval_s: float
) -> list[StreamGap]:
    gaps: list[StreamGap] = []
    for before, after in pairwise(records):
        if any(before.t_s <= stop < after.t_s for stop in stops_s):
            gaps.append(StreamGap(before.t_s, after.t_s, "pause"))
        elif after.t_s - before.t_s > max_record_interval_s:
            gaps.append(StreamGap(before.t_s, after.t_s, "no records"))
    return gaps


def _device(file_ids: Sequence[Mapping[str, Any]]) -> str | None:
    if not file_ids:
        return None
    file_id = file_ids[0]
    manufacturer = file_id.get("manufacturer")
    product = file_id.get("product_name") or file_id.get("garmin_product") or file_id.get("product")
    parts = [str(part) for part in (manufacturer, product) if part is not None]
    return " ".join(parts) or None
