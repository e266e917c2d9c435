"""Whole-run figures from detected contacts: cadence while moving, median GCT, bouts."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cadence.contacts import Contact, Gap
from cadence.errors import ConfigurationError

if TYPE_CHECKING:
    from cadence.events import Metrics

# About twice a slow walking step: longer than this between foot-ons means the runner stopped.
DEFAULT_MAX_STEP_INTERVAL_S = 2.0


@dataclass(frozen=True, slots=True)
class Summary:
    """Figures for a whole recording.

    ``n_steps`` counts both legs: a leg-mounted sensor sees one leg, so each of its contacts
    stands for a stride of two steps. ``n_bouts`` counts bouts of movement (at least two
    contacts close enough together); ``moving_s`` is the time those bouts span.
    """

    n_contacts: int
    n_steps: int
    cadence_spm: float | None
    gct_ms: float | None
    moving_s: float
    n_bouts: int
    gaps: tuple[Gap, ...]


def summarize(
    contacts: Sequence[Contact],
    gaps: Sequence[Gap],
    *,
    leg_mounted: bool,
    max_step_interval_s: float = DEFAULT_MAX_STEP_INTERVAL_S,
) -> Summary:
    """Summarize a recording; pauses and gaps split bouts so they do not lower the cadence."""
    if max_step_interval_s <= 0:
        raise ConfigurationError(f"max_step_interval_s must be > 0, got {max_step_interval_s}")
    steps_per_contact = 2 if leg_mounted else 1
    # Opposite-leg contacts reported by a leg-mounted detector are already inside the doubling.
    paced = [c for c in contacts if not (leg_mounted and c.leg == "other")]
    max_interval_s = max_step_interval_s * steps_per_contact
    bouts = [b for b in split_bouts(paced, gaps, max_interval_s) if len(b) >= 2]
    n_intervals = sum(len(bout) - 1 for bout in bouts)
    moving_s = sum(bout[-1].on_s - bout[0].on_s for bout in bouts)
    cadence_spm = (
        60.0 * steps_per_contact * n_intervals / moving_s if bouts and moving_s > 0 else None
    )
    gct_ms = 1000.0 * statistics.median(c.gct_s for c in contacts) if contacts else None
    return Summary(
        n_contacts=len(contacts),
        n_steps=steps_per_contact * len(paced),
        cadence_spm=cadence_spm,
        gct_ms=gct_ms,
        moving_s=moving_s,
        n_bouts=len(bouts),
        gaps=tuple(gaps),
    )


def split_bouts(
    contacts: Sequence[Contact], gaps: Sequence[Gap], max_interval_s: float
) -> list[list[Contact]]:
    """Group contacts (by foot-on time) into bouts, breaking at long pauses and at gaps."""
    bouts: list[list[Contact]] = []
    previous: Contact | None = None
    for contact in sorted(contacts, key=lambda c: c.on_s):
        if previous is None or _breaks_bout(previous, contact, gaps, max_interval_s):
            bouts.append([])
        bouts[-1].append(contact)
        previous = contact
    return bouts


def _breaks_bout(
    previous: Contact, contact: Contact, gaps: Sequence[Gap], max_interval_s: float
) -> bool:
    if contact.on_s - previous.on_s > max_interval_s:
        return True
    # Steps may be missing inside a gap, so the interval across it is not one step.
    return any(gap.start_s < contact.on_s and gap.end_s > previous.on_s for gap in gaps)


@dataclass(frozen=True, slots=True)
class MetricsSummary:
    """Figures for a whole run from its per-second metrics (footpods and FIT files).

    ``cadence_spm`` is the mean step rate over the seconds spent moving, i.e. steps ÷ moving
    time; contact time and step length are medians over those seconds.
    """

    moving_s: float
    n_steps: int
    cadence_spm: float | None
    gct_ms: float | None
    step_length_m: float | None
    speed_mps: float | None


def summarize_metrics(metrics: Sequence[Metrics]) -> MetricsSummary:
    # A watch without a footpod may give speed but no cadence: those seconds still count.
    moving = [m for m in metrics if m.activity in ("running", "walking")]
    cadences = [m.cadence_spm for m in moving if m.cadence_spm is not None]
    contact_ms = [m.gct_ms for m in moving if m.gct_ms is not None]
    lengths = [m.step_length_m for m in moving if m.step_length_m is not None]
    speeds = [m.speed_mps for m in moving if m.speed_mps is not None]
    return MetricsSummary(
        moving_s=float(len(moving)),
        n_steps=round(sum(cadences) / 60.0),
        cadence_spm=statistics.fmean(cadences) if cadences else None,
        gct_ms=statistics.median(contact_ms) if contact_ms else None,
        step_length_m=statistics.median(lengths) if lengths else None,
        speed_mps=statistics.fmean(speeds) if speeds else None,
    )
