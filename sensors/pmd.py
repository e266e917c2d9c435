"""Polar Measurement Data (PMD): control point requests and responses, accelerometer frames.

Pure byte-level codecs, no I/O. The service (H10, Verity Sense) has a control point
(``PMD_CONTROL_UUID``: write, and indicate: subscribe to its indications *before* writing, or the
responses never arrive) and a data characteristic (``PMD_DATA_UUID``: notify).

Control point (little-endian)::

    request            op_code u8, measurement u8, [settings]
    response           0xF0, op_code u8, measurement u8, status u8, [more_frames u8, settings]
    continuation       more_frames u8, settings (further indications while more_frames != 0)
    read               0x0F, bit mask of supported measurement types (bit n = type n)
    settings           repeated: setting type u8, count u8, count x value
                       (sample rate, resolution, range: u16; range in milli-units: u32;
                       channels: u8; factor: float32, only in start responses)

Data frame::

    measurement u8     low 6 bits: the type (ACC = 2)
    timestamp u64      nanoseconds since 2000-01-01 00:00 of the frame's *last* sample
    frame type u8      bit 7: delta-compressed; bits 0-6: the type
    payload

ACC payloads, axes x, y, z:

- raw type 0 / 1 / 2: int8 / int16 / int24 per axis per sample, in mG.
- compressed (delta) type 0 or 1: a reference sample (3 x int16, the frame's first sample), then
  blocks ``bit width u8, sample count u8, ceil(count x 3 x width / 8) bytes``. The block's bits
  are read least significant bit first within each byte, byte after byte; each group of
  ``width`` bits (its first bit the least significant) is a two's complement delta; deltas run
  sample by sample, x y z within a sample; each sample is the previous one plus its deltas; a
  block ends on a byte boundary. This is the Polar SDK's ``parseDeltaFramesAll``, with two
  deliberate differences: a 1-bit delta is two's complement (0 or -1; the SDK's sign mask turns
  it into 2**31 - 1), and a width of 0 or more than 32 bits is rejected as malformed.
  Values are counts, scaled by the start response's ``factor`` (1.0 when it gives none):
  compressed type 1 gives mG = count x factor; compressed type 0 (H10) counts in G units, so
  mG = count x factor x 1000. The result is rounded to whole mG (the SDK truncates).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from cadence.errors import PacketError

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
HEART_RATE_SERVICE_UUID = "0000180d-0000-1000-8000-00805f9b34fb"


def is_polar_name(name: str | None) -> bool:
    """Whether an advertised name is a Polar sensor's: "Polar <model> <device id>", e.g.
    "Polar H10 0A1B2C3D" (the rule of Polar's SDK, PolarAdvDataUtility.isPolarDevice). An H10
    advertises Heart Rate, not necessarily the 128-bit PMD service: its name is what tells."""
    words = (name or "").split()
    return len(words) >= 3 and words[0] == "Polar"


CONTROL_STREAM = "PMD control"
DATA_STREAM = "PMD data"

# Measurement types (PmdMeasurementType).
ECG = 0
PPG = 1
ACC = 2
PPI = 3
GYRO = 5
MAG = 6
MEASUREMENT_NAMES = {ECG: "ECG", PPG: "PPG", ACC: "ACC", PPI: "PPI", GYRO: "GYRO", MAG: "MAG"}
MEASUREMENT_TYPE_MASK = 0x3F

# Control point op codes, client to sensor.
OP_GET_SETTINGS = 0x01
OP_START = 0x02
OP_STOP = 0x03
CONTROL_RESPONSE = 0xF0
FEATURES_READ = 0x0F

# Setting types and the width of one value, in bytes.
SETTING_SAMPLE_RATE = 0
SETTING_RESOLUTION = 1
SETTING_RANGE = 2
SETTING_RANGE_MILLIUNIT = 3
SETTING_CHANNELS = 4
SETTING_FACTOR = 5
SETTING_VALUE_BYTES = {
    SETTING_SAMPLE_RATE: 2,
    SETTING_RESOLUTION: 2,
    SETTING_RANGE: 2,
    SETTING_RANGE_MILLIUNIT: 4,
    SETTING_CHANNELS: 1,
    SETTING_FACTOR: 4,
}

# Control point status codes (PmdControlPointResponseCode).
STATUS_SUCCESS = 0
STATUS_INVALID_OP_CODE = 1
STATUS_INVALID_MEASUREMENT_TYPE = 2
STATUS_NOT_SUPPORTED = 3
STATUS_INVALID_LENGTH = 4
STATUS_INVALID_PARAMETER = 5
STATUS_ALREADY_IN_STATE = 6
STATUS_INVALID_RESOLUTION = 7
STATUS_INVALID_SAMPLE_RATE = 8
STATUS_INVALID_RANGE = 9
STATUS_INVALID_MTU = 10
STATUS_INVALID_NUMBER_OF_CHANNELS = 11
STATUS_INVALID_STATE = 12
STATUS_DEVICE_IN_CHARGER = 13
STATUS_MESSAGES = {
    STATUS_SUCCESS: "success",
    STATUS_INVALID_OP_CODE: "invalid op code",
    STATUS_INVALID_MEASUREMENT_TYPE: "invalid measurement type",
    STATUS_NOT_SUPPORTED: "not supported",
    STATUS_INVALID_LENGTH: "invalid length",
    STATUS_INVALID_PARAMETER: "invalid parameter",
    STATUS_ALREADY_IN_STATE: "already in state (a measurement is already running, or stopped)",
    STATUS_INVALID_RESOLUTION: "invalid resolution",
    STATUS_INVALID_SAMPLE_RATE: "invalid sample rate",
    STATUS_INVALID_RANGE: "invalid range",
    STATUS_INVALID_MTU: "invalid MTU",
    STATUS_INVALID_NUMBER_OF_CHANNELS: "invalid number of channels",
    STATUS_INVALID_STATE: "invalid state",
    STATUS_DEVICE_IN_CHARGER: "device in charger",
}

COMPRESSED_FRAME = 0x80
FRAME_TYPE_MASK = 0x7F
HEADER_BYTES = 10
ACC_AXES = 3
# Raw frame type -> bytes per axis value.
RAW_VALUE_BYTES = {0: 1, 1: 2, 2: 3}
# Compressed frame type -> mG per count for a factor of 1.
COMPRESSED_MG_PER_COUNT = {0: 1000.0, 1: 1.0}
DELTA_REFERENCE_BYTES = 2
MAX_DELTA_BITS = 32

POLAR_EPOCH_UNIX_NS = 946_684_800 * 1_000_000_000  # 2000-01-01T00:00:00Z

_U16_MAX = 0xFFFF
_I32 = np.iinfo(np.int32)


@dataclass(frozen=True, slots=True)
class ControlResponse:
    """A control point response (an indication starting 0xF0).

    ``settings`` holds the setting types and values the response carries (``None`` when it
    carries none); ``factor`` is the start response's scale for compressed frames, if given.
    ``more_frames`` says the settings continue in further indications (``[more_frames u8,
    parameter bytes]`` each): they are decoded once :func:`continue_control_response` has
    added the last one; until then ``parameters`` collects the raw bytes.
    """

    op_code: int
    measurement: int
    status: int
    ok: bool
    settings: dict[int, list[int]] | None = None
    factor: float | None = None
    more_frames: bool = False
    parameters: bytes = b""

    @property
    def message(self) -> str:
        """The status in words."""
        return STATUS_MESSAGES.get(self.status, f"unknown status {self.status}")


@dataclass(frozen=True, slots=True, eq=False)
class AccFrame:
    """The samples of one PMD data frame: x, y, z in mG, shape (n, 3).

    ``timestamp_ns`` is the sensor's time of the last sample, in ns since 2000-01-01.
    """

    timestamp_ns: int
    acc_mg: NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.acc_mg.shape[0])


def _u8(value: int, what: str) -> int:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{what} must fit in one byte (0..255), got {value}")
    return value


def pack_settings(settings: dict[int, list[int]], *, factor: float | None = None) -> bytes:
    """Setting type, count and values for each entry; ``factor`` adds a float32 FACTOR entry."""
    out = bytearray()
    for setting, values in settings.items():
        width = SETTING_VALUE_BYTES.get(setting)
        if width is None or setting == SETTING_FACTOR:
            raise ValueError(f"setting type {setting} has no integer encoding")
        out += bytes([setting, _u8(len(values), "number of values")])
        for value in values:
            if not 0 <= value < 1 << (8 * width):
                raise ValueError(f"setting {setting} value {value} does not fit in {width} bytes")
            out += value.to_bytes(width, "little")
    if factor is not None:
        out += bytes([SETTING_FACTOR, 1]) + struct.pack("<f", factor)
    return bytes(out)


def build_get_settings_request(measurement: int = ACC) -> bytes:
    """Ask which settings (sample rates, ranges...) the sensor offers for ``measurement``."""
    return bytes([OP_GET_SETTINGS, _u8(measurement, "measurement type")])


def build_start_request(
    *, sample_rate_hz: int, range_g: int, resolution_bits: int = 16, measurement: int = ACC
) -> bytes:
    """Start streaming ``measurement`` at this rate, resolution and range (e.g. H10: 200, 16, 8)."""
    settings = {
        SETTING_SAMPLE_RATE: [sample_rate_hz],
        SETTING_RESOLUTION: [resolution_bits],
        SETTING_RANGE: [range_g],
    }
    for name, value in (
        ("sample_rate_hz", sample_rate_hz),
        ("resolution_bits", resolution_bits),
        ("range_g", range_g),
    ):
        if not 0 < value <= _U16_MAX:
            raise ValueError(f"{name} must be in 1..{_U16_MAX}, got {value}")
    return bytes([OP_START, _u8(measurement, "measurement type")]) + pack_settings(settings)


def build_stop_request(measurement: int = ACC) -> bytes:
    """Stop streaming ``measurement``."""
    return bytes([OP_STOP, _u8(measurement, "measurement type")])


def _parse_settings(
    data: bytes, *, packet: int | None = None
) -> tuple[dict[int, list[int]], float | None]:
    """Integer settings and the float factor; errors name byte offsets within ``data``."""
    settings: dict[int, list[int]] = {}
    factor: float | None = None
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            problem = f"setting at settings byte {offset} has a type but no count"
            raise PacketError(CONTROL_STREAM, packet, data, problem)
        setting, count = data[offset], data[offset + 1]
        width = SETTING_VALUE_BYTES.get(setting)
        if width is None:
            problem = f"unknown setting type {setting} at settings byte {offset}"
            raise PacketError(CONTROL_STREAM, packet, data, problem)
        end = offset + 2 + count * width
        if end > len(data):
            problem = (
                f"setting type {setting} at settings byte {offset} announces {count} values "
                f"of {width} bytes, only {len(data) - offset - 2} bytes left"
            )
            raise PacketError(CONTROL_STREAM, packet, data, problem)
        chunk = data[offset + 2 : end]
        if setting == SETTING_FACTOR:
            factor = float(struct.unpack_from("<f", chunk)[0]) if count else None
        else:
            values = [
                int.from_bytes(chunk[i : i + width], "little") for i in range(0, len(chunk), width)
            ]
            settings[setting] = values
        offset = end
    return settings, factor


def parse_settings(data: bytes | bytearray) -> dict[int, list[int]]:
    """Setting type -> allowed (or chosen) values, from the settings part of a response.

    Raises:
        PacketError: an unknown setting type, or values running past the end.
    """
    return _parse_settings(bytes(data))[0]


def parse_control_response(
    data: bytes | bytearray, *, packet: int | None = None
) -> ControlResponse:
    """Decode a control point indication (see the module docstring for the layout).

    Raises:
        PacketError: not a response (first byte not 0xF0), too short, or bad settings.
    """
    raw = bytes(data)
    if len(raw) < 4 or raw[0] != CONTROL_RESPONSE:
        problem = (
            f"a control point response starts 0xF0 and has at least 4 bytes "
            f"(0xF0, op code, measurement type, status), got {len(raw)} bytes"
        )
        raise PacketError(CONTROL_STREAM, packet, raw, problem)
    response = ControlResponse(
        op_code=raw[1],
        measurement=raw[2],
        status=raw[3],
        ok=raw[3] == STATUS_SUCCESS,
        more_frames=len(raw) > 4 and raw[4] != 0,
        parameters=raw[5:],
    )
    return _with_settings(response, packet)


def continue_control_response(
    response: ControlResponse, data: bytes | bytearray, *, packet: int | None = None
) -> ControlResponse:
    """Add a continuation indication (``more_frames u8``, parameter bytes) to ``response``."""
    raw = bytes(data)
    if not response.more_frames or not raw:
        problem = "a continuation of a control point response that announced none"
        problem = problem if raw else "an empty continuation of a control point response"
        raise PacketError(CONTROL_STREAM, packet, raw, problem)
    more = replace(response, more_frames=raw[0] != 0, parameters=response.parameters + raw[1:])
    return _with_settings(more, packet)


def _with_settings(response: ControlResponse, packet: int | None) -> ControlResponse:
    if response.more_frames:
        return response
    settings, factor = _parse_settings(response.parameters, packet=packet)
    return replace(response, settings=settings or None, factor=factor)


def parse_measurement_features(data: bytes | bytearray) -> frozenset[int]:
    """The measurement types a sensor offers, from a read of the control point (0x0F, mask)."""
    raw = bytes(data)
    if len(raw) < 2 or raw[0] != FEATURES_READ:
        problem = "a control point read starts 0x0F followed by the measurement bit mask"
        raise PacketError(CONTROL_STREAM, None, raw, problem)
    mask = int.from_bytes(raw[1:], "little")
    return frozenset(bit for bit in range(mask.bit_length()) if mask >> bit & 1)


def _decode_raw(
    payload: bytes, frame_type: int, data: bytes, packet: int | None
) -> NDArray[np.int64]:
    value_bytes = RAW_VALUE_BYTES.get(frame_type)
    if value_bytes is None:
        problem = f"unknown raw ACC frame type {frame_type} (known: 0, 1, 2)"
        raise PacketError(DATA_STREAM, packet, data, problem)
    sample_bytes = ACC_AXES * value_bytes
    if not payload or len(payload) % sample_bytes:
        problem = (
            f"payload of {len(payload)} bytes is not a positive multiple of the sample size "
            f"({sample_bytes} bytes: 3 axes x int{8 * value_bytes}) for raw frame type {frame_type}"
        )
        raise PacketError(DATA_STREAM, packet, data, problem)
    # Little-endian two's complement is the LSB-first bit stream of the delta blocks.
    count = len(payload) // value_bytes
    return unpack_signed_bits(payload, width_bits=8 * value_bytes, count=count).reshape(
        -1, ACC_AXES
    )


def unpack_signed_bits(block: bytes, *, width_bits: int, count: int) -> NDArray[np.int64]:
    """``count`` two's complement integers of ``width_bits`` bits each, LSB first (see above)."""
    bits = np.unpackbits(np.frombuffer(block, dtype=np.uint8), bitorder="little")
    groups = bits[: count * width_bits].reshape(count, width_bits).astype(np.int64)
    unsigned = groups @ (np.int64(1) << np.arange(width_bits, dtype=np.int64))
    sign = np.int64(1) << (width_bits - 1)
    return np.asarray((unsigned ^ sign) - sign, dtype=np.int64)


def _decode_delta(payload: bytes, data: bytes, packet: int | None) -> NDArray[np.int64]:
    reference_bytes = ACC_AXES * DELTA_REFERENCE_BYTES
    if len(payload) < reference_bytes:
        problem = f"delta frame needs a {reference_bytes}-byte reference sample, got {len(payload)}"
        raise PacketError(DATA_STREAM, packet, data, problem)
    reference = np.frombuffer(payload[:reference_bytes], dtype="<i2").astype(np.int64)
    deltas = [np.zeros((1, ACC_AXES), dtype=np.int64)]
    offset = reference_bytes
    while offset < len(payload):
        at = HEADER_BYTES + offset  # byte offsets in messages count from the packet's start
        if offset + 2 > len(payload):
            problem = f"delta block header at byte {at} is cut short (needs bit width and count)"
            raise PacketError(DATA_STREAM, packet, data, problem)
        width, count = payload[offset], payload[offset + 1]
        if not 1 <= width <= MAX_DELTA_BITS:
            problem = f"delta block at byte {at} has bit width {width} (1..{MAX_DELTA_BITS})"
            raise PacketError(DATA_STREAM, packet, data, problem)
        block_bytes = math.ceil(count * ACC_AXES * width / 8)
        start = offset + 2
        if start + block_bytes > len(payload):
            problem = (
                f"delta block at byte {at} ({count} samples of {width}-bit deltas) needs "
                f"{block_bytes} bytes, only {len(payload) - start} left"
            )
            raise PacketError(DATA_STREAM, packet, data, problem)
        block = payload[start : start + block_bytes]
        values = unpack_signed_bits(block, width_bits=width, count=count * ACC_AXES)
        deltas.append(values.reshape(count, ACC_AXES))
        offset = start + block_bytes
    return np.asarray(reference + np.cumsum(np.concatenate(deltas), axis=0), dtype=np.int64)


def _to_mg(
    counts: NDArray[np.int64], mg_per_count: float, data: bytes, packet: int | None
) -> NDArray[np.int32]:
    scaled = counts if mg_per_count == 1.0 else np.rint(counts * mg_per_count).astype(np.int64)
    if scaled.size and (scaled.min() < _I32.min or scaled.max() > _I32.max):
        problem = "decoded acceleration does not fit in 32 bits (corrupt deltas?)"
        raise PacketError(DATA_STREAM, packet, data, problem)
    return scaled.astype(np.int32)


def decode_acc_frame(
    data: bytes | bytearray, *, packet: int | None = None, factor: float = 1.0
) -> AccFrame:
    """Decode one PMD data notification carrying accelerometer samples.

    ``factor`` is the FACTOR of the start response (see :class:`ControlResponse`); it scales
    compressed frames only, as in the Polar SDK.

    Raises:
        PacketError: too short, not ACC, an unknown frame type, a payload that is not a whole
            number of samples, a delta block running past the end, and the like.
    """
    raw = bytes(data)
    if len(raw) < HEADER_BYTES:
        problem = (
            f"needs a {HEADER_BYTES}-byte header (measurement type, u64 timestamp, frame type), "
            f"got {len(raw)} bytes"
        )
        raise PacketError(DATA_STREAM, packet, raw, problem)
    measurement = raw[0] & MEASUREMENT_TYPE_MASK
    if measurement != ACC:
        name = MEASUREMENT_NAMES.get(measurement, "unknown")
        problem = f"measurement type {measurement} ({name}) is not ACC ({ACC})"
        raise PacketError(DATA_STREAM, packet, raw, problem)
    timestamp_ns = int.from_bytes(raw[1:9], "little")
    frame_type = raw[9] & FRAME_TYPE_MASK
    payload = raw[HEADER_BYTES:]
    if not raw[9] & COMPRESSED_FRAME:
        counts = _decode_raw(payload, frame_type, raw, packet)
        return AccFrame(timestamp_ns, _to_mg(counts, 1.0, raw, packet))
    mg_per_count = COMPRESSED_MG_PER_COUNT.get(frame_type)
    if mg_per_count is None:
        problem = f"unknown compressed ACC frame type {frame_type} (known: 0, 1)"
        raise PacketError(DATA_STREAM, packet, raw, problem)
    counts = _decode_delta(payload, raw, packet)
    return AccFrame(timestamp_ns, _to_mg(counts, mg_per_count * factor, raw, packet))


def polar_ns_to_unix_s(timestamp_ns: int) -> float:
    """A PMD timestamp (ns since 2000-01-01) as Unix seconds."""
    return (timestamp_ns + POLAR_EPOCH_UNIX_NS) / 1e9
