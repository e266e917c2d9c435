"""Streaming foot-contact detection for accelerometer streams (work in progress: API fixed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cadence.contacts import DetectorUpdate


class ContactDetector:
    """Finds foot contacts live in an accelerometer stream.

    Args:
        fs_hz: nominal sample rate of the stream (50-500 Hz); samples may arrive irregularly.
        placement: where the sensor sits: a trunk placement (sacrum, lower_back, hip, ...) or a
            leg placement (shank, ankle, foot, shoe).
        up_vector: the sensor-frame direction that points up when standing (one value per
            acceleration column), if known; otherwise it is learnt from gravity.
    """

    def __init__(
        self, *, fs_hz: float, placement: str, up_vector: Sequence[float] | None = None
    ) -> None:
        raise NotImplementedError

    def update(self, t: npt.ArrayLike, acc: npt.ArrayLike) -> DetectorUpdate:
        """Feed samples: ``t`` (n,) seconds, ``acc`` (n, k) m/s² with gravity. Returns what completed."""
        raise NotImplementedError

    def finish(self) -> DetectorUpdate:
        """End of stream: complete what the remaining samples allow."""
        raise NotImplementedError

    @property
    def cadence_spm(self) -> float | None:
        """Recent cadence (steps/min, both legs) over the last few seconds of running."""
        raise NotImplementedError

    @property
    def gct_ms(self) -> float | None:
        """Recent median ground contact time in ms."""
        raise NotImplementedError


def detect_contacts(
    t: npt.NDArray[np.float64],
    acc: npt.NDArray[np.float64],
    *,
    fs_hz: float,
    placement: str,
    up_vector: Sequence[float] | None = None,
) -> DetectorUpdate:
    """Batch form: the same contacts as streaming the whole array through a ContactDetector."""
    detector = ContactDetector(fs_hz=fs_hz, placement=placement, up_vector=up_vector)
    first = detector.update(t, acc)
    last = detector.finish()
    return DetectorUpdate(first.contacts + last.contacts, first.gaps + last.gaps)
