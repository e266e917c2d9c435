"""``cadence watch``: the table of runners, from hand-made messages and from a real broker."""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from _broker import Mosquitto, sink_process, wait_until

from cadence.commands import watch
from cadence.commands.watch import WatchBoard, follow, render_board, show
from cadence.errors import ConfigurationError
from cadence.events import Alert, Metrics, SourceStatus
from cadence.mqtt_broker import BrokerSettings
from cadence.mqtt_codec import RunnerStatus, encode
from cadence.sinks.mqtt import MqttSink

ANA_METRICS = Metrics(
    t_s=60.0, activity="running", cadence_spm=171.6, gct_ms=231.4, step_length_m=1.214
)
BO_METRICS = Metrics(t_s=42.0, activity="running", cadence_spm=158.2, gct_ms=262.0)
LOW_CADENCE = Alert(
    t_s=59.0,
    kind="low_cadence",
    state="raised",
    message="Cadence low: 163, target 170",
    value=163.0,
    threshold=170.0,
)


def feed(board: WatchBoard, runner: str, item: object, at: float) -> None:
    kind = {Metrics: "metrics", Alert: "alerts", RunnerStatus: "status"}[type(item)]
    payload = encode(runner, item, sent_at=at)  # type: ignore[arg-type]
    board.update(f"cadence/{runner}/{kind}", payload, received_at=at)


def row(text: str, runner: str) -> str:
    lines = [line for line in text.splitlines() if line.split(" ", 1)[0] == runner]
    assert len(lines) == 1, text
    return lines[0]


def test_table_shows_each_runner_with_figures_alerts_and_age() -> None:
    board = WatchBoard()
    feed(board, "ana", RunnerStatus(state="online"), at=100.0)
    feed(board, "ana", ANA_METRICS, at=101.0)
    feed(board, "ana", LOW_CADENCE, at=101.0)
    overstride = Alert(t_s=50.0, kind="overstride", state="raised", message="overstriding")
    feed(board, "ana", overstride, at=101.5)
    feed(board, "ana", Alert(t_s=55.0, kind="overstride", state="cleared", message="ok"), 102.0)
    feed(board, "bo", RunnerStatus(state="online"), at=95.0)
    feed(board, "bo", BO_METRICS, at=96.0)
    feed(board, "bo", RunnerStatus(state="offline", reason="connection lost"), at=97.0)

    text = render_board(board, now=105.0)

    ana = row(text, "ana")
    for cell in (
        "online",
        "172 spm",
        "231 ms",
        "1.21 m",
        "3 s ago",
        "Cadence low: 163, target 170",
    ):
        assert cell in ana
    assert "overstriding" not in ana  # cleared since
    bo = row(text, "bo")
    for cell in ("offline (connection lost)", "158 spm", "262 ms", "8 s ago"):
        assert cell in bo
    assert bo.split()[-1] == "-"  # no alerts, no step length
    assert text.index("ana") < text.index("bo")
    assert "2 runners" in text


def test_pattern_bad_messages_and_sensor_state() -> None:
    board = WatchBoard(pattern="club-*")
    link = SourceStatus(t_s=3.0, state="disconnected", detail="out of range")
    feed(board, "club-ana", RunnerStatus(state="online", source=link), at=10.0)
    feed(board, "solo", RunnerStatus(state="online"), at=10.0)
    board.update("cadence/club-bo/metrics", b'{"v": 9}', received_at=10.0)
    board.update("elsewhere/x/metrics", b"{}", received_at=10.0)

    text = render_board(board, now=10.0, title="my title")

    assert text.startswith("my title\n")
    assert "online, sensor disconnected" in row(text, "club-ana")
    assert "solo" not in text
    assert "club-bo" not in board.runners
    assert board.bad_messages == 2
    assert "2 bad messages" in text
    assert "last: MQTT message on elsewhere/x/metrics: not a cadence topic" in text


def test_a_retained_message_counts_from_when_it_was_sent() -> None:
    board = WatchBoard()
    finished = RunnerStatus(state="offline", reason="finished")
    payload = encode("ana", finished, sent_at=1000.0)
    board.update("cadence/ana/status", payload, received_at=11_800.0, retained=True)
    payload = encode("bo", finished, sent_at=11_700.0)
    board.update("cadence/bo/status", payload, received_at=11_800.0, retained=True)
    payload = encode("cleo", finished, sent_at=11_000.0)  # live: its arrival counts
    board.update("cadence/cleo/status", payload, received_at=11_790.0)

    text = render_board(board, now=11_801.0)

    assert "3 h ago (retained)" in row(text, "ana")
    assert "101 s ago (retained)" in row(text, "bo")
    assert "11 s ago" in row(text, "cleo")
    assert "retained" not in row(text, "cleo")
    # A live message after the retained one is what was last heard.
    metrics = encode("ana", ANA_METRICS, sent_at=0.0)
    board.update("cadence/ana/metrics", metrics, received_at=11_801.0)
    ana = row(render_board(board, now=11_801.0), "ana")
    assert "0 s ago" in ana
    assert "retained" not in ana


def test_an_empty_board_says_so() -> None:
    text = render_board(WatchBoard(), now=0.0)
    assert "(no runners yet)" in text
    assert "0 runners" in text


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@asynccontextmanager
async def following(broker: Mosquitto) -> AsyncIterator[WatchBoard]:
    """A board kept up to date from the broker, once its subscriptions are in place."""
    board = WatchBoard()
    subscribed = asyncio.Event()
    settings = BrokerSettings(hostname="127.0.0.1", port=broker.port)
    task = asyncio.create_task(follow(settings, board, subscribed=subscribed))
    try:
        async with asyncio.timeout(10):
            await subscribed.wait()
        yield board
    finally:
        task.cancel()
        await asyncio.wait({task})


async def test_two_live_runners_then_one_goes_offline_by_its_last_will(
    broker: Mosquitto,
) -> None:
    async with (
        following(broker) as board,
        MqttSink(runner="ana", hostname="127.0.0.1", port=broker.port) as ana,
    ):
        async with sink_process("bo", broker) as bo:
            ana.publish(ANA_METRICS)
            ana.publish(LOW_CADENCE)

            def both_online() -> bool:
                views = board.runners
                return (
                    {"ana", "bo"} <= views.keys()
                    and all(v.status is not None and v.status.state == "online"
                            for v in views.values())
                    and "low_cadence" in views["ana"].alerts
                    and views["ana"].metrics is not None
                )  # fmt: skip

            await wait_until(both_online, "both runners are online with ana's figures")
            text = render_board(board, now=board.runners["ana"].heard_at)
            assert "172 spm" in row(text, "ana")
            assert "Cadence low: 163, target 170" in row(text, "ana")
            assert "online" in row(text, "bo")

            bo.kill()

            def bo_offline() -> bool:
                status = board.runners["bo"].status
                return status is not None and status.state == "offline"

            await wait_until(bo_offline, "bo's last will arrived")
            text = render_board(board, now=board.runners["bo"].heard_at)
        assert "offline (connection lost)" in row(text, "bo")
        assert row(text, "ana").split()[1] == "online"


async def test_show_redraws_the_board(broker: Mosquitto) -> None:
    async with MqttSink(runner="cleo", hostname="127.0.0.1", port=broker.port) as sink:
        await wait_until(lambda: sink.connected, "the sink is connected")
    async with following(broker) as board:
        await wait_until(lambda: "cleo" in board.runners, "cleo's retained status arrived")
    out = io.StringIO()
    settings = BrokerSettings(hostname="127.0.0.1", port=broker.port)
    await show(settings, board, out, title="T", frames=2, interval_s=0.0)
    frames = out.getvalue().split("T\n")
    assert len(frames) == 3  # "" before the first title, then two frames
    assert all("offline (finished)" in row(frame, "cleo") for frame in frames[1:])
    assert "\x1b[" not in out.getvalue()  # not a terminal: no screen clearing


async def test_the_watcher_reconnects_after_a_broker_restart(broker: Mosquitto) -> None:
    async with following(broker) as board:
        broker.stop()
        await wait_until(lambda: board.broker_state.startswith("unreachable"), "it saw the loss")
        assert "unreachable" in render_board(board, now=0.0)
        broker.start()
        async with MqttSink(runner="dee", hostname="127.0.0.1", port=broker.port) as sink:
            sink.publish(ANA_METRICS)
            await wait_until(lambda: "dee" in board.runners, "dee was heard after the restart")
        assert board.broker_state == "connected"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cadence")
    watch.register(parser.add_subparsers())
    return parser.parse_args(["watch", *argv])


def test_command_line_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)
    args = parse("--password-env", "NO_SUCH_PASSWORD", "--username", "coach")
    with pytest.raises(ConfigurationError, match="NO_SUCH_PASSWORD"):
        args.run(args)
    args = parse("--frames", "0")
    with pytest.raises(ConfigurationError, match="--frames"):
        args.run(args)
    args = parse("--tls", "--ca-file", "/nonexistent/ca.pem")
    with pytest.raises(ConfigurationError, match="does not exist"):
        args.run(args)


async def retain_status(
    broker: Mosquitto, runner: str, status: RunnerStatus, sent_at: float
) -> None:
    """Leave a runner's retained status on the broker, as its sink does."""
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        payload = encode(runner, status, sent_at=sent_at)
        await client.publish(f"cadence/{runner}/status", payload, qos=1, retain=True)


def test_command_draws_a_frame_and_exits(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse("--host", "127.0.0.1", "--port", str(broker.port), "--frames", "1")
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert f"127.0.0.1:{broker.port}" in out
    assert "broker connected, 0 runners" in out
    assert "(no runners yet)" in out


def test_one_frame_shows_the_runners_the_broker_kept(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first frame waits for the retained statuses, however many, and dates them by when
    they were sent: a run that finished three hours ago does not look a second old."""
    finished = RunnerStatus(state="offline", reason="finished")
    runners = [f"r{n:02d}" for n in range(30)]
    for runner in runners:
        asyncio.run(retain_status(broker, runner, finished, sent_at=time.time() - 3 * 3600))
    args = parse("--host", "127.0.0.1", "--port", str(broker.port), "--frames", "1")
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "broker connected, 30 runners" in out
    for runner in runners:
        assert "offline (finished)" in row(out, runner)
        assert "3 h ago (retained)" in row(out, runner)
