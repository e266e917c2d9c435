"""A virtual BLE footpod: serves a trace as RSC (0x1814) and Polar PMD over BlueZ's D-Bus API.

The peripheral registers a GATT application and an LE advertisement on one adapter through the
documented BlueZ API only (``sim._gatt``), so it runs unchanged as a real peripheral on a
Raspberry Pi (``cadence sim footpod --trace FILE``) and against the BlueZoo emulator in tests.

What it serves, in *sensor time* (seconds since the footpod started):

- RSC Measurement every ``rsc_interval_s``: cadence from the contacts the project's detector
  finds in the trace (steps/min over the contacts of the trailing ``CADENCE_WINDOW_S``),
  speed from the trace's ``speed_mps`` metadata (0 without it), running status from its
  ``activity`` metadata, total distance = speed x time. RSC Feature says which fields exist.
- PMD ACC (Polar H10 protocol): the trace's acceleration linearly resampled to the rate the
  client starts, in mG (int16; axes the trace lacks are 0), in raw (type 1) or delta frames of
  ``samples_per_frame`` samples; each frame's timestamp is its last sample's sensor time in ns.

The sensor keeps time while nobody listens: after a drop, data resumes at the current position,
like a real sensor. Faults for tests: :meth:`send_malformed_rsc`, :meth:`send_malformed_pmd`,
:meth:`drop_link` (the peripheral disconnects the central) and :meth:`go_silent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Self

import numpy as np
import numpy.typing as npt

from cadence.errors import ConfigurationError, PacketError, SensorError
from cadence.trace import Trace
from sensors._link import validate_adapter
from sensors.pmd import (
    ACC,
    OP_GET_SETTINGS,
    OP_START,
    OP_STOP,
    PMD_CONTROL_UUID,
    PMD_DATA_UUID,
    PMD_SERVICE_UUID,
    SETTING_RANGE,
    SETTING_RESOLUTION,
    SETTING_SAMPLE_RATE,
    STATUS_SUCCESS,
    parse_settings,
)
from sensors.rsc import (
    RSC_FEATURE_UUID,
    RSC_MEASUREMENT_UUID,
    RSC_SERVICE_UUID,
    RscFeatures,
    RscMeasurement,
)
from sim.ble_encode import (
    encode_acc_delta_frame,
    encode_acc_frame,
    encode_control_response,
    encode_rsc_feature,
    encode_rsc_measurement,
)

if TYPE_CHECKING:
    from dbus_fast.aio import MessageBus

    from sim._gatt import GattCharacteristic

logger = logging.getLogger("cadence.sim")

STANDARD_GRAVITY_MS2: Final = 9.80665
CADENCE_WINDOW_S: Final = 5.0
ACC_RATES_HZ: Final = (25, 50, 100, 200)
ACC_RANGES_G: Final = (2, 4, 8)
ACC_RESOLUTION_BITS: Final = 16
RAW_FRAME_TYPE: Final = 1  # int16 x 3 per sample, as the H10 sends
# Polar timestamps count from 2000-01-01; start the virtual sensor somewhere in 2024.
SENSOR_EPOCH_NS: Final = 756_000_000_000_000_000
PMD_FEATURES: Final = bytes([0x0F, 0x04])  # control-point read: "ACC supported"
# PMD control point statuses (polar-ble-sdk PmdControlPointResponseCode).
STATUS_INVALID_OP_CODE: Final = 1
STATUS_INVALID_MEASUREMENT: Final = 2
STATUS_INVALID_PARAMETER: Final = 5
STATUS_INVALID_SAMPLE_RATE: Final = 8
STATUS_INVALID_RANGE: Final = 9
TICK_S: Final = 0.01


def resample_acc_mg(
    trace: Trace, fs_hz: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """The trace's acceleration at ``fs_hz`` from its first sample, in mG, int16-clipped.

    Returns times (s, from 0) and an (n, 3) array in x, y, z order; axes the trace lacks are 0.
    This is exactly what the footpod serves, so tests can compare against it.
    """
    if trace.t.size < 2:
        raise ConfigurationError(f"{trace.source}: too few samples to serve")
    n = math.floor(trace.duration_s * fs_hz) + 1
    t = np.arange(n) / fs_hz
    acc_mg = np.zeros((n, 3), dtype=np.int32)
    for column, axis in enumerate(trace.acc_axes):
        values = np.interp(t + trace.t[0], trace.t, trace.acc[:, column])
        mg = np.rint(values / STANDARD_GRAVITY_MS2 * 1000.0)
        acc_mg[:, "xyz".index(axis)] = np.clip(mg, -32768, 32767).astype(np.int32)
    return t, acc_mg


@dataclass(frozen=True, slots=True)
class RscModel:
    """RSC values derived from a trace: contact times for cadence, metadata for speed."""

    contact_on_s: npt.NDArray[np.float64]
    steps_per_contact: int
    speed_mps: float
    running: bool
    duration_s: float

    @classmethod
    def from_trace(cls, trace: Trace) -> RscModel:
        from cadence.detector import detect_contacts
        from cadence.placement import placement_is_leg

        placement = trace.placement or "sacrum"
        found = detect_contacts(
            trace.t - trace.t[0],
            trace.acc,
            fs_hz=trace.fs_hz,
            placement=placement,
            up_vector=trace.up_vector,
        )
        speed = re.match(r"\s*(\d+\.?\d*)", trace.metadata.get("speed_mps", ""))
        return cls(
            contact_on_s=np.array([contact.on_s for contact in found.contacts]),
            steps_per_contact=2 if placement_is_leg(placement) else 1,
            speed_mps=float(speed.group(1)) if speed else 0.0,
            running=trace.metadata.get("activity", "running").strip().startswith("running"),
            duration_s=trace.duration_s,
        )

    def measurement_at(self, t_s: float) -> RscMeasurement:
        """The reading at sensor time ``t_s`` (the trace repeats after its end)."""
        t_in_trace = t_s % self.duration_s if self.duration_s > 0 else 0.0
        window = self.contact_on_s[
            (self.contact_on_s <= t_in_trace) & (self.contact_on_s > t_in_trace - CADENCE_WINDOW_S)
        ]
        cadence = 0.0
        if window.size >= 2:
            cadence = 60.0 * self.steps_per_contact * (window.size - 1) / (window[-1] - window[0])
        return RscMeasurement(
            speed_mps=self.speed_mps,
            cadence_spm=min(255, round(cadence)),
            running=self.running,
            total_distance_m=round(self.speed_mps * t_s, 1),
        )


@dataclass(frozen=True, slots=True)
class ServedFrame:
    """One PMD frame the footpod sent: its first sample's index, its sample count, its last
    sample's timestamp and the rate it was sent at."""

    first_sample: int
    n_samples: int
    timestamp_ns: int
    fs_hz: int


class VirtualFootpod:
    """A BLE peripheral serving a trace; use ``async with`` or :meth:`start` / :meth:`stop`.

    Args:
        trace: the recording to serve.
        adapter: BlueZ adapter to advertise on (``hci0`` on a Raspberry Pi).
        name: advertised local name.
        rsc_interval_s: sensor time between RSC notifications.
        samples_per_frame: accelerometer samples per PMD notification.
        delta_frames: send PMD delta-compressed frames instead of raw int16 frames.
        advertised_services: the service UUIDs its advertisement lists; ``None`` for the ones
            it serves (RSC and PMD). A real Polar H10 advertises Heart Rate only.
    """

    def __init__(
        self,
        trace: Trace,
        *,
        adapter: str = "hci0",
        name: str = "cadence footpod",
        rsc_interval_s: float = 1.0,
        samples_per_frame: int = 36,
        delta_frames: bool = False,
        advertised_services: Sequence[str] | None = None,
    ) -> None:
        validate_adapter(adapter)
        if not 0 < rsc_interval_s <= 60 or not math.isfinite(rsc_interval_s):
            raise ConfigurationError(f"rsc_interval_s={rsc_interval_s!r}: need 0 < s <= 60")
        if not 1 <= samples_per_frame <= 100:
            raise ConfigurationError(f"samples_per_frame={samples_per_frame!r}: need 1 to 100")
        if not trace.acc_axes:
            raise ConfigurationError(f"{trace.source}: the trace has no acceleration columns")
        self.trace = trace
        self.adapter = adapter
        self.name = name
        self.rsc_interval_s = rsc_interval_s
        self.samples_per_frame = samples_per_frame
        self.delta_frames = delta_frames
        self.advertised_services = (
            None if advertised_services is None else [u.lower() for u in advertised_services]
        )
        self.rsc_model = RscModel.from_trace(trace)
        self.served_rsc: list[tuple[float, RscMeasurement]] = []
        self.served_frames: list[ServedFrame] = []
        self.acc_fs_hz: int | None = None
        self.acc_mg: npt.NDArray[np.int32] | None = None
        self._next_sample = 0
        self._next_rsc_s = 0.0
        self._silent_until_s = -math.inf
        self._bus: MessageBus | None = None
        self._rsc_measurement: GattCharacteristic
        self._pmd_control: GattCharacteristic
        self._pmd_data: GattCharacteristic
        self._task: asyncio.Task[None] | None = None
        self._started_at = 0.0

    # -- life cycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect to the system bus, power the adapter, register the GATT app and advert."""
        from dbus_fast import BusType, Variant
        from dbus_fast.aio import MessageBus
        from dbus_fast.errors import DBusError

        from sensors._dbus import system_bus_errors
        from sim._gatt import ADAPTER, GattApplication, bluez_interface

        with system_bus_errors():
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        self._bus = bus
        adapter_path = f"/org/bluez/{self.adapter}"
        try:
            adapter = await bluez_interface(bus, adapter_path)
            properties = adapter.get_interface("org.freedesktop.DBus.Properties")
            await properties.call_set(ADAPTER, "Powered", Variant("b", True))
            app = GattApplication("/org/cadence/footpod", local_name=self.name)
            rsc = app.add_service(RSC_SERVICE_UUID)
            self._rsc_measurement = app.add_characteristic(rsc, RSC_MEASUREMENT_UUID, ["notify"])
            app.add_characteristic(rsc, RSC_FEATURE_UUID, ["read"], on_read=self._rsc_feature_value)
            pmd = app.add_service(PMD_SERVICE_UUID)
            self._pmd_control = app.add_characteristic(
                pmd,
                PMD_CONTROL_UUID,
                ["read", "write", "indicate"],
                on_read=lambda: PMD_FEATURES,
                on_write=self._on_control_write,
            )
            self._pmd_data = app.add_characteristic(
                pmd, PMD_DATA_UUID, ["notify"], on_subscribe=self._on_data_subscribe
            )
            await app.register(bus, adapter_path, advertised=self.advertised_services)
        except DBusError as error:
            bus.disconnect()
            raise SensorError(
                f"cannot start the virtual footpod on {self.adapter}: {error.text} "
                "(is bluetoothd running and the adapter present?)"
            ) from error
        self._started_at = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._serve(), name="virtual-footpod")
        logger.info("virtual footpod %r advertising on %s", self.name, self.adapter)

    async def stop(self) -> None:
        """Stop serving and leave the bus (BlueZ then drops the app and the advertisement)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._bus is not None:
            self._bus.disconnect()
            await self._bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
            self._bus = None

    # -- time and serving -------------------------------------------------------------------

    @property
    def sensor_time_s(self) -> float:
        """Seconds of sensor time since the footpod started."""
        return asyncio.get_running_loop().time() - self._started_at

    async def _serve(self) -> None:
        while True:
            now = self.sensor_time_s
            if now >= self._silent_until_s:
                self._serve_rsc(now)
                self._serve_acc(now)
            else:
                self._skip_to(now)
            await asyncio.sleep(TICK_S)

    def _skip_to(self, now: float) -> None:
        """Readings and samples of a silent spell are never sent, as if lost on the way."""
        self._next_rsc_s = max(
            self._next_rsc_s, self.rsc_interval_s * math.ceil(now / self.rsc_interval_s)
        )
        if self.acc_fs_hz is not None:
            self._next_sample = max(self._next_sample, math.floor(now * self.acc_fs_hz))

    def _serve_rsc(self, now: float) -> None:
        if now < self._next_rsc_s:
            return
        t_s = self._next_rsc_s
        self._next_rsc_s += self.rsc_interval_s * max(
            1, math.floor((now - t_s) / self.rsc_interval_s)
        )
        measurement = self.rsc_model.measurement_at(t_s)
        if self._rsc_measurement.notify(encode_rsc_measurement(measurement)):
            self.served_rsc.append((t_s, measurement))

    def _serve_acc(self, now: float) -> None:
        if self.acc_fs_hz is None or self.acc_mg is None:
            return
        n_total = self.acc_mg.shape[0]
        while (self._next_sample + self.samples_per_frame) / self.acc_fs_hz <= now:
            first = self._next_sample
            indices = np.arange(first, first + self.samples_per_frame) % n_total
            last = first + self.samples_per_frame - 1
            timestamp_ns = SENSOR_EPOCH_NS + round(last * 1_000_000_000 / self.acc_fs_hz)
            samples = self.acc_mg[indices]
            if self.delta_frames:
                frame = encode_acc_delta_frame(timestamp_ns, samples)
            else:
                frame = encode_acc_frame(timestamp_ns, samples, frame_type=RAW_FRAME_TYPE)
            if not self._pmd_data.notify(frame):
                return
            self.served_frames.append(
                ServedFrame(first, self.samples_per_frame, timestamp_ns, self.acc_fs_hz)
            )
            self._next_sample += self.samples_per_frame

    # -- GATT handlers ----------------------------------------------------------------------

    def _rsc_feature_value(self) -> bytes:
        return encode_rsc_feature(RscFeatures(total_distance=True, walking_running_status=True))

    def _on_control_write(self, request: bytes) -> None:
        op_code = request[0] if request else 0
        measurement = request[1] if len(request) > 1 else 0
        if op_code not in (OP_GET_SETTINGS, OP_START, OP_STOP):
            self._respond(op_code, measurement, STATUS_INVALID_OP_CODE)
        elif measurement != ACC:
            self._respond(op_code, measurement, STATUS_INVALID_MEASUREMENT)
        elif op_code == OP_GET_SETTINGS:
            settings = {
                SETTING_SAMPLE_RATE: list(ACC_RATES_HZ),
                SETTING_RESOLUTION: [ACC_RESOLUTION_BITS],
                SETTING_RANGE: list(ACC_RANGES_G),
            }
            self._respond(op_code, measurement, STATUS_SUCCESS, settings)
        elif op_code == OP_STOP:
            self.acc_fs_hz = None
            self._respond(op_code, measurement, STATUS_SUCCESS)
        else:
            self._start_acc(request)

    def _start_acc(self, request: bytes) -> None:
        try:
            settings = parse_settings(request[2:])
        except PacketError:
            self._respond(OP_START, ACC, STATUS_INVALID_PARAMETER)
            return
        rates = settings.get(SETTING_SAMPLE_RATE, [])
        ranges = settings.get(SETTING_RANGE, [])
        if len(rates) != 1 or rates[0] not in ACC_RATES_HZ:
            self._respond(OP_START, ACC, STATUS_INVALID_SAMPLE_RATE)
            return
        if len(ranges) != 1 or ranges[0] not in ACC_RANGES_G:
            self._respond(OP_START, ACC, STATUS_INVALID_RANGE)
            return
        fs_hz = int(rates[0])
        if fs_hz != self.acc_fs_hz or self.acc_mg is None:
            _, self.acc_mg = resample_acc_mg(self.trace, fs_hz)
        self.acc_fs_hz = fs_hz
        # The sensor's clock ran on while nobody listened: start at the current position.
        self._next_sample = math.floor(self.sensor_time_s * fs_hz)
        self._respond(OP_START, ACC, STATUS_SUCCESS)

    def _on_data_subscribe(self, subscribed: bool) -> None:
        if not subscribed:
            self.acc_fs_hz = None

    def _respond(
        self,
        op_code: int,
        measurement: int,
        status: int,
        settings: dict[int, list[int]] | None = None,
    ) -> None:
        self._pmd_control.notify(encode_control_response(op_code, measurement, status, settings))

    # -- faults -----------------------------------------------------------------------------

    def send_malformed_rsc(self, data: bytes = b"\x03\x00\x01\xa0") -> bool:
        """Send an RSC Measurement too short for its flags (default: says stride length and
        total distance follow, then ends). False if nobody is subscribed."""
        return self._rsc_measurement.notify(data)

    def send_malformed_pmd(self, data: bytes | None = None) -> bool:
        """Send a PMD data frame cut off mid-sample (default: a raw ACC frame with 4 bytes of
        a 6-byte sample). False if nobody is subscribed."""
        if data is None:
            data = bytes([ACC]) + (0).to_bytes(8, "little") + bytes([RAW_FRAME_TYPE, 1, 2, 3, 4])
        return self._pmd_data.notify(data)

    def go_silent(self, duration_s: float) -> None:
        """Send nothing for ``duration_s`` while staying connected; what falls in it is lost."""
        self._silent_until_s = self.sensor_time_s + duration_s

    async def drop_link(self) -> int:
        """Disconnect every connected central from the peripheral's side; returns how many."""
        from sim._gatt import DEVICE, bluez_interface

        assert self._bus is not None, "the footpod is not started"
        root = await bluez_interface(self._bus, "/")
        manager = root.get_interface("org.freedesktop.DBus.ObjectManager")
        objects = await manager.call_get_managed_objects()
        dropped = 0
        for path, interfaces in objects.items():
            device = interfaces.get(DEVICE)
            if (
                device is not None
                and device["Adapter"].value == f"/org/bluez/{self.adapter}"
                and device["Connected"].value
            ):
                proxy = await bluez_interface(self._bus, path)
                await proxy.get_interface(DEVICE).call_disconnect()
                dropped += 1
        return dropped


def served_acc(footpod: VirtualFootpod, frames: Sequence[ServedFrame]) -> npt.NDArray[np.int32]:
    """The samples of ``frames`` exactly as the footpod sent them, (n, 3) mG."""
    assert footpod.acc_mg is not None
    n_total = footpod.acc_mg.shape[0]
    indices = np.concatenate(
        [np.arange(f.first_sample, f.first_sample + f.n_samples) % n_total for f in frames]
    )
    served: npt.NDArray[np.int32] = footpod.acc_mg[indices]
    return served
