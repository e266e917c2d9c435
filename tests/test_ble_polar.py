"""The Polar PMD accelerometer source against a real peer (bleak's BlueZ backend, a private
D-Bus, patched BlueZoo, the virtual footpod serving a bundled trace)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from bluez.fixtures import (
    FOOTPOD_NAME,
    bluez,
    close_bleak_bus,
    collect,
    footpod,
    requires_dbus,
)
from bluez.harness import CENTRAL_ADAPTER

from cadence.contacts import Contact
from cadence.detector import ContactDetector, detect_contacts
from cadence.errors import SensorError
from cadence.events import AccelChunk, SourceEvent, SourceStatus, StreamGap
from sensors.polar import PolarAccelerometer
from sim.footpod import SENSOR_EPOCH_NS, VirtualFootpod, served_acc

pytestmark = requires_dbus
__all__ = ["bluez", "close_bleak_bus", "footpod"]  # fixtures, used by name

FS_HZ = 200
STANDARD_GRAVITY_MS2 = 9.80665


def pmd_source(**overrides: object) -> PolarAccelerometer:
    arguments: dict[str, object] = {
        "name": FOOTPOD_NAME,
        "adapter": CENTRAL_ADAPTER,
        "sample_rate_hz": FS_HZ,
        "range_g": 8,
        "placement": "sacrum",
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "find_timeout_s": 5.0,
        "seed": 2,
    }
    arguments.update(overrides)
    return PolarAccelerometer(**arguments)  # type: ignore[arg-type]


def dropped(seen: list[SourceEvent]) -> bool:
    return any(isinstance(e, SourceStatus) and e.state == "disconnected" for e in seen)


def chunks(events: list[SourceEvent]) -> list[AccelChunk]:
    return [event for event in events if isinstance(event, AccelChunk)]


def count_samples(n: int) -> Callable[[list[SourceEvent]], bool]:
    return lambda seen: sum(len(chunk) for chunk in chunks(seen)) >= n


def sensor_times_s(pod: VirtualFootpod, n_frames: int) -> np.ndarray:
    """Each served sample's sensor time, from the frame timestamps, relative to the first."""
    frames = pod.served_frames[:n_frames]
    stamps = np.concatenate(
        [f.timestamp_ns - np.arange(f.n_samples)[::-1] * 1_000_000_000 // f.fs_hz for f in frames]
    )
    times: np.ndarray = (stamps - stamps[0]) / 1e9
    return times


@pytest.mark.parametrize("footpod", [False, True], ids=["raw", "delta"], indirect=True)
async def test_acc_chunks_are_the_served_samples(footpod: VirtualFootpod) -> None:
    pod = footpod
    async with pmd_source() as source:
        events = await collect(aiter(source), count_samples(150))
        info = source.info
    assert isinstance(events[0], SourceStatus)
    assert events[0].state == "connected"
    assert (info.kind, info.fs_hz, info.placement) == ("accelerometer", FS_HZ, "sacrum")
    got = chunks(events)
    acc_mg = np.concatenate([chunk.acc_g for chunk in got]) * 1000
    expected = served_acc(pod, pod.served_frames[: len(got)])
    np.testing.assert_array_equal(np.rint(acc_mg), expected)
    assert np.any(expected != 0)
    # Times come from the sensor's timestamps: exactly its 5 ms spacing, from 0.
    t = np.concatenate([chunk.t_s for chunk in got])
    np.testing.assert_allclose(t, sensor_times_s(pod, len(got)), rtol=0, atol=1e-9)
    assert pod.served_frames[0].timestamp_ns > SENSOR_EPOCH_NS


async def test_ble_replay_gives_the_contacts_of_the_file(footpod: VirtualFootpod) -> None:
    """Streaming the BLE chunks through the detector finds exactly the contacts that batch
    detection finds in the samples the footpod served, at the sensor's sample times."""
    up = (1.0, 0.0, 0.0)  # the trace's x axis points up
    detector = ContactDetector(fs_hz=FS_HZ, placement="sacrum", up_vector=up)
    live: list[Contact] = []
    async with pmd_source() as source:
        events = await collect(aiter(source), count_samples(700))
    got = chunks(events)
    for chunk in got:
        live.extend(detector.update(chunk.t_s, chunk.acc_g * STANDARD_GRAVITY_MS2).contacts)
    live.extend(detector.finish().contacts)
    served = served_acc(footpod, footpod.served_frames[: len(got)]) / 1000.0
    batch = detect_contacts(
        sensor_times_s(footpod, len(got)),
        served * STANDARD_GRAVITY_MS2,
        fs_hz=FS_HZ,
        placement="sacrum",
        up_vector=up,
    ).contacts
    assert len(batch) >= 8
    # The same contacts: equal in number and to a nanosecond (sample times are sums of the
    # same intervals, accumulated frame by frame on one side and computed at once on the other).
    assert len(live) == len(batch)
    for name in ("on_s", "off_s", "impact_g"):
        np.testing.assert_allclose(
            [getattr(c, name) for c in live], [getattr(c, name) for c in batch], rtol=0, atol=1e-9
        )


async def test_drop_reconnects_and_leaves_a_hole_in_time(footpod: VirtualFootpod) -> None:
    async with pmd_source() as source:
        stream = aiter(source)
        before = chunks(await collect(stream, count_samples(100)))
        assert await footpod.drop_link() == 1
        after = await collect(stream, count_samples(100))
    states = [event.state for event in after if isinstance(event, SourceStatus)]
    assert states[:2] == ["disconnected", "connected"]
    (gap,) = [event for event in after if isinstance(event, StreamGap)]
    at = after.index(gap)
    last_before = (before + chunks(after[:at]))[-1]
    first_after = chunks(after[at:])[0]
    # No samples are invented: the gap spans the hole from the last sample to the next, and
    # the times after it are the sensor's (the hole is as long as the link was down).
    assert gap.start_s == float(last_before.t_s[-1])
    assert gap.end_s == float(first_after.t_s[0])
    assert gap.end_s - gap.start_s > 2 / FS_HZ
    t = np.concatenate([chunk.t_s for chunk in before + chunks(after)])
    assert np.all(np.diff(t) > 0)
    assert source.drops == 1


async def test_malformed_frames_are_counted_and_skipped(footpod: VirtualFootpod) -> None:
    async with pmd_source() as source:
        stream = aiter(source)
        first = chunks(await collect(stream, count_samples(1)))
        assert footpod.send_malformed_pmd()
        assert footpod.send_malformed_pmd()
        sent_before = len(footpod.served_frames)
        # Frames arrive in order: frame number sent_before + 1 came after the bad ones.
        seen = await collect(stream, lambda s: len(first) + len(chunks(s)) > sent_before)
        assert source.bad_packets == 2
    assert not [event for event in seen if isinstance(event, StreamGap)]


async def test_silence_for_three_frame_spans_is_a_drop(footpod: VirtualFootpod) -> None:
    async with pmd_source() as source:
        stream = aiter(source)
        await collect(stream, count_samples(72))
        # The watchdog's period is one frame's span (36 samples at 200 Hz = 0.18 s).
        footpod.go_silent(1.5)
        after = await collect(stream, dropped)
        after += await collect(stream, count_samples(72))
    disconnects = [e for e in after if isinstance(e, SourceStatus) and e.state == "disconnected"]
    assert disconnects
    assert disconnects[0].detail.startswith("no data for")
    assert "(3 expected periods)" in disconnects[0].detail
    assert any(isinstance(event, StreamGap) for event in after)


async def test_a_rate_the_sensor_does_not_offer_is_a_clear_error(footpod: VirtualFootpod) -> None:
    with pytest.raises(SensorError, match=r"offers ACC sample_rate_hz 25, 50, 100, 200; 52 was"):
        async with pmd_source(sample_rate_hz=52):
            pass
    assert not footpod.served_frames  # nothing was started
