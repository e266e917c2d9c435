"""Running Speed and Cadence (RSC, service 0x1814): decode footpod packets, no I/O.

RSC Measurement (0x2A53, notify), little-endian::

    flags u8        bit0 stride length present, bit1 total distance present,
                    bit2 walking (0) / running (1), bits 3-7 reserved
    speed u16       1/256 m/s
    cadence u8      1/min
    [stride u16]    1/100 m      (only when bit0)
    [distance u32]  1/10 m       (only when bit1)

Real devices set reserved flag bits and append bytes of their own (a Stryd sends 13 bytes with
flags 0x80): both are accepted and ignored. A packet too short for the fields its flags announce
is rejected with a :class:`~cadence.errors.PacketError` naming the missing field.

Units, as this project reads them:

- cadence is **steps** per minute (both feet), the way footpods send it (180 is typical); FIT's
  strides/min is a different unit and is converted elsewhere. A Stryd in its legacy "power in
  cadence" mode abuses this field; nothing here can tell.
- the "instantaneous stride length" field is taken to be the length of one **step** (foot strike
  to the next foot strike of either foot). That is the only reading consistent with a steps/min
  cadence, since speed = cadence x length / 60, and it is what footpods compute; a strict reading
  of the field's name (same foot to same foot) would be twice as long. :func:`to_summary_record`
  therefore prefers speed / cadence, which is consistent by construction, and falls back to the
  field only when the cadence is zero.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cadence.errors import PacketError
from cadence.events import SummaryRecord

RSC_SERVICE_UUID = "00001814-0000-1000-8000-00805f9b34fb"
RSC_MEASUREMENT_UUID = "00002a53-0000-1000-8000-00805f9b34fb"
RSC_FEATURE_UUID = "00002a54-0000-1000-8000-00805f9b34fb"

MEASUREMENT_STREAM = "RSC measurement"
FEATURE_STREAM = "RSC feature"

FLAG_STRIDE_LENGTH = 0x01
FLAG_TOTAL_DISTANCE = 0x02
FLAG_RUNNING = 0x04
FLAGS_RESERVED = 0xF8

SPEED_UNITS_PER_MPS = 256
STRIDE_UNITS_PER_M = 100
DISTANCE_UNITS_PER_M = 10

FEATURE_STRIDE_LENGTH = 0x0001
FEATURE_TOTAL_DISTANCE = 0x0002
FEATURE_WALKING_RUNNING = 0x0004
FEATURE_CALIBRATION = 0x0008
FEATURE_MULTIPLE_LOCATIONS = 0x0010

_HEAD = struct.Struct("<BHB")  # flags, speed, cadence
_STRIDE = struct.Struct("<H")
_DISTANCE = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class RscMeasurement:
    """One RSC Measurement: speed in m/s, cadence in steps/min, optional step length and distance.

    ``stride_length_m`` keeps the field's name from the specification; it holds what footpods
    send there, the length of one step (see the module docstring).
    """

    speed_mps: float
    cadence_spm: int
    running: bool
    stride_length_m: float | None = None
    total_distance_m: float | None = None


@dataclass(frozen=True, slots=True)
class RscFeatures:
    """What an RSC sensor says it supports (RSC Feature, 0x2A54)."""

    stride_length: bool = False
    total_distance: bool = False
    walking_running_status: bool = False
    calibration: bool = False
    multiple_sensor_locations: bool = False


def _layout(flags: int) -> list[tuple[str, int]]:
    """The fields a packet with these flags carries, in order, with their widths in bytes."""
    layout = [("flags", 1), ("speed", 2), ("cadence", 1)]
    if flags & FLAG_STRIDE_LENGTH:
        layout.append(("stride length", _STRIDE.size))
    if flags & FLAG_TOTAL_DISTANCE:
        layout.append(("total distance", _DISTANCE.size))
    return layout


def _too_short(flags: int, size: int) -> str | None:
    """Why a packet of ``size`` bytes cannot hold the fields its flags announce, if it cannot."""
    layout = _layout(flags)
    needed = sum(width for _, width in layout)
    if size >= needed:
        return None
    ends = [sum(width for _, width in layout[: i + 1]) for i in range(len(layout))]
    missing = ", ".join(name for (name, _), end in zip(layout, ends, strict=True) if end > size)
    optional = [name for name, _ in layout[3:]]
    announced = f"flags 0x{flags:02x} announce {' and '.join(optional)}: " if optional else ""
    return f"{announced}needs {needed} bytes, got {size} ({missing} missing)"


def parse_rsc_measurement(data: bytes | bytearray, *, packet: int | None = None) -> RscMeasurement:
    """Decode an RSC Measurement notification (see the module docstring for the layout).

    Raises:
        PacketError: the packet is empty or too short for the fields its flags announce.
    """
    raw = bytes(data)
    flags = raw[0] if raw else 0
    problem = _too_short(flags, len(raw))
    if problem is not None:
        raise PacketError(MEASUREMENT_STREAM, packet, raw, problem)
    _, speed, cadence = _HEAD.unpack_from(raw, 0)
    offset = _HEAD.size
    stride_m = None
    if flags & FLAG_STRIDE_LENGTH:
        stride_m = _STRIDE.unpack_from(raw, offset)[0] / STRIDE_UNITS_PER_M
        offset += _STRIDE.size
    distance_m = None
    if flags & FLAG_TOTAL_DISTANCE:
        distance_m = _DISTANCE.unpack_from(raw, offset)[0] / DISTANCE_UNITS_PER_M
    return RscMeasurement(
        speed_mps=speed / SPEED_UNITS_PER_MPS,
        cadence_spm=cadence,
        running=bool(flags & FLAG_RUNNING),
        stride_length_m=stride_m,
        total_distance_m=distance_m,
    )


def parse_rsc_feature(data: bytes | bytearray) -> RscFeatures:
    """Decode the RSC Feature value (u16 bit field); reserved bits and extra bytes are ignored.

    Raises:
        PacketError: fewer than the 2 bytes of the bit field.
    """
    raw = bytes(data)
    if len(raw) < 2:
        raise PacketError(
            FEATURE_STREAM, None, raw, f"needs 2 bytes for the feature bits, got {len(raw)}"
        )
    bits = int.from_bytes(raw[:2], "little")
    return RscFeatures(
        stride_length=bool(bits & FEATURE_STRIDE_LENGTH),
        total_distance=bool(bits & FEATURE_TOTAL_DISTANCE),
        walking_running_status=bool(bits & FEATURE_WALKING_RUNNING),
        calibration=bool(bits & FEATURE_CALIBRATION),
        multiple_sensor_locations=bool(bits & FEATURE_MULTIPLE_LOCATIONS),
    )


def step_length_m(m: RscMeasurement) -> float | None:
    """Length of one step: speed / step rate while stepping, else the device's own field."""
    if m.cadence_spm > 0:
        return m.speed_mps / (m.cadence_spm / 60.0)
    return m.stride_length_m


def to_summary_record(m: RscMeasurement, t_s: float) -> SummaryRecord:
    """The pipeline's view of one measurement received at stream time ``t_s``."""
    return SummaryRecord(
        t_s=t_s,
        speed_mps=m.speed_mps,
        cadence_spm=float(m.cadence_spm),
        step_length_m=step_length_m(m),
        distance_m=m.total_distance_m,
        running=m.running,
    )
