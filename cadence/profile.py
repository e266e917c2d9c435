"""The runner's profile: target cadence, leg length and the baseline learnt from their running.

A :class:`RunnerProfile` is what the alert rules compare against. Its :class:`Baseline` holds the
runner's own numbers (cadence, contact time, impact, step length at a speed), learnt by a
:class:`BaselineLearner` from the first minutes of a run or from a past recording's metrics.
Profiles are saved as JSON (:func:`load_profile`, :func:`save_profile`); errors name the file.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cadence.errors import CadenceError, ConfigurationError

if TYPE_CHECKING:
    from cadence.events import Metrics

PROFILE_VERSION = 1
DEFAULT_PROFILE_PATH = Path("~/.config/cadence/profile.json")
# Heiderscheit et al. 2011 (MSSE 43:296): +5 % step rate over the preferred one lowers knee
# (and at +10 % hip) energy absorption; the default target is the easy-run baseline + 5 %.
DEFAULT_TARGET_RAISE_PCT = 5.0
# Step length grows with speed as speed^0.81 (cadence as speed^0.19): fitted on the level
# Alcantara trials at 2.5, 3.33 and 4.17 m/s (one runner); across the -5 % and -10 % slopes
# the cadence exponent is 0.21 and 0.17. Learnt per runner when calibration spans enough speeds.
DEFAULT_STEP_LENGTH_SPEED_EXPONENT = 0.81
# Without a baseline: reference step length = coefficient x leg length x speed^exponent. From
# Lieberman et al. 2015 (J Exp Biol 218:3406): 14 runners' optimal stride frequency 84.8
# strides/min at 3.0 m/s, i.e. 1.06 m steps, taken over an assumed 0.9 m leg length (the
# paper's leg lengths were not retrieved). Coarse: a learnt baseline replaces it.
LEG_LENGTH_STEP_COEFFICIENT = 0.485
MIN_LEG_LENGTH_M = 0.5
MAX_LEG_LENGTH_M = 1.3
MIN_CADENCE_SPM = 100.0
MAX_CADENCE_SPM = 260.0


class ProfileError(CadenceError):
    """A profile file that cannot be read or written: names the file and what was wrong."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True, slots=True)
class Baseline:
    """The runner's own numbers while running normally (medians over the learnt seconds).

    ``step_length_m`` was taken at ``speed_mps``; at another speed the reference step length
    scales as speed ** ``step_length_speed_exponent``. Fields the sensor could not measure are
    None (an accelerometer gives no speed; a footpod usually no impact).
    """

    cadence_spm: float
    running_s: float
    source: str = ""
    gct_ms: float | None = None
    duty_factor: float | None = None
    impact_g: float | None = None
    speed_mps: float | None = None
    step_length_m: float | None = None
    step_length_speed_exponent: float = DEFAULT_STEP_LENGTH_SPEED_EXPONENT

    def __post_init__(self) -> None:
        _check_cadence("baseline cadence_spm", self.cadence_spm)
        for name in ("running_s", "gct_ms", "duty_factor", "impact_g", "speed_mps"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"baseline {name} must be > 0, got {value!r}")
        if (self.speed_mps is None) != (self.step_length_m is None):
            raise ConfigurationError("baseline speed_mps and step_length_m go together")
        if self.step_length_m is not None and not 0.2 <= self.step_length_m <= 3.0:
            raise ConfigurationError(f"baseline step_length_m={self.step_length_m!r} m")
        if not 0.0 < self.step_length_speed_exponent <= 1.5:
            raise ConfigurationError(
                f"step_length_speed_exponent={self.step_length_speed_exponent!r}: need 0-1.5"
            )


@dataclass(frozen=True, slots=True)
class RunnerProfile:
    """Who runs: a name, an explicit target cadence and/or a baseline, and leg length.

    The target cadence is ``target_cadence_spm`` when set, else the baseline cadence raised by
    ``target_raise_pct`` (5 % by default): on purpose above the runner's usual cadence, so
    running as usual is "low" until they step quicker or set a target of their own.
    """

    name: str = "runner"
    target_cadence_spm: float | None = None
    leg_length_m: float | None = None
    target_raise_pct: float = DEFAULT_TARGET_RAISE_PCT
    baseline: Baseline | None = None

    def __post_init__(self) -> None:
        if self.target_cadence_spm is not None:
            _check_cadence("target_cadence_spm", self.target_cadence_spm)
        if self.leg_length_m is not None and not (
            MIN_LEG_LENGTH_M <= self.leg_length_m <= MAX_LEG_LENGTH_M
        ):
            raise ConfigurationError(
                f"leg_length_m={self.leg_length_m!r}: need {MIN_LEG_LENGTH_M}-"
                f"{MAX_LEG_LENGTH_M} m (hip joint to floor)"
            )
        if not 0.0 <= self.target_raise_pct <= 20.0:
            raise ConfigurationError(f"target_raise_pct={self.target_raise_pct!r}: need 0-20 %")

    @property
    def target_spm(self) -> float | None:
        """The cadence the runner aims for, or None when neither target nor baseline is known."""
        if self.target_cadence_spm is not None:
            return self.target_cadence_spm
        if self.baseline is not None:
            return self.baseline.cadence_spm * (1.0 + self.target_raise_pct / 100.0)
        return None

    def reference_step_length_m(self, speed_mps: float) -> float | None:
        """The runner's usual step length at ``speed_mps``: from the baseline, else leg length."""
        if not speed_mps > 0:
            return None
        baseline = self.baseline
        if baseline is not None and baseline.speed_mps and baseline.step_length_m:
            ratio = speed_mps / baseline.speed_mps
            return float(baseline.step_length_m * ratio**baseline.step_length_speed_exponent)
        if self.leg_length_m is not None:
            exponent = DEFAULT_STEP_LENGTH_SPEED_EXPONENT
            return float(LEG_LENGTH_STEP_COEFFICIENT * self.leg_length_m * speed_mps**exponent)
        return None

    def to_json(self) -> dict[str, Any]:
        return {"version": PROFILE_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: object) -> RunnerProfile:
        """Build from parsed JSON; raises ConfigurationError saying which field is wrong."""
        if not isinstance(data, dict):
            raise ConfigurationError("a profile is a JSON object")
        version = data.get("version", PROFILE_VERSION)
        if version != PROFILE_VERSION:
            raise ConfigurationError(f"profile version {version!r}; this cadence reads 1")
        values = _known_fields(cls, {k: v for k, v in data.items() if k != "version"}, "profile")
        baseline = values.get("baseline")
        if baseline is not None:
            if not isinstance(baseline, dict):
                raise ConfigurationError("baseline must be a JSON object or null")
            fields_given = _known_fields(Baseline, baseline, "baseline")
            missing = [name for name in ("cadence_spm", "running_s") if name not in fields_given]
            if missing:
                raise ConfigurationError(f"baseline lacks {', '.join(missing)}")
            _check_numbers(fields_given, "baseline ", exclude=("source",))
            if not isinstance(fields_given.get("source", ""), str):
                raise ConfigurationError(
                    f"baseline source must be a string: {baseline['source']!r}"
                )
            values["baseline"] = Baseline(**fields_given)
        if "name" in values and not isinstance(values["name"], str):
            raise ConfigurationError(f"name must be a string, got {values['name']!r}")
        _check_numbers(values, "", exclude=("name", "baseline"))
        return cls(**values)


def _known_fields(cls: type, data: dict[str, Any], what: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigurationError(f"{what} has unknown field(s) {', '.join(unknown)}")
    return dict(data)


def _check_numbers(values: dict[str, Any], prefix: str, *, exclude: tuple[str, ...]) -> None:
    for key, value in values.items():
        if key in exclude or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError(f"{prefix}{key} must be a number, got {value!r}")


def _check_cadence(name: str, value: float) -> None:
    if not MIN_CADENCE_SPM <= value <= MAX_CADENCE_SPM:
        raise ConfigurationError(
            f"{name}={value!r}: need {MIN_CADENCE_SPM:g}-{MAX_CADENCE_SPM:g} steps/min"
        )


def load_profile(path: str | os.PathLike[str]) -> RunnerProfile:
    """Read a profile; a missing, unreadable or malformed file raises ProfileError naming it."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(
            file, "no such profile (create one with `cadence profile set`)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(file, f"cannot read: {error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProfileError(file, f"line {error.lineno}: not valid JSON ({error.msg})") from None
    try:
        return RunnerProfile.from_json(data)
    except (ConfigurationError, TypeError) as error:
        raise ProfileError(file, str(error)) from None


def save_profile(profile: RunnerProfile, path: str | os.PathLike[str]) -> Path:
    """Write a profile atomically (a crash never leaves half a file); returns the path."""
    file = Path(path).expanduser()
    temporary = file.with_name(f".{file.name}.tmp")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(profile.to_json(), indent=2) + "\n", encoding="utf-8")
        temporary.replace(file)
    except OSError as error:
        raise ProfileError(file, f"cannot write: {error.strerror or error}") from None
    return file


@dataclass(slots=True)
class BaselineLearner:
    """Learns a :class:`Baseline` from per-second :class:`Metrics` of normal running.

    Only ``running`` seconds count. The first ``settle_s`` of them are skipped (the runner warms
    up, the metrics window fills); the next ``duration_s`` are learnt. ``update`` returns the
    baseline once it is complete; ``finish`` returns what was learnt so far (a past recording)
    and raises ConfigurationError with fewer than ``min_running_s`` learnt seconds.
    """

    settle_s: float = 30.0
    duration_s: float = 180.0
    min_running_s: float = 60.0
    source: str = ""
    _running_s: float = 0.0
    _rows: list[Metrics] = field(default_factory=list)
    _result: Baseline | None = None

    def __post_init__(self) -> None:
        if self.settle_s < 0 or not self.duration_s > 0 or not self.min_running_s > 0:
            raise ConfigurationError(
                f"settle_s={self.settle_s}, duration_s={self.duration_s}, "
                f"min_running_s={self.min_running_s}: need settle >= 0 and the others > 0"
            )
        if self.min_running_s > self.duration_s:
            raise ConfigurationError(
                f"min_running_s={self.min_running_s} exceeds duration_s={self.duration_s}"
            )

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def learnt_s(self) -> float:
        """Running seconds learnt so far (one per accepted Metrics)."""
        return float(len(self._rows))

    def update(self, metrics: Metrics) -> Baseline | None:
        if self._result is not None:
            return self._result
        if metrics.activity != "running" or metrics.cadence_spm is None:
            return None
        self._running_s += 1.0
        if self._running_s <= self.settle_s:
            return None
        self._rows.append(metrics)
        if self.learnt_s >= self.duration_s:
            self._result = self._baseline()
        return self._result

    def finish(self) -> Baseline:
        if self._result is None:
            if self.learnt_s < self.min_running_s:
                raise ConfigurationError(
                    f"only {self.learnt_s:.0f} s of running after the first {self.settle_s:.0f} s"
                    f" to learn from; need {self.min_running_s:.0f} s"
                )
            self._result = self._baseline()
        return self._result

    @classmethod
    def learn(cls, metrics: Iterable[Metrics], **settings: Any) -> Baseline:
        """The baseline of a whole past recording's metrics (keyword settings as the class)."""
        learner = cls(**settings)
        for item in metrics:
            if learner.update(item) is not None:
                break
        return learner.finish()

    def _baseline(self) -> Baseline:
        rows = self._rows

        def median_of(name: str) -> float | None:
            values = [v for v in (getattr(r, name) for r in rows) if v is not None]
            # A field seen in under half the seconds is not the sensor's: leave it out.
            return statistics.median(values) if 2 * len(values) >= len(rows) else None

        cadence = median_of("cadence_spm")
        assert cadence is not None  # every learnt row has a cadence
        speed = median_of("speed_mps")
        step_length = median_of("step_length_m") if speed is not None else None
        return Baseline(
            cadence_spm=cadence,
            running_s=self.learnt_s,
            source=self.source,
            gct_ms=median_of("gct_ms"),
            duty_factor=median_of("duty_factor"),
            impact_g=median_of("impact_g"),
            speed_mps=speed if step_length is not None else None,
            step_length_m=step_length,
            step_length_speed_exponent=_speed_exponent(rows),
        )


# Fit the speed exponent only over a speed range this wide (p90 / p10) and this many seconds.
MIN_SPEED_SPREAD = 1.15
MIN_SPEED_SECONDS = 60


def _speed_exponent(rows: list[Metrics]) -> float:
    """Slope of log step length on log speed when the learnt running spans several paces."""
    pairs = [
        (math.log(r.speed_mps), math.log(r.step_length_m))
        for r in rows
        if r.speed_mps and r.step_length_m and r.speed_mps > 0 and r.step_length_m > 0
    ]
    if len(pairs) < MIN_SPEED_SECONDS:
        return DEFAULT_STEP_LENGTH_SPEED_EXPONENT
    speeds = sorted(p[0] for p in pairs)
    low, high = speeds[len(speeds) // 10], speeds[(9 * len(speeds)) // 10]
    if high - low < math.log(MIN_SPEED_SPREAD):
        return DEFAULT_STEP_LENGTH_SPEED_EXPONENT
    slope = statistics.linear_regression([p[0] for p in pairs], [p[1] for p in pairs]).slope
    # Outside this range the fit is noise, not the runner.
    return min(max(slope, 0.3), 1.2)


def with_baseline(profile: RunnerProfile, baseline: Baseline) -> RunnerProfile:
    """A copy of ``profile`` holding ``baseline``."""
    return replace(profile, baseline=baseline)
