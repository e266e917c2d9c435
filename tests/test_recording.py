"""Recording: everything a run receives and decides, nothing lost, even when killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cadence.cli import main
from cadence.datasets import bundled_trace
from cadence.detector import detect_contacts
from cadence.errors import ConfigurationError, TraceFormatWarning
from cadence.events import Alert, Metrics
from cadence.pipeline import STANDARD_GRAVITY_MS2, run_pipeline
from cadence.recording import (
    ALERTS_FILE,
    CONTACTS_FILE,
    SAMPLES_FILE,
    Recorder,
    read_recording,
)
from cadence.trace import Trace, read_trace
from sim.replay import LinkDrop, TraceReplay

TRACE = "alcantara-sacrum-run-t06"


class ScriptedRules:
    """Alert rules stand-in with a fixed script, so alerts.csv has rows to read back."""

    def update(self, metrics: Metrics) -> list[Alert]:
        if metrics.t_s == 2.0:
            return [Alert(metrics.t_s, "low_cadence", "raised", "Cadence low, 150", 150.0, 170.0)]
        if metrics.t_s == 4.0:
            return [Alert(metrics.t_s, "low_cadence", "cleared", "Cadence back up", None, 170.0)]
        return []


def analyze_contacts(trace: Trace) -> tuple[object, ...]:
    assert trace.placement is not None
    found = detect_contacts(
        trace.t, trace.acc, fs_hz=trace.fs_hz, placement=trace.placement, up_vector=trace.up_vector
    )
    return found.contacts


async def test_recording_reads_back_exactly_what_the_run_saw_and_decided(tmp_path: Path) -> None:
    folder = tmp_path / "session"
    replay = TraceReplay(
        bundled_trace(TRACE), speed=None, chunk_samples=(1, 40), link_drops=[LinkDrop(2.2, 0.4)]
    )
    totals = await run_pipeline(replay, rules=ScriptedRules(), recorder=Recorder(folder))
    recording = read_recording(folder)
    assert recording.complete
    assert recording.session["source"]["placement"] == "sacrum"
    assert recording.samples is not None
    assert recording.samples.t.size == totals.samples
    assert recording.contacts == totals.contacts
    assert recording.metrics == totals.metrics
    assert recording.alerts == totals.alerts
    assert len(recording.alerts) == 2
    assert [e["event"] for e in recording.events].count("gap") == len(totals.gaps) >= 1
    # The recording is a trace: analysed offline, it gives the contacts found live.
    assert analyze_contacts(recording.samples) == tuple(totals.contacts)


async def test_recorded_samples_are_the_exact_values_detected(tmp_path: Path) -> None:
    trace = read_trace(bundled_trace(TRACE))
    await run_pipeline(TraceReplay(trace, speed=None), recorder=Recorder(tmp_path / "s"))
    recorded = read_recording(tmp_path / "s").samples
    assert recorded is not None
    np.testing.assert_array_equal(recorded.t, trace.t)
    np.testing.assert_array_equal(
        recorded.acc, trace.acc / STANDARD_GRAVITY_MS2 * STANDARD_GRAVITY_MS2
    )


async def test_a_folder_holding_a_recording_is_not_overwritten(tmp_path: Path) -> None:
    await run_pipeline(TraceReplay(bundled_trace(TRACE), speed=None), recorder=Recorder(tmp_path))
    with pytest.raises(ConfigurationError, match="already holds a recording"):
        await run_pipeline(
            TraceReplay(bundled_trace(TRACE), speed=None), recorder=Recorder(tmp_path)
        )


def test_flush_interval_must_be_at_most_a_second(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="flush_interval_s"):
        Recorder(tmp_path, flush_interval_s=2.0)


async def test_a_line_cut_off_mid_write_is_reported_and_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    totals = await run_pipeline(
        TraceReplay(bundled_trace(TRACE), speed=None),
        rules=ScriptedRules(),
        recorder=Recorder(folder),
    )
    for name, cut in (
        (SAMPLES_FILE, "4.9,1.2"),
        (CONTACTS_FILE, "4.1,4.3"),
        (ALERTS_FILE, "5.0,lo"),
    ):
        with open(folder / name, "a", encoding="utf-8") as file:
            file.write(cut)  # no newline: the writer was killed mid-line
    with pytest.warns(TraceFormatWarning, match="cut off") as caught:
        recording = read_recording(folder)
    assert len(caught) == 3
    assert all(":" in str(w.message) for w in caught)  # names file:line
    assert recording.samples is not None
    assert recording.samples.t.size == totals.samples
    assert recording.contacts == totals.contacts
    assert recording.alerts == totals.alerts


def test_sigkill_mid_run_leaves_a_readable_recording_up_to_the_last_flush(tmp_path: Path) -> None:
    folder = tmp_path / "killed"
    trace_path = bundled_trace("wmf-foot-run")
    command = [
        sys.executable, "-m", "cadence.cli", "replay", str(trace_path),
        "--speed", "4", "--record", str(folder), "--no-progress",
    ]  # fmt: skip
    log = tmp_path / "replay.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        _wait_for_contacts(folder / CONTACTS_FILE, process, log, at_least=8)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    recording = read_recording(folder)
    assert not recording.complete
    original = read_trace(trace_path)
    samples = recording.samples
    assert samples is not None
    n = samples.t.size
    assert 0 < n < original.t.size
    # Every flushed sample reads back, exactly, as a prefix of what was replayed.
    np.testing.assert_array_equal(samples.t, original.t[:n])
    np.testing.assert_allclose(samples.acc, original.acc[:n], rtol=1e-12)
    # Contacts flushed before the kill are the ones analysis finds in the flushed samples.
    offline = analyze_contacts(samples)
    assert len(recording.contacts) >= 8
    assert tuple(recording.contacts) == offline[: len(recording.contacts)]


def _wait_for_contacts(
    path: Path, process: subprocess.Popen[bytes], log: Path, *, at_least: int
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"replay ended early: {log.read_text()}")
        if path.exists() and path.read_text(encoding="utf-8").count("\n") > at_least:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {at_least} contacts recorded in {path} within 60 s")


def test_analyze_reads_a_recording_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import json

    folder = tmp_path / "s"
    totals = asyncio.run(
        run_pipeline(TraceReplay(bundled_trace(TRACE), speed=None), recorder=Recorder(folder))
    )
    assert main(["analyze", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["contacts"]) == len(totals.contacts)
    assert report["contacts"][0]["on_s"] == pytest.approx(totals.contacts[0].on_s, abs=1e-3)


async def test_a_source_that_cannot_open_leaves_no_session_behind(tmp_path: Path) -> None:
    folder = tmp_path / "never"
    with pytest.raises(FileNotFoundError):
        await run_pipeline(TraceReplay(tmp_path / "missing.csv"), recorder=Recorder(folder))
    assert not folder.exists()


async def test_a_file_that_cannot_be_written_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / SAMPLES_FILE).mkdir()  # stands for a file the disk refuses
    with caplog.at_level("WARNING", logger="cadence.recording"):
        totals = await run_pipeline(
            TraceReplay(bundled_trace(TRACE), speed=None),
            rules=ScriptedRules(),
            recorder=Recorder(folder, flush_interval_s=0.05),
        )
    cannot = [r for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(cannot) == 1  # one warning, not one per flush
    assert SAMPLES_FILE in cannot[0].getMessage()
    assert any("could not be written" in r.getMessage() for r in caplog.records)
    (folder / SAMPLES_FILE).rmdir()
    recording = read_recording(folder)
    assert recording.complete
    assert recording.samples is None
    assert recording.contacts == totals.contacts
    assert recording.alerts == totals.alerts


def test_ctrl_c_ends_a_replay_cleanly_with_its_totals_and_a_complete_recording(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "stopped"
    command = [
        sys.executable, "-m", "cadence.cli", "replay", str(bundled_trace("wmf-foot-run")),
        "--speed", "4", "--record", str(folder), "--no-progress", "--no-console", "--no-audio",
    ]  # fmt: skip
    log = tmp_path / "replay.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for_contacts(folder / CONTACTS_FILE, process, log, at_least=5)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    printed = log.read_text()
    assert "stopped" in printed
    assert "contacts" in printed
    assert "Traceback" not in printed
    recording = read_recording(folder)
    assert recording.complete
    assert recording.session["ended_by"] == "stopped"
    assert len(recording.contacts) >= 5
