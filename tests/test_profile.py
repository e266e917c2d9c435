"""Runner profile: JSON files with clear errors, the baseline learner, `cadence profile`."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import pytest

from cadence.commands import profile as profile_command
from cadence.datasets import bundled_trace
from cadence.errors import CadenceError, ConfigurationError
from cadence.events import Metrics
from cadence.fit import read_fit
from cadence.profile import (
    Baseline,
    BaselineLearner,
    ProfileError,
    RunnerProfile,
    load_profile,
    save_profile,
)


def full_profile() -> RunnerProfile:
    baseline = Baseline(
        cadence_spm=172.0,
        running_s=180.0,
        source="run.csv",
        gct_ms=240.0,
        duty_factor=0.69,
        impact_g=2.4,
        speed_mps=3.0,
        step_length_m=1.05,
        step_length_speed_exponent=0.75,
    )
    return RunnerProfile(name="Ann", target_cadence_spm=178.0, leg_length_m=0.88, baseline=baseline)


def test_a_saved_profile_loads_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "profile.json"
    original = full_profile()
    assert save_profile(original, path) == path
    assert load_profile(path) == original
    assert [p.name for p in path.parent.iterdir()] == ["profile.json"]  # no temporary left
    assert json.loads(path.read_text())["version"] == 1


def test_a_missing_profile_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "none.json"
    with pytest.raises(ProfileError, match=f"{path}: no such profile"):
        load_profile(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"name": "Ann",\n "target_cadence_spm": }', "line 2: not valid JSON"),
        ("[1, 2]", "a profile is a JSON object"),
        ('{"name": "Ann", "cadence": 170}', "unknown field(s) cadence"),
        ('{"target_cadence_spm": 500}', "target_cadence_spm=500: need 100-260"),
        ('{"target_cadence_spm": "fast"}', "target_cadence_spm must be a number"),
        ('{"leg_length_m": 3}', "leg_length_m=3"),
        ('{"version": 7}', "profile version 7"),
        ('{"baseline": {"cadence_spm": 170}}', "baseline lacks running_s"),
        ('{"baseline": {"cadence_spm": "x", "running_s": 9}}', "baseline cadence_spm must be a"),
        ('{"baseline": {"cadence_spm": 170, "running_s": 60, "speed_mps": 3}}', "go together"),
    ],
)
def test_a_bad_profile_says_which_file_and_what(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "profile.json"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_an_unwritable_profile_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ProfileError, match="cannot write"):
        save_profile(RunnerProfile(), blocker / "profile.json")


def test_the_target_is_the_set_one_else_the_baseline_plus_five_percent() -> None:
    profile = full_profile()
    assert profile.target_spm == 178.0
    without_target = RunnerProfile(baseline=profile.baseline)
    assert without_target.target_spm == pytest.approx(172.0 * 1.05)
    assert RunnerProfile(leg_length_m=0.9).target_spm is None


def test_the_reference_step_length_scales_with_speed() -> None:
    profile = full_profile()
    assert profile.reference_step_length_m(3.0) == pytest.approx(1.05)
    assert profile.reference_step_length_m(3.6) == pytest.approx(1.05 * 1.2**0.75)
    by_leg = RunnerProfile(leg_length_m=0.9)
    # 14 runners' optimal 84.8 strides/min at 3.0 m/s (Lieberman 2015): 1.06 m steps.
    assert by_leg.reference_step_length_m(3.0) == pytest.approx(1.06, abs=0.01)
    assert RunnerProfile().reference_step_length_m(3.0) is None


def running(t_s: float, cadence: float, **values: float) -> Metrics:
    return Metrics(t_s=t_s, activity="running", cadence_spm=cadence, **values)  # type: ignore[arg-type]


def test_the_learner_skips_settling_and_non_running_seconds() -> None:
    learner = BaselineLearner(settle_s=10.0, duration_s=20.0, min_running_s=5.0, source="x")
    stream = (
        [Metrics(t_s=i, activity="walking", cadence_spm=110.0) for i in range(30)]
        + [running(30.0 + i, 150.0) for i in range(10)]  # settling: not learnt
        + [Metrics(t_s=40.0 + i, activity="stopped") for i in range(5)]
        + [running(45.0 + i, 170.0 + (i % 3), gct_ms=230.0) for i in range(20)]
        + [running(65.0 + i, 120.0) for i in range(20)]  # after the baseline is complete
    )
    results = [learner.update(m) for m in stream]
    done_at = next(i for i, r in enumerate(results) if r is not None)
    assert stream[done_at].t_s == 64.0
    baseline = results[-1]
    assert baseline is not None
    assert baseline == learner.finish()
    assert baseline.cadence_spm == 171.0
    assert baseline.gct_ms == 230.0
    assert baseline.impact_g is None
    assert baseline.speed_mps is None
    assert baseline.running_s == 20.0
    assert baseline.source == "x"


def test_too_little_running_is_refused() -> None:
    learner = BaselineLearner(settle_s=0.0, min_running_s=60.0)
    for i in range(30):
        learner.update(running(float(i), 170.0))
    with pytest.raises(ConfigurationError, match="only 30 s of running"):
        learner.finish()


def test_the_speed_exponent_is_learnt_over_several_paces() -> None:
    # Step length 0.42 x speed^0.7 over 2.5-3.5 m/s.
    speeds = [2.5 + 0.01 * (i % 100) for i in range(200)]
    stream = [
        running(float(i), 60.0 * v / (0.42 * v**0.7), speed_mps=v, step_length_m=0.42 * v**0.7)
        for i, v in enumerate(speeds)
    ]
    baseline = BaselineLearner.learn(stream, settle_s=0.0, duration_s=200.0)
    assert baseline.step_length_speed_exponent == pytest.approx(0.7, abs=0.01)
    one_pace = [running(float(i), 170.0, speed_mps=3.0, step_length_m=1.06) for i in range(100)]
    assert BaselineLearner.learn(one_pace, settle_s=0.0).step_length_speed_exponent == 0.81


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cadence")
    profile_command.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def command(*argv: str) -> int:
    args = parse(*argv)
    result: int = args.run(args)
    return result


def test_the_profile_path_defaults_to_the_user_config() -> None:
    assert parse("profile", "show").profile == Path("~/.config/cadence/profile.json")


def test_set_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    assert command("profile", "--profile", str(path), "set", "--name", "A", "--target", "176") == 0
    assert command("profile", "--profile", str(path), "set", "--leg-length", "0.9") == 0
    capsys.readouterr()
    assert command("profile", "--profile", str(path), "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "A"
    assert shown["target_cadence_spm"] == 176.0
    assert shown["leg_length_m"] == 0.9
    with pytest.raises(ConfigurationError, match="target_cadence_spm=20"):
        command("profile", "--profile", str(path), "set", "--target", "20")
    assert load_profile(path).target_cadence_spm == 176.0  # a refused change leaves the file


def test_learn_from_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    trace = bundled_trace("alcantara-sacrum-run-t03")  # 5 s of treadmill running, 192.3 spm
    argv = ["profile", "--profile", str(path), "learn", str(trace), "--settle-s", "0"]
    with pytest.raises(CadenceError, match=f"{trace}: only 4 s of running"):
        command(*argv)
    assert not path.exists()
    assert command(*argv, "--min-running-s", "3") == 0
    baseline = load_profile(path).baseline
    assert baseline is not None
    assert baseline.cadence_spm == pytest.approx(192.3, abs=2.0)
    assert baseline.gct_ms == pytest.approx(214.0, abs=15.0)
    assert baseline.source == str(trace)
    out = capsys.readouterr().out
    assert "target        202 spm (baseline + 5 %)" in out


def test_learn_from_a_footpod_fit_file_adds_step_length(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    fit = Path(bundled_trace("wmf-foot-run")).parent / "fit" / "wmf-stryd-backgaden-1km.fit"
    assert command("profile", "--profile", str(path), "learn", str(fit)) == 0
    baseline = load_profile(path).baseline
    assert baseline is not None
    records = [r for r in read_fit(fit).records if r.running and r.cadence_spm]
    # Records are 1 s apart here: seconds 30-209 of running are the ones learnt.
    learnt = [r.cadence_spm for r in records[30:210] if r.cadence_spm is not None]
    assert baseline.cadence_spm == pytest.approx(statistics.median(learnt), abs=1.0)
    assert baseline.speed_mps is not None
    assert 2.5 < baseline.speed_mps < 4.5
    assert baseline.step_length_m == pytest.approx(
        baseline.speed_mps * 60.0 / baseline.cadence_spm, rel=0.03
    )
    assert baseline.impact_g is None  # a footpod measures no impact
