"""Polar PMD: control point requests/responses and ACC frames (raw and delta), by hand and
round trip, plus every kind of malformed frame."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from cadence.errors import PacketError
from sensors.pmd import (
    ACC,
    OP_GET_SETTINGS,
    OP_START,
    SETTING_RANGE,
    SETTING_RESOLUTION,
    SETTING_SAMPLE_RATE,
    build_get_settings_request,
    build_start_request,
    build_stop_request,
    continue_control_response,
    decode_acc_frame,
    parse_control_response,
    parse_measurement_features,
    parse_settings,
    polar_ns_to_unix_s,
)
from sim.ble_encode import (
    encode_acc_delta_frame,
    encode_acc_frame,
    encode_control_response,
    encode_settings,
    polar_timestamp_ns,
)

TS_HEX = "08 07 06 05 04 03 02 01"  # u64 0x0102030405060708, little-endian
TS = 0x0102030405060708


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# --- control point ---------------------------------------------------------------------------


def test_requests_by_hand() -> None:
    # The H10 ACC start from the web-bluetooth example: 200 Hz, 16 bit, 8 G.
    assert build_start_request(sample_rate_hz=200, range_g=8) == h(
        "02 02 00 01 c8 00 01 01 10 00 02 01 08 00"
    )
    assert build_get_settings_request() == h("01 02")
    assert build_stop_request() == h("03 02")


@pytest.mark.parametrize("rate", [0, 0x10000])
def test_start_request_refuses_values_that_do_not_fit(rate: int) -> None:
    with pytest.raises(ValueError, match="sample_rate_hz"):
        build_start_request(sample_rate_hz=rate, range_g=8)


def test_settings_response_by_hand() -> None:
    # What an H10 offers for ACC: 25/50/100/200 Hz, 16 bit, 2/4/8 G.
    data = h("f0 01 02 00 00  00 04 19 00 32 00 64 00 c8 00  01 01 10 00  02 03 02 00 04 00 08 00")
    response = parse_control_response(data)
    assert (response.op_code, response.measurement, response.status) == (OP_GET_SETTINGS, ACC, 0)
    assert response.ok
    assert response.message == "success"
    assert response.settings == {
        SETTING_SAMPLE_RATE: [25, 50, 100, 200],
        SETTING_RESOLUTION: [16],
        SETTING_RANGE: [2, 4, 8],
    }
    assert response.factor is None
    assert not response.more_frames


def test_error_response_by_hand() -> None:
    response = parse_control_response(h("f0 02 02 06 00"))
    assert (response.op_code, response.status, response.ok) == (OP_START, 6, False)
    assert response.settings is None
    assert "already in state" in response.message
    assert parse_control_response(h("f0 02 02 0d")).message == "device in charger"
    assert parse_control_response(h("f0 02 02 63")).message == "unknown status 99"


def test_start_response_with_factor_by_hand() -> None:
    # setting 5 (factor), one value, float32 0.5 = 0x3f000000
    response = parse_control_response(h("f0 02 02 00 00 05 01 00 00 00 3f"))
    assert response.ok
    assert response.factor == 0.5
    assert response.settings is None


def test_settings_continued_in_a_second_indication() -> None:
    # The H10 settings response above, split after the first two sample rates.
    first = parse_control_response(h("f0 01 02 00 01  00 04 19 00 32 00"))
    assert first.more_frames
    assert first.settings is None
    done = continue_control_response(first, h("00  64 00 c8 00  01 01 10 00"), packet=2)
    assert not done.more_frames
    assert done.settings == {SETTING_SAMPLE_RATE: [25, 50, 100, 200], SETTING_RESOLUTION: [16]}
    with pytest.raises(PacketError, match="announced none"):
        continue_control_response(done, h("00 01 01 10 00"))


def test_parse_settings_alone() -> None:
    assert parse_settings(h("00 01 34 00 04 01 03 03 01 a0 86 01 00")) == {
        0: [52],  # 52 Hz
        4: [3],  # three channels, u8
        3: [100_000],  # range in milli-units, u32
    }


@pytest.mark.parametrize(
    ("hex_bytes", "problem"),
    [
        ("0f 05 00", "starts 0xF0"),
        ("f0 01", "at least 4 bytes"),
        ("f0 01 02 00 00 09 01 00", "unknown setting type 9 at settings byte 0"),
        ("f0 01 02 00 00 00 02 19 00 32", "announces 2 values of 2 bytes, only 3 bytes left"),
        ("f0 01 02 00 00 00", "has a type but no count"),
    ],
)
def test_malformed_control_responses(hex_bytes: str, problem: str) -> None:
    with pytest.raises(PacketError, match="PMD control packet #4") as caught:
        parse_control_response(h(hex_bytes), packet=4)
    assert problem in caught.value.problem


def test_control_response_round_trip() -> None:
    settings = {SETTING_SAMPLE_RATE: [26, 52, 104, 208, 416], SETTING_RANGE: [2, 4, 8, 16]}
    data = encode_control_response(OP_GET_SETTINGS, ACC, 0, settings, factor=0.25)
    response = parse_control_response(data)
    assert (response.ok, response.settings, response.factor) == (True, settings, 0.25)
    assert encode_settings(settings) == data[5:-6]


def test_features_read_by_hand() -> None:
    # An H10 answers a control point read with 0f 05 00: ECG (bit 0) and ACC (bit 2).
    assert parse_measurement_features(h("0f 05 00")) == {0, ACC}
    with pytest.raises(PacketError):
        parse_measurement_features(h("f0 05"))


# --- data frames by hand ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_type", "payload", "expected"),
    [
        (0, "7f 80 ff  00 01 02", [[127, -128, -1], [0, 1, 2]]),
        (1, "e8 03 18 fc 00 00  ff ff 02 00 00 80", [[1000, -1000, 0], [-1, 2, -32768]]),
        (2, "00 00 80 ff ff 7f 01 00 00", [[-8_388_608, 8_388_607, 1]]),
    ],
)
def test_raw_frames_by_hand(frame_type: int, payload: str, expected: list[list[int]]) -> None:
    frame = decode_acc_frame(h(f"02 {TS_HEX} {frame_type:02x} {payload}"))
    assert frame.timestamp_ns == TS
    assert frame.acc_mg.dtype == np.int32
    assert frame.acc_mg.tolist() == expected
    assert len(frame) == len(expected)


def test_delta_frame_by_hand() -> None:
    # reference (100, -100, 0) as int16;
    # block 1: 2-bit deltas, 2 samples: (1, -1, 0), (-2, 1, 1)
    #   bits LSB first: 1=10 -1=11 0=00 | -2=01 1=10 1=10 -> 1011 0001 | 1010 (0000)
    #   -> bytes 0x8d 0x05
    # block 2: 1-bit deltas, 1 sample: (-1, 0, -1) -> bits 1 0 1 -> 0x05
    data = h(f"02 {TS_HEX} 81  64 00 9c ff 00 00  02 02 8d 05  01 01 05")
    frame = decode_acc_frame(data)
    assert frame.timestamp_ns == TS
    assert frame.acc_mg.tolist() == [[100, -100, 0], [101, -101, 0], [99, -100, 1], [98, -100, 0]]


def test_compressed_frames_are_scaled_by_the_factor() -> None:
    # reference only, no blocks: counts (2, -1, 0) / (2, -4, 0)
    # H10 compressed type 0 is in G: counts x factor x 1000 = mG.
    type_0 = h(f"02 {TS_HEX} 80  02 00 ff ff 00 00")
    assert decode_acc_frame(type_0, factor=0.5).acc_mg.tolist() == [[1000, -500, 0]]
    # compressed type 1 is mG x factor
    type_1 = h(f"02 {TS_HEX} 81  02 00 fc ff 00 00")
    assert decode_acc_frame(type_1, factor=0.5).acc_mg.tolist() == [[1, -2, 0]]
    assert decode_acc_frame(type_1).acc_mg.tolist() == [[2, -4, 0]]


@pytest.mark.parametrize(
    ("hex_bytes", "problem"),
    [
        ("02 00 00", "needs a 10-byte header"),
        (f"00 {TS_HEX} 01 00 00 00 00 00 00", "measurement type 0 (ECG) is not ACC (2)"),
        (f"02 {TS_HEX} 03 00 00 00", "unknown raw ACC frame type 3"),
        (f"02 {TS_HEX} 82 00 00 00 00 00 00", "unknown compressed ACC frame type 2"),
        (f"02 {TS_HEX} 01 00 00 00 00 00 00 00", "7 bytes is not a positive multiple"),
        (f"02 {TS_HEX} 01", "0 bytes is not a positive multiple of the sample size (6 bytes"),
        (f"02 {TS_HEX} 02 00 00 00 00 00 00", "(9 bytes: 3 axes x int24)"),
        (f"02 {TS_HEX} 81 00 00 00 00", "needs a 6-byte reference sample, got 4"),
        (f"02 {TS_HEX} 81 00 00 00 00 00 00 02", "header at byte 16 is cut short"),
        (f"02 {TS_HEX} 81 00 00 00 00 00 00 00 01", "block at byte 16 has bit width 0"),
        (f"02 {TS_HEX} 81 00 00 00 00 00 00 21 01 00 00", "has bit width 33"),
        (f"02 {TS_HEX} 81 00 00 00 00 00 00 02 02 8d", "needs 2 bytes, only 1 left"),
        (f"02 {TS_HEX} 81 00 00 00 00 00 00 02 02 8d 05 10", "header at byte 20 is cut short"),
    ],
)
def test_malformed_frames_are_rejected(hex_bytes: str, problem: str) -> None:
    data = h(hex_bytes)
    with pytest.raises(PacketError) as caught:
        decode_acc_frame(data, packet=3)
    error = caught.value
    assert (error.stream, error.packet, error.data) == ("PMD data", 3, data)
    assert str(error).startswith("PMD data packet #3")
    assert problem in error.problem


def test_corrupt_deltas_overflowing_32_bits_are_rejected() -> None:
    block = "20 ff " + "ff ff ff 7f " * 3 * 255  # 255 samples of +2**31 - 1 on every axis
    data = h(f"02 {TS_HEX} 81 00 00 00 00 00 00 {block}")
    with pytest.raises(PacketError, match="does not fit in 32 bits"):
        decode_acc_frame(data)


# --- encoder, round trips --------------------------------------------------------------------


def acc_arrays(low: int, high: int) -> st.SearchStrategy[NDArray[np.int64]]:
    shapes = st.tuples(st.integers(1, 120), st.just(3))
    return hnp.arrays(np.int64, shapes, elements=st.integers(low, high))


timestamps = st.integers(0, 2**64 - 1)


@pytest.mark.parametrize("frame_type", [0, 1, 2])
@given(data=st.data(), timestamp=timestamps)
def test_raw_frames_round_trip(frame_type: int, data: st.DataObject, timestamp: int) -> None:
    bits = 8 * (frame_type + 1)
    acc = data.draw(acc_arrays(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1))
    frame = decode_acc_frame(encode_acc_frame(timestamp, acc, frame_type=frame_type))
    assert frame.timestamp_ns == timestamp
    np.testing.assert_array_equal(frame.acc_mg, acc)


@given(
    acc=acc_arrays(-32768, 32767),
    timestamp=timestamps,
    per_block=st.integers(1, 255),
)
def test_delta_frames_round_trip(acc: NDArray[np.int64], timestamp: int, per_block: int) -> None:
    data = encode_acc_delta_frame(timestamp, acc, max_samples_per_block=per_block)
    frame = decode_acc_frame(data)
    assert frame.timestamp_ns == timestamp
    np.testing.assert_array_equal(frame.acc_mg, acc)


@given(acc=acc_arrays(-200, 200))
def test_smooth_signals_compress(acc: NDArray[np.int64]) -> None:
    data = encode_acc_delta_frame(0, acc)
    assert len(data) < len(encode_acc_frame(0, acc, frame_type=1)) + 10 + 2 * 4
    np.testing.assert_array_equal(decode_acc_frame(data).acc_mg, acc)


@pytest.mark.parametrize("width", range(1, 17))
def test_delta_bit_widths_1_to_16_with_negative_deltas(width: int) -> None:
    low, high = -(2 ** (width - 1)), 2 ** (width - 1) - 1
    # deltas alternate between the most negative and the most positive value of the width
    deltas = np.array([[low, high, -1], [high, low, 0]] * 5)
    acc = np.cumsum(np.vstack([[4, 0, 0], deltas]), axis=0)  # within int16 at 16 bits too
    data = encode_acc_delta_frame(0, acc)
    assert data[16] == width  # the first block's width: after the header and the reference
    assert data[17] == len(deltas)
    np.testing.assert_array_equal(decode_acc_frame(data).acc_mg, acc)


def test_seventeen_bit_deltas_span_the_int16_range() -> None:
    acc = np.array([[-32768, 32767, 0], [32767, -32768, 0]])
    data = encode_acc_delta_frame(0, acc)
    assert data[16] == 17
    np.testing.assert_array_equal(decode_acc_frame(data).acc_mg, acc)


@pytest.mark.parametrize(
    ("acc", "frame_type", "match"),
    [
        (np.array([[128, 0, 0]]), 0, "-128..127"),
        (np.array([[0, -8_388_609, 0]]), 2, "int24"),
        (np.zeros((2, 2), dtype=np.int64), 1, "shape"),
        (np.zeros((0, 3), dtype=np.int64), 1, "shape"),
        (np.zeros((1, 3), dtype=np.int64), 3, "0, 1 or 2"),
    ],
)
def test_raw_encoder_refuses_what_the_frame_cannot_carry(
    acc: NDArray[np.int64], frame_type: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        encode_acc_frame(0, acc, frame_type=frame_type)


def test_delta_encoder_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="int16"):
        encode_acc_delta_frame(0, np.array([[40_000, 0, 0]]))
    with pytest.raises(ValueError, match="max_samples_per_block"):
        encode_acc_delta_frame(0, np.zeros((3, 3), dtype=np.int64), max_samples_per_block=256)
    with pytest.raises(ValueError, match="0x80 or 0x81"):
        encode_acc_delta_frame(0, np.zeros((3, 3), dtype=np.int64), frame_type=0x01)
    with pytest.raises(ValueError, match="u64"):
        encode_acc_delta_frame(-1, np.zeros((3, 3), dtype=np.int64))


def test_timestamps() -> None:
    assert polar_ns_to_unix_s(0) == 946_684_800.0  # 2000-01-01T00:00:00Z
    assert polar_timestamp_ns(1.5, epoch_offset_ns=10) == 1_500_000_010
