"""RSC (0x1814) footpod packets: hand-written vectors from the spec, device quirks, round trips."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cadence.errors import PacketError
from sensors.rsc import (
    RSC_FEATURE_UUID,
    RSC_MEASUREMENT_UUID,
    RSC_SERVICE_UUID,
    RscFeatures,
    RscMeasurement,
    parse_rsc_feature,
    parse_rsc_measurement,
    to_summary_record,
)
from sim.ble_encode import encode_rsc_feature, encode_rsc_measurement


def test_uuids_are_the_sig_base_uuid_with_the_16_bit_ids() -> None:
    uuids = [RSC_SERVICE_UUID, RSC_MEASUREMENT_UUID, RSC_FEATURE_UUID]
    assert uuids == [
        "00001814-0000-1000-8000-00805f9b34fb",
        "00002a53-0000-1000-8000-00805f9b34fb",
        "00002a54-0000-1000-8000-00805f9b34fb",
    ]


# Written by hand from the layout: flags, speed u16 /256, cadence u8, [stride u16 /100],
# [distance u32 /10], little-endian.
HAND_VECTORS = [
    # running, 0x0300 = 768 -> 3.0 m/s, 0xb4 = 180 spm
    ("04 00 03 b4", RscMeasurement(3.0, 180, True)),
    # running + stride + distance: 0x0380 = 3.5 m/s, 170 spm, 0x007b = 1.23 m, 0x3039 = 1234.5 m
    ("07 80 03 aa 7b 00 39 30 00 00", RscMeasurement(3.5, 170, True, 1.23, 1234.5)),
    # walking, distance only: 2.0 m/s, 0xa0 = 160 spm, 0x2710 = 1000.0 m
    ("02 00 02 a0 10 27 00 00", RscMeasurement(2.0, 160, False, None, 1000.0)),
    # walking, stride only: 0x0040 = 0.25 m/s, 0 spm, 0x0000 = 0 m
    ("01 40 00 00 00 00", RscMeasurement(0.25, 0, False, 0.0, None)),
]


@pytest.mark.parametrize(("hex_bytes", "expected"), HAND_VECTORS)
def test_hand_written_vectors(hex_bytes: str, expected: RscMeasurement) -> None:
    assert parse_rsc_measurement(bytes.fromhex(hex_bytes)) == expected


def test_stryd_packet_with_reserved_bit_7_and_thirteen_bytes() -> None:
    # Logged from a Stryd (TrackMyIndoorWorkout's Stryd test): flags 0x80, 9 bytes beyond cadence.
    stryd = bytes([128, 7, 0, 0, 0, 0, 255, 255, 255, 0, 0, 0, 0])
    assert parse_rsc_measurement(stryd) == RscMeasurement(7 / 256, 0, False)


def test_reserved_bits_and_extra_bytes_do_not_disturb_announced_fields() -> None:
    packet = bytes.fromhex("ff 00 03 b4 7b 00 39 30 00 00 de ad be ef")  # 0xf8 | 0x07
    assert parse_rsc_measurement(packet) == RscMeasurement(3.0, 180, True, 1.23, 1234.5)


@pytest.mark.parametrize(
    ("hex_bytes", "needed", "missing"),
    [
        ("", 4, "flags, speed, cadence missing"),
        ("04 00 03", 4, "(cadence missing)"),
        ("01 00 03 b4 7b", 6, "(stride length missing)"),
        ("03 00 03 b4 7b 00 39 30", 10, "(total distance missing)"),
        ("83 00 03 b4", 10, "(stride length, total distance missing)"),
    ],
)
def test_packets_too_short_for_their_flags_are_rejected(
    hex_bytes: str, needed: int, missing: str
) -> None:
    data = bytes.fromhex(hex_bytes)
    with pytest.raises(PacketError) as caught:
        parse_rsc_measurement(data, packet=7)
    error = caught.value
    assert (error.stream, error.packet, error.data) == ("RSC measurement", 7, data)
    message = str(error)
    assert message.startswith("RSC measurement packet #7")
    assert f"needs {needed} bytes, got {len(data)}" in message
    assert missing in message


def test_short_packet_message_names_the_announced_fields() -> None:
    with pytest.raises(PacketError, match=r"flags 0x03 announce stride length and total distance"):
        parse_rsc_measurement(bytes.fromhex("03 00 03 b4"))


speeds = st.integers(0, 0xFFFF).map(lambda units: units / 256)
optional_strides = st.none() | st.floats(0, 655.35)
optional_distances = st.none() | st.floats(0, 429_496_729.5)


@given(
    speed=st.floats(0, 0xFFFF / 256),
    cadence=st.integers(0, 255),
    running=st.booleans(),
    stride=optional_strides,
    distance=optional_distances,
    reserved=st.integers(0, 31).map(lambda bits: bits << 3),
    extra=st.binary(max_size=12),
)
def test_any_measurement_round_trips_within_quantisation(
    speed: float,
    cadence: int,
    running: bool,
    stride: float | None,
    distance: float | None,
    reserved: int,
    extra: bytes,
) -> None:
    sent = RscMeasurement(speed, cadence, running, stride, distance)
    got = parse_rsc_measurement(encode_rsc_measurement(sent, reserved_flags=reserved, extra=extra))
    assert got.speed_mps == pytest.approx(speed, abs=0.5 / 256 + 1e-12)
    assert (got.cadence_spm, got.running) == (cadence, running)
    assert (got.stride_length_m is None) == (stride is None)
    assert (got.total_distance_m is None) == (distance is None)
    if stride is not None:
        assert got.stride_length_m == pytest.approx(stride, abs=0.005 + 1e-9)
    if distance is not None:
        assert got.total_distance_m == pytest.approx(distance, abs=0.05 + 1e-6)


@given(speed=speeds, cadence=st.integers(0, 255))
def test_quantised_values_round_trip_exactly(speed: float, cadence: int) -> None:
    sent = RscMeasurement(speed, cadence, True, 1.5, 42.0)
    assert parse_rsc_measurement(encode_rsc_measurement(sent)) == sent


@pytest.mark.parametrize(
    ("measurement", "reserved"),
    [
        (RscMeasurement(256.0, 180, True), 0),  # 65536/256: one past the u16
        (RscMeasurement(3.0, 256, True), 0),
        (RscMeasurement(3.0, 180, True, -0.01), 0),
        (RscMeasurement(3.0, 180, True), 0x04),  # a defined bit is not "reserved"
    ],
)
def test_encoder_refuses_what_the_packet_cannot_carry(
    measurement: RscMeasurement, reserved: int
) -> None:
    with pytest.raises(ValueError, match=r"fit|defined bits"):
        encode_rsc_measurement(measurement, reserved_flags=reserved)


def test_feature_bits_by_hand() -> None:
    assert parse_rsc_feature(b"\x07\x00") == RscFeatures(
        stride_length=True, total_distance=True, walking_running_status=True
    )
    # every defined bit plus reserved ones and an extra byte
    assert parse_rsc_feature(b"\xff\xff\x01") == RscFeatures(True, True, True, True, True)
    assert parse_rsc_feature(b"\x18\x00") == RscFeatures(
        calibration=True, multiple_sensor_locations=True
    )


def test_feature_too_short_is_rejected() -> None:
    with pytest.raises(PacketError, match=r"RSC feature packet .*needs 2 bytes"):
        parse_rsc_feature(b"\x07")


@pytest.mark.parametrize("bits", list(itertools.product([False, True], repeat=5)))
def test_features_round_trip(bits: tuple[bool, bool, bool, bool, bool]) -> None:
    features = RscFeatures(*bits)
    assert parse_rsc_feature(encode_rsc_feature(features)) == features


def test_summary_record_step_length_from_speed_and_step_rate() -> None:
    # 3.6 m/s at 180 steps/min = 3 steps/s -> 1.2 m per step, whatever the stride field says
    # (2.4 m here: a device meaning same-foot strides would not change the result).
    record = to_summary_record(RscMeasurement(3.6, 180, True, 2.4, 5000.0), 12.5)
    assert record.t_s == 12.5
    assert record.cadence_spm == 180.0
    assert record.speed_mps == 3.6
    assert record.step_length_m == pytest.approx(1.2)
    assert record.distance_m == 5000.0
    assert record.running is True


def test_summary_record_without_steps_falls_back_to_the_device_field() -> None:
    assert to_summary_record(RscMeasurement(0.0, 0, False, 0.8), 1.0).step_length_m == 0.8
    assert to_summary_record(RscMeasurement(0.0, 0, False), 1.0).step_length_m is None
