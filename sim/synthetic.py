"""A synthetic runner with known truth: accelerometer traces built step by step from waveform
templates learnt on real recordings (``sim._waveforms``), with the contacts that made them.

The runner model, per step (both feet, alternating left and right):

- step time from the cadence profile at that moment, with step-to-step variability
  (``step_cv``) and a left/right asymmetry; inside an overstride episode the cadence is lower
  by ``overstride_cadence_drop`` at the same speed, so the steps are longer;
- contact time from a fit over the 24 Alcantara trials (one runner on a treadmill,
  2.5-4.17 m/s, slopes -10..+10 %, cadence 160-229 spm; median GCT per trial)::

      GCT = 0.1727 s - 0.02598 s per m/s x speed + 0.4015 x step time + 0.001783 s per % slope

  RMSE 6.9 ms over the trials: at the same speed, a lower cadence means longer contacts;
- step length = speed x step time;
- impact and braking: every step's early-stance excursion (first 35 % of stance, from the
  template's foot-on value, all axes) is scaled by the template's ``impact_scale`` (which
  restores the median single-step peak that averaging flattened), times
  ``1 + impact_cv x N(0, 1) +/- asymmetry`` per step; overstriding steps multiply it by
  ``1 + overstride_impact_gain``, by default 0.565: the median single-step vertical peak of the
  -10 % downhill Alcantara trials (4.83 g) over the level ones (3.17 g), from the foot-on value.

The waveform of each cycle (a step for the trunk, a stride of the sensor leg for leg
placements) is the placement's stance table stretched over the contact and its flight/swing
table over the rest; then a slow orientation wobble, a slow drift, white noise, clipping at the
sensor range, sample-time jitter and dropouts are applied. Everything is drawn from one
``numpy.random.Generator`` seeded by ``RunnerConfig.seed``.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from cadence.errors import ConfigurationError, TraceFormatError
from cadence.trace import Trace, Truth, write_trace
from cadence.units import STANDARD_GRAVITY_MS2
from sim._waveforms import TEMPLATES, Template

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

PLACEMENTS: Final = tuple(TEMPLATES)
GCT_INTERCEPT_S: Final = 0.17268
GCT_PER_SPEED_S_PER_MPS: Final = -0.025977
GCT_PER_STEP_S: Final = 0.40154
GCT_PER_SLOPE_S_PER_PCT: Final = 0.0017830
# Median single-step early-stance vertical peak of the -10 % downhill trials over the level ones.
OVERSTRIDE_IMPACT_GAIN: Final = 0.565
EARLY_STANCE_FULL: Final = 0.2
EARLY_STANCE_END: Final = 0.35
MIN_FLIGHT_S: Final = 0.04
LEAD_IN_S: Final = 2.0
WOBBLE_KNOT_S: Final = 2.0
DRIFT_KNOT_S: Final = 10.0
STEPS_FORMAT: Final = "cadence-synthetic-steps: 1"
_STEP_COLUMNS: Final = (
    "foot_on_s",
    "foot_off_s",
    "leg",
    "cadence_spm",
    "gct_s",
    "step_length_m",
    "speed_mps",
    "overstriding",
    "in_dropout",
)
LEGS: Final = ("left", "right")
# Upper limits of the variability settings: beyond them steps could run backwards in time.
_VARIABILITY_LIMITS: Final = {
    "step_cv": 0.1,
    "asymmetry": 0.2,
    "gct_cv": 0.2,
    "impact_cv": 0.5,
    "noise_g": 1.0,
    "drift_g": 1.0,
    "wobble_deg": 20.0,
}
SENSOR_LEG: Final = "left"


@dataclass(frozen=True)
class RunnerConfig:
    """Everything a synthetic run is made from. Times in seconds, accelerations in g.

    ``cadence_points``: (time_s, spm) knots of a piecewise-linear cadence profile, held flat
    before the first and after the last. ``overstrides``: (start_s, end_s) episodes.
    ``dropouts``: (start_s, duration_s) spans with no samples. The sensor of a leg placement
    is on the left leg.
    """

    duration_s: float = 1800.0
    cadence_points: tuple[tuple[float, float], ...] = ((0.0, 172.0), (1800.0, 158.0))
    speed_mps: float = 3.33
    slope_pct: float = 0.0
    placement: str = "sacrum"
    fs_hz: float = 100.0
    overstrides: tuple[tuple[float, float], ...] = ()
    overstride_cadence_drop: float = 0.06
    overstride_impact_gain: float = OVERSTRIDE_IMPACT_GAIN
    step_cv: float = 0.015
    asymmetry: float = 0.02
    gct_cv: float = 0.03
    impact_cv: float = 0.15
    noise_g: float = 0.02
    drift_g: float = 0.02
    wobble_deg: float = 2.0
    range_g: float = 16.0
    jitter_s: float = 0.0
    dropouts: tuple[tuple[float, float], ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.placement not in TEMPLATES:
            raise ConfigurationError(
                f"placement={self.placement!r}: the synthetic runner knows {', '.join(PLACEMENTS)}"
            )
        _require(self.duration_s > 0, f"duration_s={self.duration_s!r} must be > 0")
        _require(10.0 <= self.fs_hz <= 2000.0, f"fs_hz={self.fs_hz!r}: need 10 to 2000 Hz")
        _require(0.5 <= self.speed_mps <= 10.0, f"speed_mps={self.speed_mps!r}: need 0.5-10")
        _require(bool(self.cadence_points), "cadence_points: need at least one (time_s, spm)")
        times = [point[0] for point in self.cadence_points]
        _require(times == sorted(times), f"cadence_points times must increase, got {times}")
        for _, spm in self.cadence_points:
            _require(100.0 <= spm <= 260.0, f"cadence {spm!r} spm: a runner's is 100-260")
        for start_s, end_s in self.overstrides:
            _require(start_s < end_s, f"overstride ({start_s}, {end_s}): start must be < end")
        for start_s, length_s in self.dropouts:
            _require(length_s > 0 and start_s >= 0, f"dropout ({start_s}, {length_s}) invalid")
        _require(0.0 <= self.overstride_cadence_drop < 0.5, "overstride_cadence_drop: 0-0.5")
        _require(self.range_g > 1.0, f"range_g={self.range_g!r} must exceed 1 g")
        _require(0.0 <= self.jitter_s < 0.4 / self.fs_hz, "jitter_s must be < 0.4 / fs_hz")
        for name, most in _VARIABILITY_LIMITS.items():
            value = getattr(self, name)
            _require(0.0 <= value <= most, f"{name}={value!r} must be in [0, {most:g}]")
        _require(self.overstride_impact_gain >= 0, "overstride_impact_gain must be >= 0")

    @property
    def template(self) -> Template:
        return TEMPLATES[self.placement]

    @property
    def leg_mounted(self) -> bool:
        return self.template.per_stride


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise ConfigurationError(problem)


@dataclass(frozen=True, eq=False)
class StepTruth:
    """Every step the runner took (both feet), in trace seconds; ``leg`` is "left"/"right".

    ``cadence_spm`` is 60 / (time to the next foot-on); ``in_dropout`` marks contacts that
    overlap a span without samples (left out of the truth file).
    """

    foot_on_s: FloatArray
    foot_off_s: FloatArray
    leg: tuple[str, ...]
    cadence_spm: FloatArray
    gct_s: FloatArray
    step_length_m: FloatArray
    speed_mps: FloatArray
    overstriding: BoolArray
    in_dropout: BoolArray
    overstrides: tuple[tuple[float, float], ...] = ()
    dropouts: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, eq=False)
class SyntheticRun:
    """A generated trace, the steps behind it and the contacts a truth file lists."""

    config: RunnerConfig
    trace: Trace
    steps: StepTruth
    truth: Truth = field(repr=False)


# --- the runner -------------------------------------------------------------------------------


def contact_time_s(speed_mps: float, step_s: FloatArray, slope_pct: float = 0.0) -> FloatArray:
    """Ground contact time from the fit over the Alcantara trials (see the module doc)."""
    return np.asarray(
        GCT_INTERCEPT_S
        + GCT_PER_SPEED_S_PER_MPS * speed_mps
        + GCT_PER_STEP_S * step_s
        + GCT_PER_SLOPE_S_PER_PCT * slope_pct,
        dtype=np.float64,
    )


def cadence_at(points: tuple[tuple[float, float], ...], t_s: FloatArray) -> FloatArray:
    """The profile's cadence (spm) at ``t_s``, linear between knots, flat outside them."""
    times = np.array([p[0] for p in points], dtype=np.float64)
    spm = np.array([p[1] for p in points], dtype=np.float64)
    return np.asarray(np.interp(t_s, times, spm), dtype=np.float64)


def in_spans(t_s: FloatArray, spans: tuple[tuple[float, float], ...]) -> BoolArray:
    """Which times fall in any [start, end) span."""
    inside = np.zeros(np.shape(t_s), dtype=bool)
    for start_s, end_s in spans:
        inside |= (t_s >= start_s) & (t_s < end_s)
    return inside


def _step_plan(
    config: RunnerConfig, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Foot-on times, contact times and overstride flags of every step from -LEAD_IN_S until
    past the end (the lead-in makes the first samples part of a step, not silence)."""
    end_s = config.duration_s + LEAD_IN_S
    n_max = int(end_s * 260.0 / 60.0 * 1.5) + 16
    variability = np.clip(rng.standard_normal(n_max), -4.0, 4.0)
    on = np.empty(n_max)
    overstriding = np.zeros(n_max, dtype=bool)
    t_s, n = -LEAD_IN_S, 0
    while t_s < end_s:
        on[n] = t_s
        overstriding[n] = bool(in_spans(np.array([t_s]), config.overstrides)[0])
        spm = float(cadence_at(config.cadence_points, np.array([t_s]))[0])
        if overstriding[n]:
            spm *= 1.0 - config.overstride_cadence_drop
        side = 1.0 if n % 2 == 0 else -1.0
        step_s = 60.0 / spm * (1.0 + config.step_cv * variability[n])
        t_s += step_s * (1.0 + 0.5 * config.asymmetry * side)
        n += 1
    on, overstriding = on[: n + 1], overstriding[: n + 1]
    on[n] = t_s
    step_s = np.diff(on)
    gct = contact_time_s(config.speed_mps, step_s, config.slope_pct)
    gct *= 1.0 + config.gct_cv * rng.standard_normal(gct.size)
    gct = np.minimum(gct, step_s - MIN_FLIGHT_S)
    return on, gct, overstriding[:-1]


def _cycles(
    config: RunnerConfig, on: FloatArray, gct: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.intp]]:
    """(foot-on, foot-off, next foot-on of the same cycle, step index) of each waveform cycle:
    every step for the trunk, the sensor (left, even) leg's strides for leg placements."""
    steps = np.arange(gct.size)
    if config.leg_mounted:
        steps = steps[(steps % 2 == 0) & (steps + 2 < on.size)]
        return on[steps], on[steps] + gct[steps], on[steps + 2], steps
    return on[:-1], on[:-1] + gct, on[1:], steps


def _table_values(table: FloatArray, after: FloatArray, u: FloatArray) -> FloatArray:
    """Linear interpolation of the (axes, n) ``table`` at phase ``u`` in [0, 1); its end runs
    into ``after`` (the first column of the next phase's table)."""
    extended = np.concatenate([table, after[:, None]], axis=1)
    position = np.clip(u, 0.0, 1.0) * table.shape[1]
    index = np.minimum(position.astype(np.intp), table.shape[1] - 1)
    fraction = position - index
    values: FloatArray = extended[:, index] * (1.0 - fraction) + extended[:, index + 1] * fraction
    return values


def _early_stance_weight(u: FloatArray) -> FloatArray:
    """1 up to EARLY_STANCE_FULL of stance, a raised-cosine fall to 0 at EARLY_STANCE_END."""
    span = EARLY_STANCE_END - EARLY_STANCE_FULL
    ramp = 0.5 * (1.0 + np.cos(np.pi * np.clip((u - EARLY_STANCE_FULL) / span, 0.0, 1.0)))
    return np.asarray(np.where(u <= EARLY_STANCE_FULL, 1.0, ramp), dtype=np.float64)


def _impact_mean_g(template: Template) -> float:
    """Mean over stance of the up row's early excursion at gain 1 (for the step-mean scaling)."""
    u = (np.arange(template.stance_g.shape[1]) + 0.5) / template.stance_g.shape[1]
    up = _table_values(template.stance_g, template.flight_g[:, 0], u)[template.up_row]
    return float(np.mean(_early_stance_weight(u) * (up - template.stance_g[template.up_row, 0])))


def _waveform_g(
    template: Template,
    t: FloatArray,
    cycle_on: FloatArray,
    cycle_off: FloatArray,
    cycle_next: FloatArray,
    excursion_gain: FloatArray,
) -> FloatArray:
    """(n, axes) acceleration in g at times ``t`` from the cycles' stretched templates; each
    cycle's early-stance excursion grows by its ``excursion_gain`` (0: the template's)."""
    cycle = np.clip(np.searchsorted(cycle_on, t, side="right") - 1, 0, cycle_on.size - 1)
    on, off, nxt = cycle_on[cycle], cycle_off[cycle], cycle_next[cycle]
    stance = t < off
    u_stance = (t - on) / (off - on)
    u_flight = (t - off) / (nxt - off)
    stance_values = _table_values(template.stance_g, template.flight_g[:, 0], u_stance)
    flight_values = _table_values(template.flight_g, template.stance_g[:, 0], u_flight)
    values = np.where(stance[None, :], stance_values, flight_values)
    # Overstriding: a larger impact and deeper braking, from the foot-on level of each row.
    excursion = stance_values - template.stance_g[:, :1]
    weight = np.where(stance, _early_stance_weight(u_stance), 0.0) * excursion_gain[cycle]
    values += weight[None, :] * excursion
    if template.up_mean_g is not None:
        # A step's mean vertical specific force is body weight: scale each cycle's up row to it.
        stance_mean = np.mean(template.stance_g[template.up_row])
        flight_mean = np.mean(template.flight_g[template.up_row])
        stance_mean_c = stance_mean + excursion_gain * _impact_mean_g(template)
        gct, period = cycle_off - cycle_on, cycle_next - cycle_on
        cycle_mean = (gct * stance_mean_c + (period - gct) * flight_mean) / period
        values[template.up_row] *= (template.up_mean_g / cycle_mean)[cycle]
    return values.T


def _smooth_noise(rng: np.random.Generator, t: FloatArray, knot_s: float) -> FloatArray:
    """Unit-variance noise that changes over ``knot_s`` seconds (linear between random knots)."""
    knots = np.arange(t[0] - knot_s, t[-1] + 2 * knot_s, knot_s)
    return np.asarray(np.interp(t, knots, rng.standard_normal(knots.size)), dtype=np.float64)


def _sample_times(config: RunnerConfig, rng: np.random.Generator) -> FloatArray:
    n = math.floor(config.duration_s * config.fs_hz) + 1
    t = np.arange(n) / config.fs_hz
    if config.jitter_s > 0:
        # Bounded below half a sample interval, so samples never swap order.
        bound_s = min(3.0 * config.jitter_s, 0.45 / config.fs_hz)
        t = t + np.clip(rng.normal(0.0, config.jitter_s, n), -bound_s, bound_s)
        t[0] = max(t[0], 0.0)
    t = t[~in_spans(t, tuple((s, s + d) for s, d in config.dropouts))]
    return np.asarray(np.round(t, 6), dtype=np.float64)


def simulate(config: RunnerConfig) -> SyntheticRun:
    """Generate the trace and its truth for ``config``; deterministic for a seed."""
    rng = np.random.default_rng(config.seed)
    template = config.template
    on, gct, overstriding = _step_plan(config, rng)
    off = on[:-1] + gct
    t = _sample_times(config, rng)
    if t.size < 2:
        raise ConfigurationError("the run has fewer than two samples outside its dropouts")

    cycle_on, cycle_off, cycle_next, cycle_step = _cycles(config, on, gct)
    side = np.where(cycle_step % 2 == 0, 1.0, -1.0)
    excursion_scale = (
        template.impact_scale
        * (1.0 + np.where(overstriding[cycle_step], config.overstride_impact_gain, 0.0))
        * (1.0 + config.impact_cv * rng.standard_normal(cycle_step.size) + config.asymmetry * side)
    )
    acc_g = _waveform_g(template, t, cycle_on, cycle_off, cycle_next, excursion_scale - 1.0)

    # A slow wobble of the sensor in the sagittal plane mixes gravity and motion a little.
    angle = np.deg2rad(config.wobble_deg) * _smooth_noise(rng, t, WOBBLE_KNOT_S)
    up, forward = acc_g[:, template.up_row].copy(), acc_g[:, template.forward_row].copy()
    acc_g[:, template.up_row] = up * np.cos(angle) - forward * np.sin(angle)
    acc_g[:, template.forward_row] = up * np.sin(angle) + forward * np.cos(angle)
    for column in range(acc_g.shape[1]):
        acc_g[:, column] += config.drift_g * _smooth_noise(rng, t, DRIFT_KNOT_S)
    acc_g += rng.normal(0.0, config.noise_g, acc_g.shape) if config.noise_g > 0 else 0.0
    acc = np.clip(acc_g, -config.range_g, config.range_g) * STANDARD_GRAVITY_MS2

    trace = Trace(
        source="synthetic",
        metadata=_metadata(config),
        t=t,
        acc=acc,
        acc_axes=template.axes,
        gyro=np.empty((t.size, 0)),
        gyro_axes=(),
    )
    steps = _step_truth(config, on, off, overstriding)
    return SyntheticRun(config, trace, steps, _truth(config, steps, t))


def _step_truth(
    config: RunnerConfig, on: FloatArray, off: FloatArray, overstriding: BoolArray
) -> StepTruth:
    """The steps that begin and end inside [0, duration]."""
    step_s = np.diff(on)
    kept = (on[:-1] >= 0.0) & (off <= config.duration_s)
    dropout_spans = tuple((s, s + d) for s, d in config.dropouts)
    in_dropout = np.array(
        [
            any(start < b and a < end for start, end in dropout_spans)
            for a, b in zip(on[:-1], off, strict=True)
        ]
    )
    index = np.flatnonzero(kept)
    return StepTruth(
        foot_on_s=on[index],
        foot_off_s=off[index],
        leg=tuple(LEGS[i % 2] for i in index),
        cadence_spm=60.0 / step_s[index],
        gct_s=off[index] - on[index],
        step_length_m=config.speed_mps * step_s[index],
        speed_mps=np.full(index.size, config.speed_mps),
        overstriding=overstriding[index],
        in_dropout=in_dropout[index],
        overstrides=config.overstrides,
        dropouts=config.dropouts,
    )


def _truth(config: RunnerConfig, steps: StepTruth, t: FloatArray) -> Truth:
    """Contacts a truth file lists: inside the samples, clear of dropouts, and for a leg
    placement only the sensor leg's."""
    keep = ~steps.in_dropout & (steps.foot_on_s >= t[0]) & (steps.foot_off_s <= t[-1])
    if config.leg_mounted:
        keep &= np.array([leg == SENSOR_LEG for leg in steps.leg], dtype=bool)
    sides = "sensor-side leg only" if config.leg_mounted else "both"
    return Truth(steps.foot_on_s[keep], steps.foot_off_s[keep], sides)


def _metadata(config: RunnerConfig) -> dict[str, str]:
    profile = ", ".join(f"{t:g} s {spm:g} spm" for t, spm in config.cadence_points)
    episodes = "; ".join(f"{a:g}-{b:g} s" for a, b in config.overstrides) or "none"
    return {
        "placement": config.placement,
        "activity": "running (synthetic)",
        "fs_hz": f"{config.fs_hz:g}",
        "axes": config.template.axes_note,
        "speed_mps": f"{config.speed_mps:g}",
        "slope_pct": f"{config.slope_pct:g}",
        "source": f"synthetic runner (cadence sim.synthetic, seed {config.seed}); "
        f"{config.template.source}",
        "note": f"cadence profile {profile}; overstriding {episodes}; sensor range "
        f"+/-{config.range_g:g} g; noise {config.noise_g:g} g",
    }


# --- files ------------------------------------------------------------------------------------


def run_paths(trace_path: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """The trace, its ``.truth.csv`` and its ``.episodes.csv``: "run.csv" -> run.truth.csv ..."""
    path = Path(trace_path)
    stem = path.name.removesuffix(".csv")
    return path, path.with_name(f"{stem}.truth.csv"), path.with_name(f"{stem}.episodes.csv")


def write_run(trace_path: str | os.PathLike[str], run: SyntheticRun) -> tuple[Path, Path, Path]:
    """Write the trace CSV v1, its truth file and the per-step episodes file; returns paths."""
    trace_file, truth_file, steps_file = run_paths(trace_path)
    write_trace(trace_file, run.trace)
    write_truth(truth_file, run.truth)
    write_steps(steps_file, run.steps)
    return trace_file, truth_file, steps_file


def write_truth(path: str | os.PathLike[str], truth: Truth) -> None:
    """A ``.truth.csv`` as ``cadence.trace.read_truth`` reads it."""
    lines = [f"# sides: {truth.sides}\n" if truth.sides else "", "foot_on_s,foot_off_s\n"]
    lines += [f"{a:.4f},{b:.4f}\n" for a, b in zip(truth.foot_on_s, truth.foot_off_s, strict=True)]
    Path(path).write_text("".join(lines), encoding="utf-8")


def _spans_text(spans: tuple[tuple[float, float], ...]) -> str:
    return " ".join(f"{a:.3f}:{b:.3f}" for a, b in spans)


def write_steps(path: str | os.PathLike[str], steps: StepTruth) -> None:
    """Per-step truth as CSV, with the overstride episodes (start:end s) and dropouts
    (start:duration s) in ``#`` lines."""
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write(f"# {STEPS_FORMAT}\n")
        file.write(f"# overstride_episodes_s: {_spans_text(steps.overstrides)}\n")
        file.write(f"# dropouts_s: {_spans_text(steps.dropouts)}\n")
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(_STEP_COLUMNS)
        for i in range(steps.foot_on_s.size):
            writer.writerow(
                [
                    f"{steps.foot_on_s[i]:.4f}",
                    f"{steps.foot_off_s[i]:.4f}",
                    steps.leg[i],
                    f"{steps.cadence_spm[i]:.3f}",
                    f"{steps.gct_s[i]:.4f}",
                    f"{steps.step_length_m[i]:.4f}",
                    f"{steps.speed_mps[i]:.3f}",
                    int(steps.overstriding[i]),
                    int(steps.in_dropout[i]),
                ]
            )


def _parse_spans(path: str, line: int, text: str) -> tuple[tuple[float, float], ...]:
    spans = []
    for item in text.split():
        match = re.fullmatch(r"([-+.\deE]+):([-+.\deE]+)", item)
        if match is None:
            raise TraceFormatError(path, line, f"expected start:end seconds, got {item!r}")
        spans.append((float(match.group(1)), float(match.group(2))))
    return tuple(spans)


def read_steps(path: str | os.PathLike[str]) -> StepTruth:
    """Read a file written by `write_steps`; raises `TraceFormatError` naming the bad line."""
    source = os.fspath(path)
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    meta: dict[str, tuple[int, str]] = {}
    row = 0
    while row < len(lines) and lines[row].startswith("#"):
        key, _, value = lines[row][1:].partition(":")
        meta[key.strip()] = (row + 1, value.strip())
        row += 1
    if "cadence-synthetic-steps" not in meta:
        raise TraceFormatError(source, 1, f"not a steps file: no '# {STEPS_FORMAT}' line")
    if row >= len(lines) or tuple(lines[row].split(",")) != _STEP_COLUMNS:
        raise TraceFormatError(source, row + 1, f"header must be {','.join(_STEP_COLUMNS)!r}")
    records = []
    for number, text in enumerate(lines[row + 1 :], start=row + 2):
        cells = text.split(",")
        try:
            if len(cells) != len(_STEP_COLUMNS) or cells[2] not in LEGS:
                raise ValueError
            records.append([float(c) if i != 2 else c for i, c in enumerate(cells)])
        except ValueError:
            raise TraceFormatError(source, number, f"bad step row {text!r}") from None

    def column(index: int) -> FloatArray:
        return np.array([float(r[index]) for r in records], dtype=np.float64)

    episodes_line, episodes = meta.get("overstride_episodes_s", (0, ""))
    dropouts_line, dropouts = meta.get("dropouts_s", (0, ""))
    return StepTruth(
        foot_on_s=column(0),
        foot_off_s=column(1),
        leg=tuple(str(r[2]) for r in records),
        cadence_spm=column(3),
        gct_s=column(4),
        step_length_m=column(5),
        speed_mps=column(6),
        overstriding=column(7).astype(bool),
        in_dropout=column(8).astype(bool),
        overstrides=_parse_spans(source, episodes_line, episodes),
        dropouts=_parse_spans(source, dropouts_line, dropouts),
    )
