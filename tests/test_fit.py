"""FIT import on the bundled FIT files, checked against fitdecode as an independent reader.

fitdecode decodes the same files with its own parser; the tests use it for the raw strides/min
values (to prove the x2 conversion), the record timestamps, and the byte offset where each message
ends (to know exactly which records a truncated copy still holds). cadence.fit itself falls back
on fitdecode for compressed-timestamp files; that path is checked against garmin-fit-sdk on every
file the SDK reads, and its speed and distance against the raw compressed bytes decoded here.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import fitdecode  # type: ignore[import-untyped]
import pytest
from garmin_fit_sdk import Encoder, Profile

from cadence.errors import CadenceError, FitFormatError, TraceFormatWarning
from cadence.events import StreamGap, SummaryRecord
from cadence.fit import (
    MAX_RECORD_INTERVAL_S,
    FitActivity,
    FitSource,
    _activity,
    _check_header,
    _decode_with_fitdecode,
    read_fit,
)
from cadence.source import Source

FIT_DIR = Path(__file__).resolve().parent.parent / "cadence" / "data" / "fit"
STRYD = ["wmf-stryd-backgaden-1km.fit", "wmf-stryd-sport-field.fit"]
# A Forerunner 70 with a footpod: compressed-timestamp record headers, compressed speed/distance.
COMPRESSED = "compressed-speed-distance.fit"
# File → (sport whose records are checked, median steps/min range for it).
CADENCE_FILES = {
    **{name: ("running", (140.0, 200.0)) for name in STRYD},
    "garmin-fenix-5-run.fit": ("running", (140.0, 200.0)),
    "sample_mulitple_header.fit": ("running", (140.0, 200.0)),
    "garmin-fenix-5-walk.fit": ("walking", (90.0, 130.0)),
    COMPRESSED: ("running", (140.0, 200.0)),
}
# FIT date_time 0; values below 0x10000000 are the device's system time (the FR70 writes those),
# which fitdecode leaves as seconds and garmin-fit-sdk counts from here like any other.
FIT_EPOCH = datetime(1989, 12, 31, tzinfo=UTC)
RUNNING_FLAG = {"running": True, "walking": False}


@dataclass(frozen=True)
class RawRecord:
    """A record as fitdecode reads it: the raw strides/min and where its bytes end."""

    timestamp: datetime
    strides_per_min: float | None
    end_byte: int


@dataclass(frozen=True)
class RawFile:
    records: list[RawRecord]
    message_ends: list[int]  # end offset of every header, definition and data message
    first_compressed_record: int | None


def read_raw(path: Path) -> RawFile:
    records: list[RawRecord] = []
    ends: list[int] = []
    compressed: int | None = None
    with fitdecode.FitReader(str(path), keep_raw_chunks=True) as reader:
        for frame in reader:
            if frame.chunk is None:
                continue
            end = frame.chunk.offset + len(frame.chunk.bytes)
            ends.append(end)
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "record":
                if compressed is None and frame.time_offset is not None:
                    compressed = frame.chunk.offset
                cadence = _value(frame, "cadence")
                fraction = _value(frame, "fractional_cadence") or 0.0
                strides = None if cadence is None else cadence + fraction
                timestamp = _value(frame, "timestamp")
                if isinstance(timestamp, int):
                    timestamp = FIT_EPOCH + timedelta(seconds=timestamp)
                records.append(RawRecord(timestamp, strides, end))
    return RawFile(records, ends, compressed)


def _value(frame: Any, name: str) -> Any:
    return frame.get_value(name) if frame.has_field(name) else None


def bundled(name: str) -> Path:
    return FIT_DIR / name


def moving(records: tuple[SummaryRecord, ...]) -> list[SummaryRecord]:
    return [r for r in records if r.cadence_spm]


def without_running(records: tuple[SummaryRecord, ...]) -> list[SummaryRecord]:
    return [replace(r, running=None) for r in records]


# --- the bundled files ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CADENCE_FILES))
def test_cadence_is_steps_per_minute(name: str) -> None:
    sport, (low, high) = CADENCE_FILES[name]
    activity = read_fit(bundled(name))
    raw = read_raw(bundled(name))
    assert activity.damage is None
    assert len(activity.records) == len(raw.records) > 0
    assert activity.start_time == raw.records[0].timestamp

    flagged = [r for r in activity.records if r.running is RUNNING_FLAG[sport]]
    median = statistics.median(r.cadence_spm for r in moving(tuple(flagged)) if r.cadence_spm)
    assert low <= median <= high

    # Every step rate is twice the strides/min fitdecode reads for the same second.
    raw_by_time = {r.timestamp: r.strides_per_min for r in raw.records}
    assert activity.start_time is not None
    checked = 0
    for record in flagged:
        strides = raw_by_time[activity.start_time + timedelta(seconds=record.t_s)]
        if strides is None:
            assert record.cadence_spm is None
            continue
        assert record.cadence_spm == pytest.approx(2.0 * strides)
        checked += 1
    assert checked > 0


def test_file_level_facts() -> None:
    run = read_fit(bundled("garmin-fenix-5-run.fit"))
    assert (run.sport, run.device) == ("running", "garmin fenix5")
    assert run.fields >= {"cadence_spm", "speed_mps", "gct_ms", "step_length_m"}
    walk = read_fit(bundled("garmin-fenix-5-walk.fit"))
    assert walk.sport == "walking"
    assert {r.running for r in walk.records} == {False}
    stryd = read_fit(bundled(STRYD[0]))
    assert (stryd.sport, stryd.device) == ("running", "stryd")
    assert "step_length_m" not in stryd.fields


def test_running_dynamics_in_range() -> None:
    for name in [*STRYD, "garmin-fenix-5-run.fit"]:
        running = moving(read_fit(bundled(name)).records)
        assert 180 <= statistics.median(r.gct_ms for r in running if r.gct_ms) <= 350
        vertical = [r.vertical_oscillation_mm for r in running if r.vertical_oscillation_mm]
        assert 50 <= statistics.median(vertical) <= 130


def test_step_length_agrees_with_speed_over_cadence() -> None:
    # Per step, not per stride: speed / step rate gives the same length (the device smooths the
    # three differently, so compare the median ratio, not each second).
    ratios = [
        r.step_length_m / (r.speed_mps / (r.cadence_spm / 60.0))
        for r in moving(read_fit(bundled("garmin-fenix-5-run.fit")).records)
        if r.step_length_m and r.speed_mps and r.speed_mps > 2.0 and r.cadence_spm
    ]
    assert len(ratios) >= 10
    assert 0.9 <= statistics.median(ratios) <= 1.1


@pytest.mark.parametrize("name", STRYD)
def test_stryd_developer_fields(name: str) -> None:
    activity = read_fit(bundled(name))
    fields = {field.name: field for field in activity.developer}
    assert {name: field.units for name, field in fields.items()} == {
        "Air Power": "Watts",
        "Form Power": "Watts",
        "Leg Spring Stiffness": "KN/m",
        "Speed": "M/S",
        "Distance": "Meters",
    }
    running = [i for i, r in enumerate(activity.records) if r.cadence_spm and r.cadence_spm > 140]
    assert len(running) > 60
    form_power = [fields["Form Power"].values[i] for i in running]
    stiffness = [fields["Leg Spring Stiffness"].values[i] for i in running]
    assert 40 <= statistics.median(v for v in form_power if v is not None) <= 120
    assert 6 <= statistics.median(v for v in stiffness if v is not None) <= 15
    # Stryd's own speed field is its footpod speed, which it also writes to the standard field.
    for i in running:
        assert fields["Speed"].values[i] == pytest.approx(activity.records[i].speed_mps, abs=0.01)


def test_multisport_file_keeps_cycling_cadence_out() -> None:
    activity = read_fit(bundled("sample_mulitple_header.fit"))
    assert activity.sport == "multisport"
    unknown = [r for r in activity.records if r.running is None]
    assert len(unknown) > 1000  # the swim and the ride
    assert all(r.cadence_spm is None for r in unknown)
    assert sum(1 for r in activity.records if r.running) > 500


def test_repeated_timestamps_are_skipped_and_counted() -> None:
    path = bundled("2013-02-06-12-11-14.fit")
    raw = read_raw(path)
    times = [r.timestamp for r in raw.records]
    repeats = sum(1 for a, b in pairwise(times) if b <= a)
    assert repeats > 0
    with pytest.warns(
        TraceFormatWarning, match=rf"{path.name}: skipped {repeats} records with a repeated"
    ):
        activity = read_fit(path)
    assert len(activity.records) == len(raw.records) - repeats
    assert all(b.t_s > a.t_s for a, b in pairwise(activity.records))
    assert "cadence_spm" not in activity.fields  # a GPS-only watch
    # Smart recording: holes longer than 10 s come out as gaps, shorter ones do not.
    distinct = sorted(set(times))
    holes = [(a, b) for a, b in pairwise(distinct) if b - a > timedelta(seconds=10)]
    start = distinct[0]
    assert activity.gaps == tuple(
        StreamGap((a - start).total_seconds(), (b - start).total_seconds(), "no records")
        for a, b in holes
    )


def raw_compressed_speed_distance(path: Path) -> list[tuple[int, int, int] | None]:
    """Each record's raw 3 ``compressed_speed_distance`` bytes, as fitdecode reads them."""
    values: list[tuple[int, int, int] | None] = []
    with fitdecode.FitReader(str(path)) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "record":
                raw = (
                    frame.get_raw_value("compressed_speed_distance")
                    if frame.has_field("compressed_speed_distance")
                    else None
                )
                values.append(None if raw is None else tuple(raw))
    return values


def session_totals(path: Path) -> dict[str, Any]:
    with fitdecode.FitReader(str(path)) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "session":
                return {field.name: field.value for field in frame.fields}
    raise AssertionError(f"{path} has no session")


def test_compressed_timestamp_file_is_read() -> None:
    path = bundled(COMPRESSED)
    raw = read_raw(path)
    assert raw.first_compressed_record is not None  # garmin-fit-sdk alone stops here
    activity = read_fit(path)
    assert activity.damage is None
    assert (activity.sport, activity.device) == ("running", "garmin fr70")
    assert len(activity.records) == len(raw.records) == 755
    assert activity.start_time == raw.records[0].timestamp
    assert [r.t_s for r in activity.records] == [
        (r.timestamp - raw.records[0].timestamp).total_seconds() for r in raw.records
    ]
    assert activity.fields == {"cadence_spm", "speed_mps", "distance_m", "running"}
    # The run was paused once with the watch's timer (stop_all, then start 110 s later).
    assert [gap.reason for gap in activity.gaps] == ["pause"]


def test_compressed_speed_and_distance() -> None:
    # Profile: 12 bits of speed in 1/100 m/s, then 12 bits of distance in 1/16 m that roll over
    # every 256 m. Decoded here from the raw bytes, independently of either library.
    path = bundled(COMPRESSED)
    activity = read_fit(path)
    packed = raw_compressed_speed_distance(path)
    assert len(packed) == len(activity.records)
    total_16ths, previous = 0, None
    checked = 0
    for record, raw in zip(activity.records, packed, strict=True):
        if raw is None:
            assert (record.speed_mps, record.distance_m) == (None, None)
            continue
        bits = raw[0] | raw[1] << 8 | raw[2] << 16
        speed, distance_16ths = (bits & 0xFFF) / 100.0, bits >> 12
        if previous is not None:
            total_16ths += (distance_16ths - previous) % 4096
        previous = distance_16ths
        assert record.speed_mps == pytest.approx(speed)
        assert record.distance_m == pytest.approx(total_16ths / 16.0)
        checked += 1
    assert checked > 700

    distances = [r.distance_m for r in activity.records if r.distance_m is not None]
    assert all(b >= a for a, b in pairwise(distances))
    session = session_totals(path)
    assert distances[-1] == pytest.approx(session["total_distance"], rel=0.01)
    # Speed integrated over time (pause excluded) covers the same distance.
    covered = sum(
        a.speed_mps * (b.t_s - a.t_s)
        for a, b in pairwise(activity.records)
        if a.speed_mps is not None and b.t_s - a.t_s <= MAX_RECORD_INTERVAL_S
    )
    assert covered == pytest.approx(session["total_distance"], rel=0.03)
    running = [r.speed_mps for r in moving(activity.records) if r.speed_mps]
    assert 2.0 <= statistics.median(running) <= 5.0
    assert max(running) <= session["max_speed"] + 0.01


@pytest.mark.parametrize("name", sorted(set(CADENCE_FILES) - {COMPRESSED}))
def test_fitdecode_path_equals_the_sdk_path(name: str) -> None:
    # The fallback for compressed-timestamp files maps fitdecode's messages to the SDK's form;
    # on every file the SDK reads, the two give the same activity, developer fields included.
    path = bundled(name)
    data = path.read_bytes()
    messages, damage = _decode_with_fitdecode(data, *_check_header(path, data))
    assert damage is None
    via_fitdecode = _activity(path, messages, damage, MAX_RECORD_INTERVAL_S)
    assert via_fitdecode == read_fit(path)


def test_fitdecode_path_equals_the_sdk_path_with_skipped_records() -> None:
    path = bundled("2013-02-06-12-11-14.fit")
    data = path.read_bytes()
    with pytest.warns(TraceFormatWarning, match="skipped"):
        sdk = read_fit(path)
    with pytest.warns(TraceFormatWarning, match="skipped"):
        via_fitdecode = _activity(
            path, *_decode_with_fitdecode(data, *_check_header(path, data)), MAX_RECORD_INTERVAL_S
        )
    assert via_fitdecode == sdk


# --- damaged files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["wmf-stryd-sport-field.fit", "garmin-fenix-5-run.fit", COMPRESSED]
)
@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9, 0.999])
def test_truncated_file_keeps_the_records_before_the_damage(
    tmp_path: Path, name: str, fraction: float
) -> None:
    data = bundled(name).read_bytes()
    raw = read_raw(bundled(name))
    full = read_fit(bundled(name))
    cut = int(len(data) * fraction)
    path = tmp_path / name
    path.write_bytes(data[:cut])
    complete = sum(1 for r in raw.records if r.end_byte <= cut)
    damage_at = max(end for end in raw.message_ends if end <= cut)
    if complete == 0:
        with pytest.raises(FitFormatError, match="truncated") as caught:
            read_fit(path)
        assert (caught.value.path, caught.value.offset) == (str(path), damage_at)
        return
    with pytest.warns(TraceFormatWarning, match=rf"{name} at byte {damage_at}: truncated"):
        activity = read_fit(path)
    assert activity.damage is not None
    assert activity.damage.startswith(f"{path} at byte {damage_at}: truncated")
    assert len(activity.records) == complete
    # The session message that names the sport is at the end, so a cut file may not know it.
    assert without_running(activity.records) == without_running(full.records[:complete])
    assert {r.running for r in activity.records} <= {None, True}


@pytest.mark.parametrize("cut", [0, 5, 11, 13, 14, 40])
def test_file_too_short_for_any_record(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "short.fit"
    path.write_bytes(bundled("wmf-stryd-sport-field.fit").read_bytes()[:cut])
    with pytest.raises(FitFormatError) as caught:
        read_fit(path)
    assert str(caught.value).startswith(str(path))
    assert caught.value.problem


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (b"t,ax,az\n0.0,1.0,2.0\n" * 10, "not a FIT file"),
        (bytes(range(256)), "not a FIT file"),
    ],
)
def test_not_a_fit_file(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "garbage.fit"
    path.write_bytes(content)
    with pytest.raises(FitFormatError, match=problem) as caught:
        read_fit(path)
    assert isinstance(caught.value, CadenceError)
    assert str(caught.value).startswith(f"{path} at byte 0: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FitFormatError, match="cannot read"):
        read_fit(tmp_path / "absent.fit")


def test_damaged_file_header(tmp_path: Path) -> None:
    data = bytearray(bundled("wmf-stryd-sport-field.fit").read_bytes())
    assert data[0] == 14
    data[4] ^= 0x01  # the data size, covered by the header CRC
    path = tmp_path / "header.fit"
    path.write_bytes(bytes(data))
    with pytest.raises(FitFormatError, match="header") as caught:
        read_fit(path)
    assert caught.value.offset == 12


@pytest.mark.parametrize("name", ["wmf-stryd-sport-field.fit", COMPRESSED])
def test_bad_file_crc_keeps_every_record(tmp_path: Path, name: str) -> None:
    data = bytearray(bundled(name).read_bytes())
    data[-1] ^= 0xFF
    path = tmp_path / name
    path.write_bytes(bytes(data))
    with pytest.warns(TraceFormatWarning, match=rf"at byte {len(data) - 2}: file CRC"):
        activity = read_fit(path)
    assert activity.records == read_fit(bundled(name)).records


def test_flipped_value_byte_is_flagged(tmp_path: Path) -> None:
    name = "wmf-stryd-sport-field.fit"
    data = bytearray(bundled(name).read_bytes())
    record = read_raw(bundled(name)).records[100]
    data[record.end_byte - 3] ^= 0x5A  # inside the record's values: the structure stays intact
    path = tmp_path / name
    path.write_bytes(bytes(data))
    with pytest.warns(TraceFormatWarning, match="CRC"):
        activity = read_fit(path)
    full = read_fit(bundled(name))
    assert activity.damage is not None
    assert "CRC does not match" in activity.damage
    assert activity.records[:100] == full.records[:100]
    assert activity.records[101:] == full.records[101:]


@pytest.mark.parametrize("name", ["wmf-stryd-sport-field.fit", COMPRESSED])
def test_flipped_record_header_stops_there(tmp_path: Path, name: str) -> None:
    data = bytearray(bundled(name).read_bytes())
    raw = read_raw(bundled(name))
    header_at = raw.records[99].end_byte  # the header byte of the 101st record
    data[header_at] = 0x0F  # local message type 15: never defined in this file
    path = tmp_path / name
    path.write_bytes(bytes(data))
    with pytest.warns(TraceFormatWarning, match=rf"at byte {header_at}: undecodable"):
        activity = read_fit(path)
    assert without_running(activity.records) == without_running(
        read_fit(bundled(name)).records[:100]
    )


# --- pauses and developer fallbacks, in a file written with Garmin's encoder ---------------

T0 = datetime(2024, 5, 1, 7, 0, 0, tzinfo=UTC)
MESG = Profile["mesg_num"]


def encoded_run(seconds: list[int], stops: list[int], starts: list[int]) -> bytes:
    """A running file whose records carry Stryd-style developer ground time, no stance_time."""
    developer_id = {"mesg_num": MESG["DEVELOPER_DATA_ID"], "developer_data_index": 0}
    ground_time = {
        "mesg_num": MESG["FIELD_DESCRIPTION"],
        "developer_data_index": 0,
        "field_definition_number": 7,
        "fit_base_type_id": 0x84,  # uint16
        "field_name": "Ground Time",
        "units": "Milliseconds",
    }
    encoder = Encoder()
    encoder.write_mesg({"mesg_num": MESG["FILE_ID"], "type": "activity", "time_created": T0})
    encoder.write_mesg(developer_id)
    encoder.write_mesg(ground_time)
    encoder.add_developer_field(0, developer_id, ground_time)  # type: ignore[arg-type]
    timer = [(s, "start") for s in starts] + [(s, "stop_all") for s in stops]
    events = sorted(timer)
    for second in seconds:
        while events and events[0][0] <= second:
            at, kind = events.pop(0)
            encoder.write_mesg(
                {
                    "mesg_num": MESG["EVENT"],
                    "timestamp": T0 + timedelta(seconds=at),
                    "event": "timer",
                    "event_type": kind,
                }
            )
        encoder.write_mesg(
            {
                "mesg_num": MESG["RECORD"],
                "timestamp": T0 + timedelta(seconds=second),
                "cadence": 85,
                "speed": 3.2,
                "developer_fields": {0: 240 + second},
            }
        )
    end = seconds[-1] + 1
    encoder.write_mesg(
        {
            "mesg_num": MESG["SESSION"],
            "timestamp": T0 + timedelta(seconds=end),
            "start_time": T0,
            "total_elapsed_time": float(end),
            "sport": "running",
        }
    )
    return encoder.close()


def test_timer_pause_and_developer_ground_time(tmp_path: Path) -> None:
    seconds = [*range(10), *range(40, 50)]
    path = tmp_path / "pause.fit"
    path.write_bytes(encoded_run(seconds, stops=[9], starts=[0, 40]))
    activity = read_fit(path)
    assert activity.damage is None
    assert [r.t_s for r in activity.records] == [float(s) for s in seconds]
    assert activity.gaps == (StreamGap(9.0, 40.0, "pause"),)
    assert [r.gct_ms for r in activity.records] == [240.0 + s for s in seconds]
    assert {r.cadence_spm for r in activity.records} == {170.0}
    assert {r.running for r in activity.records} == {True}


def test_hole_without_timer_stop_is_no_records(tmp_path: Path) -> None:
    seconds = [*range(5), *range(20, 25), *range(31, 35)]
    path = tmp_path / "hole.fit"
    path.write_bytes(encoded_run(seconds, stops=[], starts=[0]))
    activity = read_fit(path)
    assert activity.gaps == (StreamGap(4.0, 20.0, "no records"),)  # 6 s is not a hole
    tight = read_fit(path, max_record_interval_s=5.0)
    assert tight.gaps == (StreamGap(4.0, 20.0, "no records"), StreamGap(24.0, 31.0, "no records"))


@pytest.mark.parametrize(
    ("seconds", "kept"),
    [
        ([0, 1, 2, 3, 1, 3, 4, 5], [0, 1, 2, 3, 4, 5]),  # a record from the past and a repeat
        ([0, 1, 2, 3, 90_000, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6]),  # one time far in the future
        ([50_000, 0, 1, 2, 3], [0, 1, 2, 3]),  # a bad first time does not shift the rest
    ],
)
def test_out_of_order_times_cost_only_their_own_records(
    tmp_path: Path, seconds: list[int], kept: list[int]
) -> None:
    path = tmp_path / "backwards.fit"
    path.write_bytes(encoded_run(seconds, stops=[], starts=[0]))
    skipped = len(seconds) - len(kept)
    with pytest.warns(TraceFormatWarning, match=f"skipped {skipped} records with a repeated"):
        activity = read_fit(path)
    assert activity.start_time == T0
    assert [r.t_s for r in activity.records] == [float(s) for s in kept]
    assert [r.gct_ms for r in activity.records] == [240.0 + s for s in kept]
    assert activity.damage is None


# --- the Source ------------------------------------------------------------------------------


async def collect(source: FitSource) -> list[object]:
    async with source:
        return [event async for event in source]


async def test_fit_source_yields_gaps_and_records_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "pause.fit"
    path.write_bytes(encoded_run([*range(5), *range(30, 35)], stops=[4], starts=[0, 30]))
    source = FitSource(path)
    assert isinstance(source, Source)
    assert (source.info.name, source.info.kind) == ("pause.fit", "footpod")
    events = await collect(source)
    activity = read_fit(path)
    assert [e for e in events if isinstance(e, SummaryRecord)] == list(activity.records)
    gap_index = next(i for i, e in enumerate(events) if isinstance(e, StreamGap))
    assert events[gap_index] == StreamGap(4.0, 30.0, "pause")
    assert events[gap_index - 1] == activity.records[4]
    assert events[gap_index + 1] == activity.records[5]


async def test_fit_source_on_a_bundled_file() -> None:
    name = "wmf-stryd-backgaden-1km.fit"
    events = await collect(FitSource(bundled(name)))
    activity: FitActivity = read_fit(bundled(name))
    assert events == list(activity.records)


async def test_fit_source_must_be_entered() -> None:
    with pytest.raises(RuntimeError, match="entered"):
        FitSource(bundled(STRYD[0])).__aiter__()
