"""The streaming detector on real recordings bundled with the project."""

from __future__ import annotations

import dataclasses
import math
import tracemalloc
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from cadence import _kernels
from cadence.contacts import Contact, DetectorUpdate, Gap
from cadence.datasets import bundled_trace
from cadence.detector import (
    ContactDetector,
    LegParameters,
    TrunkParameters,
    detect_contact_columns,
    detect_contacts,
)
from cadence.errors import ConfigurationError
from cadence.filters import butter2_sos
from cadence.scoring import ContactScore, score_contacts
from cadence.trace import Trace, Truth, read_trace, read_truth, truth_path_for
from sim.synthetic import RunnerConfig, simulate

FloatArray = npt.NDArray[np.float64]
SACRUM_TRIALS = ("t00", "t03", "t06", "t12", "t18", "t20", "t25", "t30")
STREAMED_TRACES = (
    "alcantara-sacrum-run-t03",
    "alcantara-sacrum-run-t20",
    "wmf-foot-run",
    "oxford-phone-armband-walk",
)


@cache
def trace(name: str) -> Trace:
    return read_trace(bundled_trace(name))


def detect(
    tr: Trace,
    *,
    t: np.ndarray | None = None,
    acc: np.ndarray | None = None,
    fs_hz: float | None = None,
) -> DetectorUpdate:
    return detect_contacts(
        tr.t if t is None else t,
        tr.acc if acc is None else acc,
        fs_hz=tr.fs_hz if fs_hz is None else fs_hz,
        placement=tr.placement or "",
        up_vector=tr.up_vector,
    )


def stream(tr: Trace, chunk_sizes: list[int]) -> DetectorUpdate:
    detector = ContactDetector(fs_hz=tr.fs_hz, placement=tr.placement or "", up_vector=tr.up_vector)
    contacts: list[Contact] = []
    gaps: list[Gap] = []
    start = 0
    sizes = iter(chunk_sizes)
    while start < tr.t.size:
        size = next(sizes, tr.t.size)
        update = detector.update(tr.t[start : start + size], tr.acc[start : start + size])
        contacts += update.contacts
        gaps += update.gaps
        start += size
    last = detector.finish()
    return DetectorUpdate(tuple(contacts) + last.contacts, tuple(gaps) + last.gaps)


def score_sacrum(updates: list[tuple[str, DetectorUpdate]]) -> ContactScore:
    """Pooled score over trials: concatenated with each trial shifted far from the others."""
    true_on, true_off, det_on, det_off = [], [], [], []
    for k, (name, update) in enumerate(updates):
        truth = truth_of(name)
        shift = 1000.0 * k
        true_on.append(truth.foot_on_s + shift)
        true_off.append(truth.foot_off_s + shift)
        det_on.append(np.array([c.on_s for c in update.contacts]) + shift)
        det_off.append(np.array([c.off_s for c in update.contacts]) + shift)
    return score_contacts(
        np.concatenate(true_on),
        np.concatenate(true_off),
        np.concatenate(det_on),
        np.concatenate(det_off),
    )


def truth_of(name: str) -> Truth:
    path = truth_path_for(bundled_trace(name))
    assert path is not None
    return read_truth(path)


def test_sacrum_running_contacts_and_gct_match_force_plates() -> None:
    names = [f"alcantara-sacrum-run-{trial}" for trial in SACRUM_TRIALS]
    updates = [(name, detect(trace(name))) for name in names]
    score = score_sacrum(updates)
    # The targets of issue 2, on the trials bundled with the project.
    assert score.n_found >= 0.995 * score.n_true
    assert score.n_extra <= 0.005 * score.n_true
    assert score.gct_mae_ms <= 12.0
    assert abs(score.gct_bias_ms) <= 5.0
    cadence_errors = [abs(score_sacrum([update]).cadence_error_spm) for update in updates]
    assert max(cadence_errors) <= 1.0
    assert float(np.median(cadence_errors)) <= 0.3


def test_trunk_impact_is_the_peak_vertical_acceleration_in_stance() -> None:
    tr = trace("alcantara-sacrum-run-t12")
    # Vertical is along gravity, the mean acceleration: the pelvis leans, so its sensor axis
    # that points up when standing is off by several degrees while running.
    gravity = tr.acc.mean(axis=0)
    vertical_g = tr.acc @ gravity / np.linalg.norm(gravity) / 9.80665
    # After the first second, when the gravity estimate has settled.
    contacts = [c for c in detect(tr).contacts if c.on_s > 1.0]
    assert contacts
    for contact in contacts:
        assert contact.impact_g is not None
        in_stance = (tr.t >= contact.on_s) & (tr.t <= contact.off_s)
        # Gravity included: a runner's sacrum peaks at 2-5 g.
        assert 1.5 < contact.impact_g < 6.0
        assert contact.impact_g == pytest.approx(vertical_g[in_stance].max(), abs=0.1)


def test_a_contact_cut_by_the_end_of_the_stream_is_kept_only_if_it_ended() -> None:
    for name in ("alcantara-sacrum-run-t00", "alcantara-sacrum-run-t20"):
        tr, truth = trace(name), truth_of(name)
        for k in (6, 8):
            ended = ContactDetector(fs_hz=tr.fs_hz, placement="sacrum", up_vector=tr.up_vector)
            keep = tr.t <= truth.foot_off_s[k] + 0.02
            during = ended.update(tr.t[keep], tr.acc[keep])
            assert all(c.on_s < truth.foot_on_s[k] - 0.1 for c in during.contacts)
            (last,) = ended.finish().contacts
            # As close as contacts closed by their fall (per-contact errors reach 20-30 ms).
            assert last.on_s == pytest.approx(truth.foot_on_s[k], abs=0.03)
            assert last.off_s == pytest.approx(truth.foot_off_s[k], abs=0.03)
            # Cut in mid-stance, the contact may go on: dropped, not guessed.
            cut = ContactDetector(fs_hz=tr.fs_hz, placement="sacrum", up_vector=tr.up_vector)
            keep = tr.t <= truth.foot_on_s[k] + 0.1
            cut.update(tr.t[keep], tr.acc[keep])
            assert cut.finish().contacts == ()


@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(STREAMED_TRACES),
    sizes=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=60),
)
def test_streaming_in_any_chunks_equals_batch(name: str, sizes: list[int]) -> None:
    tr = trace(name)
    # The drawn sizes repeat over the whole trace so every part is cut irregularly.
    repeated = (sizes * (tr.t.size // max(1, sum(sizes)) + 1))[: tr.t.size]
    assert stream(tr, repeated) == detect(tr)


@pytest.mark.parametrize("name", STREAMED_TRACES)
def test_streaming_one_sample_at_a_time_equals_batch(name: str) -> None:
    tr = trace(name)
    batch = detect(tr)
    assert batch.contacts, "a real run must give contacts"
    assert stream(tr, [1] * tr.t.size) == batch


@pytest.mark.parametrize("name", STREAMED_TRACES)
def test_the_columns_form_holds_the_streamed_contacts(name: str) -> None:
    tr = trace(name)
    cut = (tr.t > 2.0) & (tr.t < 2.5)  # and a gap
    t, acc = tr.t[~cut], tr.acc[~cut]
    streamed = stream(dataclasses.replace(tr, t=t, acc=acc, gyro=tr.gyro[~cut]), [37] * t.size)
    columns = detect_contact_columns(
        t, acc, fs_hz=tr.fs_hz, placement=tr.placement or "", up_vector=tr.up_vector
    )
    assert len(columns) == len(streamed.contacts) > 0
    assert columns.on_s.tolist() == [c.on_s for c in streamed.contacts]
    assert columns.off_s.tolist() == [c.off_s for c in streamed.contacts]
    assert columns.gaps == streamed.gaps != ()
    assert {c.leg for c in streamed.contacts} == {columns.leg}
    assert columns.contacts() == streamed.contacts


def test_a_gap_is_reported_and_never_bridged_with_steps() -> None:
    tr = trace("alcantara-sacrum-run-t03")
    cut = (tr.t > 2.0) & (tr.t < 3.0)
    result = detect(tr, t=tr.t[~cut], acc=tr.acc[~cut])
    assert len(result.gaps) == 1
    gap = result.gaps[0]
    assert gap.start_s == pytest.approx(2.0, abs=0.01)
    assert gap.end_s == pytest.approx(3.0, abs=0.01)
    assert not [c for c in result.contacts if c.off_s > gap.start_s and c.on_s < gap.end_s]
    # Away from the gap, the same contacts as without it; those that ended before it too.
    whole = detect(tr)
    far = [c.on_s for c in whole.contacts if c.off_s < gap.start_s - 0.03 or c.on_s > 3.6]
    kept = [c.on_s for c in result.contacts if c.off_s < gap.start_s - 0.03 or c.on_s > 3.6]
    assert np.allclose(far, kept, atol=0.003)


@pytest.mark.parametrize("step", [2, 4, 5, 6])
def test_a_stance_under_way_when_the_stream_starts_is_not_a_contact(step: int) -> None:
    # Its foot-on came before the first sample: it was not seen, so it is not guessed (the
    # stream may start where the signal dips after the impact, as in a swing).
    tr = trace("alcantara-sacrum-run-t03")
    truth = truth_of("alcantara-sacrum-run-t03")
    on_s, off_s = truth.foot_on_s[step], truth.foot_off_s[step]
    later = tr.t >= on_s + 0.25 * (off_s - on_s)
    contacts = detect(tr, t=tr.t[later], acc=tr.acc[later]).contacts
    assert contacts[0].on_s == pytest.approx(truth.foot_on_s[step + 1], abs=0.02)


def test_irregular_and_sparser_sampling_still_finds_the_steps() -> None:
    rng = np.random.default_rng(7)
    names = [f"alcantara-sacrum-run-{trial}" for trial in SACRUM_TRIALS]
    updates = []
    for name in names:
        tr = trace(name)
        # 100 Hz on average, with random spacing between 6 and 14 ms.
        keep = np.unique(np.cumsum(rng.integers(3, 8, size=tr.t.size)))
        keep = keep[keep < tr.t.size]
        updates.append((name, detect(tr, t=tr.t[keep], acc=tr.acc[keep], fs_hz=100.0)))
    score = score_sacrum(updates)
    assert score.n_found >= 0.97 * score.n_true
    assert score.gct_mae_ms <= 15.0


def test_clipped_samples_keep_contacts() -> None:
    names = [f"alcantara-sacrum-run-{trial}" for trial in SACRUM_TRIALS]
    clip = 3.0 * 9.81  # a ±3 g sensor: impact peaks of 4-5 g saturate
    updates = [(n, detect(trace(n), acc=np.clip(trace(n).acc, -clip, clip))) for n in names]
    assert any((np.abs(trace(n).acc) > clip).any() for n in names)
    score = score_sacrum(updates)
    assert score.n_found >= 0.98 * score.n_true
    assert score.gct_mae_ms <= 12.0


def test_leg_mounted_sensor_reports_its_own_leg_at_a_plausible_cadence() -> None:
    tr = trace("wmf-foot-run")
    result = detect(tr)
    assert {c.leg for c in result.contacts} == {"sensor"}
    strides = np.diff([c.on_s for c in result.contacts])
    # Its authors measured 85 ± 10 strides/min, about 170 steps/min.
    assert 150 <= 120.0 / np.median(strides) <= 190
    # A steady run: no stride missed or doubled, bar the odd one.
    steady = (strides > 0.8 * np.median(strides)) & (strides < 1.2 * np.median(strides))
    assert steady.mean() >= 0.98
    assert all(c.off_s > c.on_s for c in result.contacts)


def test_leg_impact_is_the_peak_of_the_high_passed_magnitude() -> None:
    tr = trace("wmf-foot-run")
    sos = scipy.signal.butter(2, LegParameters().highpass_hz, "highpass", fs=tr.fs_hz, output="sos")
    acc_g = tr.acc / 9.80665
    # The detector's filter starts settled on the first sample.
    high_passed = [
        scipy.signal.sosfilt(sos, acc_g[:, k], zi=scipy.signal.sosfilt_zi(sos) * acc_g[0, k])[0]
        for k in range(acc_g.shape[1])
    ]
    magnitude_g = np.sqrt(np.sum(np.square(high_passed), axis=0))
    contacts = detect(tr).contacts
    assert contacts
    for contact in contacts:
        after_on = (tr.t >= contact.on_s) & (tr.t <= contact.on_s + 0.15)
        assert contact.impact_g == pytest.approx(magnitude_g[after_on].max(), rel=1e-9)


def test_a_foot_sensor_ends_stance_at_the_push_off_out_of_the_still_phase() -> None:
    tr = trace("wmf-foot-run")
    contacts = detect(tr).contacts
    strides = np.diff([c.on_s for c in contacts])
    duty = np.array([c.gct_s for c in contacts[:-1]]) / strides
    # Running stance is about 30-38 % of the stride; until the foot's still phase was read,
    # the shank's method put foot-off near half the stride.
    assert 0.30 <= float(np.median(duty)) <= 0.38
    acc_g = np.linalg.norm(tr.acc, axis=1) / 9.80665
    for contact in contacts[:-1]:
        # Foot-off is the top of the push-off: the foot is no longer at rest.
        at_off = np.abs(tr.t - contact.off_s) <= 0.015
        assert acc_g[at_off].max() > LegParameters().foot_push_off_g


def test_synthetic_foot_contacts_agree_with_their_template() -> None:
    # The synthetic foot's template assumes stance is 35 % of the stride: a consistency
    # check of the foot-off, not force-plate truth.
    run = simulate(RunnerConfig(duration_s=40.0, placement="foot", seed=3))
    result = detect(run.trace)
    score = score_contacts(
        run.truth.foot_on_s,
        run.truth.foot_off_s,
        np.array([c.on_s for c in result.contacts]),
        np.array([c.off_s for c in result.contacts]),
        steps_per_contact=2,
    )
    assert score.n_found >= 0.99 * score.n_true
    assert abs(score.gct_bias_ms) <= 30.0


def walking_shank(
    stride_s: float = 1.1, n_strides: int = 20, scuffs: Sequence[tuple[float, float]] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """A shank walking at 109 steps/min: stance (1 g along the shank, still) from each heel
    strike to 60 % of the stride, then the swing (the shank tilted: 0.45 g along it). The
    toe-off's burst is nearly twice the heel strike's, as in soft-footed walkers. ``scuffs``
    adds bursts (time s, amplitude g), like a foot that brushes the ground before it lands."""
    fs_hz = 100.0
    t = np.arange(0.0, n_strides * stride_s + 1.0, 1.0 / fs_hz)
    stance = np.mod(t, stride_s) < 0.6 * stride_s
    burst = np.zeros_like(t)
    bursts = [(k * stride_s, 0.5) for k in range(n_strides + 1)]
    bursts += [((k + 0.6) * stride_s, 0.9) for k in range(n_strides + 1)]
    for start_s, amplitude_g in [*bursts, *scuffs]:
        after = t - start_s
        inside = (after >= 0.0) & (after < 0.15)
        ringing = np.exp(-after[inside] / 0.04) * np.sin(2.0 * np.pi * 35.0 * after[inside])
        burst[inside] += amplitude_g * ringing
    noise = np.random.default_rng(0).normal(0.0, 0.02, (t.size, 2))
    acc_g = np.column_stack(
        [
            np.where(stance, 1.0, 0.45) + burst,
            0.6 * burst + noise[:, 0],
            np.where(stance, 0.0, 0.8) + noise[:, 1],
        ]
    )
    return t, 9.80665 * acc_g


def test_a_walking_toe_off_is_not_taken_for_the_heel_strike() -> None:
    stride_s = 1.1
    t, acc = walking_shank(stride_s)
    heel_strikes = np.arange(21) * stride_s

    def foot_ons(parameters: LegParameters) -> np.ndarray:
        contacts = detect_contacts(t, acc, fs_hz=100.0, placement="shank", parameters=parameters)
        return np.array([c.on_s for c in contacts.contacts])

    def off_heel_strikes(on_s: np.ndarray) -> np.ndarray:
        return np.array([np.abs(heel_strikes - x).min() for x in on_s])

    # The stride estimate needs two strides to know the walk; from then on, heel strikes.
    on_s = foot_ons(LegParameters())
    settled = on_s[on_s > 2.5 * stride_s]
    assert settled.size >= 17
    assert off_heel_strikes(settled).max() < 0.05
    assert np.all(np.diff(settled) == pytest.approx(stride_s, abs=0.03))
    # Judged by the bursts alone, every contact would be a toe-off.
    blind = foot_ons(LegParameters(walking_stance_min_g=-math.inf))
    assert off_heel_strikes(blind[blind > 2.5 * stride_s]).min() > 0.4


def test_of_two_like_bursts_the_heel_strike_is_the_one_a_stride_after_the_last() -> None:
    stride_s = 1.1
    # A scuff 100 ms before the 10th and 14th heel strikes: its burst's envelope peaks as
    # high as the strike's.
    scuffed = (10, 14)
    t, acc = walking_shank(stride_s, scuffs=[(k * stride_s - 0.1, 0.8) for k in scuffed])

    def error_at_scuffs_s(parameters: LegParameters) -> np.ndarray:
        contacts = detect_contacts(t, acc, fs_hz=100.0, placement="shank", parameters=parameters)
        on_s = np.array([c.on_s for c in contacts.contacts])
        nearest = [on_s[np.abs(on_s - k * stride_s).argmin()] for k in scuffed]
        return np.array(nearest) - stride_s * np.array(scuffed)

    # Within the burst centre's pull (the scuff's tail is in it).
    assert np.abs(error_at_scuffs_s(LegParameters())).max() < 0.04
    # The strongest burst alone would put those foot-ons at the scuffs.
    assert np.all(error_at_scuffs_s(LegParameters(walking_rival_ratio=1.0)) < -0.08)


@pytest.mark.parametrize("stride_s", [1.3, 1.5])
def test_a_slow_walk_is_found_from_its_first_heel_strike(stride_s: float) -> None:
    # Before the strides tell a walk, toe-offs stronger than the heel strikes must not be
    # taken (the stride phase test applies to every shank impact); and the next heel strike
    # is judged a while after it (its rivals and stride phase must be known first), so a long
    # stride must not close the contact before that, as a pause.
    t, acc = walking_shank(stride_s, n_strides=8)
    contacts = detect_contacts(t, acc, fs_hz=100.0, placement="shank").contacts
    heel_strikes = stride_s * np.arange(1, 9)
    assert [c.on_s for c in contacts] == pytest.approx(heel_strikes, abs=0.05)
    duty = LegParameters().walking_duty
    for contact in contacts[:-1]:
        assert contact.gct_s == pytest.approx(duty * stride_s, abs=0.03)


@pytest.mark.parametrize("stride_s", [1.1, 1.3])
def test_the_first_heel_strike_of_a_walk_is_timed_like_the_rest(stride_s: float) -> None:
    # The first impact is taken before any stride says walking, by the running rule; once the
    # next one shows a walking stride, its foot-on is the walking rule's, as for the others.
    t, acc = walking_shank(stride_s)
    contacts = detect_contacts(t, acc, fs_hz=100.0, placement="shank").contacts
    on_s = np.array([c.on_s for c in contacts])
    errors_s = on_s - stride_s * np.round(on_s / stride_s)
    assert errors_s[0] == pytest.approx(np.median(errors_s[1:6]), abs=0.003)


def test_the_first_heel_strike_after_a_gap_in_a_walk_keeps_its_alignment() -> None:
    # The stride estimate outlives the gap, so that heel strike is taken as a walk's, and its
    # foot-on aligned to the walk's template like the others (not the bare walking rule's).
    t, acc = walking_shank(1.1)
    cut = (t > 7.9) & (t < 8.3)
    contacts = detect_contacts(t[~cut], acc[~cut], fs_hz=100.0, placement="shank").contacts
    on_s = np.array([c.on_s for c in contacts])
    errors_s = on_s - 1.1 * np.round(on_s / 1.1)
    first_after = int(np.argmax(on_s > 8.3))
    neighbours = np.r_[errors_s[first_after - 3 : first_after], errors_s[first_after + 1 :][:3]]
    assert errors_s[first_after] == pytest.approx(np.median(neighbours), abs=0.0005)


def test_a_walk_after_a_run_is_found_from_its_first_strides() -> None:
    # A walk break: heel strikes a tenth of the run's impacts must not fall under a threshold
    # learnt on the run.
    run = simulate(RunnerConfig(duration_s=20.0, placement="shank", seed=2))
    t_walk, acc_walk = walking_shank(1.1, n_strides=15)
    start_s = run.trace.t[-1] + 0.01
    t = np.concatenate([run.trace.t, start_s + t_walk])
    acc = np.concatenate([run.trace.acc, acc_walk])
    contacts = detect_contacts(t, acc, fs_hz=100.0, placement="shank").contacts
    on_s = np.array([c.on_s for c in contacts])
    heel_strikes = start_s + 1.1 * np.arange(1, 16)
    assert np.abs(on_s[:, None] - heel_strikes[None, :]).min(axis=0).max() < 0.05
    # Each contact's stance is its own gait's: the run's last one (the next impact is the
    # walk's) as the run alone gives it, the walk's a walking duty of its stride.
    run_alone = detect_contacts(run.trace.t, run.trace.acc, fs_hz=100.0, placement="shank")
    last_run = [c for c in contacts if c.on_s < start_s][-1]
    assert last_run == run_alone.contacts[-1]
    walk_gct_s = [c.gct_s for c in contacts if c.on_s > start_s][:-1]
    assert walk_gct_s == pytest.approx([LegParameters().walking_duty * 1.1] * 14, abs=0.03)


def test_a_soft_impact_is_placed_by_its_whole_waveform() -> None:
    # Every other impact softened (its transient low-passed, as a soft landing): its onset
    # crosses a fraction of its peak early, while the rest of its waveform keeps time.
    run = simulate(RunnerConfig(duration_s=30.0, placement="shank", seed=3))
    t, acc = run.trace.t, run.trace.acc
    true_on_s = run.truth.foot_on_s
    low = scipy.signal.sosfiltfilt(
        scipy.signal.butter(2, 20.0, fs=100.0, output="sos"), acc, axis=0
    )
    soft = np.zeros(t.size, dtype=bool)
    for on_s in true_on_s[::2]:
        soft |= (t >= on_s - 0.03) & (t <= on_s + 0.1)
    softened = np.where(soft[:, None], low, acc)

    def foot_on_errors_s(parameters: LegParameters) -> tuple[FloatArray, FloatArray]:
        contacts = detect_contacts(
            t, softened, fs_hz=100.0, placement="shank", parameters=parameters
        ).contacts
        on_s = np.array([c.on_s for c in contacts])
        assert on_s.size == true_on_s.size
        errors = on_s - true_on_s
        return errors[::2], errors[1::2]

    soft_errors, hard_errors = foot_on_errors_s(LegParameters())
    assert abs(soft_errors.mean() - hard_errors.mean()) < 0.003
    assert np.concatenate([soft_errors, hard_errors]).std() < 0.004
    # The onset alone (no shift allowed: the template is off) puts soft impacts 10+ ms early.
    soft_errors, hard_errors = foot_on_errors_s(LegParameters(template_max_shift_s=0.0))
    assert hard_errors.mean() - soft_errors.mean() > 0.01


def test_an_impact_is_aligned_to_the_template_it_fits_and_only_to_it() -> None:
    k = np.arange(150.0)
    template = np.exp(-0.5 * ((k - 100.0) / 6.0) ** 2) + 0.3 * np.sin(k / 9.0)
    shifts = 20

    def window(waveform: FloatArray, shift: float) -> FloatArray:
        # window[shifts + shift + j] holds waveform[j]
        return np.interp(np.arange(k.size + 2 * shifts) - shifts - shift, k, waveform)

    for shift in (3.3, -7.6, 0.0):
        best = _kernels._best_shift(window(template, shift), template)
        assert best == pytest.approx(shifts + shift, abs=0.1)
    # Beyond the shifts tried, the best fit is at the edge: the true one may lie further.
    assert math.isnan(_kernels._best_shift(window(template, 25.0), template))
    # Another waveform fits no better than a flat line would: it is not aligned.
    assert math.isnan(_kernels._best_shift(window(-template, 0.0), template))


def test_a_missed_running_impact_is_not_taken_for_a_walk_break() -> None:
    # One impact lost (low-passed away): the interval over it is two running strides, as long
    # as a walking stride. The run goes on as a run: the stream's last contact, cut two
    # strides later, keeps its measured foot-off and is not dropped as a walk's.
    run = simulate(RunnerConfig(duration_s=20.0, placement="shank", seed=4))
    t, acc = run.trace.t, run.trace.acc
    intact = detect_contacts(t, acc, fs_hz=100.0, placement="shank").contacts
    lost = intact[12]
    low = scipy.signal.sosfiltfilt(scipy.signal.butter(2, 4.0, fs=100.0, output="sos"), acc, axis=0)
    around = (t >= lost.on_s - 0.03) & (t <= lost.on_s + 0.12)
    softened = np.where(around[:, None], low, acc)
    keep = t <= intact[14].on_s + 0.45
    contacts = detect_contacts(t[keep], softened[keep], fs_hz=100.0, placement="shank").contacts
    assert [c.on_s for c in contacts if c.on_s > lost.on_s - 0.05] == pytest.approx(
        [intact[13].on_s, intact[14].on_s], abs=0.005
    )
    assert contacts[-1].gct_s == pytest.approx(intact[14].gct_s, abs=0.005)


def test_samples_each_after_a_gap_are_reported_in_batch_as_when_streamed() -> None:
    t = 0.2 * np.arange(60)
    acc = np.tile([0.0, 0.0, 9.81], (t.size, 1))
    for placement in ("sacrum", "shank"):
        batch = detect_contacts(t, acc, fs_hz=50.0, placement=placement)
        assert len(batch.gaps) == t.size - 1
        detector = ContactDetector(fs_hz=50.0, placement=placement)
        streamed = [
            g for i in range(t.size) for g in detector.update(t[i : i + 1], acc[i : i + 1]).gaps
        ]
        assert tuple(streamed) == batch.gaps


def test_a_leg_contact_cut_by_the_end_is_kept_when_it_ended_give_or_take_the_model() -> None:
    t, acc = walking_shank()
    whole = detect_contacts(t, acc, fs_hz=100.0, placement="shank").contacts
    contact = whole[12]
    tolerance_s = LegParameters().end_off_tolerance_s

    def last_contact(end_s: float) -> list[Contact]:
        detector = ContactDetector(fs_hz=100.0, placement="shank")
        keep = t <= end_s
        during = detector.update(t[keep], acc[keep])
        assert all(c.on_s < contact.on_s for c in during.contacts)
        return [c for c in detector.finish().contacts if c.on_s > contact.on_s - 0.05]

    # Its foot-off (a duty factor of the stride when walking) is just past the end: kept.
    (last,) = last_contact(contact.off_s + 0.5 * tolerance_s)
    # Its foot-on takes the template's offset as it closes, here without the next impact's.
    assert last.on_s == pytest.approx(contact.on_s, abs=0.001)
    assert last.off_s == pytest.approx(contact.off_s, abs=0.02)
    assert len(last_contact(contact.off_s - 0.5 * tolerance_s)) == 1
    # Cut well before it: it may go on, so it is dropped, not guessed.
    assert last_contact(contact.off_s - tolerance_s - 0.05) == []
    assert last_contact(contact.on_s + 0.3) == []


@settings(max_examples=8, deadline=None)
@given(sizes=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=40))
def test_walking_by_stride_phase_streams_in_any_chunks_as_batch(sizes: list[int]) -> None:
    t, acc = walking_shank()
    walk = Trace(
        source="walking shank",
        metadata={"placement": "shank", "fs_hz": "100"},
        t=t,
        acc=acc,
        acc_axes=("x", "y", "z"),
        gyro=np.empty((t.size, 0)),
        gyro_axes=(),
    )
    repeated = (sizes * (t.size // max(1, sum(sizes)) + 1))[: t.size]
    assert stream(walk, repeated) == detect(walk)


def test_a_gap_in_a_leg_stream_is_reported_and_never_bridged() -> None:
    tr = trace("wmf-foot-run")
    cut = (tr.t > 40.0) & (tr.t < 43.0)
    result = detect(tr, t=tr.t[~cut], acc=tr.acc[~cut])
    assert [(round(g.start_s), round(g.end_s)) for g in result.gaps] == [(40, 43)]
    assert not [c for c in result.contacts if c.off_s > 40.0 and c.on_s < 43.0]
    # The contacts that ended before the gap are kept, as at the end of a stream (their
    # foot-ons within a ms: the impact template has seen other impacts).
    whole = detect(tr)
    far = [c.on_s for c in whole.contacts if c.off_s < 39.97 or c.on_s > 45.0]
    kept = [c.on_s for c in result.contacts if c.off_s < 39.97 or c.on_s > 45.0]
    assert kept == pytest.approx(far, abs=0.001)


def test_running_cadence_and_gct_follow_the_stream() -> None:
    tr = trace("alcantara-sacrum-run-t03")
    detector = ContactDetector(fs_hz=tr.fs_hz, placement="sacrum", up_vector=tr.up_vector)
    assert detector.cadence_spm is None
    detector.update(tr.t, tr.acc)
    truth = truth_of("alcantara-sacrum-run-t03")
    true_cadence = 60.0 * (truth.foot_on_s.size - 1) / (truth.foot_on_s[-1] - truth.foot_on_s[0])
    assert detector.cadence_spm == pytest.approx(true_cadence, abs=1.0)
    true_gct_ms = 1000.0 * np.median(truth.foot_off_s - truth.foot_on_s)
    assert detector.gct_ms == pytest.approx(true_gct_ms, abs=15.0)


def test_state_does_not_grow_with_the_length_of_the_run() -> None:
    tr = trace("alcantara-sacrum-run-t03")
    period = tr.t[-1] + 1.0 / tr.fs_hz

    def peak_bytes(repeats: int) -> int:
        detector = ContactDetector(fs_hz=tr.fs_hz, placement="sacrum", up_vector=tr.up_vector)
        detector.update(tr.t[:100], tr.acc[:100])  # compile and allocate before measuring
        tracemalloc.start()
        for k in range(repeats):
            detector.update(tr.t[100:] + k * period, tr.acc[100:])
            detector.update(tr.t[:100] + (k + 1) * period, tr.acc[:100])
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    assert peak_bytes(40) <= peak_bytes(4) + 4096


def test_time_that_does_not_move_forward_is_dropped_and_counted() -> None:
    tr = trace("alcantara-sacrum-run-t03")
    detector = ContactDetector(fs_hz=tr.fs_hz, placement="sacrum", up_vector=tr.up_vector)
    t = tr.t.copy()
    t[1000] = t[999]  # a repeated timestamp
    t[2000] = t[1990]  # time going backwards
    detector.update(t, tr.acc)
    assert detector.rejected_samples == 2


def test_settled_filter_state_matches_scipy() -> None:
    sos = scipy.signal.butter(2, 6.0, fs=500.0, output="sos")
    zi = np.zeros(2)
    _kernels._settle_filter(sos, zi, 0, 1.7)
    assert np.allclose(zi, scipy.signal.sosfilt_zi(sos)[0] * 1.7)


def test_kernel_filter_is_sosfilt_with_carried_state() -> None:
    sos = scipy.signal.butter(2, [0.5, 5.0], btype="bandpass", fs=100.0, output="sos")
    x = np.random.default_rng(1).normal(size=300)
    zi = np.zeros(2 * sos.shape[0])
    ours = [_kernels._biquad_step(sos, zi, 0, value) for value in x]
    assert np.allclose(ours, scipy.signal.sosfilt(sos, x))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fs_hz": 5.0, "placement": "sacrum"}, "fs_hz"),
        ({"fs_hz": 100.0, "placement": "elbow"}, "elbow"),
        ({"fs_hz": 100.0, "placement": "sacrum", "up_vector": (0.0, 0.0)}, "up_vector"),
        (
            {
                "fs_hz": 100.0,
                "placement": "shank",
                "parameters": LegParameters(template_before_s=0.0, template_after_s=0.0),
            },
            "template_before_s",
        ),
    ],
)
def test_bad_configuration_is_refused_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ContactDetector(**kwargs)


def test_parameters_of_the_other_placement_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="LegParameters"):
        ContactDetector(fs_hz=100.0, placement="sacrum", parameters=LegParameters())
    with pytest.raises(ConfigurationError, match="TrunkParameters"):
        ContactDetector(fs_hz=100.0, placement="shank", parameters=TrunkParameters())


def test_changing_axes_mid_stream_is_refused() -> None:
    detector = ContactDetector(fs_hz=100.0, placement="hip")
    detector.update(np.array([0.0, 0.01]), np.ones((2, 3)))
    with pytest.raises(ConfigurationError, match="started with 3"):
        detector.update(np.array([0.02]), np.ones((1, 2)))


@pytest.mark.parametrize("kind", ["lowpass", "highpass"])
@pytest.mark.parametrize(("cutoff_hz", "fs_hz"), [(6.0, 500.0), (15.0, 142.857), (20.0, 50.0)])
def test_closed_form_butterworth_equals_scipy(kind: str, cutoff_hz: float, fs_hz: float) -> None:
    ours = butter2_sos(cutoff_hz, fs_hz, kind)  # type: ignore[arg-type]
    assert np.allclose(ours, scipy.signal.butter(2, cutoff_hz, kind, fs=fs_hz, output="sos"))


@cache
def shank_run() -> Trace:
    return simulate(RunnerConfig(placement="shank", duration_s=60)).trace


SHIFTED_TRACES: dict[str, Callable[[], Trace]] = {
    "sacrum": lambda: trace("alcantara-sacrum-run-t03"),
    "foot": lambda: trace("wmf-foot-run"),
    "synthetic shank": shank_run,
}


def contact_times(update: DetectorUpdate, shift: float = 0.0) -> np.ndarray:
    return np.array([(c.on_s - shift, c.off_s - shift) for c in update.contacts])


@pytest.mark.parametrize("shift", [0.7, 3.3, 1000.0])
@pytest.mark.parametrize("name", SHIFTED_TRACES)
def test_contacts_do_not_depend_on_where_the_clock_starts(name: str, shift: float) -> None:
    # A file's clock starts at 0, a live stream's at connection: a regular clock puts window
    # bounds exactly on samples, and the rounding of shifted times must not move them.
    tr = SHIFTED_TRACES[name]()
    assert tr.t[0] == 0.0
    at_zero = contact_times(detect(tr))
    shifted = contact_times(detect(tr, t=tr.t + shift), shift)
    assert at_zero.shape[0] > 10
    assert shifted.shape == at_zero.shape
    assert np.abs(shifted - at_zero).max() <= 1e-9


@pytest.mark.parametrize("name", SHIFTED_TRACES)
def test_times_that_differ_in_the_last_bit_give_the_same_contacts(name: str) -> None:
    tr = SHIFTED_TRACES[name]()
    nudged = tr.t.copy()
    nudged[1::2] = np.nextafter(nudged[1::2], np.inf)
    nudged[2::2] = np.nextafter(nudged[2::2], -np.inf)
    exact = contact_times(detect(tr))
    rounded = contact_times(detect(tr, t=nudged))
    assert rounded.shape == exact.shape
    assert np.abs(rounded - exact).max() <= 1e-9
