"""The console view: what it shows, that it fits small terminals, and that it keeps redrawing."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import re
import struct
import termios
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cadence.contacts import Contact
from cadence.errors import ConfigurationError
from cadence.events import Alert, Metrics, SourceStatus, StreamGap
from cadence.sinks import Sink
from cadence.sinks.console import ConsoleSink, ConsoleState, render_line, render_view

LOW_MESSAGE = "Cadence 158 spm is below your target of 170 spm: take quicker, lighter steps"


def running_state() -> ConsoleState:
    state = ConsoleState()
    state.update(SourceStatus(t_s=10.0, state="connected", battery_pct=80, bad_packets=3))
    state.update(Contact(on_s=10.2, off_s=10.45))
    state.update(
        Metrics(
            t_s=135.0,
            activity="running",
            cadence_spm=172.4,
            gct_ms=245.2,
            step_length_m=1.118,
            speed_mps=3.2,
            steps_total=1234,
        )
    )
    return state


def low_cadence(state: str = "raised") -> Alert:
    message = LOW_MESSAGE if state == "raised" else "Cadence back on target"
    return Alert(t_s=136.0, kind="low_cadence", state=state, message=message)  # type: ignore[arg-type]


@pytest.mark.parametrize("width", [40, 80])
def test_view_shows_the_run_and_fits_the_width(width: int) -> None:
    lines = render_view(running_state(), width)
    assert all(len(line) <= width for line in lines)
    text = "\n".join(lines)
    for expected in [
        "cadence 172 spm",
        "GCT 245 ms",
        "step 1.12 m",
        "3.20 m/s 5:12/km",  # 1000 m at 3.2 m/s = 312.5 s
        "running",
        "1234 steps",
        "time 2:05",  # stream seconds 10 → 135
        "no alerts",
        "sensor connected",
        "battery 80%",
        "3 bad packets",
    ]:
        assert expected in text


def test_narrow_view_uses_more_lines_than_wide() -> None:
    assert len(render_view(running_state(), 40)) > len(render_view(running_state(), 80))


def test_view_before_any_data() -> None:
    text = "\n".join(render_view(ConsoleState(), 40))
    assert "cadence -- spm" in text
    assert "waiting for data" in text
    assert "sensor: no status yet" in text


@pytest.mark.parametrize("width", [40, 80])
def test_alerts_appear_whole_and_disappear_when_cleared(width: int) -> None:
    state = running_state()
    state.update(low_cadence())
    state.update(Alert(t_s=137.0, kind="overstride", state="raised", message=""))
    lines = render_view(state, width)
    assert all(len(line) <= width for line in lines)
    text = " ".join(line.strip() for line in lines)
    assert "! CADENCE LOW: " + LOW_MESSAGE in text  # wrapped, never cut short
    assert "! OVERSTRIDING" in text
    assert "no alerts" not in text

    state.update(low_cadence("cleared"))
    text = "\n".join(render_view(state, width))
    assert "CADENCE LOW" not in text
    assert "OVERSTRIDING" in text
    state.update(Alert(t_s=140.0, kind="overstride", state="cleared", message=""))
    assert "no alerts" in render_view(state, width)


def test_compact_line_holds_the_same_figures() -> None:
    state = running_state()
    state.update(low_cadence())
    line = render_line(state)
    assert "\n" not in line
    for expected in ["172 spm", "245 ms", "1.12 m", "1234 steps", "CADENCE LOW", "battery 80%"]:
        assert expected in line


optional = st.none() | st.floats(min_value=0.0, max_value=1e6, allow_nan=False)


@given(
    width=st.integers(min_value=20, max_value=120),
    cadence=optional,
    gct=optional,
    speed=optional,
    steps=st.integers(min_value=0, max_value=10**9),
    detail=st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=200),
    message=st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=300),
    battery=st.none() | st.integers(min_value=0, max_value=100),
    elapsed=st.floats(min_value=0.0, max_value=1e6),
)
def test_every_line_fits_any_width(
    width: int,
    cadence: float | None,
    gct: float | None,
    speed: float | None,
    steps: int,
    detail: str,
    message: str,
    battery: int | None,
    elapsed: float,
) -> None:
    state = ConsoleState()
    state.update(SourceStatus(t_s=0.0, state="disconnected", detail=detail, battery_pct=battery))
    state.update(
        Metrics(
            t_s=elapsed,
            activity="walking",
            cadence_spm=cadence,
            gct_ms=gct,
            step_length_m=gct,
            speed_mps=speed,
            steps_total=steps,
        )
    )
    state.update(StreamGap(start_s=1.0, end_s=2.0, reason="link lost"))
    state.update(Alert(t_s=3.0, kind="overstride", state="raised", message=message))
    assert all(len(line) <= width for line in render_view(state, width))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="refresh_s"):
        ConsoleSink(refresh_s=0.0)
    with pytest.raises(ConfigurationError, match="refresh_s"):
        ConsoleSink(refresh_s=2.0)  # the view must update at least once a second
    with pytest.raises(ConfigurationError, match="width"):
        ConsoleSink(width=10)
    with pytest.raises(ConfigurationError, match="columns"):
        render_view(ConsoleState(), 19)


async def test_sink_redraws_a_line_per_refresh_into_a_pipe() -> None:
    out = io.StringIO()
    async with ConsoleSink(stream=out, refresh_s=0.1) as sink:
        assert isinstance(sink, Sink)
        for item in running_state_items():
            sink.publish(item)
        await asyncio.sleep(1.0)  # a real wait: the redraw rate is what is tested
        frames_after_one_second = sink.frames
    assert frames_after_one_second >= 5  # nominally 10 at 0.1 s; ≥ 1 Hz is the requirement
    lines = out.getvalue().splitlines()
    assert len(lines) == sink.frames  # one compact line per frame, plus the final one
    assert "172 spm" in lines[-1]
    assert "\x1b" not in out.getvalue()


def running_state_items() -> Iterator[SourceStatus | Metrics]:
    state = running_state()
    assert state.status is not None
    assert state.metrics is not None
    yield state.status
    yield state.metrics


async def test_raised_alert_is_drawn_before_the_next_tick() -> None:
    out = io.StringIO()
    loop = asyncio.get_running_loop()
    async with ConsoleSink(stream=out, refresh_s=1.0) as sink:
        async with asyncio.timeout(5.0):
            while sink.frames < 1:
                await asyncio.sleep(0.01)
        published_s = loop.time()
        sink.publish(low_cadence())
        async with asyncio.timeout(5.0):
            while "CADENCE LOW" not in out.getvalue():
                await asyncio.sleep(0.01)
        # Drawn at once: the next tick is a whole second after the first frame.
        assert loop.time() - published_s < 0.5
        assert sink.frames == 2


async def test_terminal_view_redraws_in_place_within_the_terminal_width() -> None:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    received = bytearray()
    loop = asyncio.get_running_loop()
    loop.add_reader(master, lambda: received.extend(os.read(master, 65536)))
    try:
        with os.fdopen(slave, "w", encoding="utf-8") as terminal:
            async with ConsoleSink(stream=terminal, refresh_s=0.05) as sink:
                for item in running_state_items():
                    sink.publish(item)
                sink.publish(low_cadence())
                async with asyncio.timeout(10.0):
                    while sink.frames < 4:
                        await asyncio.sleep(0.01)
            frames = sink.frames
        async with asyncio.timeout(5.0):
            while received.decode("utf-8", errors="replace").count("\x1b[J") < frames:
                await asyncio.sleep(0.01)
    finally:
        loop.remove_reader(master)
        os.close(master)
    screen = received.decode("utf-8").replace("\r", "")
    drawn = screen.split("\x1b[J")[:-1]
    assert len(drawn) == frames
    previous_lines = 0
    for frame in drawn:
        up = re.match(r"\x1b\[(\d+)F", frame)
        # Each frame moves the cursor back over exactly the lines of the one before.
        assert (int(up.group(1)) if up else 0) == previous_lines
        lines = re.sub(r"\x1b\[\d*[A-Za-z]", "", frame).split("\n")[:-1]
        assert all(len(line) <= 40 for line in lines)  # the terminal's own width
        previous_lines = len(lines)
    assert "CADENCE LOW" in drawn[-1]
    assert "cadence 172 spm" in drawn[-1]
