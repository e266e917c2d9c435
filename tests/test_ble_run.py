"""`cadence run --polar` end to end over Bluetooth: bleak's real BlueZ backend on a private
D-Bus with patched BlueZoo, the virtual footpod serving a bundled trace; Ctrl-C ends the run
and the recording is complete."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from bluez.fixtures import FOOTPOD_NAME, bluez, close_bleak_bus, footpod, requires_dbus
from bluez.harness import CENTRAL_ADAPTER

from cadence.detector import detect_contacts
from cadence.recording import CONTACTS_FILE, read_recording
from sim.footpod import VirtualFootpod

pytestmark = requires_dbus
__all__ = ["bluez", "close_bleak_bus", "footpod"]  # fixtures, used by name

WAIT_S = 30.0
CONTACTS_BEFORE_STOP = 12


async def test_live_run_from_a_polar_sensor_records_and_stops_cleanly_on_ctrl_c(
    footpod: VirtualFootpod, tmp_path: Path
) -> None:
    folder = tmp_path / "session"
    log = tmp_path / "run.log"
    command = [
        sys.executable, "-m", "cadence.cli", "run", "--polar", FOOTPOD_NAME,
        "--adapter", CENTRAL_ADAPTER, "--placement", "sacrum", "--rate", "200",
        "--record", str(folder), "--no-audio", "--no-console", "--no-alerts",
    ]  # fmt: skip
    with open(log, "wb") as output:
        process = await asyncio.create_subprocess_exec(*command, stdout=output, stderr=output)
    try:
        await _wait_for_lines(folder / CONTACTS_FILE, CONTACTS_BEFORE_STOP + 1, process, log)
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(WAIT_S):
            code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0, log.read_text()
    assert "stopped" in log.read_text()
    recording = read_recording(folder)
    assert recording.complete
    assert recording.session["ended_by"] == "stopped"
    assert recording.session["source"]["fs_hz"] == 200
    samples = recording.samples
    assert samples is not None
    assert samples.t.size > 200
    # What was detected live is what analysis of the recording finds.
    offline = detect_contacts(
        samples.t, samples.acc, fs_hz=200.0, placement="sacrum", up_vector=samples.up_vector
    ).contacts
    assert len(recording.contacts) >= CONTACTS_BEFORE_STOP
    assert tuple(recording.contacts) == offline[: len(recording.contacts)]
    assert len(offline) - len(recording.contacts) <= 1  # only a contact still being finished


async def _wait_for_lines(
    path: Path, lines: int, process: asyncio.subprocess.Process, log: Path
) -> None:
    async with asyncio.timeout(WAIT_S):
        while not (path.exists() and path.read_text(encoding="utf-8").count("\n") >= lines):
            if process.returncode is not None:
                raise AssertionError(f"cadence run ended early:\n{log.read_text()}")
            await asyncio.sleep(0.05)
