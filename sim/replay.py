"""Replay a recorded trace as a live sensor would deliver it.

:class:`TraceReplay` is a :class:`cadence.source.Source`: the pipeline cannot tell it from a BLE
accelerometer. It delivers the trace in notification-sized chunks at real time, at N-times speed or
as fast as possible, and can inject the faults of a real link so their handling is testable:
uneven chunk sizes, delivery jitter, lost packets (samples that never arrive; the detector sees
the hole in the timestamps) and dropped links (marked with a :class:`StreamGap`, as the BLE
sources do).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt

from cadence.errors import ConfigurationError
from cadence.events import AccelChunk, SourceEvent, SourceInfo, SourceStatus, StreamGap
from cadence.trace import Trace, read_trace
from cadence.units import STANDARD_GRAVITY_MS2

# How often an as-fast-as-possible replay lets other tasks (sinks) run, in chunks.
_YIELD_EVERY_CHUNKS = 64


@dataclass(frozen=True, slots=True)
class LinkDrop:
    """A span of the trace during which the simulated link is down: no samples, one gap."""

    start_s: float
    duration_s: float


class TraceReplay:
    """Deliver a trace's accelerometer samples as a stream of :class:`AccelChunk` events.

    Args:
        trace: a trace, or the path of a trace CSV file.
        speed: 1.0 for real time, N for N-times real time, ``None`` for as fast as possible.
        chunk_samples: samples per notification, or an inclusive (low, high) range to draw from.
        jitter_s: each chunk is delivered up to this much later than its last sample (real-time
            modes; the timestamps are untouched, as with a real sensor).
        loss_probability: chance that a chunk is lost on the way; its samples never arrive.
        link_drops: spans with no samples, reported with a :class:`StreamGap`.
        seed: seeds the random chunk sizes, jitter and losses.
    """

    def __init__(
        self,
        trace: Trace | str | Path,
        *,
        speed: float | None = 1.0,
        chunk_samples: int | tuple[int, int] = 20,
        jitter_s: float = 0.0,
        loss_probability: float = 0.0,
        link_drops: Sequence[LinkDrop] = (),
        seed: int = 0,
    ) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ConfigurationError(f"speed must be > 0 (None: as fast as possible): {speed}")
        low, high = (
            (chunk_samples, chunk_samples) if isinstance(chunk_samples, int) else chunk_samples
        )
        if not 1 <= low <= high:
            raise ConfigurationError(f"chunk_samples must be >= 1 (low <= high): {chunk_samples}")
        if not (math.isfinite(jitter_s) and jitter_s >= 0):
            raise ConfigurationError(f"jitter_s must be >= 0: {jitter_s}")
        if not 0 <= loss_probability < 1:
            raise ConfigurationError(f"loss_probability must be in [0, 1): {loss_probability}")
        for drop in link_drops:
            if not (drop.duration_s > 0 and math.isfinite(drop.start_s)):
                raise ConfigurationError(f"link drop needs a duration > 0: {drop}")
        self._trace_or_path = trace
        self.speed = speed
        self._chunk_range = (low, high)
        self.jitter_s = jitter_s
        self.loss_probability = loss_probability
        self.link_drops = tuple(sorted(link_drops, key=lambda d: d.start_s))
        self._rng = np.random.default_rng(seed)
        self._trace: Trace | None = None
        self._info: SourceInfo | None = None
        self.position_s = 0.0
        self.duration_s = 0.0
        self.lost_chunks = 0

    @property
    def info(self) -> SourceInfo:
        if self._info is None:
            raise RuntimeError("enter the replay (async with) before reading its info")
        return self._info

    async def __aenter__(self) -> Self:
        trace = self._trace_or_path
        if not isinstance(trace, Trace):
            trace = await asyncio.to_thread(read_trace, trace)
        if trace.acc.shape[1] == 0:
            raise ConfigurationError(f"{trace.source}: the trace has no acceleration columns")
        self._trace = trace
        self.duration_s = trace.duration_s
        self._info = SourceInfo(
            name=Path(trace.source).name,
            kind="accelerometer",
            placement=trace.placement,
            fs_hz=trace.fs_hz,
            up_vector=trace.up_vector,
            axes=trace.metadata.get("axes"),
            acc_axes=trace.acc_axes,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._trace = None

    def __aiter__(self) -> AsyncIterator[SourceEvent]:
        if self._trace is None:
            raise RuntimeError("enter the replay (async with) before iterating it")
        return self._events(self._trace)

    async def _events(self, trace: Trace) -> AsyncIterator[SourceEvent]:
        t = trace.t
        acc_g = trace.acc / STANDARD_GRAVITY_MS2
        mode = "as fast as possible" if self.speed is None else f"at {self.speed:g}x"
        yield SourceStatus(float(t[0]), "connected", detail=f"replaying {self.info.name} {mode}")
        clock = _ReplayClock(float(t[0]), self.speed)
        unreported_drops = list(self.link_drops)
        delivered_chunks = 0
        for start, stop in self._chunk_bounds(t.size):
            keep = self._outside_drops(t[start:stop])
            self.position_s = float(t[stop - 1] - t[0])
            lost = self.loss_probability > 0 and self._rng.random() < self.loss_probability
            if lost:
                self.lost_chunks += 1
                continue
            chunk_t, chunk_acc = t[start:stop][keep], acc_g[start:stop][keep]
            if chunk_t.size == 0:
                continue
            await clock.wait_until(float(chunk_t[-1]) + self._jitter())
            for gap in _gaps_before(unreported_drops, float(chunk_t[0])):
                yield gap
            yield AccelChunk(chunk_t.copy(), chunk_acc.copy())
            delivered_chunks += 1
            if self.speed is None and delivered_chunks % _YIELD_EVERY_CHUNKS == 0:
                await asyncio.sleep(0)
        yield SourceStatus(float(t[-1]), "finished", detail=f"{self.lost_chunks} chunks lost")

    def _chunk_bounds(self, n: int) -> list[tuple[int, int]]:
        low, high = self._chunk_range
        bounds = []
        start = 0
        while start < n:
            size = low if low == high else int(self._rng.integers(low, high + 1))
            bounds.append((start, min(n, start + size)))
            start += size
        return bounds

    def _outside_drops(self, chunk_t: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        keep = np.ones(chunk_t.size, dtype=bool)
        for drop in self.link_drops:
            keep &= ~((chunk_t >= drop.start_s) & (chunk_t < drop.start_s + drop.duration_s))
        return keep

    def _jitter(self) -> float:
        return float(self._rng.uniform(0.0, self.jitter_s)) if self.jitter_s > 0 else 0.0


def _gaps_before(unreported: list[LinkDrop], first_sample_s: float) -> list[StreamGap]:
    """Take the link drops that ended before ``first_sample_s`` off ``unreported`` as gaps."""
    gaps = []
    while unreported and unreported[0].start_s + unreported[0].duration_s <= first_sample_s:
        drop = unreported.pop(0)
        gaps.append(StreamGap(drop.start_s, first_sample_s, "link dropped (injected)"))
    return gaps


class _ReplayClock:
    """Maps stream time to the monotonic clock for real-time and N-times replays."""

    def __init__(self, first_sample_s: float, speed: float | None) -> None:
        self._first_sample_s = first_sample_s
        self._speed = speed
        self._start = time.monotonic()

    async def wait_until(self, stream_s: float) -> None:
        if self._speed is None:
            return
        due = self._start + (stream_s - self._first_sample_s) / self._speed
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
