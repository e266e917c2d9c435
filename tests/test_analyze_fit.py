"""`cadence analyze run.fit`: a watch's or footpod's records through the live metrics."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import fitdecode
import pytest

from cadence.cli import main

FIT_DIR = Path(__file__).parents[1] / "cadence" / "data" / "fit"


def raw_running_cadence_strides(path: Path) -> list[float]:
    """Strides/min of moving records, read with fitdecode (independent of cadence.fit)."""
    values = []
    with fitdecode.FitReader(path) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "record":
                cadence = frame.get_value("cadence", fallback=None)
                if cadence:
                    values.append(float(cadence))
    return values


@pytest.mark.parametrize(
    "name",
    [
        "wmf-stryd-backgaden-1km.fit",
        "garmin-fenix-5-run.fit",
        "garmin-fenix-5-walk.fit",
        "compressed-speed-distance.fit",
    ],
)
def test_fit_cadence_is_reported_in_steps_per_minute(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(FIT_DIR / name), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    strides = raw_running_cadence_strides(FIT_DIR / name)
    # Mean over moving seconds vs mean over moving records: the same within a few spm.
    assert report["cadence_spm"] == pytest.approx(2 * statistics.fmean(strides), abs=4.0)
    assert report["kind"] == "footpod"
    assert report["moving_s"] > 0.5 * report["duration_s"]


def test_fit_with_speed_and_cadence_gives_step_length(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(FIT_DIR / "wmf-stryd-backgaden-1km.fit"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = report["speed_mps"] / (report["cadence_spm"] / 60.0)
    assert report["step_length_m"] == pytest.approx(expected, rel=0.05)
    assert report["gct_ms"] is not None
    assert 150 < report["gct_ms"] < 350


def test_forerunner_with_compressed_records_matches_its_session_totals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An FR70 with a footpod: compressed-timestamp headers and compressed speed/distance. The
    # watch's own session totals (read with fitdecode) bound what the live metrics make of it.
    path = FIT_DIR / "compressed-speed-distance.fit"
    assert main(["analyze", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    with fitdecode.FitReader(path) as reader:
        session = next(
            frame
            for frame in reader
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "session"
        )
    assert (report["sport"], report["device"], report["damage"]) == ("running", "garmin fr70", None)
    assert report["n_steps"] == pytest.approx(2 * session.get_value("total_strides"), rel=0.03)
    covered = report["speed_mps"] * report["moving_s"]
    assert covered == pytest.approx(session.get_value("total_distance"), rel=0.03)
    assert [gap["reason"] for gap in report["gaps"]] == ["pause"]


def test_truncated_fit_keeps_what_came_before_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (FIT_DIR / "wmf-stryd-backgaden-1km.fit").read_bytes()
    cut = tmp_path / "cut.fit"
    cut.write_bytes(data[: len(data) // 2])
    assert main(["analyze", str(cut), "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert 0 < report["records"] < 399
    assert "byte" in report["damage"]
    assert "cadence: warning:" in captured.err
    assert "cut.fit" in captured.err


def test_not_a_fit_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.fit"
    bad.write_bytes(b"this is not a FIT file at all")
    assert main(["analyze", str(bad)]) == 2
    assert "bad.fit" in capsys.readouterr().err


def test_fit_with_speed_but_no_cadence_still_counts_the_moving_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["analyze", str(FIT_DIR / "2013-02-06-12-11-14.fit"), "--json"]) == 0
    captured = capsys.readouterr()
    assert "repeated or out-of-order time" in captured.err  # the file repeats 7 record times
    report = json.loads(captured.out)
    assert report["cadence_spm"] is None
    assert report["moving_s"] > 0.5 * report["duration_s"]
    assert 1.5 < report["speed_mps"] < 6.0
