"""A Polar sensor's raw accelerometer (PMD service) as a source of AccelChunks.

On every connection: subscribe to the control point's indications (before writing, or the
answers never come) and to the data characteristic, ask for the ACC settings, start ACC at the
chosen rate and range. Each data frame becomes one :class:`AccelChunk` whose times come from the
sensor's own timestamps through a :class:`~sensors.clock.SensorClock` (kept across reconnects, so
a drop shows as a hole in the times, and drift against the host is corrected), in g. Sample
times share the link statuses' axis (seconds since the source was entered): the first sample
sits where its frame's arrival puts it, never before the "connected" status.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Unpack

import numpy as np

from cadence.errors import ConfigurationError, PacketError, SensorError
from cadence.events import AccelChunk, SourceEvent, SourceInfo
from sensors._link import BleSource, LinkOptions, Packet
from sensors.clock import SensorClock
from sensors.pmd import (
    ACC,
    OP_START,
    PMD_CONTROL_UUID,
    PMD_DATA_UUID,
    PMD_SERVICE_UUID,
    SETTING_RANGE,
    SETTING_RESOLUTION,
    SETTING_SAMPLE_RATE,
    ControlResponse,
    build_get_settings_request,
    build_start_request,
    decode_acc_frame,
    is_polar_name,
    parse_control_response,
)

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.scanner import AdvertisementData

DATA: Final = "PMD data"
CONTROL_TIMEOUT_S: Final = 10.0
FIRST_FRAME_WAIT_S: Final = 1.0  # the watchdog's period until the first frame tells the real one
PREFERRED_RESOLUTION_BITS: Final = 16
# "Already in state": ACC still runs from before a reconnect; its samples are what we want.
STATUS_ALREADY_IN_STATE: Final = 6


class PolarAccelerometer(BleSource):
    """Raw acceleration from a Polar H10 / Verity Sense over PMD, as :class:`AccelChunk` events.

    Args:
        sample_rate_hz: ACC rate to start (H10: 25, 50, 100, 200); must be one the sensor offers.
        range_g: ACC range (H10: 2, 4, 8).
        placement: where the sensor is worn, for the detector ("chest" for an H10 strap).
        **link: which sensor and how the link is kept (see :class:`sensors._link.BleSource`);
            the watchdog's period is the span of the last frame.
    """

    kind_label = "Polar PMD sensor"
    service_uuid = PMD_SERVICE_UUID

    def __init__(
        self,
        *,
        sample_rate_hz: int = 200,
        range_g: int = 8,
        placement: str = "chest",
        **link: Unpack[LinkOptions],
    ) -> None:
        if not 1 <= sample_rate_hz <= 0xFFFF:
            raise ConfigurationError(f"sample_rate_hz={sample_rate_hz!r}: need 1 to 65535")
        if not 1 <= range_g <= 0xFFFF:
            raise ConfigurationError(f"range_g={range_g!r}: need 1 to 65535")
        if not placement.strip():
            raise ConfigurationError("placement='': say where the sensor is worn, e.g. chest")
        super().__init__(**link)
        self.sample_rate_hz = sample_rate_hz
        self.range_g = range_g
        self.placement = placement
        self.offered_settings: dict[int, list[int]] = {}
        self._clock: SensorClock | None = None  # made at the first frame, kept after
        self._factor = 1.0
        self._frame_span_s = FIRST_FRAME_WAIT_S
        self._responses: asyncio.Queue[bytes] = asyncio.Queue()

    @property
    def info(self) -> SourceInfo:
        return SourceInfo(
            name=self._device_name,
            kind="accelerometer",
            placement=self.placement,
            fs_hz=float(self.sample_rate_hz),
        )

    async def _setup(self, client: BleakClient) -> None:
        self._responses = asyncio.Queue()
        self._frame_span_s = FIRST_FRAME_WAIT_S
        responses = self._responses

        def on_control(_characteristic: object, data: bytearray) -> None:
            responses.put_nowait(bytes(data))

        await client.start_notify(PMD_CONTROL_UUID, on_control)
        await client.start_notify(PMD_DATA_UUID, self.notification_handler(DATA))
        offered = await self._request(client, build_get_settings_request())
        self.offered_settings = offered.settings or {}
        resolution = self._choose(SETTING_RESOLUTION, PREFERRED_RESOLUTION_BITS, "resolution_bits")
        self._choose(SETTING_SAMPLE_RATE, self.sample_rate_hz, "sample_rate_hz")
        self._choose(SETTING_RANGE, self.range_g, "range_g")
        started = await self._request(
            client,
            build_start_request(
                sample_rate_hz=self.sample_rate_hz,
                range_g=self.range_g,
                resolution_bits=resolution,
            ),
        )
        self._factor = started.factor if started.factor is not None else 1.0

    def _choose(self, setting: int, wanted: int, argument: str) -> int:
        """``wanted`` if the sensor offers it (or lists no choice), else a clear error."""
        offered = self.offered_settings.get(setting)
        if not offered or wanted in offered:
            return wanted
        if argument == "resolution_bits":
            return offered[0]
        raise SensorError(
            f"{self._device_name} offers ACC {argument} {', '.join(map(str, offered))}; "
            f"{wanted} was asked for"
        )

    async def _request(self, client: BleakClient, request: bytes) -> ControlResponse:
        """Write a control point request and wait for its answer (an indication)."""
        await client.write_gatt_char(PMD_CONTROL_UUID, request, response=True)
        async with asyncio.timeout(CONTROL_TIMEOUT_S):
            while True:
                raw = await self._responses.get()
                try:
                    response = parse_control_response(raw)
                except PacketError as error:
                    self._count_bad_packet(error)
                    continue
                if response.op_code != request[0] or response.measurement != ACC:
                    continue
                if not response.ok and not (
                    response.op_code == OP_START and response.status == STATUS_ALREADY_IN_STATE
                ):
                    raise SensorError(
                        f"{self._device_name} refused PMD request {request.hex(' ')}: "
                        f"{response.message}"
                    )
                return response

    def _is_candidate(self, name: str | None, advertisement: AdvertisementData) -> bool:
        # An H10 need not advertise the PMD service; its name says what it is.
        return super()._is_candidate(name, advertisement) or is_polar_name(name)

    def _decode(self, packet: Packet) -> Sequence[SourceEvent]:
        frame = decode_acc_frame(packet.data, packet=packet.number, factor=self._factor)
        if self._clock is None:
            self._clock = SensorClock(
                nominal_fs_hz=self.sample_rate_hz, host_start_s=self.connected_at_s
            )
        arrival_s = self.stream_time_s(packet.arrival_s)
        times = self._clock.update(frame.timestamp_ns, len(frame), arrival_s)
        self._frame_span_s = len(frame) / self.sample_rate_hz
        return [AccelChunk(times, frame.acc_mg.astype(np.float64) / 1000.0)]

    def _data_span(self, event: SourceEvent) -> tuple[float, float]:
        assert isinstance(event, AccelChunk)
        return float(event.t_s[0]), float(event.t_s[-1])

    def _expected_period_s(self) -> float:
        return max(self._frame_span_s, math.ulp(1.0))
