"""Replay behaves like a live sensor, and the pipeline's output does not depend on delivery."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cadence.datasets import bundled_trace
from cadence.detector import detect_contacts
from cadence.errors import ConfigurationError
from cadence.events import AccelChunk, SourceStatus, StreamGap
from cadence.pipeline import STANDARD_GRAVITY_MS2, run_pipeline
from cadence.trace import Trace, read_trace
from sim.replay import LinkDrop, TraceReplay

TRACE = "alcantara-sacrum-run-t03"


@pytest.fixture(scope="module")
def trace() -> Trace:
    return read_trace(bundled_trace(TRACE))


def batch_contacts(trace: Trace) -> tuple[object, ...]:
    """What the detector finds in one batch over the values a replay delivers."""
    acc_ms2 = (trace.acc / STANDARD_GRAVITY_MS2) * STANDARD_GRAVITY_MS2
    found = detect_contacts(
        trace.t, acc_ms2, fs_hz=trace.fs_hz, placement="sacrum", up_vector=trace.up_vector
    )
    return found.contacts


async def collect(replay: TraceReplay) -> list[object]:
    async with replay:
        return [event async for event in replay]


@pytest.mark.parametrize("chunk", [1, 7, 20, (1, 60), 100_000])
async def test_pipeline_contacts_do_not_depend_on_chunking(
    trace: Trace, chunk: int | tuple[int, int]
) -> None:
    totals = await run_pipeline(TraceReplay(trace, speed=None, chunk_samples=chunk, seed=3))
    assert tuple(totals.contacts) == batch_contacts(trace)
    assert totals.samples == trace.t.size


async def test_replay_delivers_every_sample_in_order_as_g(trace: Trace) -> None:
    events = await collect(TraceReplay(trace, speed=None, chunk_samples=(5, 30), seed=1))
    chunks = [e for e in events if isinstance(e, AccelChunk)]
    assert {len(c) for c in chunks} <= set(range(1, 31))
    np.testing.assert_array_equal(np.concatenate([c.t_s for c in chunks]), trace.t)
    acc_g = np.concatenate([c.acc_g for c in chunks])
    np.testing.assert_allclose(acc_g * STANDARD_GRAVITY_MS2, trace.acc, rtol=1e-12)
    assert isinstance(events[0], SourceStatus)
    assert events[0].state == "connected"
    assert isinstance(events[-1], SourceStatus)
    assert events[-1].state == "finished"


async def test_real_time_replay_takes_the_trace_duration_over_speed(trace: Trace) -> None:
    speed = 25.0
    started = time.monotonic()
    await collect(TraceReplay(trace, speed=speed))
    # A lower bound only: pacing must not run ahead of the stream's own clock.
    assert time.monotonic() - started >= trace.duration_s / speed * 0.98


async def test_jitter_changes_delivery_not_the_contacts(trace: Trace) -> None:
    jittered = await run_pipeline(TraceReplay(trace, speed=50.0, jitter_s=0.05, seed=2))
    assert tuple(jittered.contacts) == batch_contacts(trace)


async def test_lost_chunks_leave_holes_that_no_contact_spans(trace: Trace) -> None:
    replay = TraceReplay(trace, speed=None, chunk_samples=100, loss_probability=0.15, seed=4)
    totals = await run_pipeline(replay)
    assert replay.lost_chunks > 0
    missing = trace.t.size - totals.samples
    assert 0 < missing <= 100 * replay.lost_chunks
    assert totals.gaps, "a lost 0.2 s chunk is a gap the detector must report"
    for gap in totals.gaps:
        for contact in totals.contacts:
            assert not (contact.on_s < gap.end_s and contact.off_s > gap.start_s)


async def test_link_drop_is_marked_with_a_gap_and_no_samples_inside(trace: Trace) -> None:
    drop = LinkDrop(start_s=1.5, duration_s=1.0)
    events = await collect(TraceReplay(trace, speed=None, link_drops=[drop]))
    gaps = [e for e in events if isinstance(e, StreamGap)]
    assert len(gaps) == 1
    assert gaps[0].start_s == drop.start_s
    assert 2.5 <= gaps[0].end_s < 2.5 + 0.01
    times = np.concatenate([e.t_s for e in events if isinstance(e, AccelChunk)])
    assert not np.any((times >= 1.5) & (times < 2.5))
    totals = await run_pipeline(TraceReplay(trace, speed=None, link_drops=[drop]))
    assert not any(c.on_s < 2.5 and c.off_s > 1.5 for c in totals.contacts)


@pytest.mark.parametrize(
    "options",
    [
        {"speed": 0.0},
        {"speed": float("nan")},
        {"chunk_samples": 0},
        {"chunk_samples": (5, 2)},
        {"jitter_s": -1.0},
        {"loss_probability": 1.0},
        {"link_drops": [LinkDrop(1.0, 0.0)]},
    ],
)
def test_bad_options_are_refused_at_construction(trace: Trace, options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        TraceReplay(trace, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def coached_run(tmp_path_factory: pytest.TempPathFactory) -> Trace:
    """Four synthetic minutes: good running, a low-cadence minute with a dropout, good again."""
    from sim.synthetic import RunnerConfig, simulate

    config = RunnerConfig(
        duration_s=240.0,
        cadence_points=((0.0, 172.0), (90.0, 172.0), (95.0, 156.0), (170.0, 156.0), (175.0, 172.0)),
        dropouts=((120.0, 4.0),),
        seed=5,
    )
    return simulate(config).trace


@pytest.mark.parametrize("chunk", [1, 13, (5, 300), 10_000_000])
async def test_metrics_and_alerts_do_not_depend_on_chunking(
    coached_run: Trace, chunk: int | tuple[int, int]
) -> None:
    from cadence.alerts import AlertRules
    from cadence.profile import RunnerProfile

    async def run(chunk_samples: int | tuple[int, int]) -> tuple[list[object], list[object]]:
        rules = AlertRules(profile=RunnerProfile(target_cadence_spm=168.0))
        replay = TraceReplay(coached_run, speed=None, chunk_samples=chunk_samples, seed=9)
        totals = await run_pipeline(replay, rules=rules)
        return list(totals.metrics), list(totals.alerts)

    reference_metrics, reference_alerts = await run(20)
    metrics, alerts = await run(chunk)
    assert metrics == reference_metrics
    assert alerts == reference_alerts
    assert [a.kind for a in alerts if a.state == "raised"] == ["low_cadence"]
    assert metrics[0].t_s == np.floor(coached_run.t[0]) + 1.0
    in_hole = [m for m in metrics if 121.5 <= m.t_s <= 123.0]
    assert in_hole
    assert all(m.activity == "unknown" for m in in_hole)
