"""Typed results of step detection: foot contacts and gaps in the stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Leg = Literal["sensor", "other"]


@dataclass(frozen=True, slots=True)
class Contact:
    """One foot contact, in stream seconds.

    ``leg`` is ``"sensor"`` for the leg that wears a leg-mounted sensor, ``"other"`` for the
    opposite leg, and ``None`` where the placement cannot tell (trunk-worn sensors).
    ``impact_g``: for trunk sensors, the peak vertical acceleration from foot-on to the end of
    stance in g, gravity included (1 g standing still; saturates on a clipping sensor); for leg
    sensors, the peak of the 15 Hz high-passed acceleration magnitude at foot-strike.
    """

    on_s: float
    off_s: float
    leg: Leg | None = None
    impact_g: float | None = None

    @property
    def gct_s(self) -> float:
        """Ground contact time in seconds."""
        return self.off_s - self.on_s


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch with no samples: reported, never bridged with invented steps."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class DetectorUpdate:
    """What one ``update`` (or ``finish``) completed: contacts and gaps, in time order."""

    contacts: tuple[Contact, ...] = ()
    gaps: tuple[Gap, ...] = ()
