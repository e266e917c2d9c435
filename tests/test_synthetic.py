"""The synthetic runner: its truth matches its configuration, its files read back, its sensor
effects (clipping, dropouts) are honoured, it is deterministic, it looks like the real bundled
recordings, and the contact detector finds its steps."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from cadence.commands import simulate as simulate_command
from cadence.datasets import bundled_traces
from cadence.detector import detect_contacts
from cadence.errors import ConfigurationError
from cadence.scoring import match_contacts
from cadence.trace import Trace, read_trace, read_truth, truth_path_for
from cadence.units import STANDARD_GRAVITY_MS2
from sim._waveforms import (
    TRUNK_FLIGHT_POINTS,
    TRUNK_STANCE_POINTS,
    early_stance_peaks_g,
    phase_average,
)
from sim.synthetic import (
    RunnerConfig,
    SyntheticRun,
    cadence_at,
    read_steps,
    run_paths,
    simulate,
    write_run,
)

TWO_MINUTES_S = 120.0


def minute_cadences(foot_on_s: np.ndarray, minutes: int) -> np.ndarray:
    """Cadence (spm) from the foot-ons inside each whole minute: 60 (n - 1) / span."""
    cadences = []
    for minute in range(minutes):
        inside = foot_on_s[(foot_on_s >= 60 * minute) & (foot_on_s < 60 * (minute + 1))]
        cadences.append(60.0 * (inside.size - 1) / (inside[-1] - inside[0]))
    return np.array(cadences)


def profile_minute_means(points: tuple[tuple[float, float], ...], minutes: int) -> np.ndarray:
    return np.array(
        [cadence_at(points, np.linspace(60 * m, 60 * (m + 1), 601)).mean() for m in range(minutes)]
    )


def test_truth_reproduces_the_cadence_profile_every_minute() -> None:
    points = ((0.0, 172.0), (1200.0, 158.0), (1800.0, 158.0))
    run = simulate(RunnerConfig(duration_s=1800.0, cadence_points=points, seed=3))
    measured = minute_cadences(run.truth.foot_on_s, 30)
    expected = profile_minute_means(points, 30)
    assert np.max(np.abs(measured - expected)) < 1.0
    # The drift is really there: the last minutes are ~14 spm slower than the first.
    assert measured[0] - measured[-1] > 12.0


def test_overstriding_lowers_cadence_at_the_same_speed_and_hits_harder() -> None:
    config = RunnerConfig(
        duration_s=600.0,
        cadence_points=((0.0, 172.0),),
        overstrides=((240.0, 360.0),),
        placement="sacrum",
        seed=5,
    )
    run = simulate(config)
    steps = run.steps
    flagged = steps.overstriding
    assert np.array_equal(flagged, (steps.foot_on_s >= 240.0) & (steps.foot_on_s < 360.0))
    normal_cadence = minute_cadences(steps.foot_on_s, 4).mean()
    episode_cadence = minute_cadences(steps.foot_on_s - 240.0, 2).mean()
    assert episode_cadence == pytest.approx(normal_cadence * (1 - 0.06), abs=1.0)
    assert np.allclose(steps.speed_mps, config.speed_mps)
    # Same speed, lower cadence: longer steps and longer contacts.
    assert np.median(steps.step_length_m[flagged]) > 1.05 * np.median(steps.step_length_m[~flagged])
    assert np.median(steps.gct_s[flagged]) > np.median(steps.gct_s[~flagged]) + 0.005
    up_g = run.trace.acc[:, 0] / STANDARD_GRAVITY_MS2
    peaks = early_stance_peaks_g(run.trace.t, up_g, steps.foot_on_s, steps.foot_off_s)
    assert np.median(peaks[flagged]) > 1.3 * np.median(peaks[~flagged])
    forward_g = run.trace.acc[:, 1] / STANDARD_GRAVITY_MS2
    braking = -early_stance_peaks_g(run.trace.t, -forward_g, steps.foot_on_s, steps.foot_off_s)
    assert np.median(braking[flagged]) < np.median(braking[~flagged]) - 0.5


@pytest.mark.parametrize(("placement", "sides"), [("sacrum", "both"), ("shank", "sensor-side")])
def test_files_read_back(tmp_path: Path, placement: str, sides: str) -> None:
    config = RunnerConfig(
        duration_s=60.0, placement=placement, overstrides=((20.0, 30.0),), dropouts=((40.0, 1.0),)
    )
    run = simulate(config)
    trace_path, truth_path, steps_path = write_run(tmp_path / "run.csv", run)
    assert (trace_path, truth_path, steps_path) == run_paths(tmp_path / "run.csv")
    assert truth_path_for(trace_path) == truth_path

    trace = read_trace(trace_path, strict=True)
    assert trace.placement == placement
    assert trace.acc_axes == run.trace.acc_axes
    assert trace.up_vector is not None
    assert trace.up_vector[0] == 1.0
    assert "synthetic" in trace.metadata["source"]
    assert float(trace.metadata["speed_mps"]) == config.speed_mps
    assert np.allclose(trace.t, run.trace.t, atol=1e-6)
    assert np.allclose(trace.acc, run.trace.acc, atol=1e-5)

    truth = read_truth(truth_path, strict=True)
    assert truth.sides is not None
    assert truth.sides.startswith(sides)
    assert np.allclose(truth.foot_on_s, run.truth.foot_on_s, atol=5e-5)
    assert np.allclose(truth.foot_off_s, run.truth.foot_off_s, atol=5e-5)

    steps = read_steps(steps_path)
    assert steps.overstrides == ((20.0, 30.0),)
    assert steps.dropouts == ((40.0, 1.0),)
    assert steps.leg == run.steps.leg
    assert np.array_equal(steps.overstriding, run.steps.overstriding)
    assert np.array_equal(steps.in_dropout, run.steps.in_dropout)
    assert np.allclose(steps.cadence_spm, run.steps.cadence_spm, atol=1e-3)
    assert np.allclose(steps.step_length_m, run.steps.step_length_m, atol=1e-4)


def test_leg_truth_lists_every_other_step() -> None:
    run = simulate(RunnerConfig(duration_s=60.0, placement="shank"))
    left = run.steps.foot_on_s[np.array(run.steps.leg) == "left"]
    assert np.allclose(run.truth.foot_on_s, left)
    assert run.truth.foot_on_s.size == pytest.approx(run.steps.foot_on_s.size / 2, abs=1)


def test_clipping_at_the_sensor_range() -> None:
    config = RunnerConfig(
        duration_s=60.0, range_g=3.0, overstrides=((0.0, 60.0),), placement="sacrum"
    )
    acc_g = simulate(config).trace.acc / STANDARD_GRAVITY_MS2
    assert np.max(np.abs(acc_g)) <= 3.0 + 1e-12
    assert np.count_nonzero(acc_g[:, 0] >= 3.0 - 1e-12) > 50  # the impacts hit the stop
    unclipped = simulate(RunnerConfig(duration_s=60.0, overstrides=((0.0, 60.0),)))
    assert np.max(unclipped.trace.acc[:, 0]) / STANDARD_GRAVITY_MS2 > 3.5


def test_dropouts_leave_gaps_and_their_contacts_out_of_the_truth() -> None:
    config = RunnerConfig(duration_s=90.0, dropouts=((30.0, 2.0), (60.0, 0.5)), seed=2)
    run = simulate(config)
    t = run.trace.t
    assert not np.any((t >= 30.0) & (t < 32.0))
    assert not np.any((t >= 60.0) & (t < 60.5))
    intervals = np.diff(t)
    assert np.count_nonzero(intervals > 0.4) == 2
    assert np.max(intervals) == pytest.approx(2.0 + 1 / config.fs_hz, abs=1e-6)
    lost = run.steps.in_dropout
    assert 4 <= np.count_nonzero(lost) <= 10
    for on, off in zip(run.truth.foot_on_s, run.truth.foot_off_s, strict=True):
        assert off <= 30.0 or on >= 32.0
        assert off <= 60.0 or on >= 60.5
    assert run.truth.foot_on_s.size == np.count_nonzero(~lost)


def test_jittered_sample_times_stay_increasing() -> None:
    run = simulate(RunnerConfig(duration_s=30.0, jitter_s=0.002, seed=4))
    intervals = np.diff(run.trace.t)
    assert np.all(intervals > 0)
    assert 0.001 < np.std(intervals) < 0.004


def same_run(a: SyntheticRun, b: SyntheticRun) -> bool:
    return (
        np.array_equal(a.trace.t, b.trace.t)
        and np.array_equal(a.trace.acc, b.trace.acc)
        and np.array_equal(a.truth.foot_on_s, b.truth.foot_on_s)
    )


def test_deterministic_for_a_seed() -> None:
    config = RunnerConfig(duration_s=60.0, placement="foot", jitter_s=0.001, seed=11)
    assert same_run(simulate(config), simulate(config))
    other = RunnerConfig(duration_s=60.0, placement="foot", jitter_s=0.001, seed=12)
    assert not same_run(simulate(config), simulate(other))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"placement": "wrist"}, "placement='wrist'"),
        ({"cadence_points": ((0.0, 40.0),)}, "100-260"),
        ({"overstrides": ((30.0, 10.0),)}, "start must be < end"),
        ({"fs_hz": 5.0}, "10 to 2000 Hz"),
    ],
)
def test_bad_configuration_is_refused(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        RunnerConfig(**changes)  # type: ignore[arg-type]


# --- realism against the bundled real recordings ----------------------------------------------


def bundled_sacrum() -> list[tuple[Trace, np.ndarray, np.ndarray]]:
    trials = []
    for path in bundled_traces():
        if path.name.startswith("alcantara-sacrum-run"):
            truth_path = truth_path_for(path)
            assert truth_path is not None
            truth = read_truth(truth_path)
            trials.append((read_trace(path), truth.foot_on_s, truth.foot_off_s))
    assert len(trials) >= 5
    return trials


def mean_step_g(trace: Trace, on: np.ndarray, off: np.ndarray) -> np.ndarray:
    """(points, axes): mean stance then flight of a sacrum trace in g."""
    stance, flight = phase_average(
        trace.t,
        trace.acc / STANDARD_GRAVITY_MS2,
        on[:-1],
        off[:-1],
        on[1:],
        TRUNK_STANCE_POINTS,
        TRUNK_FLIGHT_POINTS,
    )
    return np.concatenate([stance, flight])


def test_sacrum_steps_look_like_the_real_ones() -> None:
    real = bundled_sacrum()
    real_mean = np.mean([mean_step_g(*trial) for trial in real], axis=0)
    real_peak_medians = [
        np.median(early_stance_peaks_g(trace.t, trace.acc[:, 0] / STANDARD_GRAVITY_MS2, on, off))
        for trace, on, off in real
    ]
    run = simulate(
        RunnerConfig(duration_s=60.0, cadence_points=((0.0, 190.0),), fs_hz=500.0, seed=7)
    )
    synthetic_mean = mean_step_g(run.trace, run.truth.foot_on_s, run.truth.foot_off_s)
    for axis in range(2):  # up, forward
        r = np.corrcoef(real_mean[:, axis], synthetic_mean[:, axis])[0, 1]
        assert r > 0.9, f"axis {axis}: r = {r:.3f}"
    peaks = early_stance_peaks_g(
        run.trace.t,
        run.trace.acc[:, 0] / STANDARD_GRAVITY_MS2,
        run.truth.foot_on_s,
        run.truth.foot_off_s,
    )
    assert min(real_peak_medians) <= np.median(peaks) <= max(real_peak_medians)


# --- the detector on synthetic runs -----------------------------------------------------------


@pytest.mark.parametrize("placement", ["sacrum", "shank"])
def test_detector_finds_synthetic_contacts(placement: str) -> None:
    config = RunnerConfig(
        duration_s=TWO_MINUTES_S, cadence_points=((0.0, 172.0),), placement=placement, seed=1
    )
    run = simulate(config)
    found = detect_contacts(
        run.trace.t,
        run.trace.acc,
        fs_hz=run.trace.fs_hz,
        placement=placement,
        up_vector=run.trace.up_vector,
    )
    on_s = [c.on_s for c in found.contacts if not config.leg_mounted or c.leg == "sensor"]
    match = match_contacts(run.truth.foot_on_s, on_s, tolerance_s=0.05)
    assert match.n_matched >= 0.99 * run.truth.foot_on_s.size
    assert match.n_extra <= 0.01 * run.truth.foot_on_s.size


# --- the command line -------------------------------------------------------------------------


def simulate_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cadence")
    simulate_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


def test_simulate_command_writes_the_three_files(tmp_path: Path) -> None:
    output = tmp_path / "run.csv"
    argv = [
        "simulate", "--minutes", "3", "--cadence", "172:158", "--placement", "shank",
        "--fs-hz", "200", "--overstride", "60s:90s", "--dropout", "2:1.5s", "--range-g", "8",
        "--seed", "9", "-o", str(output),
    ]  # fmt: skip
    assert simulate_cli(argv) == 0
    trace = read_trace(output)
    assert trace.placement == "shank"
    assert trace.fs_hz == 200.0
    assert np.max(np.abs(trace.acc)) <= 8 * STANDARD_GRAVITY_MS2 + 1e-4
    assert not np.any((trace.t >= 120.0) & (trace.t < 121.5))
    steps = read_steps(tmp_path / "run.episodes.csv")
    assert steps.overstrides == ((60.0, 90.0),)
    assert steps.dropouts == ((120.0, 1.5),)
    first, last = steps.cadence_spm[:60].mean(), steps.cadence_spm[-60:].mean()
    assert first == pytest.approx(172.0, abs=2.0)
    assert last == pytest.approx(158.0, abs=2.0)
    assert read_truth(tmp_path / "run.truth.csv").sides == "sensor-side leg only"


def test_time_and_profile_syntax() -> None:
    assert simulate_command.parse_time_s("90s") == 90.0
    assert simulate_command.parse_time_s("20m") == 1200.0
    assert simulate_command.parse_time_s("1.5") == 90.0
    assert simulate_command.parse_cadence("172", 600.0) == ((0.0, 172.0),)
    assert simulate_command.parse_cadence("172:165:158", 600.0) == (
        (0.0, 172.0),
        (300.0, 165.0),
        (600.0, 158.0),
    )
    assert simulate_command.parse_cadence("0=172,20=158,90s=160", 1800.0) == (
        (0.0, 172.0),
        (1200.0, 158.0),
        (90.0, 160.0),
    )
    with pytest.raises(ConfigurationError, match="not a time"):
        simulate_command.parse_time_s("ten")
    with pytest.raises(ConfigurationError, match="expected two times"):
        simulate_command.parse_span("10", "--overstride")
    with pytest.raises(ConfigurationError, match="not a cadence profile"):
        simulate_command.parse_cadence("fast", 600.0)
