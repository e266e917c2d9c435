"""The pipeline: source events in; contacts, per-second metrics and alerts out to the sinks.

:class:`Pipeline` is the synchronous heart (no I/O, no waiting): the detector, the metrics and the
alert rules, fed one source event at a time. :func:`run_pipeline` is the async driver that
enters the sinks, the recorder and the source, and feeds every event through.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Protocol

import numpy as np
import numpy.typing as npt

from cadence.contacts import Contact, Gap
from cadence.detector import ContactDetector
from cadence.errors import ConfigurationError
from cadence.events import (
    AccelChunk,
    Alert,
    Metrics,
    PipelineOutput,
    RunTotals,
    SourceEvent,
    SourceInfo,
    SourceStatus,
    StreamGap,
    SummaryRecord,
)
from cadence.metrics import MetricsTracker
from cadence.placement import placement_is_leg
from cadence.recording import Recorder
from cadence.sinks import Sink
from cadence.source import Source
from cadence.units import STANDARD_GRAVITY_MS2


class AlertRuleSet(Protocol):
    """Decides alerts from one second of metrics at a time (see :mod:`cadence.alerts`)."""

    def update(self, metrics: Metrics) -> list[Alert]: ...


class Pipeline:
    """Detector → metrics → alert rules for one source; outputs go to the sinks as they happen.

    Args:
        info: the entered source's description.
        placement: overrides ``info.placement`` (required for accelerometers without one).
        rules: alert rules, or None for none.
        sinks: every output is published to each (publish never blocks).
        recorder: receives the raw input as well as the outputs.
        totals: where every output is also kept, for the commands' reports and the tests (the
            caller's own, so it survives a cancelled run); a new one by default.
    """

    def __init__(
        self,
        *,
        info: SourceInfo,
        placement: str | None = None,
        rules: AlertRuleSet | None = None,
        sinks: Sequence[Sink] = (),
        recorder: Recorder | None = None,
        totals: RunTotals | None = None,
    ) -> None:
        self.info = info
        self.placement = placement or info.placement
        self._detector: ContactDetector | None = None
        leg_mounted = False
        if info.kind == "accelerometer":
            if self.placement is None:
                raise ConfigurationError(
                    f"{info.name}: the sensor's placement is unknown; give one (e.g. sacrum)"
                )
            if info.fs_hz is None:
                raise ConfigurationError(f"{info.name}: an accelerometer needs its sample rate")
            leg_mounted = placement_is_leg(self.placement)
            self._detector = ContactDetector(
                fs_hz=info.fs_hz, placement=self.placement, up_vector=info.up_vector
            )
        self._metrics = MetricsTracker(leg_mounted=leg_mounted)
        self._rules = rules
        self._last_source_gap: StreamGap | None = None
        self._last_sample_s: float | None = None
        self._sinks = tuple(sinks)
        self._recorder = recorder
        self.totals = totals if totals is not None else RunTotals()
        if recorder is not None:
            recorder.start(info)

    def feed(self, event: SourceEvent) -> None:
        """Process one source event; returns once its outputs are queued in every sink."""
        if isinstance(event, AccelChunk):
            self._feed_samples(event)
        elif isinstance(event, SummaryRecord):
            if self._recorder is not None:
                self._recorder.record_footpod(event)
            self._metrics.add_record(event)
            self._tick(event.t_s)
        elif isinstance(event, StreamGap):
            self._last_source_gap = event
            self._metrics.add_gap(event)
            self._emit(event)
        elif isinstance(event, SourceStatus):
            self._emit(event)

    def finish(self) -> None:
        """End of the stream: whatever the detector can still complete."""
        if self._detector is not None:
            self._emit_detector(self._detector.finish().contacts, ())

    def _feed_samples(self, chunk: AccelChunk) -> None:
        if self._detector is None:
            raise ConfigurationError(f"{self.info.name}: a footpod source sent samples")
        # The detector and the recording get the same m/s² values, so a recording analysed
        # later gives exactly the contacts found live.
        t, acc_ms2 = chunk.t_s, chunk.acc_g * STANDARD_GRAVITY_MS2
        if self._recorder is not None:
            self._recorder.record_samples(t, acc_ms2)
        self.totals.samples += len(chunk)
        if t.size == 0:
            return
        if self._metrics.next_tick_s is None:
            self._metrics.tick(float(t[0]))  # starts the per-second clock at the first sample
        # Second T is reported once every sample up to T, and none after it, went through the
        # detector: the metrics and alerts are then the same however the stream is chunked.
        start = 0
        while True:
            due = self._metrics.next_tick_s
            assert due is not None
            stop = int(np.searchsorted(t, due, side="right"))
            if stop > start:
                self._detect(t[start:stop], acc_ms2[start:stop])
                start = stop
            if stop == t.size and t[-1] < due:
                return
            self._tick(due, data_until_s=self._last_sample_s)

    def _detect(self, t: npt.NDArray[np.float64], acc_ms2: npt.NDArray[np.float64]) -> None:
        assert self._detector is not None
        update = self._detector.update(t, acc_ms2)
        self._last_sample_s = float(t[-1])
        self._emit_detector(update.contacts, update.gaps)

    def _emit_detector(self, contacts: Sequence[Contact], gaps: Sequence[Gap]) -> None:
        for gap in gaps:
            if self._source_gap_covers(gap):
                continue  # the source already marked this hole
            stream_gap = StreamGap(gap.start_s, gap.end_s, "no samples")
            self._metrics.add_gap(stream_gap)
            self._emit(stream_gap)
        self._metrics.add_contacts(contacts)
        for contact in contacts:
            self._emit(contact)

    def _source_gap_covers(self, gap: Gap) -> bool:
        marked = self._last_source_gap
        return marked is not None and marked.start_s < gap.end_s <= marked.end_s

    def _tick(self, now_s: float, *, data_until_s: float | None = None) -> None:
        for metrics in self._metrics.tick(now_s, data_until_s=data_until_s):
            self._emit(metrics)
            if self._rules is not None:
                for alert in self._rules.update(metrics):
                    self._emit(alert)

    def _emit(self, item: PipelineOutput) -> None:
        for sink in self._sinks:
            sink.publish(item)
        if self._recorder is not None:
            self._recorder.publish(item)
        _add_to_totals(self.totals, item)


def _add_to_totals(totals: RunTotals, item: PipelineOutput) -> None:
    if isinstance(item, Contact):
        totals.contacts.append(item)
    elif isinstance(item, Metrics):
        totals.metrics.append(item)
    elif isinstance(item, Alert):
        totals.alerts.append(item)
    elif isinstance(item, StreamGap):
        totals.gaps.append(item)


async def run_pipeline(
    source: Source,
    *,
    placement: str | None = None,
    rules: AlertRuleSet | None = None,
    sinks: Sequence[Sink] = (),
    recorder: Recorder | None = None,
    totals: RunTotals | None = None,
) -> RunTotals:
    """Run ``source`` through the pipeline to its end (or until cancelled).

    Sinks and the recorder are entered before the source and left after it, so everything the
    source delivered reaches them. Returns the totals; pass ``totals`` to keep what a
    cancelled run produced.
    """
    async with AsyncExitStack() as stack:
        for sink in sinks:
            await stack.enter_async_context(sink)
        if recorder is not None:
            await stack.enter_async_context(recorder)
        entered = await stack.enter_async_context(source)
        pipeline = Pipeline(
            info=entered.info,
            placement=placement,
            rules=rules,
            sinks=sinks,
            recorder=recorder,
            totals=totals,
        )
        async for event in entered:
            pipeline.feed(event)
        pipeline.finish()
    return pipeline.totals
