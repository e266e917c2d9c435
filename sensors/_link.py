"""The link under every BLE source: find, connect, watch, reconnect; shared by RSC and PMD.

A :class:`BleSource` is a :class:`cadence.source.Source`. Entering it finds the sensor and makes
the first connection (or raises :class:`~cadence.errors.SensorError`). From then on a named
background task watches the link: a disconnect callback *or* silence (no data for
``silence_periods`` expected periods) counts as a drop; it disconnects, waits a jittered
exponential backoff and reconnects, for as long as the source is open. The stream marks each
drop with a :class:`~cadence.events.StreamGap` from the last data before it to the first data
after it, and never invents samples.

Notification callbacks only stamp the arrival time and append to a queue (bounded: overflow is
counted and dropped, never waited on); decoding happens in the consumer's iteration. A packet
that cannot be decoded is counted, logged once per kind of problem on the ``cadence.sensors``
logger, and skipped.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Self, TypedDict

from cadence.backoff import Backoff
from cadence.errors import ConfigurationError, PacketError, SensorError
from cadence.events import LinkState, SourceEvent, SourceInfo, SourceStatus, StreamGap
from sensors._dbus import system_bus_errors

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

logger = logging.getLogger("cadence.sensors")

DEFAULT_QUEUE_PACKETS: Final = 1024
CONNECT_TIMEOUT_S: Final = 10.0
DISCONNECT_TIMEOUT_S: Final = 5.0
_ADDRESS = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")


@dataclass(frozen=True, slots=True)
class Packet:
    """One notification as it arrived: which characteristic, its bytes, host time in s."""

    stream: str
    data: bytes
    arrival_s: float
    number: int


@dataclass(frozen=True, slots=True)
class _LinkChange:
    state: LinkState
    detail: str
    t_s: float


_Item = Packet | _LinkChange


class LinkOptions(TypedDict, total=False):
    """Which sensor, which adapter, and how the link is watched and re-made (see BleSource)."""

    address: str | None
    name: str | None
    adapter: str | None
    silence_periods: float
    backoff_initial_s: float
    backoff_max_s: float
    find_timeout_s: float
    seed: int | None


def validate_adapter(adapter: str | None) -> None:
    """Raise ConfigurationError unless ``adapter`` is None or a BlueZ name like hci0."""
    if adapter is not None and not re.fullmatch(r"hci\d+", adapter):
        raise ConfigurationError(f"adapter={adapter!r}: expected a BlueZ adapter name like hci0")


def _recoverable_errors() -> tuple[type[Exception], ...]:
    """What a failed connection attempt raises: worth another try after a backoff."""
    from bleak.exc import BleakError

    return (BleakError, TimeoutError, OSError, EOFError)


def bluez_args(adapter: str | None) -> dict[str, Any]:
    """bleak's per-backend arguments selecting a BlueZ adapter (ignored on other platforms)."""
    return {"bluez": {"adapter": adapter}} if adapter is not None else {}


class BleSource(abc.ABC):
    """A BLE sensor as a :class:`cadence.source.Source`; subclasses speak one GATT profile.

    Args (keyword-only, checked at construction):
        address: the sensor's Bluetooth address; or
        name: its advertised name; with neither, the first device advertising the service
            (or, for a Polar source, named like a Polar sensor: see ``_is_candidate``).
        adapter: BlueZ adapter to use (``hci0``); ``None`` for the system's default.
        silence_periods: this many expected periods without data count as a dropped link.
        backoff_initial_s, backoff_max_s: reconnect delays, doubling from the first to the cap.
        find_timeout_s: how long one scan for the sensor lasts.
        seed: seeds the backoff jitter (for reproducible tests).

    Subclasses provide :meth:`_setup` (subscribe and configure on each new connection),
    :meth:`_decode` (turn one packet into events, raising PacketError when it cannot) and
    :meth:`_expected_period_s` (how often data should arrive, for the watchdog).
    """

    kind_label: str = "sensor"
    service_uuid: str = ""

    def __init__(
        self,
        *,
        address: str | None = None,
        name: str | None = None,
        adapter: str | None = None,
        silence_periods: float = 3,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        find_timeout_s: float = 10.0,
        seed: int | None = None,
    ) -> None:
        if address is not None and not _ADDRESS.fullmatch(address):
            raise ConfigurationError(
                f"address={address!r}: expected six hex bytes like AA:BB:CC:00:11:22"
            )
        if name is not None and not name.strip():
            raise ConfigurationError("name='': give a device name or leave it out")
        validate_adapter(adapter)
        if not (math.isfinite(silence_periods) and silence_periods >= 1):
            raise ConfigurationError(f"silence_periods={silence_periods!r}: need at least 1")
        if not (math.isfinite(backoff_initial_s) and 0 < backoff_initial_s <= 60):
            raise ConfigurationError(f"backoff_initial_s={backoff_initial_s!r}: need 0 < s <= 60")
        if not (math.isfinite(backoff_max_s) and backoff_initial_s <= backoff_max_s <= 3600):
            raise ConfigurationError(
                f"backoff_max_s={backoff_max_s!r}: need backoff_initial_s <= s <= 3600"
            )
        if not (math.isfinite(find_timeout_s) and find_timeout_s > 0):
            raise ConfigurationError(f"find_timeout_s={find_timeout_s!r}: need > 0")
        self.address = address
        self.name = name
        self.adapter = adapter
        self.silence_periods = float(silence_periods)
        self.backoff = Backoff(initial_s=backoff_initial_s, max_s=backoff_max_s, seed=seed)
        self.find_timeout_s = find_timeout_s
        self.bad_packets = 0
        self.overflowed_packets = 0
        self.drops = 0
        self.connections = 0
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._queue_limit = DEFAULT_QUEUE_PACKETS
        self._problems_logged: set[str] = set()
        self._origin_s = 0.0
        self._last_arrival_s = 0.0
        self._packet_count = 0
        self._client: BleakClient | None = None
        self._disconnected = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._wanted = address or name or "any"
        self._device_name = name or address or ""
        self._failure: Exception | None = None
        self._gap_reason: str | None = None
        self._last_data_s: float | None = None
        self.connected_at_s: float | None = None  # stream time the latest link came up

    # -- Source protocol ----------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def info(self) -> SourceInfo: ...

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._origin_s = loop.time()
        try:
            await self._open()
        except _recoverable_errors() as error:
            raise SensorError(
                f"cannot connect to the {self.kind_label} ({self._wanted}): {error}"
            ) from error
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"ble-link-{self._device_name}"
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._close()
        self._put_change("finished", "source closed")
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[SourceEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[SourceEvent]:
        async for event in self._decoded_events():
            yield event
        if self._failure is not None:
            raise SensorError(
                f"{self._device_name}: the link watcher stopped: {self._failure!r}"
            ) from self._failure

    async def _decoded_events(self) -> AsyncIterator[SourceEvent]:
        while (item := await self._queue.get()) is not None:
            if isinstance(item, _LinkChange):
                if item.state == "disconnected" and self._last_data_s is not None:
                    self._gap_reason = item.detail
                yield SourceStatus(item.t_s, item.state, item.detail, bad_packets=self.bad_packets)
                continue
            try:
                decoded = self._decode(item)
            except PacketError as error:
                self._count_bad_packet(error)
                continue
            for event in decoded:
                start_s, end_s = self._data_span(event)
                if self._gap_reason is not None and self._last_data_s is not None:
                    yield StreamGap(self._last_data_s, start_s, self._gap_reason)
                self._gap_reason = None
                self._last_data_s = end_s
                yield event

    # -- subclass hooks -----------------------------------------------------------------------

    @abc.abstractmethod
    async def _setup(self, client: BleakClient) -> None:
        """Subscribe and configure on a fresh connection (called for every reconnection)."""

    @abc.abstractmethod
    def _decode(self, packet: Packet) -> Sequence[SourceEvent]:
        """Events for one packet; raise PacketError when it cannot be decoded."""

    @abc.abstractmethod
    def _data_span(self, event: SourceEvent) -> tuple[float, float]:
        """First and last stream time of a data event."""

    @abc.abstractmethod
    def _expected_period_s(self) -> float:
        """How often data should arrive now; silence for ``silence_periods`` of it is a drop."""

    # -- helpers for subclasses ---------------------------------------------------------------

    def stream_time_s(self, host_s: float) -> float:
        """Stream seconds of a host loop time: seconds since the source was entered."""
        return host_s - self._origin_s

    def notification_handler(self, stream: str) -> Callable[[Any, bytearray], None]:
        """A bleak notification callback that queues the packet and returns at once."""

        def on_notification(_characteristic: Any, data: bytearray) -> None:
            now = asyncio.get_running_loop().time()
            self._last_arrival_s = now
            self._packet_count += 1
            if self._queue.qsize() >= self._queue_limit:
                self.overflowed_packets += 1
                self._log_once("overflow", "%s: queue full, packet dropped", stream)
                return
            self._queue.put_nowait(Packet(stream, bytes(data), now, self._packet_count))

        return on_notification

    def _count_bad_packet(self, error: PacketError) -> None:
        self.bad_packets += 1
        self._log_once(
            f"{error.stream}: {re.sub(r'[0-9]+', 'N', error.problem)}",
            "skipping bad packet (further ones of this kind are counted, not logged): %s",
            error,
        )

    def _log_once(self, kind: str, message: str, *args: object) -> None:
        if kind not in self._problems_logged:
            self._problems_logged.add(kind)
            logger.warning(message, *args)

    def _put_change(self, state: LinkState, detail: str, t_s: float | None = None) -> None:
        """Queue a link status stamped ``t_s`` (stream seconds; default: now)."""
        if t_s is None:
            t_s = self.stream_time_s(asyncio.get_running_loop().time())
        self._queue.put_nowait(_LinkChange(state, detail, t_s))

    # -- the link -----------------------------------------------------------------------------

    def _matches(self, device: BLEDevice, advertisement: AdvertisementData) -> bool:
        if self.address is not None:
            return device.address.upper() == self.address.upper()
        if self.name is not None:
            return (advertisement.local_name or device.name) == self.name
        return self._is_candidate(advertisement.local_name or device.name, advertisement)

    def _is_candidate(self, name: str | None, advertisement: AdvertisementData) -> bool:
        """With no address or name given: whether an advertiser is a sensor of this kind."""
        return self.service_uuid in advertisement.service_uuids

    async def _open(self) -> None:
        """Find the sensor, connect and set it up; raises SensorError or a bleak error."""
        from bleak import BleakClient, BleakScanner

        with system_bus_errors():
            device = await BleakScanner.find_device_by_filter(
                self._matches, timeout=self.find_timeout_s, **bluez_args(self.adapter)
            )
        if device is None:
            raise SensorError(
                f"no {self.kind_label} found ({self._wanted}) within {self.find_timeout_s:g} s: "
                "is it on, in range and not connected to another device?"
            )
        disconnected = asyncio.Event()
        self._disconnected = disconnected
        client = BleakClient(
            device,
            disconnected_callback=lambda _client: disconnected.set(),
            timeout=CONNECT_TIMEOUT_S,
            **bluez_args(self.adapter),
        )
        with system_bus_errors():
            await client.connect()
        # "connected" is when the link came up: before the setup asks the sensor for data, so
        # no sample can have been taken before it.
        linked_at_s = self.stream_time_s(asyncio.get_running_loop().time())
        self._client = client
        self._device_name = device.name or device.address
        try:
            await self._setup(client)
        except BaseException:
            await self._close()
            raise
        self.connections += 1
        self._last_arrival_s = asyncio.get_running_loop().time()
        self.connected_at_s = linked_at_s
        self._put_change("connected", f"{self._device_name} ({device.address})", linked_at_s)

    async def _close(self) -> None:
        client, self._client = self._client, None
        # Also after the peer dropped the link: bleak's disconnect() releases its bus.
        if client is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(DISCONNECT_TIMEOUT_S):
                    await client.disconnect()

    async def _watch(self) -> str:
        """Wait until the link drops; returns why."""
        loop = asyncio.get_running_loop()
        while True:
            period_s = self._expected_period_s()
            limit_s = self.silence_periods * period_s
            silent_s = loop.time() - self._last_arrival_s
            if silent_s >= limit_s:
                return f"no data for {silent_s:.2f} s ({self.silence_periods:g} expected periods)"
            try:
                # Look again after a period at most: the period itself may have changed.
                async with asyncio.timeout(min(limit_s - silent_s, period_s)):
                    await self._disconnected.wait()
                return "disconnected by the sensor or the radio"
            except TimeoutError:
                continue

    async def _supervise(self) -> None:
        try:
            await self._keep_connected()
        except Exception as error:
            # A bug, not a radio problem: end the stream with it rather than hang.
            self._failure = error
            self._queue.put_nowait(None)
            raise

    async def _keep_connected(self) -> None:
        retry_on: tuple[type[Exception], ...] = (SensorError, *_recoverable_errors())
        while True:
            reason = await self._watch()
            self.drops += 1
            logger.info("%s: link lost (%s); reconnecting", self._device_name, reason)
            await self._close()
            self._put_change("disconnected", reason)
            self.backoff.reset()
            attempt = 0
            while True:
                await asyncio.sleep(self.backoff.next_delay_s())
                attempt += 1
                try:
                    await self._open()
                    break
                except retry_on as error:
                    logger.info(
                        "%s: reconnect attempt %d failed: %s", self._device_name, attempt, error
                    )
