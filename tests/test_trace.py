"""Trace and truth files: the bundled recordings, round trips, and every kind of bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cadence.datasets import bundled_trace, bundled_traces
from cadence.errors import CadenceError, ConfigurationError, TraceFormatError, TraceFormatWarning
from cadence.trace import Trace, read_trace, read_truth, truth_path_for, write_trace

ALCANTARA = [f"alcantara-sacrum-run-t{n:02d}" for n in (0, 3, 6, 12, 18, 20, 25, 30)]
HEADER = "# cadence-trace: 1\n# placement: sacrum\n# fs_hz: 100\nt,ax,az\n"  # header on line 4
ROWS = [f"{i / 100:.2f},{9.8 + i / 10:.2f},{i / 10:.2f}" for i in range(10)]  # lines 5..14


def write_file(tmp_path: Path, text: str, name: str = "run.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def with_rows(tmp_path: Path, rows: list[str], *, end: str = "\n") -> Path:
    return write_file(tmp_path, HEADER + "\n".join(rows) + end)


# --- the bundled recordings ----------------------------------------------------------------


def test_bundled_traces_are_the_permissively_licensed_ones() -> None:
    names = {path.stem for path in bundled_traces()}
    assert names == {*ALCANTARA, "wmf-foot-run", "oxford-phone-armband-walk"}


@pytest.mark.parametrize("name", ALCANTARA)
def test_alcantara_traces(name: str) -> None:
    trace = read_trace(bundled_trace(name))
    assert trace.acc.shape == (trace.t.size, 2)
    assert trace.acc_axes == ("x", "z")
    assert trace.gyro.shape == (trace.t.size, 0)
    assert trace.fs_hz == 500.0
    assert trace.placement == "sacrum"
    assert trace.up_vector == (1.0, 0.0)
    assert trace.forward_vector == (0.0, 1.0)
    assert trace.duration_s == pytest.approx(4.958)
    assert trace.metadata["speed_mps"]
    assert np.all(np.diff(trace.t) > 0)
    # Running: the vertical axis swings by more than a g.
    assert np.ptp(trace.acc[:, 0]) > 10.0


@pytest.mark.parametrize("name", ALCANTARA)
def test_alcantara_truth(name: str) -> None:
    path = truth_path_for(bundled_trace(name))
    assert path is not None
    truth = read_truth(path)
    assert truth.sides == "both"
    assert 10 <= truth.foot_on_s.size <= 20
    assert np.all(truth.foot_off_s > truth.foot_on_s)
    assert np.all(np.diff(truth.foot_on_s) > 0)


def test_wearable_my_foot_has_gyro_and_no_known_orientation() -> None:
    trace = read_trace(bundled_trace("wmf-foot-run"))
    assert trace.acc_axes == trace.gyro_axes == ("x", "y", "z")
    assert trace.acc.shape == trace.gyro.shape == (9064, 3)
    assert trace.fs_hz == 100.0  # "100 (nominal; irregular, gaps of 20 ms)"
    assert trace.placement == "foot"
    assert trace.up_vector is None
    assert truth_path_for(bundled_trace("wmf-foot-run")) is None


def test_oxford_phone_trace_and_step_times() -> None:
    # The file repeats one sample verbatim (line 13352); an exact copy is dropped silently.
    trace = read_trace(bundled_trace("oxford-phone-armband-walk"))
    assert trace.acc.shape == (19296, 3)
    assert trace.placement == "phone"  # "phone (armband)"
    assert trace.fs_hz == 100.0
    assert trace.up_vector is None
    path = truth_path_for(bundled_trace("oxford-phone-armband-walk"))
    assert path is not None
    truth = read_truth(path)
    assert truth.foot_on_s.size == 335
    assert np.all(np.isnan(truth.foot_off_s))
    assert truth.sides == "both"


def test_unknown_bundled_name_lists_the_available_ones() -> None:
    with pytest.raises(CadenceError, match=r"'nope'.*alcantara-sacrum-run-t00.*wmf-foot-run"):
        bundled_trace("nope")
    with pytest.raises(CadenceError):
        bundled_trace("alcantara-sacrum-run-t00.truth")


# --- properties and round trip -------------------------------------------------------------


def make_trace(metadata: dict[str, str], n: int = 50) -> Trace:
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.005, 0.015, n))
    return Trace("made", metadata, t, rng.normal(0, 20, (n, 3)), ("x", "y", "z"),
                 rng.normal(0, 300, (n, 1)), ("z",))  # fmt: skip


def test_fs_hz_falls_back_to_the_median_interval() -> None:
    trace = Trace("m", {}, np.arange(5) * 0.004, np.zeros((5, 0)), (), np.zeros((5, 0)), ())
    assert trace.fs_hz == pytest.approx(250.0)
    assert trace.placement is None
    assert trace.up_vector is None


def test_up_vector_reads_signs_and_directions() -> None:
    trace = make_trace({"axes": "x=forward -z=up (sensor upside down)"})
    assert trace.up_vector == (0.0, 0.0, -1.0)
    assert trace.forward_vector == (1.0, 0.0, 0.0)
    assert make_trace({"axes": "y=down"}).up_vector == (0.0, -1.0, 0.0)


def test_write_then_read_gives_the_printed_values(tmp_path: Path) -> None:
    original = make_trace({"placement": "shank (left)", "fs_hz": "100", "note": "a: b"})
    path = tmp_path / "out.csv"
    write_trace(path, original)
    read = read_trace(path)
    assert read.metadata == {"cadence-trace": "1", **original.metadata}
    assert (read.acc_axes, read.gyro_axes) == (("x", "y", "z"), ("z",))
    np.testing.assert_allclose(read.t, original.t, atol=5e-7, rtol=0)
    np.testing.assert_allclose(read.acc, original.acc, atol=5e-6, rtol=0)
    np.testing.assert_allclose(read.gyro, original.gyro, atol=5e-6, rtol=0)
    write_trace(path, read)
    again = read_trace(path)
    for name in ("t", "acc", "gyro"):
        np.testing.assert_array_equal(getattr(again, name), getattr(read, name))


def test_bundled_trace_survives_a_round_trip_exactly(tmp_path: Path) -> None:
    trace = read_trace(bundled_trace("wmf-foot-run"))
    write_trace(tmp_path / "copy.csv", trace)
    copy = read_trace(tmp_path / "copy.csv")
    np.testing.assert_array_equal(copy.t, trace.t)
    np.testing.assert_array_equal(copy.acc, trace.acc)
    np.testing.assert_array_equal(copy.gyro, trace.gyro)


def test_write_refuses_times_that_would_collide(tmp_path: Path) -> None:
    trace = Trace("m", {}, np.array([0.0, 1e-7]), np.zeros((2, 0)), (), np.zeros((2, 0)), ())
    with pytest.raises(ConfigurationError, match="1 µs"):
        write_trace(tmp_path / "x.csv", trace)


def test_trace_checks_its_arrays() -> None:
    with pytest.raises(ConfigurationError, match="increasing"):
        Trace("m", {}, np.array([0.0, 0.0]), np.zeros((2, 0)), (), np.zeros((2, 0)), ())
    with pytest.raises(ConfigurationError, match=r"shape \(2, 1\)"):
        Trace("m", {}, np.array([0.0, 1.0]), np.zeros((2, 2)), ("x",), np.zeros((2, 0)), ())


def test_reader_parses_every_number_as_float_does(tmp_path: Path) -> None:
    cells = ["-0.0", "1e-30", "+2.5E+3", ".5", "7.", " 3.25 ", "123456789012345678901234"]
    rows = [f"{i},{cell},0" for i, cell in enumerate(cells)]
    trace = read_trace(write_file(tmp_path, "t,ax,ay\r\n" + "\r\n".join(rows) + "\r\n"))
    assert trace.acc[:, 0].tolist() == [float(cell) for cell in cells]
    assert math.copysign(1.0, trace.acc[0, 0]) == -1.0


def test_truth_path_for(tmp_path: Path) -> None:
    trace = write_file(tmp_path, HEADER + ROWS[0] + "\n")
    assert truth_path_for(trace) is None
    (tmp_path / "run.truth.csv").write_text("foot_on_s,foot_off_s\n0.1,0.3\n")
    assert truth_path_for(trace) == tmp_path / "run.truth.csv"


# --- bad structure: always an error naming file and line -----------------------------------


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("", 1, "empty file"),
        ("# cadence-trace: 1\n# fs_hz: 100\n", 2, "no header row"),
        ("0.0,1.0,2.0\n0.1,1.0,2.0\n", 1, "no header row"),
        ("# a: b\ntime,ax\n0,1\n", 2, "header must start with 't'"),
        ("t,ax,speed\n0,1,2\n", 1, "unknown column 'speed'"),
        ("# a: b\n\nt,ax,ax\n0,1,2\n", 3, "duplicate column 'ax'"),
        (HEADER, 4, "no data rows"),
        (HEADER + "\n\n", 4, "no data rows"),
        ("# cadence-trace: 2\nt,ax\n0,1\n", 1, "unsupported trace format version '2'"),
    ],
)
def test_bad_structure_raises(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write_file(tmp_path, text)
    with pytest.raises(TraceFormatError, match=problem) as caught:
        read_trace(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")


# --- bad rows: skipped with one warning, or raised when strict -----------------------------


@pytest.mark.parametrize(
    ("bad_rows", "first_line", "problem"),
    [
        ({7: "0.03,abc,1.0"}, 12, "not a number in column 'ax': 'abc'"),
        ({7: "0.03,,1.0"}, 12, "empty cell in column 'ax'"),
        ({7: "0.03,nan,1.0"}, 12, "'nan' in column 'ax' is not a finite number"),
        ({7: "0.03,9.8,-inf"}, 12, "'-inf' in column 'az' is not a finite number"),
        ({7: "0.03,9.8"}, 12, "2 cells, expected 3"),
        ({7: "0.03,9.8,1.0,4.0"}, 12, "4 cells, expected 3"),
        ({7: "0.01,9.8,1.0"}, 12, "time goes backwards (0.01 after 0.06)"),
        ({7: "0.06,9.8,1.0"}, 12, "time repeats (0.06)"),
        ({3: "x", 9: "0.01,1,1"}, 8, "1 cells, expected 3"),
    ],
)
def test_bad_rows_are_skipped_with_one_warning(
    tmp_path: Path, bad_rows: dict[int, str], first_line: int, problem: str
) -> None:
    rows = [bad_rows.get(i, row) for i, row in enumerate(ROWS)]
    path = with_rows(tmp_path, rows)
    expected = f"{path}: skipped {len(bad_rows)} unusable row"
    with pytest.warns(TraceFormatWarning) as caught:
        trace = read_trace(path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith(expected)
    assert message.endswith(f"first at line {first_line}: {problem}")
    assert trace.t.size == len(ROWS) - len(bad_rows)
    assert np.all(np.diff(trace.t) > 0)

    with pytest.raises(TraceFormatError) as strict:
        read_trace(path, strict=True)
    assert (strict.value.path, strict.value.line, strict.value.problem) == (
        str(path),
        first_line,
        problem,
    )


def test_truncated_last_line_from_a_killed_recording(tmp_path: Path) -> None:
    path = with_rows(tmp_path, [*ROWS, "0.10,9.8"], end="")
    with pytest.warns(TraceFormatWarning, match=r"line 15: truncated last line \(2 cells"):
        trace = read_trace(path)
    assert trace.t.size == len(ROWS)


def test_last_line_without_newline_is_fine_when_complete(tmp_path: Path) -> None:
    assert read_trace(with_rows(tmp_path, ROWS, end="")).t.size == len(ROWS)


def test_exact_duplicate_sample_is_dropped_silently(tmp_path: Path) -> None:
    trace = read_trace(with_rows(tmp_path, [*ROWS[:5], ROWS[4], *ROWS[5:]]))
    np.testing.assert_array_equal(trace.t, [float(row.split(",")[0]) for row in ROWS])


def test_a_bad_row_among_repeated_samples_is_named_as_it_is(tmp_path: Path) -> None:
    bad = ROWS[3].replace(ROWS[3].split(",")[1], "abc", 1)
    path = with_rows(tmp_path, [*ROWS[:5], ROWS[4], bad, *ROWS[5:]])
    with pytest.warns(TraceFormatWarning, match="not a number in column") as caught:
        read_trace(path)
    assert "time goes backwards" not in str(caught[0].message)


def test_more_than_half_bad_raises(tmp_path: Path) -> None:
    rows = [row + ",0" if i % 3 else row for i, row in enumerate(ROWS)]
    path = with_rows(tmp_path, rows)
    with pytest.raises(TraceFormatError, match="more than half") as caught:
        read_trace(path)
    assert caught.value.line == 6
    assert "4 cells, expected 3" in str(caught.value)


@pytest.mark.parametrize("piece_bytes", [4_000_000, 300_000])
def test_large_file_with_a_few_bad_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece_bytes: int
) -> None:
    # Small pieces make the reader parse in several threads, as it does for long recordings.
    monkeypatch.setattr("cadence.trace._MIN_PIECE_BYTES", piece_bytes)
    n = 200_000
    t = np.arange(n) / 100
    lines = [f"{x:.2f},{x:.5f},1.00000" for x in t.tolist()]
    lines[123_456] = "1234.56,oops,1"
    path = with_rows(tmp_path, lines, end="\n0.5,1,1")
    with pytest.warns(TraceFormatWarning) as caught:
        trace = read_trace(path)
    assert str(caught[0].message).endswith(
        "skipped 2 unusable rows; first at line 123461: not a number in column 'ax': 'oops'"
    )
    assert trace.t.size == n - 1
    np.testing.assert_array_equal(trace.acc[:, 0], np.delete(t, 123_456).round(5))
    lines[150_000] = "1600.00,1,1"  # in the last piece: the next 10000 rows are too early
    with pytest.raises(TraceFormatError) as caught:
        read_trace(with_rows(tmp_path, lines), strict=True)
    assert (caught.value.line, caught.value.problem) == (
        123_461,
        "not a number in column 'ax': 'oops'",
    )
    lines[123_456] = "1234.56,1,1"
    with pytest.warns(
        TraceFormatWarning,
        match=r"skipped 10000 unusable rows; first at line 150006: "
        r"time goes backwards \(1500.01 after 1600.0\)",
    ):
        read_trace(with_rows(tmp_path, lines))


# --- truth files ---------------------------------------------------------------------------


def test_truth_bad_rows_and_empty_foot_off(tmp_path: Path) -> None:
    text = "# sides: sensor-side leg only\nfoot_on_s,foot_off_s\n0.1,0.3\n0.5,\n0.4,0.6\n1.0,0.9\n"
    path = write_file(tmp_path, text, "run.truth.csv")
    with pytest.warns(TraceFormatWarning, match="skipped 2 unusable rows; first at line 5: time"):
        truth = read_truth(path)
    assert truth.sides == "sensor-side leg only"
    np.testing.assert_array_equal(truth.foot_on_s, [0.1, 0.5])
    np.testing.assert_array_equal(truth.foot_off_s, [0.3, np.nan])
    with pytest.raises(TraceFormatError, match=r"run.truth.csv:5: time goes backwards"):
        read_truth(path, strict=True)


def test_truth_foot_off_must_follow_foot_on(tmp_path: Path) -> None:
    path = write_file(tmp_path, "foot_on_s,foot_off_s\n0.1,0.3\n0.5,0.4\n0.7,0.9\n", "x.truth.csv")
    with pytest.raises(TraceFormatError, match=r"x.truth.csv:3: foot-off \(0.4\) is not after"):
        read_truth(path, strict=True)


def test_truth_header_is_checked(tmp_path: Path) -> None:
    path = write_file(tmp_path, "# sides: both\non,off\n0.1,0.3\n", "x.truth.csv")
    with pytest.raises(TraceFormatError, match=r"x.truth.csv:2: header must be"):
        read_truth(path)
