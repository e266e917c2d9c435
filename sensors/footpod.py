"""An RSC footpod (Running Speed and Cadence, 0x1814) as a source of SummaryRecords."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Unpack

from cadence.errors import ConfigurationError, PacketError
from cadence.events import SourceEvent, SourceInfo, SummaryRecord
from sensors._link import BleSource, LinkOptions, Packet, logger
from sensors.rsc import (
    RSC_FEATURE_UUID,
    RSC_MEASUREMENT_UUID,
    RSC_SERVICE_UUID,
    RscFeatures,
    parse_rsc_feature,
    parse_rsc_measurement,
    to_summary_record,
)

if TYPE_CHECKING:
    from bleak import BleakClient

MEASUREMENT = "RSC measurement"


class RscFootpod(BleSource):
    """A footpod's RSC Measurement notifications as :class:`SummaryRecord` events.

    Each notification becomes one record stamped with its arrival (stream seconds since the
    source was entered: RSC carries no timestamp). The link is watched and re-made as described
    in :mod:`sensors._link`.

    Args:
        expected_interval_s: how often the footpod notifies (about 1 s for most pods).
        **link: which footpod and how the link is kept (see :class:`sensors._link.BleSource`).
    """

    kind_label = "RSC footpod"
    service_uuid = RSC_SERVICE_UUID

    def __init__(self, *, expected_interval_s: float = 1.0, **link: Unpack[LinkOptions]) -> None:
        if not (math.isfinite(expected_interval_s) and 0 < expected_interval_s <= 60):
            raise ConfigurationError(
                f"expected_interval_s={expected_interval_s!r}: need 0 < s <= 60"
            )
        super().__init__(**link)
        self.expected_interval_s = expected_interval_s
        self.features: RscFeatures | None = None

    @property
    def info(self) -> SourceInfo:
        return SourceInfo(name=self._device_name, kind="footpod")

    async def _setup(self, client: BleakClient) -> None:
        try:
            self.features = parse_rsc_feature(await client.read_gatt_char(RSC_FEATURE_UUID))
        except PacketError as error:
            # The feature bits only describe the measurement; measurements still decode.
            logger.warning("%s: %s", self._device_name, error)
        await client.start_notify(RSC_MEASUREMENT_UUID, self.notification_handler(MEASUREMENT))

    def _decode(self, packet: Packet) -> Sequence[SourceEvent]:
        measurement = parse_rsc_measurement(packet.data, packet=packet.number)
        return [to_summary_record(measurement, self.stream_time_s(packet.arrival_s))]

    def _data_span(self, event: SourceEvent) -> tuple[float, float]:
        assert isinstance(event, SummaryRecord)
        return event.t_s, event.t_s

    def _expected_period_s(self) -> float:
        return self.expected_interval_s
