"""Alert rules on streams with known truth: real treadmill trials spliced into long runs.

The bundled Alcantara trials (one runner, 3.33 m/s, force-plate truth) differ in step rate:
GOOD (t03, level, 192 spm, 1.04 m steps), LONG (t25, +5 % slope, 174 spm, 1.15 m steps: 10.6 %
longer than GOOD) and LOW (t12, -5 % slope, 183 spm, 1.09 m steps: 5 % longer). Whole-step
stretches of them, cut at force-plate foot-ons, are repeated with a little tempo variation
into minutes of running and sent through the real chain: detector -> MetricsTracker ->
AlertRules, one second at a time. Episodes are therefore known to the second. The synthetic
runner (sim.synthetic) adds runs with known overstride episodes and 30 minutes on target.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from cadence.alerts import AlertRules, LowCadenceRule, OverstrideRule
from cadence.datasets import bundled_trace
from cadence.detector import ContactDetector
from cadence.errors import ConfigurationError
from cadence.events import Activity, Alert, AlertKind, Metrics, StreamGap, SummaryRecord
from cadence.metrics import MetricsTracker
from cadence.profile import Baseline, BaselineLearner, RunnerProfile
from cadence.trace import read_trace, read_truth, truth_path_for
from sim.synthetic import RunnerConfig, simulate

FloatArray = npt.NDArray[np.float64]

GOOD = "alcantara-sacrum-run-t03"
LONG = "alcantara-sacrum-run-t25"
LOW = "alcantara-sacrum-run-t12"
WALK = "oxford-phone-armband-walk"
STAND = "standing still"
TARGET_SPM = 190.0
WINDOW_S = 20.0
# The promise: a sustained episode is alerted within its window + 5 s.
ALERT_LATENCY_S = WINDOW_S + 5.0
FS_HZ = 500.0
GRAVITY = 9.80665


@dataclass(frozen=True)
class Segment:
    name: str
    start_s: float
    end_s: float


@functools.cache
def whole_steps(name: str) -> tuple[FloatArray, FloatArray]:
    """The trial from its first to its last force-plate foot-on: times from 0, acceleration."""
    path = bundled_trace(name)
    trace = read_trace(path)
    truth_path = truth_path_for(path)
    assert truth_path is not None
    ons = read_truth(truth_path).foot_on_s
    first, last = np.searchsorted(trace.t, [ons[0], ons[-1]])
    assert trace.fs_hz == FS_HZ
    assert trace.acc_axes == ("x", "z")
    return trace.t[first:last] - trace.t[first], trace.acc[first:last]


def splice(
    plan: Sequence[tuple[str, float]], *, seed: int, drift_pct: float = 0.0
) -> tuple[FloatArray, FloatArray, list[Segment]]:
    """Repeat each planned trial for about the planned seconds, one after another.

    Each repetition is stretched in time by a random 1 % (step-to-step tempo variation) and an
    optional slow drift (a 5-minute wave of ``drift_pct``). STAND inserts the sensor at rest.
    """
    rng = np.random.default_rng(seed)
    times: list[FloatArray] = []
    accs: list[FloatArray] = []
    segments: list[Segment] = []
    now = 0.0
    for name, seconds in plan:
        start = now
        if name == STAND:
            n = int(seconds * FS_HZ)
            times.append(now + np.arange(n) / FS_HZ)
            rest = np.column_stack([np.full(n, GRAVITY), np.zeros(n)])
            accs.append(rest + rng.normal(0.0, 0.05, (n, 2)))
            now += n / FS_HZ
        else:
            t, acc = whole_steps(name)
            while now < start + seconds:
                drift = drift_pct / 100.0 * math.sin(2.0 * math.pi * now / 300.0)
                stretch = 1.0 + rng.normal(0.0, 0.01) + drift
                times.append(now + t * stretch)
                accs.append(acc)
                now += (t[-1] + 1.0 / FS_HZ) * stretch
        segments.append(Segment(name, start, now))
    return np.concatenate(times), np.concatenate(accs), segments


def accelerometer_metrics(
    t: FloatArray,
    acc: FloatArray,
    *,
    fs_hz: float = FS_HZ,
    placement: str = "sacrum",
    up_vector: tuple[float, ...] | None = (1.0, 0.0),
) -> list[Metrics]:
    """Detector and metrics tracker fed one second of samples at a time, as live (the gaps the
    detector finds are passed on to the tracker, as the pipeline does)."""
    detector = ContactDetector(fs_hz=fs_hz, placement=placement, up_vector=up_vector)
    tracker = MetricsTracker()
    out: list[Metrics] = []
    step = int(fs_hz)
    for start in range(0, t.size, step):
        update = detector.update(t[start : start + step], acc[start : start + step])
        for gap in update.gaps:
            tracker.add_gap(StreamGap(gap.start_s, gap.end_s, "no samples"))
        tracker.add_contacts(update.contacts)
        out += tracker.tick(float(t[min(start + step, t.size) - 1]))
    return out


def run(plan: Sequence[tuple[str, float]], *, seed: int = 0) -> tuple[list[Metrics], list[Segment]]:
    t, acc, segments = splice(plan, seed=seed)
    return accelerometer_metrics(t, acc), segments


def alerts_of(rules: AlertRules, metrics: Iterable[Metrics]) -> list[Alert]:
    return [alert for m in metrics for alert in rules.update(m)]


@functools.cache
def learnt_baseline() -> Baseline:
    """The runner's baseline learnt from 4 minutes of GOOD running (as from a past recording)."""
    metrics, _ = run([(GOOD, 240.0)], seed=99)
    return BaselineLearner.learn(metrics, source="4 min of GOOD")


def profile(**changes: object) -> RunnerProfile:
    base = RunnerProfile(
        name="test runner", target_cadence_spm=TARGET_SPM, baseline=learnt_baseline()
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def of_kind(alerts: Iterable[Alert], kind: AlertKind, state: str) -> list[Alert]:
    return [a for a in alerts if a.kind == kind and a.state == state]


def assert_alerted_during(alerts: list[Alert], kind: AlertKind, episodes: list[Segment]) -> None:
    """One raise per episode within the latency, and its all clear after the episode ends."""
    raised = of_kind(alerts, kind, "raised")
    cleared = of_kind(alerts, kind, "cleared")
    assert len(raised) == len(episodes), (kind, raised, episodes)
    assert len(cleared) == len(episodes), (kind, cleared, episodes)
    for up, down, episode in zip(raised, cleared, episodes, strict=True):
        assert episode.start_s < up.t_s <= episode.start_s + ALERT_LATENCY_S, (up, episode)
        assert episode.end_s < down.t_s <= episode.end_s + ALERT_LATENCY_S, (down, episode)


def test_the_learnt_baseline_is_the_good_trials_running() -> None:
    baseline = learnt_baseline()
    # Force-plate truth of t03: 192.3 spm, median contact 214 ms.
    assert baseline.cadence_spm == pytest.approx(192.3, abs=2.0)
    assert baseline.gct_ms == pytest.approx(214.0, abs=15.0)
    assert baseline.speed_mps is None  # an accelerometer gives no speed


def test_every_sustained_episode_is_alerted_in_time_and_cleared_after() -> None:
    metrics, segments = run(
        [(GOOD, 60), (LONG, 40), (GOOD, 70), (LOW, 40), (GOOD, 70), (LONG, 60), (GOOD, 60)]
    )
    alerts = alerts_of(AlertRules(profile=profile()), metrics)
    long_episodes = [s for s in segments if s.name == LONG]
    low_episodes = [s for s in segments if s.name in (LONG, LOW)]
    assert all(e.end_s - e.start_s >= 30.0 for e in low_episodes)
    # Below target (190) in all three; 10.6 % longer steps with longer contacts in LONG only.
    assert_alerted_during(alerts, "low_cadence", low_episodes)
    assert_alerted_during(alerts, "overstride", long_episodes)
    first = of_kind(alerts, "low_cadence", "raised")[0]
    assert first.message == f"Cadence low: {first.value:.0f}, target 190"
    assert first.value == pytest.approx(174.4, abs=3.0)
    overstride = of_kind(alerts, "overstride", "raised")[0]
    assert overstride.value == pytest.approx(10.3, abs=2.5)  # % longer steps (truth 10.6 %)


def test_thirty_minutes_of_steady_good_running_give_no_alerts() -> None:
    metrics, segments = run([(GOOD, 1800.0)], seed=7)
    assert segments[-1].end_s >= 1800.0
    running = [m for m in metrics if m.activity == "running"]
    assert len(running) >= 1790
    cadences = [m.cadence_spm for m in running if m.cadence_spm is not None]
    # The tempo variation is real enough to reach the hysteresis band below the target.
    assert min(cadences) < TARGET_SPM < max(cadences)
    assert alerts_of(AlertRules(profile=profile()), metrics) == []


def test_a_slowly_drifting_good_run_gives_no_alerts() -> None:
    t, acc, _ = splice([(GOOD, 900.0)], seed=8, drift_pct=1.0)
    assert alerts_of(AlertRules(profile=profile()), accelerometer_metrics(t, acc)) == []


def test_alternating_good_and_low_stretches_never_raise() -> None:
    # Half the time below target, never for most of a window: no alert, so nothing to flap.
    metrics, _ = run([(GOOD, 9.0), (LOW, 9.0)] * 20, seed=3)
    alerts = alerts_of(AlertRules(profile=profile()), metrics)
    assert of_kind(alerts, "low_cadence", "raised") == []


def seconds(cadences: Sequence[float], *, start_s: float = 1.0) -> list[Metrics]:
    """One running Metrics per second with the given cadences."""
    return [
        Metrics(t_s=start_s + i, activity="running", cadence_spm=c) for i, c in enumerate(cadences)
    ]


def test_hysteresis_and_cooldown_stop_flapping() -> None:
    rule = LowCadenceRule(target_spm=190.0)  # problem below 187, fine at 190 and above
    stream = seconds(
        [180.0] * 30  # sustained low: raised at second 16
        + [191.0, 191.0, 184.0] * 20  # crosses the line every few seconds: neither clears ...
        + [188.5] * 40  # ... nor does the hysteresis band
        + [195.0] * 8  # back on target: one all clear
        + [180.0] * 40  # relapse right after the clear: the cooldown holds it back
    )
    alerts = [a for m in stream if (a := rule.update(m)) is not None]
    assert [(a.state, a.t_s) for a in alerts] == [
        ("raised", 16.0),  # 16 of the 20 seconds 1-20 low (the 80 % rule)
        ("cleared", 138.0),  # 8 of the 10 seconds 129-138 on target
        ("raised", 168.0),  # 30 s after the clear; the window alone would allow 154
    ]
    assert alerts[1].message == "Cadence OK: 195"


def test_the_hysteresis_band_alone_never_raises() -> None:
    rule = LowCadenceRule(target_spm=190.0, hysteresis_spm=3.0)
    assert [rule.update(m) for m in seconds([187.5] * 300)] == [None] * 300


def test_walking_pauses_the_rules_and_clears_an_active_alert() -> None:
    long_running, _ = run([(LONG, 60.0)], seed=4)
    walk_trace = read_trace(bundled_trace(WALK))
    walk_metrics = accelerometer_metrics(
        walk_trace.t, walk_trace.acc, fs_hz=walk_trace.fs_hz, placement="phone", up_vector=None
    )
    walking = [m for m in walk_metrics if m.t_s >= 10.0][:60]
    assert sum(m.activity == "walking" for m in walking) >= 55
    assert max(m.cadence_spm or 0 for m in walking) < TARGET_SPM - 30  # well "below target"

    walk_start = long_running[-1].t_s
    shifted_walk = [dataclasses.replace(m, t_s=walk_start + i + 1) for i, m in enumerate(walking)]
    resume = shifted_walk[-1].t_s
    again = [dataclasses.replace(m, t_s=resume + m.t_s) for m in long_running]
    alerts = alerts_of(AlertRules(profile=profile()), long_running + shifted_walk + again)

    for kind in ("low_cadence", "overstride"):
        states = [(a.state, a.t_s) for a in alerts if a.kind == kind]
        assert [s for s, _ in states] == ["raised", "cleared", "raised"], (kind, states)
        paused = next(a for a in alerts if a.kind == kind and a.state == "cleared")
        # The pause clears after 10 s without running, with a message that says why.
        assert walk_start + 10.0 <= paused.t_s <= walk_start + 12.0
        assert paused.message.endswith("not running")
        # Back to running: a fresh window is needed before the alert returns.
        assert resume + 0.8 * WINDOW_S <= states[2][1] <= resume + ALERT_LATENCY_S


def test_stopping_pauses_the_rules() -> None:
    metrics, segments = run([(LONG, 50.0), (STAND, 30.0), (LONG, 50.0)], seed=5)
    stand = segments[1]
    assert any(m.activity == "stopped" for m in metrics if stand.start_s < m.t_s < stand.end_s)
    alerts = alerts_of(AlertRules(profile=profile()), metrics)
    low = [a for a in alerts if a.kind == "low_cadence"]
    assert [a.state for a in low] == ["raised", "cleared", "raised"]
    assert stand.start_s < low[1].t_s <= stand.start_s + 2.0 + 10.0 + 2.0
    assert low[1].message == "Cadence alert off: not running"
    assert segments[2].start_s < low[2].t_s <= segments[2].start_s + ALERT_LATENCY_S


def footpod_metrics(
    plan: Sequence[tuple[float, float, float]], *, seed: int, start_s: float = 0.0
) -> list[Metrics]:
    """Footpod records at 1 Hz through the MetricsTracker: (seconds, speed m/s, cadence spm).

    A runner's natural cadence rises with speed as speed^0.19 (so step length as speed^0.81);
    a cadence factor below 1 lengthens the steps at the same speed.
    """
    rng = np.random.default_rng(seed)
    tracker = MetricsTracker()
    out: list[Metrics] = []
    now = start_s
    for duration_s, speed, cadence_factor in plan:
        for _ in range(int(duration_s)):
            now += 1.0
            pace = speed * (1.0 + rng.normal(0.0, 0.01))
            cadence = 172.0 * (pace / 3.0) ** 0.19 * cadence_factor * (1.0 + rng.normal(0, 0.005))
            tracker.add_record(
                SummaryRecord(t_s=now - 0.5, speed_mps=pace, cadence_spm=cadence, running=True)
            )
            out += tracker.tick(now)
    return out


def test_footpod_speed_and_step_length_drive_the_overstride_rule() -> None:
    """Synthetic footpod records (no permissive footpod recording with known overstriding)."""
    # Learn over varied paces, as a warm-up run would be: 2.7 to 3.3 m/s.
    calibration = footpod_metrics([(60, 2.7, 1.0), (60, 3.0, 1.0), (60, 3.3, 1.0)] * 2, seed=1)
    baseline = BaselineLearner.learn(calibration, settle_s=10.0, duration_s=300.0)
    assert baseline.step_length_speed_exponent == pytest.approx(0.81, abs=0.1)
    rules = AlertRules(profile=RunnerProfile(target_cadence_spm=150.0, baseline=baseline))
    stream = footpod_metrics(
        [
            (120, 3.0, 1.0),  # usual running
            (120, 3.6, 1.0),  # faster, with the longer steps that go with it: no alert
            (40, 3.6, 0.88),  # same speed, 12 % lower cadence: steps 13.6 % long
            (90, 3.6, 1.0),
            (40, 2.8, 0.9),  # slower pace, 11 % longer steps than usual at that pace
            (90, 2.8, 1.0),
        ],
        seed=2,
        start_s=1000.0,
    )
    alerts = alerts_of(rules, stream)
    episodes = [Segment("long", 1240.0, 1280.0), Segment("long", 1370.0, 1410.0)]
    assert_alerted_during(alerts, "overstride", episodes)
    assert of_kind(alerts, "low_cadence", "raised") == []
    assert of_kind(alerts, "overstride", "raised")[0].value == pytest.approx(13.6, abs=2.0)


def test_without_a_baseline_leg_length_gives_a_coarse_reference() -> None:
    rule = OverstrideRule(profile=RunnerProfile(leg_length_m=0.9), cooldown_s=0.0)
    # Reference at 3 m/s: 0.485 x 0.9 m x 3^0.81 = 1.06 m (170 spm); 15 % margin without baseline.
    usual = footpod_metrics([(60, 3.0, 1.0)], seed=3)
    assert [rule.update(m) for m in usual] == [None] * len(usual)
    long_steps = footpod_metrics([(40, 3.0, 0.82)], seed=4, start_s=60.0)  # steps 22 % long
    raised = [a for m in long_steps if (a := rule.update(m)) is not None]
    assert [a.state for a in raised] == ["raised"]
    assert raised[0].threshold == 15.0


def test_rules_learn_the_baseline_first_when_the_profile_has_none() -> None:
    metrics, segments = run([(GOOD, 250.0), (LONG, 60.0), (GOOD, 60.0)], seed=6)
    rules = AlertRules(profile=RunnerProfile(name="new runner"))
    alerts: list[Alert] = []
    learning: list[bool] = []
    for m in metrics:
        alerts += rules.update(m)
        learning.append(rules.learning)
    assert learning[0]
    learnt_at = metrics[learning.index(False)].t_s
    assert learnt_at < segments[1].start_s
    assert all(a.t_s > learnt_at for a in alerts)
    baseline = rules.profile.baseline
    assert baseline is not None
    assert baseline.cadence_spm == pytest.approx(192.3, abs=2.0)
    # Target = baseline + 5 %: the runner's usual 192 spm is now below it, so it is alerted.
    assert rules.profile.target_spm == pytest.approx(1.05 * baseline.cadence_spm)
    low = of_kind(alerts, "low_cadence", "raised")
    assert low
    assert low[0].t_s <= learnt_at + ALERT_LATENCY_S
    assert_alerted_during(alerts, "overstride", [segments[1]])


@pytest.mark.parametrize(
    "build",
    [
        lambda: LowCadenceRule(target_spm=30.0),
        lambda: LowCadenceRule(target_spm=180.0, window_s=0.0),
        lambda: LowCadenceRule(target_spm=180.0, raise_fraction=0.3),
        lambda: LowCadenceRule(target_spm=180.0, window_s=10.0, clear_window_s=15.0),
        lambda: LowCadenceRule(target_spm=180.0, cooldown_s=-1.0),
        lambda: LowCadenceRule(target_spm=180.0, hysteresis_spm=math.nan),
        lambda: OverstrideRule(profile=RunnerProfile(), excess_pct=8.0, hysteresis_pct=9.0),
        lambda: OverstrideRule(profile=RunnerProfile(), contact_rise_pct=0.0),
        lambda: AlertRules(profile=RunnerProfile(), learn_baseline=False),
        lambda: AlertRules(profile="runner.json"),  # type: ignore[arg-type]
    ],
)
def test_bad_settings_fail_at_construction(build: object) -> None:
    with pytest.raises(ConfigurationError):
        build()  # type: ignore[operator]


def test_metrics_out_of_order_are_refused() -> None:
    rule = LowCadenceRule(target_spm=180.0)
    rule.update(Metrics(t_s=5.0, activity="running", cadence_spm=170.0))
    with pytest.raises(ConfigurationError, match="out of order"):
        rule.update(Metrics(t_s=4.0, activity="running", cadence_spm=170.0))


def accelerometer_seconds(
    n: int, *, cadence_spm: float, gct_ms: float, impact_g: float | None, start_s: float = 1.0
) -> list[Metrics]:
    return [
        Metrics(
            t_s=start_s + i,
            activity="running",
            cadence_spm=cadence_spm,
            gct_ms=gct_ms,
            impact_g=impact_g,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("gct_ms", "impact_g", "impact_min_ratio", "alerted"),
    [
        (226.0, 2.6, 0.0, True),  # contact +6 %, impact up: every indicator says longer steps
        (226.0, None, 0.0, True),  # no impact measured: cadence and contact time decide
        (204.0, 2.6, 0.0, False),  # contact time not longer: not confirmed
        (226.0, 2.2, 0.0, True),  # impact lower, but the impact veto is off by default
        (226.0, 2.2, 1.0, False),  # impact lower than usual, veto on: not confirmed
        (226.0, 2.6, 1.0, True),  # impact up, veto on: confirmed
    ],
)
def test_accelerometer_overstride_needs_contact_time_and_optionally_impact_to_agree(
    gct_ms: float, impact_g: float | None, impact_min_ratio: float, alerted: bool
) -> None:
    baseline = Baseline(cadence_spm=192.0, running_s=180.0, gct_ms=213.0, impact_g=2.45)
    rule = OverstrideRule(
        profile=RunnerProfile(baseline=baseline), impact_min_ratio=impact_min_ratio
    )
    # 175 spm: steps 9.7 % longer than at 192 spm, if the speed is the same.
    stream = accelerometer_seconds(60, cadence_spm=175.0, gct_ms=gct_ms, impact_g=impact_g)
    alerts = [a for m in stream if (a := rule.update(m)) is not None]
    assert [a.state for a in alerts] == (["raised"] if alerted else [])


def synthetic_metrics(config: RunnerConfig) -> list[Metrics]:
    run_ = simulate(config)
    trace = run_.trace
    return accelerometer_metrics(
        trace.t, trace.acc, fs_hz=trace.fs_hz, placement="sacrum", up_vector=trace.up_vector
    )


def test_synthetic_runner_episodes_after_learning_the_first_minutes() -> None:
    """The synthetic runner (sim.synthetic) at 180 spm: the rules learn its first 3.5 min,
    then two overstride episodes (10 % lower cadence at the same speed, harder impacts) and one
    mild low-cadence stretch (170 spm: steps 6 % long, under the overstride threshold)."""
    overstrides = ((260.0, 300.0), (480.0, 530.0))
    config = RunnerConfig(
        duration_s=660.0,
        cadence_points=(
            (0.0, 180.0),
            (369.0, 180.0),
            (370.0, 170.0),
            (410.0, 170.0),
            (411.0, 180.0),
        ),
        overstrides=overstrides,
        overstride_cadence_drop=0.10,
        seed=11,
    )
    rules = AlertRules(profile=RunnerProfile(name="synthetic", target_cadence_spm=175.0))
    alerts = alerts_of(rules, synthetic_metrics(config))
    assert rules.profile.baseline is not None
    assert rules.profile.baseline.cadence_spm == pytest.approx(180.0, abs=1.5)
    episodes = [Segment("overstride", start, end) for start, end in overstrides]
    low = Segment("low", 370.0, 410.0)
    assert_alerted_during(alerts, "overstride", episodes)
    assert_alerted_during(alerts, "low_cadence", [episodes[0], low, episodes[1]])


def test_thirty_minutes_of_the_synthetic_runner_on_target_give_no_alerts() -> None:
    config = RunnerConfig(duration_s=1800.0, cadence_points=((0.0, 180.0),), seed=12)
    rules = AlertRules(profile=RunnerProfile(name="synthetic", target_cadence_spm=175.0))
    metrics = synthetic_metrics(config)
    assert sum(m.activity == "running" for m in metrics) >= 1790
    assert alerts_of(rules, metrics) == []
    assert not rules.learning


def test_an_explicit_target_is_enforced_while_the_baseline_is_learnt() -> None:
    metrics, segments = run([(LOW, 60.0), (GOOD, 200.0), (LONG, 60.0), (GOOD, 60.0)], seed=9)
    rules = AlertRules(profile=RunnerProfile(target_cadence_spm=TARGET_SPM))
    alerts: list[Alert] = []
    learning: list[bool] = []
    for m in metrics:
        alerts += rules.update(m)
        learning.append(rules.learning)
    learnt_at = metrics[learning.index(False)].t_s
    low = of_kind(alerts, "low_cadence", "raised")
    # Raised in the first LOW stretch while still learning; the LONG one after it.
    assert low[0].t_s <= segments[0].start_s + ALERT_LATENCY_S < learnt_at
    assert_alerted_during(alerts, "low_cadence", [segments[0], segments[2]])
    assert rules.profile.target_spm == TARGET_SPM  # an explicit target stays
    assert [a for a in alerts if a.kind == "overstride" and a.t_s < learnt_at] == []


def test_a_link_drop_inside_an_episode_neither_clears_nor_raises_again() -> None:
    """Issue: a 20 s drop cleared both alerts as "not running" and raised them again after.

    The synthetic runner at 180 spm overstrides from 270 to 400 s (10 % lower cadence at the
    same speed, longer contacts): below the 175 spm target too. The link drops at 330-350 s.
    """
    episode = Segment("overstride", 270.0, 400.0)
    drop_start_s, drop_s = 330.0, 20.0
    config = RunnerConfig(
        duration_s=470.0,
        cadence_points=((0.0, 180.0),),
        overstrides=((episode.start_s, episode.end_s),),
        overstride_cadence_drop=0.10,
        dropouts=((drop_start_s, drop_s),),
        seed=21,
    )
    metrics = synthetic_metrics(config)
    in_drop = [m for m in metrics if drop_start_s < m.t_s <= drop_start_s + drop_s]
    # The drop reaches the rules as seconds whose activity cannot be judged.
    assert len(in_drop) == drop_s
    assert {m.activity for m in in_drop} == {"unknown"}
    rules = AlertRules(profile=RunnerProfile(name="synthetic", target_cadence_spm=175.0))
    alerts = alerts_of(rules, metrics)
    assert not rules.learning
    # One raise and one all clear each, the clear after the episode and not for the drop.
    assert_alerted_during(alerts, "low_cadence", [episode])
    assert_alerted_during(alerts, "overstride", [episode])
    for alert in of_kind(alerts, "low_cadence", "cleared") + of_kind(
        alerts, "overstride", "cleared"
    ):
        assert not alert.message.endswith("not running")


def judged(*stretches: tuple[int, Activity, float | None], start_s: float = 1.0) -> list[Metrics]:
    """Per-second Metrics: (seconds, activity, cadence) stretches one after another."""
    out: list[Metrics] = []
    for n, activity, cadence in stretches:
        for _ in range(n):
            out.append(Metrics(t_s=start_s + len(out), activity=activity, cadence_spm=cadence))
    return out


def low_alerts(stream: Sequence[Metrics]) -> list[tuple[str, float, str]]:
    rule = LowCadenceRule(target_spm=190.0)  # problem below 187, fine at 190 and above
    return [(a.state, a.t_s, a.message) for m in stream if (a := rule.update(m)) is not None]


@pytest.mark.parametrize(
    "gap",
    [
        (20, "unknown", None),  # a link drop: no data
        (45, "unknown", None),  # a long one
        (20, "running", None),  # running, but no cadence to judge
    ],
)
def test_seconds_that_cannot_be_judged_keep_an_active_alert(
    gap: tuple[int, Activity, float | None],
) -> None:
    stream = judged((30, "running", 180.0), gap, (30, "running", 180.0), (20, "running", 195.0))
    resume_s = 31.0 + gap[0]
    assert low_alerts(stream) == [
        ("raised", 16.0, "Cadence low: 180, target 190"),
        # Judged again from the 30 low seconds after the gap, then 8 of 10 fine ones.
        ("cleared", resume_s + 30.0 + 7.0, "Cadence OK: 195"),
    ]


def test_a_drop_does_not_mix_old_and_new_seconds_into_a_raise() -> None:
    # 12 low seconds before a 10 s drop and 6 after: never 16 of the last 20 s low.
    stream = judged((12, "running", 180.0), (10, "unknown", None), (6, "running", 180.0))
    assert low_alerts(stream) == []
    # A raise after the drop (first second 23) needs 16 low seconds of its own.
    stream = judged((12, "running", 180.0), (10, "unknown", None), (30, "running", 180.0))
    assert low_alerts(stream) == [("raised", 23.0 + 15.0, "Cadence low: 180, target 190")]


@pytest.mark.parametrize("activity", ["stopped", "walking"])
def test_walking_or_stopping_for_the_pause_clears_even_across_a_drop(activity: Activity) -> None:
    stopped = judged((30, "running", 180.0), (10, activity, None))
    assert low_alerts(stopped)[1:] == [("cleared", 40.0, "Cadence alert off: not running")]
    # 9 s is not long enough ...
    assert low_alerts(judged((30, "running", 180.0), (9, activity, None)))[1:] == []
    # ... and a drop in the middle neither counts nor resets the not-running seconds.
    split = judged((30, "running", 180.0), (5, activity, None), (20, "unknown", None))
    split += judged((5, activity, None), start_s=split[-1].t_s + 1.0)
    assert low_alerts(split)[1:] == [("cleared", 60.0, "Cadence alert off: not running")]


def test_without_a_target_running_at_the_baseline_is_low_cadence_once() -> None:
    """The default target is the learnt baseline + 5 % (the retraining intent): a runner who
    keeps their usual cadence hears one "Cadence low" naming that target, and nothing more
    until they step 7 % quicker."""
    quicker_s = 420.0
    config = RunnerConfig(
        duration_s=500.0,
        cadence_points=((0.0, 180.0), (quicker_s - 1.0, 180.0), (quicker_s, 1.07 * 180.0)),
        seed=22,
    )
    metrics = synthetic_metrics(config)
    rules = AlertRules(profile=RunnerProfile(name="no target"))
    alerts: list[Alert] = []
    learnt_at: float | None = None
    for m in metrics:
        alerts += rules.update(m)
        if learnt_at is None and not rules.learning:
            learnt_at = m.t_s
    assert learnt_at is not None
    assert learnt_at < quicker_s - 2 * ALERT_LATENCY_S
    baseline = rules.profile.baseline
    assert baseline is not None
    assert baseline.cadence_spm == pytest.approx(180.0, abs=1.5)
    target = rules.profile.target_spm
    assert target == pytest.approx(1.05 * baseline.cadence_spm)
    assert [(a.kind, a.state) for a in alerts] == [
        ("low_cadence", "raised"),
        ("low_cadence", "cleared"),
    ]
    raised, cleared = alerts
    assert learnt_at < raised.t_s <= learnt_at + ALERT_LATENCY_S
    assert raised.message == f"Cadence low: {raised.value:.0f}, target {target:.0f}"
    assert raised.threshold == pytest.approx(target)
    assert raised.value == pytest.approx(baseline.cadence_spm, abs=1.5)
    assert quicker_s < cleared.t_s <= quicker_s + ALERT_LATENCY_S
    assert cleared.message.startswith("Cadence OK")
