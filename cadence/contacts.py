"""Typed results of step detection: foot contacts and gaps in the stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

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


@dataclass(frozen=True, slots=True, eq=False)
class ContactColumns:
    """Contacts as columns, one entry per contact in time order: the batch form for long
    recordings, where a ``Contact`` object per step would cost as much as finding it.

    ``impact_g`` is NaN where the detector measured none; ``leg`` applies to every contact.
    ``contacts()`` gives the same contacts as objects.
    """

    on_s: npt.NDArray[np.float64]
    off_s: npt.NDArray[np.float64]
    impact_g: npt.NDArray[np.float64]
    leg: Leg | None
    gaps: tuple[Gap, ...] = ()

    def __len__(self) -> int:
        return int(self.on_s.size)

    def contacts(self) -> tuple[Contact, ...]:
        # Whole columns to plain floats and one constructor call per contact: element-wise
        # numpy access would cost more than finding the contacts.
        impacts: list[float | None] = self.impact_g.tolist()
        if not bool((self.impact_g == self.impact_g).all()):  # NaN is the only value != itself
            impacts = [None if v != v else v for v in impacts]
        return tuple(
            [
                Contact(on_s, off_s, self.leg, impact_g)
                for on_s, off_s, impact_g in zip(
                    self.on_s.tolist(), self.off_s.tolist(), impacts, strict=True
                )
            ]
        )

    def to_update(self) -> DetectorUpdate:
        return DetectorUpdate(self.contacts(), self.gaps)
