"""Encode what BLE running sensors send: RSC measurements and features, Polar PMD frames.

The inverse of :mod:`sensors.rsc` and :mod:`sensors.pmd` (whose docstrings give the byte
layouts), for the virtual footpod and for round-trip tests. Values that do not fit their field
raise ``ValueError``: a simulator must not send what a real sensor could not.

Delta frames are built the way the decoder reads them: the first sample is the int16 reference;
the remaining samples go into blocks of at most ``max_samples_per_block`` samples, each block
with the smallest bit width that holds all of its deltas in two's complement (at least 1).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sensors.pmd import (
    ACC,
    ACC_AXES,
    COMPRESSED_FRAME,
    COMPRESSED_MG_PER_COUNT,
    CONTROL_RESPONSE,
    RAW_VALUE_BYTES,
    pack_settings,
)
from sensors.rsc import (
    DISTANCE_UNITS_PER_M,
    FEATURE_CALIBRATION,
    FEATURE_MULTIPLE_LOCATIONS,
    FEATURE_STRIDE_LENGTH,
    FEATURE_TOTAL_DISTANCE,
    FEATURE_WALKING_RUNNING,
    FLAG_RUNNING,
    FLAG_STRIDE_LENGTH,
    FLAG_TOTAL_DISTANCE,
    FLAGS_RESERVED,
    SPEED_UNITS_PER_MPS,
    STRIDE_UNITS_PER_M,
    RscFeatures,
    RscMeasurement,
)

__all__ = [
    "encode_acc_delta_frame",
    "encode_acc_frame",
    "encode_control_response",
    "encode_rsc_feature",
    "encode_rsc_measurement",
    "encode_settings",
    "polar_timestamp_ns",
]

encode_settings = pack_settings

_INT16 = np.iinfo(np.int16)


def _quantise(value: float, units_per_unit: int, byte_count: int, what: str) -> bytes:
    units = round(value * units_per_unit)
    if not 0 <= units < 1 << (8 * byte_count):
        raise ValueError(f"{what} {value} does not fit in {8 * byte_count} unsigned bits")
    return units.to_bytes(byte_count, "little")


def encode_rsc_measurement(
    m: RscMeasurement, *, reserved_flags: int = 0, extra: bytes = b""
) -> bytes:
    """An RSC Measurement packet; ``reserved_flags`` (bits 3-7) and ``extra`` mimic real pods."""
    if reserved_flags & ~FLAGS_RESERVED:
        raise ValueError(f"reserved_flags 0x{reserved_flags:02x} touches defined bits (0-2)")
    flags = reserved_flags | (FLAG_RUNNING if m.running else 0)
    body = _quantise(m.speed_mps, SPEED_UNITS_PER_MPS, 2, "speed_mps")
    body += _quantise(m.cadence_spm, 1, 1, "cadence_spm")
    if m.stride_length_m is not None:
        flags |= FLAG_STRIDE_LENGTH
        body += _quantise(m.stride_length_m, STRIDE_UNITS_PER_M, 2, "stride_length_m")
    if m.total_distance_m is not None:
        flags |= FLAG_TOTAL_DISTANCE
        body += _quantise(m.total_distance_m, DISTANCE_UNITS_PER_M, 4, "total_distance_m")
    return bytes([flags]) + body + bytes(extra)


def encode_rsc_feature(features: RscFeatures) -> bytes:
    """The RSC Feature value (u16 bit field)."""
    bits = (
        (FEATURE_STRIDE_LENGTH if features.stride_length else 0)
        | (FEATURE_TOTAL_DISTANCE if features.total_distance else 0)
        | (FEATURE_WALKING_RUNNING if features.walking_running_status else 0)
        | (FEATURE_CALIBRATION if features.calibration else 0)
        | (FEATURE_MULTIPLE_LOCATIONS if features.multiple_sensor_locations else 0)
    )
    return bits.to_bytes(2, "little")


def _frame_header(timestamp_ns: int, frame_type: int) -> bytes:
    if not 0 <= timestamp_ns < 1 << 64:
        raise ValueError(f"timestamp_ns {timestamp_ns} does not fit in u64")
    return bytes([ACC]) + timestamp_ns.to_bytes(8, "little") + bytes([frame_type])


def _samples(acc_mg: NDArray[np.integer], low: int, high: int, what: str) -> NDArray[np.int64]:
    samples = np.asarray(acc_mg, dtype=np.int64)
    if samples.ndim != 2 or samples.shape[1] != ACC_AXES or samples.shape[0] == 0:
        raise ValueError(f"acc_mg must have shape (n >= 1, 3), got {samples.shape}")
    if samples.min() < low or samples.max() > high:
        raise ValueError(f"acc_mg values must be in {low}..{high} for {what}")
    return samples


def encode_acc_frame(timestamp_ns: int, acc_mg: NDArray[np.integer], *, frame_type: int) -> bytes:
    """A raw ACC data frame of type 0, 1 or 2 (int8, int16, int24 per axis)."""
    value_bytes = RAW_VALUE_BYTES.get(frame_type)
    if value_bytes is None:
        raise ValueError(f"raw ACC frame type must be 0, 1 or 2, got {frame_type}")
    bits = 8 * value_bytes
    samples = _samples(acc_mg, -(1 << (bits - 1)), (1 << (bits - 1)) - 1, f"int{bits}")
    # Little-endian two's complement is the LSB-first bit stream of the delta blocks.
    return _frame_header(timestamp_ns, frame_type) + pack_signed_bits(samples, width_bits=bits)


def _bit_width(deltas: NDArray[np.int64]) -> int:
    """Smallest two's complement width holding every delta (at least 1 bit)."""
    low, high = int(deltas.min()), int(deltas.max())
    negative = (-low - 1).bit_length() + 1 if low < 0 else 1
    positive = high.bit_length() + 1 if high > 0 else 1
    return max(negative, positive)


def pack_signed_bits(values: NDArray[np.int64], *, width_bits: int) -> bytes:
    """Two's complement ``width_bits``-bit values, LSB first, padded to a whole byte."""
    unsigned = values.reshape(-1) & ((1 << width_bits) - 1)
    bits = ((unsigned[:, None] >> np.arange(width_bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(bits, bitorder="little").tobytes()


def encode_acc_delta_frame(
    timestamp_ns: int,
    acc_mg: NDArray[np.integer],
    *,
    max_samples_per_block: int = 32,
    frame_type: int = COMPRESSED_FRAME | 1,
) -> bytes:
    """A delta-compressed ACC frame (see the module docstring and :mod:`sensors.pmd`).

    The values are written as counts: with compressed type 1 (the default) and a factor of 1
    they are mG; with type 0 the decoder multiplies by factor x 1000.
    """
    if not 1 <= max_samples_per_block <= 0xFF:
        raise ValueError(f"max_samples_per_block must be in 1..255, got {max_samples_per_block}")
    if not frame_type & COMPRESSED_FRAME or frame_type & ~COMPRESSED_FRAME not in (
        COMPRESSED_MG_PER_COUNT
    ):
        raise ValueError(f"compressed ACC frame type must be 0x80 or 0x81, got 0x{frame_type:02x}")
    samples = _samples(acc_mg, int(_INT16.min), int(_INT16.max), "an int16 reference and deltas")
    out = bytearray(_frame_header(timestamp_ns, frame_type))
    out += samples[0].astype("<i2").tobytes()
    deltas = np.diff(samples, axis=0)
    for start in range(0, deltas.shape[0], max_samples_per_block):
        block = deltas[start : start + max_samples_per_block]
        width = _bit_width(block)
        out += bytes([width, block.shape[0]]) + pack_signed_bits(block, width_bits=width)
    return bytes(out)


def encode_control_response(
    op_code: int,
    measurement: int,
    status: int,
    settings: dict[int, list[int]] | None = None,
    *,
    factor: float | None = None,
    more_frames: bool = False,
) -> bytes:
    """A control point indication: 0xF0, op code, measurement, status, more-frames, settings."""
    head = bytes([CONTROL_RESPONSE, op_code, measurement, status, int(more_frames)])
    return head + pack_settings(settings or {}, factor=factor)


def polar_timestamp_ns(t_s: float, *, epoch_offset_ns: int) -> int:
    """A PMD timestamp for a sample taken ``t_s`` seconds after the sensor's clock read
    ``epoch_offset_ns`` (ns since 2000-01-01)."""
    return epoch_offset_ns + round(t_s * 1e9)
