"""Per-second metrics from contacts (accelerometers) or summary records (footpods, FIT files).

:class:`MetricsTracker` keeps a short trailing window and emits one :class:`Metrics` per whole
second of stream time, so alert rules see the same cadence whatever the sensor.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable

from cadence.contacts import Contact
from cadence.errors import ConfigurationError
from cadence.events import Activity, Metrics, StreamGap, SummaryRecord

# A footpod record older than this no longer describes the runner. Watches in "smart recording"
# mode write a record every 1-9 s; a live footpod that falls silent is cut off by a gap first.
RECORD_STALE_S = 10.0
# Below this a footpod's speed means standing still.
STOPPED_SPEED_MPS = 0.3
# Without a running flag, a step rate this high is running (walking tops out near 130-140 spm).
RUNNING_CADENCE_SPM = 140.0
# A second that ends this long after the last sample is in a hole in the data: nothing is known
# of the runner then ("unknown"), which is not the same as standing still.
NO_DATA_S = 1.0


class MetricsTracker:
    """Turn contacts or footpod records into one :class:`Metrics` per second.

    Parameters
    ----------
    leg_mounted
        The sensor sees one leg: each of its contacts stands for two steps.
    window_s
        Trailing window for cadence, contact time and impact (seconds).
    max_step_interval_s
        Longer than this without a step means the runner stopped.
    """

    def __init__(
        self,
        *,
        leg_mounted: bool = False,
        window_s: float = 6.0,
        max_step_interval_s: float = 2.0,
    ) -> None:
        if not window_s > 0:
            raise ConfigurationError(f"window_s must be > 0, got {window_s}")
        if not max_step_interval_s > 0:
            raise ConfigurationError(f"max_step_interval_s must be > 0, got {max_step_interval_s}")
        self.leg_mounted = leg_mounted
        self.window_s = window_s
        self.max_step_interval_s = max_step_interval_s
        self._steps_per_contact = 2 if leg_mounted else 1
        self._contacts: deque[Contact] = deque()
        self._record: SummaryRecord | None = None
        self._last_gap_end_s = -math.inf
        self._next_tick_s: float | None = None
        self._steps_total = 0.0

    def add_contacts(self, contacts: Iterable[Contact]) -> None:
        for contact in contacts:
            # The opposite leg's contacts are already inside the doubling of the sensor leg's.
            if self.leg_mounted and contact.leg == "other":
                continue
            self._contacts.append(contact)
            self._steps_total += self._steps_per_contact

    def add_record(self, record: SummaryRecord) -> None:
        # A footpod counts no steps: integrate its cadence over the time since the last record.
        last = self._record
        if last is not None and last.cadence_spm and 0 < record.t_s - last.t_s <= RECORD_STALE_S:
            self._steps_total += last.cadence_spm / 60.0 * (record.t_s - last.t_s)
        self._record = record

    def add_gap(self, gap: StreamGap) -> None:
        # Steps either side of a gap are never paired into one interval.
        self._contacts.clear()
        self._record = None
        self._last_gap_end_s = gap.end_s

    @property
    def next_tick_s(self) -> float | None:
        """The next second to report; None until the first ``tick`` sets the clock."""
        return self._next_tick_s

    def tick(self, now_s: float, *, data_until_s: float | None = None) -> list[Metrics]:
        """Metrics for every whole second of stream time up to ``now_s`` not yet reported.

        The first call starts the clock: the first second reported is the one after it.
        ``data_until_s`` is the time of the last sample seen; seconds that end in a hole in
        the data after it are reported as "unknown".
        """
        if self._next_tick_s is None:
            self._next_tick_s = float(math.floor(now_s)) + 1.0
        out: list[Metrics] = []
        while self._next_tick_s <= now_s:
            out.append(self._metrics_at(self._next_tick_s, data_until_s))
            self._next_tick_s += 1.0
        return out

    def _metrics_at(self, t_s: float, data_until_s: float | None) -> Metrics:
        while self._contacts and self._contacts[0].on_s <= t_s - self.window_s:
            self._contacts.popleft()
        if data_until_s is not None and t_s - data_until_s > NO_DATA_S:
            return Metrics(t_s=t_s, activity="unknown", steps_total=round(self._steps_total))
        if self._record is not None and t_s - self._record.t_s <= RECORD_STALE_S:
            return self._from_record(t_s, self._record)
        return self._from_contacts(t_s)

    def _from_contacts(self, t_s: float) -> Metrics:
        recent = [c for c in self._contacts if c.on_s <= t_s]
        max_interval_s = self.max_step_interval_s * self._steps_per_contact
        if not recent or t_s - recent[-1].on_s > max_interval_s:
            stopped = t_s - self._last_gap_end_s > max_interval_s
            activity: Activity = "stopped" if stopped else "unknown"
            return Metrics(t_s=t_s, activity=activity, steps_total=round(self._steps_total))
        if len(recent) < 2:
            return Metrics(t_s=t_s, activity="unknown", steps_total=round(self._steps_total))
        span_s = recent[-1].on_s - recent[0].on_s
        step_s = span_s / ((len(recent) - 1) * self._steps_per_contact)
        gct_s = statistics.median(c.gct_s for c in recent)
        duty = gct_s / (2.0 * step_s)
        impacts = [c.impact_g for c in recent if c.impact_g is not None]
        return Metrics(
            t_s=t_s,
            # Running has a flight phase: each foot is down for less than half its stride.
            activity="running" if duty < 0.5 else "walking",
            cadence_spm=60.0 / step_s,
            gct_ms=gct_s * 1000.0,
            duty_factor=duty,
            impact_g=statistics.median(impacts) if impacts else None,
            steps_total=round(self._steps_total),
        )

    def _from_record(self, t_s: float, record: SummaryRecord) -> Metrics:
        cadence = record.cadence_spm
        speed = record.speed_mps
        step_length = record.step_length_m
        if step_length is None and speed is not None and cadence:
            step_length = speed / (cadence / 60.0)
        activity: Activity
        if (speed is not None and speed < STOPPED_SPEED_MPS) or cadence == 0:
            activity = "stopped"
        elif record.running is not None:
            activity = "running" if record.running else "walking"
        elif cadence is not None:
            activity = "running" if cadence >= RUNNING_CADENCE_SPM else "walking"
        else:
            activity = "unknown"
        duty = None
        if record.gct_ms is not None and cadence:
            duty = record.gct_ms / 1000.0 * cadence / 120.0  # contact time / stride time
        return Metrics(
            t_s=t_s,
            activity=activity,
            cadence_spm=cadence,
            gct_ms=record.gct_ms,
            duty_factor=duty,
            step_length_m=step_length,
            speed_mps=speed,
            steps_total=round(self._steps_total),
        )
