"""Typed objects that flow through the pipeline: source → detector → metrics → alerts → sinks.

Sources (BLE sensors, replay, FIT files) yield :data:`SourceEvent` objects; the pipeline turns
them into :class:`~cadence.contacts.Contact`, :class:`Metrics` and :class:`Alert` objects for the
sinks. All times are *stream seconds*: the clock of the source's samples, not the host's wall
clock, so a replay at any speed produces the same objects as the live run did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from cadence.contacts import Contact

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

SourceKind = Literal["accelerometer", "footpod"]
Activity = Literal["running", "walking", "stopped", "unknown"]
AlertKind = Literal["low_cadence", "overstride"]
AlertState = Literal["raised", "cleared"]
LinkState = Literal["connecting", "connected", "disconnected", "finished"]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a source is; known once the source is entered (a sensor tells its rate on connect).

    ``placement`` and ``axes`` mean the same as the trace metadata keys (``axes`` e.g.
    ``"x=up z=forward"``); ``up_vector`` is the sensor direction that points up, where known;
    ``fs_hz`` is the nominal sample rate of an accelerometer (``None`` for footpod summaries).
    ``acc_axes`` names the columns of :class:`AccelChunk` (a trace may lack an axis);
    ``up_vector`` has one value per column.
    """

    name: str
    kind: SourceKind
    placement: str | None = None
    fs_hz: float | None = None
    up_vector: tuple[float, ...] | None = None
    axes: str | None = None
    acc_axes: tuple[str, ...] = ("x", "y", "z")


@dataclass(frozen=True, slots=True)
class AccelChunk:
    """New accelerometer samples: times in stream seconds (n,), acceleration in g (n, k).

    The k columns are the source's ``SourceInfo.acc_axes`` (usually x, y, z).
    """

    t_s: NDArray[np.float64]
    acc_g: NDArray[np.float64]

    def __post_init__(self) -> None:
        n = self.t_s.shape[0] if self.t_s.ndim == 1 else -1
        if self.acc_g.ndim != 2 or self.acc_g.shape[0] != n or not 1 <= self.acc_g.shape[1] <= 3:
            raise ValueError(
                f"AccelChunk needs t_s of shape (n,) and acc_g of shape (n, 1..3), "
                f"got {self.t_s.shape} and {self.acc_g.shape}"
            )

    def __len__(self) -> int:
        return int(self.t_s.shape[0])


@dataclass(frozen=True, slots=True)
class SummaryRecord:
    """One summary reading from a footpod (RSC) or a FIT record; fields the device lacks are None.

    ``cadence_spm`` is always steps per minute: FIT's strides/min is converted on import.
    """

    t_s: float
    speed_mps: float | None = None
    cadence_spm: float | None = None
    step_length_m: float | None = None
    distance_m: float | None = None
    gct_ms: float | None = None
    vertical_oscillation_mm: float | None = None
    running: bool | None = None


@dataclass(frozen=True, slots=True)
class StreamGap:
    """Time with no data (a dropped link, lost packets): marked, never filled in."""

    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """The state of a source's link, for the console and the MQTT status topic."""

    t_s: float
    state: LinkState
    detail: str = ""
    battery_pct: int | None = None
    bad_packets: int = 0


SourceEvent = AccelChunk | SummaryRecord | StreamGap | SourceStatus


@dataclass(frozen=True, slots=True)
class Metrics:
    """The runner's figures for one second of the run, over a short trailing window.

    ``t_s`` is the end of the second. ``duty_factor`` is the standard one: a foot's contact
    time over its stride time (below 0.5 when there is a flight phase, i.e. running).
    ``impact_g`` is the median peak acceleration at foot-on where the detector measures it.
    """

    t_s: float
    activity: Activity
    cadence_spm: float | None = None
    gct_ms: float | None = None
    duty_factor: float | None = None
    step_length_m: float | None = None
    speed_mps: float | None = None
    impact_g: float | None = None
    steps_total: int = 0


@dataclass(frozen=True, slots=True)
class Alert:
    """A coaching decision: a rule ``raised`` a problem or ``cleared`` it (the "all clear")."""

    t_s: float
    kind: AlertKind
    state: AlertState
    message: str
    value: float | None = None
    threshold: float | None = None


PipelineOutput = Contact | Metrics | Alert | SourceStatus | StreamGap


@dataclass(slots=True)
class RunTotals:
    """What a whole pipeline run produced, for the command line and the tests."""

    contacts: list[Contact] = field(default_factory=list)
    metrics: list[Metrics] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    gaps: list[StreamGap] = field(default_factory=list)
    samples: int = 0
