"""`cadence run --demo`: the whole coach on the built-in run, with known episodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadence.cli import main
from cadence.commands.run import DEMO_CADENCE_POINTS, DEMO_OVERSTRIDE_S
from cadence.recording import read_recording

ALERT_WINDOW_S = 20.0  # the rules' default window; the issue allows window + 5 s


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "session"
    code = main(
        ["run", "--demo", "--speed", "2000", "--no-audio", "--no-console", "--record", str(folder)]
    )
    assert code == 0
    return folder


def test_demo_low_cadence_stretch_is_alerted_in_time_and_cleared(demo_session: Path) -> None:
    recording = read_recording(demo_session)
    low_start_s = DEMO_CADENCE_POINTS[2][0]  # 158 spm from here
    low_end_s = DEMO_CADENCE_POINTS[4][0]  # back at 172 spm
    raised = [a for a in recording.alerts if a.kind == "low_cadence" and a.state == "raised"]
    cleared = [a for a in recording.alerts if a.kind == "low_cadence" and a.state == "cleared"]
    first = next(a for a in raised if a.t_s >= low_start_s - 10)
    assert first.t_s <= low_start_s + ALERT_WINDOW_S + 5
    assert any(low_end_s <= a.t_s <= low_end_s + 30 for a in cleared)


def test_demo_overstride_episode_is_alerted_in_time(demo_session: Path) -> None:
    recording = read_recording(demo_session)
    start_s, end_s = DEMO_OVERSTRIDE_S[0]
    raised = [a for a in recording.alerts if a.kind == "overstride" and a.state == "raised"]
    assert any(start_s <= a.t_s <= start_s + ALERT_WINDOW_S + 5 for a in raised)
    cleared = [a for a in recording.alerts if a.kind == "overstride" and a.state == "cleared"]
    assert any(end_s <= a.t_s <= end_s + 30 for a in cleared)


def test_demo_good_running_before_the_episodes_is_quiet(demo_session: Path) -> None:
    recording = read_recording(demo_session)
    first_episode_s = DEMO_CADENCE_POINTS[1][0]
    assert recording.alerts
    assert all(a.t_s >= first_episode_s for a in recording.alerts)
    assert recording.complete
