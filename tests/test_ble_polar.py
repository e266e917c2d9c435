"""The Polar PMD accelerometer source against a real peer (bleak's BlueZ backend, a private
D-Bus, patched BlueZoo, the virtual footpod serving a bundled trace)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest
from bluez.fixtures import (
    FOOTPOD_NAME,
    FOOTPOD_TRACE,
    WAIT_S,
    bluez,
    close_bleak_bus,
    collect,
    footpod,
    forget_device,
    requires_dbus,
)
from bluez.harness import (
    CENTRAL_ADAPTER,
    PERIPHERAL_ADAPTER,
    PERIPHERAL_ADDRESS,
    BluezEnvironment,
)

from cadence.contacts import Contact
from cadence.datasets import bundled_trace
from cadence.detector import ContactDetector, detect_contacts
from cadence.errors import SensorError
from cadence.events import AccelChunk, SourceEvent, SourceStatus, StreamGap
from cadence.trace import read_trace
from sensors.pmd import HEART_RATE_SERVICE_UUID
from sensors.polar import PolarAccelerometer
from sensors.scan import scan
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


FRAME_SPAN_S = 36 / FS_HZ  # the virtual footpod's frames
SWITCH_ON_AFTER_S = 1.0
SETUP_BOUND_S = 0.5  # link up to the first sample: PMD setup round trips on a busy machine


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
    # Times come from the sensor's timestamps: exactly its 5 ms spacing.
    t = np.concatenate([chunk.t_s for chunk in got])
    np.testing.assert_allclose(t - t[0], sensor_times_s(pod, len(got)), rtol=0, atol=1e-9)
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
    # The sample times are the sensor's (to a nanosecond, from wherever the first sample sits
    # on the stream's axis); batch detection runs at exactly those times, because the detector's
    # contact times can move by microseconds when sample times change in the last bit.
    t = np.concatenate([chunk.t_s for chunk in got])
    np.testing.assert_allclose(t - t[0], sensor_times_s(footpod, len(got)), rtol=0, atol=1e-9)
    batch = detect_contacts(
        t, served * STANDARD_GRAVITY_MS2, fs_hz=FS_HZ, placement="sacrum", up_vector=up
    ).contacts
    assert len(batch) >= 8
    # The same contacts: equal in number and to a nanosecond.
    assert len(live) == len(batch)
    for name in ("on_s", "off_s", "impact_g"):
        np.testing.assert_allclose(
            [getattr(c, name) for c in live], [getattr(c, name) for c in batch], rtol=0, atol=1e-9
        )


async def test_samples_and_link_statuses_share_one_time_axis(bluez: BluezEnvironment) -> None:
    """Stream time zero is when the source was entered, for samples and statuses alike. The
    sensor is switched on a second after the source starts looking for it: "connected" comes
    late, and the first sample follows it closely; around a drop the statuses sit at the edges
    of the gap."""
    trace = read_trace(bundled_trace(FOOTPOD_TRACE))
    pod = VirtualFootpod(trace, adapter=PERIPHERAL_ADAPTER, name=FOOTPOD_NAME)

    async def switch_on_late() -> None:
        await asyncio.sleep(SWITCH_ON_AFTER_S)  # the runner turns the sensor on a bit later
        await pod.start()

    switching_on = asyncio.create_task(switch_on_late(), name="switch-on-late")
    try:
        async with pmd_source() as source:
            stream = aiter(source)
            before = await collect(stream, count_samples(100))
            assert await pod.drop_link() == 1
            after = await collect(stream, count_samples(100))
    finally:
        await switching_on
        await pod.stop()
    statuses = [e for e in before + after if isinstance(e, SourceStatus)]
    assert [s.state for s in statuses[:3]] == ["connected", "disconnected", "connected"]
    connected, disconnected, reconnected = statuses[:3]
    assert connected.t_s >= SWITCH_ON_AFTER_S
    # The link comes up, the setup asks for ACC (a few round trips), the sensor starts sampling.
    first_sample_s = float(chunks(before)[0].t_s[0])
    assert connected.t_s <= first_sample_s <= connected.t_s + SETUP_BOUND_S
    (gap,) = [event for event in after if isinstance(event, StreamGap)]
    # The drop is noticed right after the last frame before it ...
    assert abs(disconnected.t_s - gap.start_s) <= FRAME_SPAN_S
    # ... and the sensor resumes sampling right after the link is back.
    assert reconnected.t_s - FRAME_SPAN_S <= gap.end_s <= reconnected.t_s + SETUP_BOUND_S


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


async def test_a_polar_sensor_advertising_only_heart_rate_is_found_by_name(
    bluez: BluezEnvironment,
) -> None:
    """Like a real H10: the advertisement has Heart Rate and "Polar H10 <id>", no PMD UUID.
    Scanning lists it as a PMD accelerometer by name, and a source given neither address nor
    name finds it and streams from it."""
    name = "Polar H10 0A1B2C3D"
    trace = read_trace(bundled_trace(FOOTPOD_TRACE))
    # A sensor never seen before: no services remembered from earlier tests' footpod.
    await forget_device(CENTRAL_ADAPTER, PERIPHERAL_ADDRESS)
    async with VirtualFootpod(
        trace, adapter=PERIPHERAL_ADAPTER, name=name, advertised_services=[HEART_RATE_SERVICE_UUID]
    ):
        found = await scan(
            adapter=CENTRAL_ADAPTER,
            timeout_s=WAIT_S,
            until=lambda sensors: any(s.name == name for s in sensors),
        )
        (h10,) = [sensor for sensor in found if sensor.name == name]
        assert [str(kind) for kind in h10.kinds] == ["accelerometer (PMD, by name)"]
        async with pmd_source(name=None) as source:
            events = await collect(aiter(source), count_samples(36))
    (connected,) = [e for e in events if isinstance(e, SourceStatus)]
    assert connected.state == "connected"
    assert PERIPHERAL_ADDRESS in connected.detail
    assert chunks(events)
