"""The ``cadence`` command: output formats, errors and warnings, start-up cost.

Most tests stand in a known reader and detector so the answer is known by construction; the
tests marked "real" run the bundled demo trace through the real reader and detector.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from cadence.cli import DEMO_TRACE, main
from cadence.contacts import Contact, DetectorUpdate, Gap
from cadence.errors import TraceFormatWarning

STEP_INTERVAL_S = 1 / 3  # 180 steps/min
GCT_S = 0.2
FAKE_GAP = Gap(4.0, 4.5)


@dataclass
class FakeTrace:
    """The attributes of ``cadence.trace.Trace`` the command uses."""

    source: str = "fake.csv"
    placement: str | None = "sacrum"
    fs_hz: float = 100.0
    duration_s: float = 9.99
    up_vector: tuple[float, ...] | None = None
    t: npt.NDArray[np.float64] = field(default_factory=lambda: np.arange(1000) / 100.0)
    acc: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((1000, 3)))


@dataclass
class FakeDetector:
    """Steps every 1/3 s with 200 ms contacts, and one gap; remembers its placement."""

    placements: list[str] = field(default_factory=list)
    contacts: tuple[Contact, ...] = ()

    def __call__(
        self,
        t: npt.NDArray[np.float64],
        acc: npt.NDArray[np.float64],
        *,
        fs_hz: float,
        placement: str,
        up_vector: Sequence[float] | None = None,
    ) -> DetectorUpdate:
        self.placements.append(placement)
        n = int((t[-1] - 1.0) / STEP_INTERVAL_S)
        ons = [0.5 + i * STEP_INTERVAL_S for i in range(n)]
        self.contacts = tuple(Contact(on, on + GCT_S) for on in ons if not 3.9 < on < 4.6)
        return DetectorUpdate(self.contacts, (FAKE_GAP,))


@pytest.fixture
def detector(monkeypatch: pytest.MonkeyPatch) -> FakeDetector:
    fake = FakeDetector()
    monkeypatch.setattr("cadence.detector.detect_contacts", fake)
    return fake


def use_trace(monkeypatch: pytest.MonkeyPatch, trace: FakeTrace, *warn: str) -> None:
    """Make the reader return ``trace``, warning ``warn`` on the way like the real one."""

    def read_trace(path: Path) -> FakeTrace:
        for message in warn:
            warnings.warn(message, TraceFormatWarning, stacklevel=2)
        return trace

    monkeypatch.setattr("cadence.trace.read_trace", read_trace)


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    report = json.loads(stdout)  # fails on anything but exactly one JSON value
    assert isinstance(report, dict)
    return report


def test_json_report_is_one_object_with_known_answers(
    monkeypatch: pytest.MonkeyPatch, detector: FakeDetector, capsys: pytest.CaptureFixture[str]
) -> None:
    use_trace(monkeypatch, FakeTrace())
    report = run_json(capsys, ["analyze", "some.csv", "--json"])
    assert report["source"] == "fake.csv"
    assert report["placement"] == "sacrum"
    assert report["fs_hz"] == 100.0
    assert report["duration_s"] == 9.99
    assert report["cadence_spm"] == 180.0
    assert report["gct_ms"] == 200.0
    assert report["gaps"] == [{"start_s": 4.0, "end_s": 4.5}]
    assert isinstance(report["n_steps"], int)
    assert report["n_steps"] == len(report["contacts"]) > 0
    assert isinstance(report["moving_s"], float)
    for contact in report["contacts"]:
        assert set(contact) == {"on_s", "off_s", "leg"}
        assert contact["leg"] is None
        # Times are rounded to the millisecond.
        assert contact["on_s"] == round(contact["on_s"], 3)
        assert contact["on_s"] < contact["off_s"]


def test_text_report_shows_figures_then_one_line_per_contact(
    monkeypatch: pytest.MonkeyPatch, detector: FakeDetector, capsys: pytest.CaptureFixture[str]
) -> None:
    use_trace(monkeypatch, FakeTrace())
    assert main(["analyze", "some.csv"]) == 0
    stdout = capsys.readouterr().out
    for expected in ("fake.csv", "sacrum (trunk)", "100.0 Hz", "180.0 spm", "200.0 ms"):
        assert expected in stdout
    assert "4.000-4.500 s" in stdout
    contact_lines = [line for line in stdout.splitlines() if line.endswith("  -")]
    assert len(contact_lines) == len(detector.contacts)
    assert "    1     0.500     0.700   200.0  -" in stdout


def test_placement_option_overrides_the_trace(
    monkeypatch: pytest.MonkeyPatch, detector: FakeDetector, capsys: pytest.CaptureFixture[str]
) -> None:
    use_trace(monkeypatch, FakeTrace(placement="sacrum"))
    report = run_json(capsys, ["analyze", "some.csv", "--placement", "shank", "--json"])
    assert detector.placements == ["shank"]
    assert report["placement"] == "shank"
    # A shank sensor's contacts are strides of two steps.
    assert report["cadence_spm"] == 360.0


def test_missing_placement_asks_for_the_option(
    monkeypatch: pytest.MonkeyPatch, detector: FakeDetector, capsys: pytest.CaptureFixture[str]
) -> None:
    use_trace(monkeypatch, FakeTrace(placement=None))
    assert main(["analyze", "some.csv"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("cadence: error: ")
    assert "--placement" in captured.err
    assert detector.placements == []


def test_unknown_placement_lists_the_known_ones(
    monkeypatch: pytest.MonkeyPatch, detector: FakeDetector, capsys: pytest.CaptureFixture[str]
) -> None:
    use_trace(monkeypatch, FakeTrace())
    assert main(["analyze", "some.csv", "--placement", "wrist"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cadence: error: unknown placement 'wrist'")
    assert "shank" in err
    assert "sacrum" in err


def test_trace_warnings_go_to_stderr_and_the_run_continues(
    monkeypatch: pytest.MonkeyPatch, detector: FakeDetector, capsys: pytest.CaptureFixture[str]
) -> None:
    use_trace(monkeypatch, FakeTrace(), "fake.csv:7: skipped 1 row without a time")
    assert main(["analyze", "some.csv", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "cadence: warning: fake.csv:7: skipped 1 row without a time\n"
    assert json.loads(captured.out)["cadence_spm"] == 180.0


def test_missing_file_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.csv"
    assert main(["analyze", str(missing), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("cadence: error: ")
    assert str(missing) in captured.err
    assert captured.err.count("\n") == 1


def test_malformed_trace_is_an_error_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("0.000,0.1,9.8,0.2\n0.002,0.1,9.8,0.2\n")
    assert main(["analyze", str(headerless), "--placement", "sacrum"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"cadence: error: {headerless}:")
    line_number = captured.err.removeprefix(f"cadence: error: {headerless}:").split(":")[0]
    assert line_number.isdigit()
    assert captured.err.count("\n") == 1


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "analyze" in capsys.readouterr().err


def test_default_trace_is_the_bundled_demo(
    detector: FakeDetector, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run_json(capsys, ["analyze", "--json"])
    assert DEMO_TRACE in report["source"]
    assert report["placement"] == "sacrum"
    assert detector.placements == ["sacrum"]


def test_real_demo_trace_gives_a_running_cadence(capsys: pytest.CaptureFixture[str]) -> None:
    report = run_json(capsys, ["analyze", "--json"])
    contacts = report["contacts"]
    assert contacts
    assert all(c["on_s"] < c["off_s"] for c in contacts)
    assert all(a["on_s"] < b["on_s"] for a, b in itertools.pairwise(contacts))
    assert 140.0 <= report["cadence_spm"] <= 240.0
    assert 100.0 <= report["gct_ms"] <= 400.0


def installed_command() -> Path:
    return Path(sys.executable).with_name("cadence")


def test_installed_command_prints_one_json_object() -> None:
    done = subprocess.run(
        [str(installed_command()), "analyze", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["placement"] == "sacrum"
    assert 140.0 <= report["cadence_spm"] <= 240.0


def test_help_starts_without_the_heavy_modules() -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from cadence.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "print(sorted({'numba', 'scipy', 'cadence.detector'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_module_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cadence.cli", "analyze", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    assert "--placement" in done.stdout
