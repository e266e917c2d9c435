"""Alert rules: low cadence and overstriding, judged once per second from :class:`Metrics`.

Every rule works the same way (:class:`SustainedRule`): each running second gets a verdict
(problem / fine / in the hysteresis band). An alert is *raised* when the problem covered at
least ``raise_fraction`` of the last ``window_s`` seconds, no sooner than ``cooldown_s`` after
the previous all clear; it is *cleared* (the "all clear") once it has lasted ``min_duration_s``
and "fine" covered ``raise_fraction`` of the last ``clear_window_s``.

Seconds in which the runner walks or stands pause the rule: they count for nothing, and
``pause_clear_s`` of them (since the last judged running second) clear an active alert
("not running") and empty the window, so a runner waiting at a crossing is not told about the
cadence they had before stopping. Seconds that cannot be judged (activity "unknown": a link
drop, a stream gap, too few steps yet; or running without the figures a rule needs) only
suspend the rule: they neither count as problem, fine nor pause, and an active alert stays
active through them until data resumes and judges it again. The window is stream time, so
after a gap it holds only the seconds judged since, and a raise needs its usual coverage of
them.

Pure: no I/O, no clock but the stream time in the metrics. ``docs/alerts.md`` gives the
defaults' sources and the evidence behind the overstride indicators.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict, Unpack

from cadence.errors import ConfigurationError
from cadence.events import Alert, AlertKind, Metrics
from cadence.profile import BaselineLearner, RunnerProfile, with_baseline

# A metrics second never stands for more than this much time (a late or missing tick).
MAX_SECOND_WEIGHT_S = 2.0


class Rule(Protocol):
    """One alert rule: fed every Metrics in stream order, answers with an Alert or None."""

    kind: AlertKind

    def update(self, metrics: Metrics) -> Alert | None: ...


def require_range(
    name: str,
    value: float,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ConfigurationError unless ``low <= value <= high`` (``<`` where open)."""
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below and not math.isnan(value)):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigurationError(f"{name} must be in {interval}, got {value!r}")


class RuleTiming(TypedDict, total=False):
    """The timing settings every rule takes (see :class:`SustainedRule`), all in seconds but
    ``raise_fraction``."""

    window_s: float
    clear_window_s: float
    raise_fraction: float
    min_duration_s: float
    cooldown_s: float
    pause_clear_s: float


@dataclass(frozen=True, slots=True)
class _Second:
    t_s: float
    weight_s: float
    problem: bool | None  # True: problem; False: fine; None: inside the hysteresis band
    value: float


class SustainedRule:
    """Raise / all-clear state machine shared by the rules (see the module docstring).

    Subclasses say, per second, whether the figures show the problem (:meth:`judge`) and how
    to word the alert (:meth:`raised_message`, :meth:`cleared_message`).
    """

    kind: AlertKind
    paused_message: str

    def __init__(
        self,
        *,
        window_s: float = 20.0,
        clear_window_s: float = 10.0,
        raise_fraction: float = 0.8,
        min_duration_s: float = 15.0,
        cooldown_s: float = 30.0,
        pause_clear_s: float = 10.0,
    ) -> None:
        for name, value in (
            ("window_s", window_s),
            ("clear_window_s", clear_window_s),
            ("pause_clear_s", pause_clear_s),
        ):
            require_range(name, value, 0.0, math.inf, low_open=True)
        require_range("min_duration_s", min_duration_s, 0.0, math.inf)
        require_range("cooldown_s", cooldown_s, 0.0, math.inf)
        require_range("raise_fraction", raise_fraction, 0.5, 1.0)
        # The window holds the seconds the all clear looks at too.
        require_range("clear_window_s", clear_window_s, 0.0, window_s, low_open=True)
        self.window_s = window_s
        self.clear_window_s = clear_window_s
        self.raise_fraction = raise_fraction
        self.min_duration_s = min_duration_s
        self.cooldown_s = cooldown_s
        self.pause_clear_s = pause_clear_s
        self._seconds: deque[_Second] = deque()
        self._last_t_s: float | None = None
        # Walking or stopped seconds since the last judged running second.
        self._not_running_s = 0.0
        self._raised_at_s: float | None = None
        self._cleared_at_s = -math.inf

    def judge(self, metrics: Metrics) -> tuple[bool | None, float] | None:
        """(problem?, value) for a running second, or None when the figures are missing."""
        raise NotImplementedError

    def raised_message(self, value: float) -> tuple[str, float]:
        """Spoken text and threshold for a raised alert."""
        raise NotImplementedError

    def cleared_message(self, value: float) -> str:
        raise NotImplementedError

    def update(self, metrics: Metrics) -> Alert | None:
        t = metrics.t_s
        weight = 1.0 if self._last_t_s is None else min(t - self._last_t_s, MAX_SECOND_WEIGHT_S)
        if weight <= 0:
            raise ConfigurationError(f"metrics out of order: t_s={t} after {self._last_t_s}")
        self._last_t_s = t
        if metrics.activity in ("walking", "stopped"):
            return self._pause(t, weight)
        verdict = self.judge(metrics) if metrics.activity == "running" else None
        if verdict is None:
            # Unknown or without figures: nothing to judge, and no sign the runner stopped.
            return None
        self._not_running_s = 0.0
        problem, value = verdict
        self._seconds.append(_Second(t, weight, problem, value))
        while self._seconds and self._seconds[0].t_s <= t - self.window_s:
            self._seconds.popleft()
        if self._raised_at_s is None:
            if t - self._cleared_at_s >= self.cooldown_s and self._covered(self.window_s, True):
                self._raised_at_s = t
                value = self._median(self.window_s)
                message, threshold = self.raised_message(value)
                return Alert(t, self.kind, "raised", message, value, threshold)
        elif t - self._raised_at_s >= self.min_duration_s and self._covered(
            self.clear_window_s, False
        ):
            value = self._median(self.clear_window_s)
            return self._clear(t, self.cleared_message(value), value)
        return None

    def _pause(self, t: float, weight_s: float) -> Alert | None:
        self._not_running_s += weight_s
        if self._not_running_s < self.pause_clear_s:
            return None
        self._seconds.clear()
        if self._raised_at_s is None:
            return None
        return self._clear(t, self.paused_message, None)

    def _clear(self, t: float, message: str, value: float | None) -> Alert:
        self._raised_at_s = None
        self._cleared_at_s = t
        return Alert(t, self.kind, "cleared", message, value, None)

    def _covered(self, span_s: float, problem: bool) -> bool:
        recent = [s for s in self._seconds if s.t_s > self._seconds[-1].t_s - span_s]
        matching = sum(s.weight_s for s in recent if s.problem is problem)
        return matching >= self.raise_fraction * span_s

    def _median(self, span_s: float) -> float:
        end = self._seconds[-1].t_s
        return statistics.median(s.value for s in self._seconds if s.t_s > end - span_s)


class LowCadenceRule(SustainedRule):
    """Cadence below target while running.

    A second is a problem below ``target_spm - hysteresis_spm`` and fine at or above
    ``target_spm``; in between it counts as neither, so cadence hovering at the line neither
    raises nor clears.
    """

    kind: AlertKind = "low_cadence"
    paused_message = "Cadence alert off: not running"

    def __init__(
        self,
        *,
        target_spm: float,
        hysteresis_spm: float = 3.0,
        **timing: Unpack[RuleTiming],
    ) -> None:
        super().__init__(**timing)
        require_range("target_spm", target_spm, 60.0, 260.0)
        require_range("hysteresis_spm", hysteresis_spm, 0.0, 30.0, high_open=True)
        self.target_spm = target_spm
        self.hysteresis_spm = hysteresis_spm

    def judge(self, metrics: Metrics) -> tuple[bool | None, float] | None:
        cadence = metrics.cadence_spm
        if cadence is None:
            return None
        if cadence < self.target_spm - self.hysteresis_spm:
            return True, cadence
        return (False if cadence >= self.target_spm else None), cadence

    def raised_message(self, value: float) -> tuple[str, float]:
        return f"Cadence low: {value:.0f}, target {self.target_spm:.0f}", self.target_spm

    def cleared_message(self, value: float) -> str:
        return f"Cadence OK: {value:.0f}"


class OverstrideRule(SustainedRule):
    """Steps longer than the runner's usual at the same speed.

    With speed and step length (footpod, FIT): the step length against the profile's reference
    step length at that speed (the learnt baseline scaled by speed, else leg length; the leg
    length fallback is coarse and gets the wider ``fallback_excess_pct``).

    With an accelerometer alone, the step-length excess is estimated as it is at the same
    speed, baseline cadence / cadence - 1, and must be confirmed by a contact time at least
    ``contact_rise_pct`` above the baseline's and, where both are known, an impact not below
    ``impact_min_ratio`` x the baseline's (0 by default: off, see docs/alerts.md). It clears
    when either the cadence estimate or the contact time is back to normal (the excess below
    ``excess_pct - hysteresis_pct``, or the contact time rise below half ``contact_rise_pct``).
    """

    kind: AlertKind = "overstride"
    paused_message = "Stride alert off: not running"

    def __init__(
        self,
        *,
        profile: RunnerProfile,
        excess_pct: float = 8.0,
        fallback_excess_pct: float = 15.0,
        hysteresis_pct: float = 4.0,
        contact_rise_pct: float = 4.0,
        # Off: the stance peak's rank correlation with step length is uneven across the
        # speed/slope groups (pooled 0.30), so as a veto it blocks true episodes.
        impact_min_ratio: float = 0.0,
        **timing: Unpack[RuleTiming],
    ) -> None:
        super().__init__(**timing)
        for name, value in (
            ("excess_pct", excess_pct),
            ("fallback_excess_pct", fallback_excess_pct),
            ("contact_rise_pct", contact_rise_pct),
        ):
            require_range(name, value, 0.0, 50.0, low_open=True)
        # Below excess_pct: the all clear needs a threshold of its own.
        require_range("hysteresis_pct", hysteresis_pct, 0.0, excess_pct, high_open=True)
        require_range("impact_min_ratio", impact_min_ratio, 0.0, 2.0)
        self.profile = profile
        self.excess_pct = excess_pct
        self.fallback_excess_pct = fallback_excess_pct
        self.hysteresis_pct = hysteresis_pct
        self.contact_rise_pct = contact_rise_pct
        self.impact_min_ratio = impact_min_ratio
        self._threshold_pct = excess_pct

    def judge(self, metrics: Metrics) -> tuple[bool | None, float] | None:
        by_speed = self._judge_by_speed(metrics)
        return by_speed if by_speed is not None else self._judge_by_accelerometer(metrics)

    def _judge_by_speed(self, metrics: Metrics) -> tuple[bool | None, float] | None:
        speed, step_length = metrics.speed_mps, metrics.step_length_m
        if speed is None or step_length is None:
            return None
        reference = self.profile.reference_step_length_m(speed)
        if reference is None:
            return None
        baseline = self.profile.baseline
        own = baseline is not None and baseline.step_length_m is not None
        threshold = self.excess_pct if own else self.fallback_excess_pct
        return self._verdict(100.0 * (step_length / reference - 1.0), threshold, confirmed=True)

    def _judge_by_accelerometer(self, metrics: Metrics) -> tuple[bool | None, float] | None:
        baseline = self.profile.baseline
        if (
            baseline is None
            or baseline.gct_ms is None
            or metrics.cadence_spm is None
            or metrics.gct_ms is None
        ):
            return None
        excess = 100.0 * (baseline.cadence_spm / metrics.cadence_spm - 1.0)
        contact_rise = 100.0 * (metrics.gct_ms / baseline.gct_ms - 1.0)
        impact_agrees = (
            metrics.impact_g is None
            or baseline.impact_g is None
            or metrics.impact_g >= self.impact_min_ratio * baseline.impact_g
        )
        confirmed = contact_rise >= self.contact_rise_pct and impact_agrees
        problem, value = self._verdict(excess, self.excess_pct, confirmed=confirmed)
        if problem is None and contact_rise < self.contact_rise_pct / 2:
            problem = False
        return problem, value

    def _verdict(
        self, excess_pct: float, threshold_pct: float, *, confirmed: bool
    ) -> tuple[bool | None, float]:
        self._threshold_pct = threshold_pct
        if excess_pct >= threshold_pct and confirmed:
            return True, excess_pct
        return (False if excess_pct < threshold_pct - self.hysteresis_pct else None), excess_pct

    def raised_message(self, value: float) -> tuple[str, float]:
        return f"Overstriding: steps {value:.0f}% longer than usual", self._threshold_pct

    def cleared_message(self, value: float) -> str:
        return "Stride OK: back to your usual step length"


def default_rules(profile: RunnerProfile) -> list[Rule]:
    """The rules a profile supports with default settings (see docs/alerts.md).

    Low cadence is judged against :attr:`RunnerProfile.target_spm`: the explicit target, or
    without one the baseline + ``target_raise_pct`` (5 %), so that a runner at their usual
    cadence is told, once, to step quicker.
    """
    rules: list[Rule] = []
    target = profile.target_spm
    if target is not None:
        rules.append(LowCadenceRule(target_spm=target))
    if profile.baseline is not None or profile.leg_length_m is not None:
        rules.append(OverstrideRule(profile=profile))
    return rules


class AlertRules:
    """All the alert rules of one run: ``update(metrics)`` once per second, in stream order.

    ``rules`` defaults to :func:`default_rules` of the profile. With ``learn_baseline`` (by
    default: when the profile has no baseline) the first minutes of running are learnt by
    ``learner`` while the rules the profile already supports run (low cadence against an
    explicit target; overstride against leg length). Once learnt, :attr:`profile` holds the
    baseline for the caller to save, and the default rules switch to it without losing an
    active alert; without an explicit target, low cadence then starts against the baseline +
    5 %. Rules passed in ``rules`` are used as given. Without a target, a baseline or
    anything to learn from, construction fails.
    """

    def __init__(
        self,
        *,
        profile: RunnerProfile,
        rules: Sequence[Rule] | None = None,
        learn_baseline: bool | None = None,
        learner: BaselineLearner | None = None,
    ) -> None:
        if not isinstance(profile, RunnerProfile):
            raise ConfigurationError(f"profile must be a RunnerProfile, got {type(profile)}")
        learn = profile.baseline is None if learn_baseline is None else learn_baseline
        if learner is not None and not learn:
            raise ConfigurationError("a learner was given but learn_baseline is off")
        if rules is None and not learn and profile.target_spm is None:
            raise ConfigurationError(
                f"profile {profile.name!r} has no target cadence and no baseline: set a target "
                "(cadence profile set --target SPM) or learn a baseline"
            )
        if learn and learner is None:
            learner = BaselineLearner(source="first minutes of a run")
        self.profile = profile
        self._learner = learner if learn else None
        self._default = rules is None
        self._rules: list[Rule] = default_rules(profile) if rules is None else list(rules)

    @property
    def learning(self) -> bool:
        """Still learning the baseline."""
        return self._learner is not None

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules)

    def update(self, metrics: Metrics) -> list[Alert]:
        if self._learner is not None:
            baseline = self._learner.update(metrics)
            if baseline is not None:
                self._learner = None
                self._adopt(with_baseline(self.profile, baseline))
        alerts = [rule.update(metrics) for rule in self._rules]
        return [alert for alert in alerts if alert is not None]

    def _adopt(self, profile: RunnerProfile) -> None:
        """Switch the default rules to a new profile, keeping each rule's alert state."""
        self.profile = profile
        if not self._default:
            return
        kept: dict[AlertKind, Rule] = {rule.kind: rule for rule in self._rules}
        for rule in kept.values():
            if isinstance(rule, LowCadenceRule) and profile.target_spm is not None:
                rule.target_spm = profile.target_spm
            elif isinstance(rule, OverstrideRule):
                rule.profile = profile
        self._rules = [kept.get(rule.kind, rule) for rule in default_rules(profile)]
