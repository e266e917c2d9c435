"""The MQTT sink: per-second metrics, alerts and the runner's status on an MQTT broker.

``publish`` only appends to a bounded in-memory queue, so a broker that is slow, down or gone
never stalls the pipeline. A named background task (``cadence-mqtt``) connects with aiomqtt,
publishes a retained ``online`` status (the retained ``offline`` last will covers a crash),
sends the queue alerts first, and on any MQTT error reconnects with jittered exponential
backoff. Queued items survive reconnections; a message whose send failed is sent again first
(QoS 1 delivery is at least once). When the queue is full the oldest metrics (or steps) are
dropped, alerts only when nothing else is left; every dropped item is counted in ``dropped``.

Topics and payloads are in :mod:`cadence.mqtt_codec` and docs/mqtt.md.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from contextlib import suppress
from pathlib import Path
from typing import Self

import aiomqtt

from cadence.backoff import Backoff
from cadence.contacts import Contact
from cadence.errors import ConfigurationError
from cadence.events import Alert, Metrics, PipelineOutput, SourceStatus
from cadence.mqtt_broker import BrokerSettings
from cadence.mqtt_codec import (
    DEFAULT_PREFIX,
    TOPIC_KINDS,
    Carried,
    RunnerStatus,
    TopicKind,
    check_topic_level,
    encode,
    kind_of,
    topic,
)

log = logging.getLogger(__name__)


class MqttSink:
    """Publishes the pipeline's output for one runner to an MQTT broker; never blocks.

    Counters for the console and the tests: ``sent`` messages (metrics, alerts, steps),
    ``dropped`` items (queue overflow, and what was still unsent when the sink closed),
    ``reconnects`` after a lost connection, ``connect_failures`` (refused, unreachable or
    rejected credentials), ``connected`` and ``last_error``.
    """

    def __init__(
        self,
        *,
        runner: str,
        hostname: str = "localhost",
        port: int = 1883,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        tls_ca_file: Path | None = None,
        keepalive_s: int = 15,
        queue_size: int = 1000,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        metrics_qos: int = 0,
        alert_qos: int = 1,
        topic_prefix: str = DEFAULT_PREFIX,
        publish_steps: bool = False,
        flush_timeout_s: float = 2.0,
    ) -> None:
        check_topic_level(runner, "runner name")
        for level in topic_prefix.split("/"):
            check_topic_level(level, f"topic prefix {topic_prefix!r} level")
        for name, qos in (("metrics_qos", metrics_qos), ("alert_qos", alert_qos)):
            if qos not in (0, 1, 2):
                raise ConfigurationError(f"{name} must be 0, 1 or 2, not {qos!r}")
        if queue_size < 1:
            raise ConfigurationError(f"queue_size must be at least 1, not {queue_size}")
        if flush_timeout_s < 0:
            raise ConfigurationError(f"flush_timeout_s must not be negative: {flush_timeout_s}")
        self.runner = runner
        self.broker = BrokerSettings(
            hostname=hostname,
            port=port,
            username=username,
            password=password,
            tls=tls,
            tls_ca_file=tls_ca_file,
            keepalive_s=keepalive_s,
        )
        self._backoff = Backoff(initial_s=backoff_initial_s, max_s=backoff_max_s)
        self._queue_size = queue_size
        self._flush_timeout_s = flush_timeout_s
        self._publish_steps = publish_steps
        self._topics: dict[TopicKind, str] = {
            kind: topic(topic_prefix, runner, kind) for kind in TOPIC_KINDS
        }
        self._qos: dict[TopicKind, int] = {
            "metrics": metrics_qos,
            "alerts": alert_qos,
            "steps": metrics_qos,
            "status": 1,
        }
        # One client id for the sink's life: a reconnection takes over the old session, so a
        # stale connection's last will cannot arrive after the new "online".
        self._identifier = f"cadence-{runner}-{secrets.token_hex(4)}"
        self._alerts: deque[Alert] = deque()
        self._others: deque[Metrics | Contact] = deque()
        self._in_flight: Carried | None = None
        self._source: SourceStatus | None = None
        self._source_announced: SourceStatus | None = None
        self._closing = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._finished = False
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0
        self.reconnects = 0
        self.connect_failures = 0
        self.connected = False
        self.last_error: str | None = None
        self._ever_connected = False

    @property
    def queued(self) -> int:
        """Items waiting to be sent (not counting one being sent)."""
        return len(self._alerts) + len(self._others)

    def publish(self, item: PipelineOutput) -> None:
        """Queue one item for the broker; returns at once and never raises for I/O trouble."""
        if isinstance(item, SourceStatus):
            self._source = item
        elif isinstance(item, Alert | Metrics) or (
            isinstance(item, Contact) and self._publish_steps
        ):
            if self._closing.is_set():
                self.dropped += 1
                return
            if self.queued >= self._queue_size and not self._make_room(item):
                return
            if isinstance(item, Alert):
                self._alerts.append(item)
            else:
                self._others.append(item)
        else:
            return  # stream gaps (and steps unless asked for) are not published
        self._wakeup.set()

    def _make_room(self, incoming: Carried) -> bool:
        """Drop one item to make room; False if the incoming item itself is the one dropped."""
        self.dropped += 1
        if self._others:
            self._others.popleft()
            return True
        if isinstance(incoming, Alert):
            self._alerts.popleft()
            return True
        return False

    async def __aenter__(self) -> Self:
        if self._task is not None:
            raise RuntimeError("an MqttSink can be entered only once")
        self._task = asyncio.create_task(self._run(), name="cadence-mqtt")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Send what can be sent within ``flush_timeout_s``, then a retained "offline".

        A connection attempt under way when the time is up is let finish (paho's connect
        timeout, 5 s, bounds it) and then closed, so no socket is left behind.
        """
        task = self._task
        if task is None:
            return
        self._closing.set()
        self._wakeup.set()
        try:
            await asyncio.wait({task}, timeout=self._flush_timeout_s)
        finally:  # also when the run itself is cancelled
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        self.connected = False
        unsent = self.queued + (self._in_flight is not None)
        if unsent:
            log.warning("MQTT sink %s closed with %d items unsent", self.runner, unsent)
        self.dropped += unsent
        self._alerts.clear()
        self._others.clear()
        self._in_flight = None
        if not task.cancelled():
            task.result()  # a bug in the background task surfaces here, not silently

    async def _run(self) -> None:
        while not self._finished:
            try:
                connecting = self.broker.connected(identifier=self._identifier, will=self._will())
                async with connecting as client:
                    self._on_connected()
                    await self._serve(client)
            except aiomqtt.MqttError as error:
                self._on_link_error(error)
            # Outside the except block: a cancelled wait must not keep the error (and with it
            # paho's socket of a failed TLS handshake) alive as its context.
            if not self._finished:
                await self._pause(self._backoff.next_delay_s())

    def _will(self) -> aiomqtt.Will:
        offline = RunnerStatus(state="offline", reason="connection lost", source=self._source)
        return aiomqtt.Will(
            topic=self._topics["status"],
            payload=encode(self.runner, offline, sent_at=time.time()),
            qos=self._qos["status"],
            retain=True,
        )

    def _on_connected(self) -> None:
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self.connected = True
        self._backoff.reset()
        log.info("MQTT sink %s connected to %s", self.runner, self.broker.hostname)

    def _on_link_error(self, error: Exception) -> None:
        # Only the text is kept: the error's traceback holds sockets that must be let go.
        self.last_error = str(error) or type(error).__name__
        if self.connected:
            log.warning("MQTT sink %s lost the broker: %s", self.runner, self.last_error)
        else:
            self.connect_failures += 1
            if self.connect_failures == 1:
                log.warning("MQTT sink %s cannot connect: %s", self.runner, self.last_error)
        self.connected = False

    async def _pause(self, delay_s: float) -> None:
        """Wait before reconnecting; the first wait after closing begins is cut short."""
        if self._closing.is_set():
            await asyncio.sleep(delay_s)
            return
        with suppress(TimeoutError):
            async with asyncio.timeout(delay_s):
                await self._closing.wait()

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Send until the link breaks (raises MqttError) or the final status is out."""
        link = asyncio.create_task(_until_disconnected(client), name="cadence-mqtt-link")
        sender = asyncio.create_task(self._drain(client), name="cadence-mqtt-send")
        try:
            await asyncio.wait({link, sender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            link.cancel()
            sender.cancel()
            await asyncio.wait({link, sender})
            errors = [t.exception() for t in (link, sender) if not t.cancelled()]
        for error in errors:
            if error is not None:
                raise error

    async def _drain(self, client: aiomqtt.Client) -> None:
        await self._send_status(client)
        while True:
            if self._in_flight is None:
                self._in_flight = self._take()
            if self._in_flight is not None:
                await self._send(client, self._in_flight)
                self._in_flight = None
                self.sent += 1
            elif self._closing.is_set():
                await self._send_status(client)
                self._finished = True
                return
            elif self._source is not self._source_announced:
                await self._send_status(client)
            else:
                self._wakeup.clear()
                await self._wakeup.wait()

    def _take(self) -> Carried | None:
        if self._alerts:
            return self._alerts.popleft()
        if self._others:
            return self._others.popleft()
        return None

    async def _send(self, client: aiomqtt.Client, item: Carried | RunnerStatus) -> None:
        kind = kind_of(item)
        payload = encode(self.runner, item, sent_at=time.time())
        await client.publish(
            self._topics[kind], payload, qos=self._qos[kind], retain=kind == "status"
        )

    async def _send_status(self, client: aiomqtt.Client) -> None:
        source = self._source
        if self._closing.is_set():
            status = RunnerStatus(state="offline", reason="finished", source=source)
        else:
            status = RunnerStatus(state="online", source=source)
        await self._send(client, status)
        self._source_announced = source


async def _until_disconnected(client: aiomqtt.Client) -> None:
    """Raise MqttError when the connection breaks: nothing is subscribed, so no message comes."""
    async for _message in client.messages:
        pass
