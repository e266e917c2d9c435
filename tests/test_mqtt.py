"""The MQTT topic tree and JSON codec, and the MQTT sink against a real mosquitto broker."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import aiomqtt
import pytest
from _broker import (
    Mosquitto,
    free_port,
    make_password_file,
    make_tls_files,
    next_message,
    sink_process,
    subscriber,
    wait_until,
)
from hypothesis import given
from hypothesis import strategies as st

from cadence.alerts import LowCadenceRule
from cadence.contacts import Contact
from cadence.errors import ConfigurationError
from cadence.events import Alert, Metrics, SourceStatus, StreamGap
from cadence.mqtt_codec import (
    SCHEMA_VERSION,
    TOPIC_KINDS,
    MqttMessageError,
    RunnerStatus,
    TopicKind,
    decode,
    encode,
    parse_topic,
)
from cadence.sinks import Sink
from cadence.sinks.mqtt import MqttSink

METRICS = Metrics(
    t_s=61.0,
    activity="running",
    cadence_spm=165.2,
    gct_ms=254.0,
    duty_factor=0.35,
    step_length_m=1.12,
    speed_mps=3.08,
    impact_g=None,
    steps_total=171,
)
LOW_CADENCE = Alert(
    t_s=55.0, kind="low_cadence", state="raised", message="Cadence low: 163, target 170",
    value=163.0, threshold=170.0,
)  # fmt: skip
CONTACT = Contact(on_s=60.95, off_s=61.18, leg="sensor", impact_g=2.5)
LINK = SourceStatus(t_s=0.5, state="connected", detail="Stryd", battery_pct=80, bad_packets=2)


def alert(number: int) -> Alert:
    return Alert(t_s=float(number), kind="overstride", state="raised", message=f"#{number}")


def decoded(message: aiomqtt.Message) -> Any:
    assert isinstance(message.payload, bytes)
    return decode("cadence", message.topic.value, message.payload)


# --- codec --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        (METRICS, "metrics"),
        (Metrics(t_s=3.0, activity="stopped"), "metrics"),
        (LOW_CADENCE, "alerts"),
        (CONTACT, "steps"),
        (RunnerStatus(state="online", source=LINK), "status"),
        (RunnerStatus(state="offline", reason="finished"), "status"),
    ],
)
def test_payloads_decode_to_equal_objects(item: Any, kind: str) -> None:
    payload = encode("ana", item, sent_at=1_764_000_000.25)
    message = decode("cadence", f"cadence/ana/{kind}", payload)
    assert message.item == item
    assert (message.runner, message.kind, message.sent_at) == ("ana", kind, 1_764_000_000.25)
    body = json.loads(payload)
    assert body["v"] == SCHEMA_VERSION
    assert body["runner"] == "ana"


FIGURE = st.none() | st.floats(allow_nan=False, allow_infinity=False)


@given(
    st.builds(
        Metrics,
        t_s=st.floats(0, 1e6),
        activity=st.sampled_from(["running", "walking", "stopped", "unknown"]),
        cadence_spm=FIGURE,
        gct_ms=FIGURE,
        duty_factor=FIGURE,
        step_length_m=FIGURE,
        speed_mps=FIGURE,
        impact_g=FIGURE,
        steps_total=st.integers(0, 10**9),
    ),
    st.text(min_size=1).filter(lambda name: not set(name) & set("/+#\0")),
)
def test_any_metrics_survive_the_round_trip(metrics: Metrics, runner: str) -> None:
    message = decode("cadence", f"cadence/{runner}/metrics", encode(runner, metrics, sent_at=0))
    assert message.item == metrics
    assert message.runner == runner


def test_non_finite_numbers_are_sent_as_unknown() -> None:
    payload = encode("ana", Metrics(t_s=1.0, activity="running", cadence_spm=float("nan")),
                     sent_at=0.0)  # fmt: skip
    assert json.loads(payload)["cadence_spm"] is None
    item = decode("cadence", "cadence/ana/metrics", payload).item
    assert isinstance(item, Metrics)
    assert item.cadence_spm is None


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"\xff not json", "not JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'{"v": 2, "sent_at": 1, "t_s": 1, "activity": "running"}', "schema version 2"),
        (b'{"v": 1, "sent_at": 1, "activity": "running"}', "field 't_s' is missing"),
        (b'{"v": 1, "sent_at": 1, "t_s": 1, "activity": "jogging"}', "field 'activity'"),
        (b'{"v": 1, "sent_at": 1, "t_s": "1", "activity": "running"}', "field 't_s'"),
        (b'{"v": 1, "sent_at": 1, "t_s": 1, "activity": "?", "steps_total": 1}', "'activity'"),
        (b'{"v": 1, "sent_at": 1, "t_s": 1, "activity": "running", "steps_total": true}', "steps"),
        (b'{"v": 1, "t_s": 1, "activity": "running"}', "field 'sent_at'"),
    ],
)
def test_bad_payloads_name_the_topic_and_the_problem(payload: bytes, problem: str) -> None:
    with pytest.raises(MqttMessageError, match="cadence/bo/metrics") as error:
        decode("cadence", "cadence/bo/metrics", payload)
    assert problem in str(error.value)


def test_topics_parse_only_under_the_prefix() -> None:
    assert parse_topic("cadence", "cadence/ana/alerts") == ("ana", "alerts")
    assert parse_topic("club/cadence", "club/cadence/ana/status") == ("ana", "status")
    assert parse_topic("cadence", "club/cadence/ana/status") is None
    assert parse_topic("cadence", "cadence//alerts") is None
    assert parse_topic("cadence", "other/ana/alerts") is None
    assert parse_topic("cadence", "cadence/ana/heart_rate") is None
    assert parse_topic("cadence", "cadence/ana/alerts/extra") is None
    with pytest.raises(MqttMessageError, match="not a cadence topic"):
        decode("cadence", "other/ana/alerts", b"{}")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"runner": "ana/bo"}, "'/'"),
        ({"runner": "ana+"}, "'\\+'"),
        ({"runner": "#"}, "'#'"),
        ({"runner": ""}, "is empty"),
        ({"port": 0}, "not in 1-65535"),
        ({"port": 70000}, "not in 1-65535"),
        ({"queue_size": 0}, "queue_size"),
        ({"alert_qos": 3}, "alert_qos"),
        ({"password": "secret"}, "needs a username"),
        ({"tls_ca_file": Path("ca.crt")}, "TLS is off"),
        ({"tls": True, "tls_ca_file": Path("/nonexistent/ca.crt")}, "does not exist"),
        ({"backoff_initial_s": 0.0}, "backoff"),
        ({"topic_prefix": "club//cadence"}, "topic prefix"),
    ],
)
def test_sink_options_are_checked_at_construction(options: dict[str, Any], problem: str) -> None:
    arguments: dict[str, Any] = {"runner": "ana", **options}
    with pytest.raises(ConfigurationError, match=problem):
        MqttSink(**arguments)


# --- sink against a real broker -----------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path, persistent=True)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


def make_sink(port: int, **options: Any) -> MqttSink:
    return MqttSink(
        runner="ana", hostname="127.0.0.1", port=port, backoff_initial_s=0.05,
        backoff_max_s=0.2, **options,
    )  # fmt: skip


@pytest.fixture
async def coach(broker: Mosquitto) -> AsyncIterator[aiomqtt.Client]:
    async with subscriber(broker, "cadence/#") as client:
        yield client


async def test_metrics_alerts_and_steps_arrive_with_their_topics_and_qos(
    broker: Mosquitto, coach: aiomqtt.Client
) -> None:
    sink = make_sink(broker.port, publish_steps=True)
    assert isinstance(sink, Sink)
    sink.publish(LINK)
    async with sink:
        status = await next_message(coach, lambda m: m.topic.value == "cadence/ana/status")
        assert decoded(status).item == RunnerStatus(state="online", source=LINK)
        for item in (METRICS, StreamGap(1.0, 2.0, "link lost"), CONTACT, LOW_CADENCE):
            sink.publish(item)
        received: dict[str, aiomqtt.Message] = {}
        while len(received) < 3:
            message = await next_message(coach, lambda m: not m.topic.matches("+/+/status"))
            received[message.topic.value] = message
    assert decoded(received["cadence/ana/metrics"]).item == METRICS
    assert decoded(received["cadence/ana/alerts"]).item == LOW_CADENCE
    assert decoded(received["cadence/ana/steps"]).item == CONTACT
    assert received["cadence/ana/alerts"].qos == 1
    assert received["cadence/ana/metrics"].qos == 0
    assert (sink.sent, sink.dropped, sink.reconnects) == (3, 0, 0)


async def test_steps_are_not_published_unless_asked_for(
    broker: Mosquitto, coach: aiomqtt.Client
) -> None:
    async with make_sink(broker.port) as sink:
        sink.publish(CONTACT)
        sink.publish(METRICS)
        message = await next_message(coach, lambda m: not m.topic.matches("+/+/status"))
    assert message.topic.value == "cadence/ana/metrics"
    assert sink.sent == 1


async def test_status_is_retained_online_then_offline_after_a_clean_exit(
    broker: Mosquitto,
) -> None:
    async with make_sink(broker.port) as sink:
        await wait_until(lambda: sink.connected, "the sink is connected")
        async with subscriber(broker, "cadence/ana/status") as late_watcher:
            status = await next_message(late_watcher)
            assert status.retain
            assert decoded(status).item == RunnerStatus(state="online")
            sink.publish(LINK)
            update = await next_message(late_watcher)
            assert decoded(update).item == RunnerStatus(state="online", source=LINK)
    async with subscriber(broker, "cadence/ana/status") as later_watcher:
        status = await next_message(later_watcher)
    assert status.retain
    assert decoded(status).item == RunnerStatus(state="offline", reason="finished", source=LINK)


async def test_last_will_says_offline_when_the_runner_process_dies(
    broker: Mosquitto, coach: aiomqtt.Client
) -> None:
    async with sink_process("bo", broker) as process:
        online = await next_message(coach, lambda m: m.topic.value == "cadence/bo/status")
        assert decoded(online).item == RunnerStatus(state="online")
        process.kill()  # SIGKILL: no clean disconnect, the broker sends the will
        will = await next_message(coach, lambda m: m.topic.value == "cadence/bo/status")
    assert decoded(will).item == RunnerStatus(state="offline", reason="connection lost")
    async with subscriber(broker, "cadence/bo/status") as late_watcher:
        retained = await next_message(late_watcher)
    assert retained.retain
    assert decoded(retained).item.state == "offline"


async def keep_session(broker: Mosquitto, client_id: str) -> None:
    """Open a persistent session subscribed to alerts: QoS 1 messages wait in it for us."""
    async with subscriber(broker, "cadence/+/alerts", identifier=client_id, clean_session=False):
        pass


async def alerts_in_session(broker: Mosquitto, client_id: str, count: int) -> list[Any]:
    async with subscriber(broker, identifier=client_id, clean_session=False) as client:
        return [decoded(await next_message(client)).item for _ in range(count)]


async def test_publish_never_waits_and_counts_drops_when_the_broker_is_down(
    broker: Mosquitto,
) -> None:
    assert not inspect.iscoroutinefunction(MqttSink.publish)
    await keep_session(broker, "coach")
    broker.stop()
    alerts = [alert(n) for n in range(10)]
    async with make_sink(broker.port, queue_size=100) as sink:
        for n in range(10_000):
            sink.publish(Metrics(t_s=float(n), activity="running", steps_total=n))
            if n % 1000 == 999:
                sink.publish(alerts[n // 1000])
        assert (sink.queued, sink.dropped) == (100, 10_010 - 100)
        await wait_until(lambda: sink.connect_failures >= 2, "the sink has tried twice")
        assert not sink.connected
        broker.start()
        await wait_until(lambda: sink.sent == 100, "the queue is sent")
    assert sink.dropped == 10_010 - 100
    received = await alerts_in_session(broker, "coach", 10)
    assert received == alerts  # every alert kept: the oldest metrics made room


async def test_a_queue_of_only_alerts_drops_the_oldest_alert(broker: Mosquitto) -> None:
    await keep_session(broker, "coach")
    broker.stop()
    async with make_sink(broker.port, queue_size=3) as sink:
        for n in range(3):
            sink.publish(alert(n))
        sink.publish(METRICS)  # no room and nothing less important: the metrics go
        assert (sink.queued, sink.dropped) == (3, 1)
        sink.publish(alert(3))  # an alert makes room by dropping the oldest alert
        assert (sink.queued, sink.dropped) == (3, 2)
        broker.start()
        await wait_until(lambda: sink.sent == 3, "the queue is sent")
    sink.publish(alert(4))  # after the end: counted, not sent
    assert (sink.sent, sink.dropped) == (3, 3)
    assert await alerts_in_session(broker, "coach", 3) == [alert(1), alert(2), alert(3)]


async def test_alerts_queued_during_a_broker_restart_arrive_after_it(broker: Mosquitto) -> None:
    await keep_session(broker, "coach")
    async with make_sink(broker.port) as sink:
        sink.publish(alert(0))
        await wait_until(lambda: sink.sent == 1, "the broker acknowledged the first alert")
        broker.stop()
        await wait_until(lambda: not sink.connected, "the sink saw the broker go")
        during_outage = [alert(n) for n in range(1, 6)]
        for item in during_outage:
            sink.publish(item)
            sink.publish(METRICS)
        broker.start()
        await wait_until(lambda: sink.queued == 0 and sink.sent == 11, "the queue is sent")
        assert (sink.reconnects, sink.dropped) == (1, 0)
        received = await alerts_in_session(broker, "coach", 6)
    assert received == [alert(0), *during_outage]


async def alert_delivered(
    broker: Mosquitto, *, subscriber_options: dict[str, Any], sink_options: dict[str, Any]
) -> bool:
    """Whether an alert from a sink reaches a subscriber, the sink connecting at first try."""
    async with (
        subscriber(broker, "cadence/ana/alerts", **subscriber_options) as watcher,
        make_sink(broker.port, **sink_options) as sink,
    ):
        sink.publish(alert(7))
        message = await next_message(watcher)
    return decoded(message).item == alert(7) and sink.connect_failures == 0


async def test_wrong_credentials_are_retried_without_raising_and_right_ones_work(
    tmp_path: Path,
) -> None:
    passwords = make_password_file(tmp_path, "ana", "right horse battery")
    broker = Mosquitto(tmp_path, extra_config=f"allow_anonymous false\npassword_file {passwords}")
    broker.start()
    try:
        wrong = make_sink(broker.port, username="ana", password="wrong", flush_timeout_s=0.1)
        async with wrong:
            wrong.publish(alert(1))
            await wait_until(lambda: wrong.connect_failures >= 2, "two attempts were refused")
            assert not wrong.connected
            assert wrong.last_error is not None
            assert "authori" in wrong.last_error.lower()
        assert (wrong.sent, wrong.dropped) == (0, 1)
        login = {"username": "ana", "password": "right horse battery"}
        assert await alert_delivered(broker, subscriber_options=login, sink_options=login)
    finally:
        broker.stop()


# paho-mqtt 2.2 does not close the socket of a failed TLS handshake (_ssl_wrap_socket): the
# ResourceWarning when it is collected is paho's, not the sink's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_tls_with_a_private_ca(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    broker = Mosquitto(
        tmp_path,
        extra_config=f"allow_anonymous true\ncertfile {tls.server_cert}\nkeyfile {tls.server_key}",
    )
    broker.start()
    try:
        untrusted = make_sink(broker.port, tls=True, flush_timeout_s=0.1)
        async with untrusted:
            await wait_until(lambda: untrusted.connect_failures >= 1, "the CA was refused")
        assert untrusted.last_error is not None
        assert "certificate verify failed" in untrusted.last_error
        tls_params = aiomqtt.TLSParameters(ca_certs=str(tls.ca_cert))
        assert await alert_delivered(
            broker,
            subscriber_options={"tls_params": tls_params},
            sink_options={"tls": True, "tls_ca_file": tls.ca_cert},
        )
    finally:
        broker.stop()


async def test_nothing_listening_is_a_counted_failure_not_an_error() -> None:
    sink = make_sink(free_port(), flush_timeout_s=0.1)
    async with sink:
        sink.publish(alert(1))
        await wait_until(lambda: sink.connect_failures >= 3, "three attempts failed")
    assert (sink.sent, sink.dropped, sink.connected) == (0, 1, False)


# -- the payload examples in docs/mqtt.md are what the code sends -------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "mqtt.md"


def documented_payloads() -> dict[TopicKind, bytes]:
    """The JSON examples of docs/mqtt.md by topic kind, unwrapped to one line each."""
    blocks = re.findall(r"\*\*(\w+)\*\* — .*?```json\n(.*?)```", DOCS.read_text(), re.DOTALL)
    examples = {kind: "".join(line.strip() for line in text.splitlines()) for kind, text in blocks}
    assert sorted(examples) == sorted(TOPIC_KINDS)
    return {cast(TopicKind, kind): text.encode() for kind, text in examples.items()}


@pytest.mark.parametrize("kind", ["metrics", "alerts", "status", "steps"])
def test_documented_payloads_are_encoder_output(kind: TopicKind) -> None:
    payload = documented_payloads()[kind]
    message = decode("cadence", f"cadence/ana/{kind}", payload)
    assert encode(message.runner, message.item, sent_at=message.sent_at) == payload


def test_documented_metrics_and_alert_look_like_real_ones() -> None:
    payloads = documented_payloads()
    metrics = decode("cadence", "cadence/ana/metrics", payloads["metrics"]).item
    alert = decode("cadence", "cadence/ana/alerts", payloads["alerts"]).item
    assert isinstance(metrics, Metrics)
    assert isinstance(alert, Alert)
    # Per-second metrics and the rules deciding on them: whole stream seconds.
    assert metrics.t_s == round(metrics.t_s)
    assert alert.t_s == round(alert.t_s)
    # The standard per-stride duty factor: a foot's contact time over the stride time.
    assert metrics.cadence_spm is not None
    assert metrics.gct_ms is not None
    stride_s = 120.0 / metrics.cadence_spm
    assert metrics.duty_factor == pytest.approx(metrics.gct_ms / 1000.0 / stride_s, abs=0.005)
    # The alert's wording is the rule's own for its value and threshold.
    assert alert.kind == "low_cadence"
    assert alert.state == "raised"
    assert alert.value is not None
    assert alert.threshold is not None
    rule = LowCadenceRule(target_spm=alert.threshold)
    assert rule.raised_message(alert.value) == (alert.message, alert.threshold)
