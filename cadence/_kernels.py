"""Per-sample streaming kernels, compiled with numba.

Each kernel walks the new samples one by one and carries everything it needs in ``state`` (a
float64 vector indexed by the constants below) and in ring buffers, so that the result does not
depend on how the stream was cut into chunks. Filters are biquad cascades in direct form II
transposed, the same recurrence as ``scipy.signal.sosfilt`` with carried ``zi``.

Events are written to ``out`` as rows of ``OUT_COLUMNS`` values, ``(kind, a, b, c, d, e, f)``;
the caller sizes ``out`` and turns rows into typed objects. Ring buffers have a power-of-two
length, so a position is ``counter & (length - 1)``: an integer division per access would cost
more than the rest of the per-sample work.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from numba import njit

F64Array = npt.NDArray[np.float64]
# (state, ring_t, ring_v, ring_w, sos, params, t, acc, out) -> number of events written;
# ring_w is (n, RING_W_COLUMNS): extra per-sample signals of the leg kernel
Kernel = Callable[
    [F64Array, F64Array, F64Array, F64Array, F64Array, F64Array, F64Array, F64Array, F64Array],
    int,
]
# (state, ring_t, ring_v, ring_w, params, out) -> number of events written at the end of stream
FinishKernel = Callable[[F64Array, F64Array, F64Array, F64Array, F64Array, F64Array], int]

STANDARD_GRAVITY = 9.80665
# Columns of the leg kernel's ring_w.
W_VERTICAL = 0  # low-passed vertical acceleration (g)
W_ENVELOPE = 1  # envelope of the high-passed magnitude (g)
W_MAGNITUDE = 2  # low-passed acceleration magnitude (g)
W_VERTICAL_SUM = 3  # running integral of W_VERTICAL (g s) since the segment's start
W_HEEL_STRIKE = 4  # walking: the envelope where it may be a heel strike, 0 at a toe-off
RING_W_COLUMNS = 5

# Event kinds written to out[:, 0].
EVENT_CONTACT = 1.0  # a = foot-on s, b = foot-off s, c = leg (0 unknown, 1 sensor),
# d = fall time after foot-on (trunk, NaN otherwise), e = step or stride period used,
# f = impact in g (trunk: peak vertical acceleration from foot-on to the fall that ends
# stance, gravity included, so 1 g is standing still; leg: peak of the 15 Hz high-passed
# acceleration magnitude at foot-strike, gravity and the swing's slow motion excluded)
OUT_COLUMNS = 7
EVENT_GAP = 2.0  # a = last sample before the gap, b = first sample after it

# Trunk phases: not known yet (at the start of a segment), swing, stance.
PHASE_UNKNOWN = 0.0
PHASE_SWING = 1.0
PHASE_STANCE = 2.0

# Indices into the state vector.
S_LAST_T = 0  # time of the previous accepted sample (NaN before the first)
S_N_SEEN = 1  # samples accepted since the start
S_N_REJECTED = 2  # samples dropped because time did not increase
S_GX = 3  # gravity estimate, up to three axes (m/s²)
S_GY = 4
S_GZ = 5
S_RING_COUNT = 6  # samples written to the ring since the last reset
S_LAST_ON = 7  # foot-on time of the previous contact (NaN if none since the last reset)
S_STEP_S = 8  # running estimate of the step (trunk) or stride (leg) period
S_PHASE = 9  # trunk: PHASE_* as the low-passed vertical acceleration last crossed a level
S_PENDING_ON = 10  # foot-on time of the contact being measured (NaN if none)
S_PENDING_PEAK = 11  # trunk: highest vertical value since the pending foot-on; leg: impact g
S_SEGMENT_START = 12  # time of the first sample since the start or the last gap
S_LAST_FALL = 13  # trunk: fall time of the last contact closed by its fall (NaN if none)
S_UX = 14  # gravity direction / g, refreshed every few samples: vertical g = u . acc
S_UY = 15
S_UZ = 16
S_LEVEL = 17  # leg: running level of the impact peaks (g), for the adaptive threshold
S_SMOOTH_V = 18  # leg: low-passed vertical acceleration (g)
S_ENVELOPE = 19  # leg: low-passed power of the high-passed acceleration (g²)
S_STRIDES_SEEN = 20  # leg: stride periods measured since the start
S_NEXT_CANDIDATE = 21  # leg: ring counter of the next sample to judge as an impact
S_SMOOTH_MAG = 22  # leg: low-passed acceleration magnitude (g)
S_PHASE_NEXT = 23  # leg: ring counter of the next sample whose stride phase is judged
S_PHASE_AFTER = 24  # leg: ring counter of the first sample of its window after
S_WALKING_LEVEL = 25  # leg: the same for walking heel strikes (their envelope's peaks, g)
S_PENDING_WALKING = 26  # leg: pending impact judged walking 1, running 0, unknown -1
S_WALK_STRIDE_S = 27  # leg: the last interval that was a walking stride after a running estimate
S_PENDING_ALIGNED = 28  # leg: the pending impact's time aligned to the template (NaN if not)
S_ALIGN_OFFSET = 29  # leg: mean foot-on onset minus aligned time of the template's impacts (s)
S_TEMPLATE_COUNT = 30  # leg: impacts averaged into the template (0: none yet)
S_TEMPLATE_WALKING = 31  # leg: the template's gait, walking 1 or running 0
S_TEMPLATE_MISFITS = 32  # leg: impacts in a row the template did not fit
S_FIRST_WALKING_ON = 33  # leg: the pending first impact's walking foot-on, if taken as running
S_FILTER_STATE = 34  # start of the filter states: 2 per biquad section per channel
# The fixed part of the state vector; the leg detector appends its impact template.
STATE_SIZE = S_FILTER_STATE + 2 * 2 * 3
S_TEMPLATE = STATE_SIZE  # leg: the template's samples, to the end of the state vector

# The gravity direction moves with a time constant of seconds: renormalising it every few
# samples instead of every one saves a square root and a division per sample.
UNIT_REFRESH_SAMPLES = 8
# Samples at the start during which it is renormalised every time (the estimate moves fast).
UNIT_EVERY_SAMPLE_UNTIL = 64
# Margin of every comparison between times (and durations). With a regular clock a bound such
# as "0.15 s before this sample" falls exactly on an earlier sample, and the rounding of that
# sum, which depends on where the clock started, must not decide whether the sample is in: a
# sample within the margin of a bound counts as on it. Far below any sample interval (0.5 ms
# at 2 kHz), far above the rounding of times up to months (2e-9 s at 10^7 s).
TIME_MARGIN_S = 1e-6
# Relative margin of slope comparisons: a slope is a rise over a time step, and the rounding of
# that step (up to 1e-7 of it at 2 kHz with a clock at 10^6 s) must not pick between equal rises.
SLOPE_MARGIN = 1e-6


@njit(cache=True, inline="always")
def _biquad_step(sos: F64Array, zi: F64Array, offset: int, x: float) -> float:
    """One sample through a cascade of biquads; zi holds 2 values per section from offset."""
    for s in range(sos.shape[0]):
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        z0 = zi[offset + 2 * s]
        z1 = zi[offset + 2 * s + 1]
        y = b0 * x + z0
        zi[offset + 2 * s] = b1 * x - a1 * y + z1
        zi[offset + 2 * s + 1] = b2 * x - a2 * y
        x = y
    return x


@njit(cache=True)
def _settle_filter(sos: F64Array, zi: F64Array, offset: int, x: float) -> None:
    """Set a biquad cascade to its steady state for a constant input x (as sosfilt_zi * x).

    Starting from rest would make the filter's output climb from zero at every start and
    after every gap, which looks like a step.
    """
    for s in range(sos.shape[0]):
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        gain = (b0 + b1 + b2) / (1.0 + a1 + a2)
        y = gain * x
        zi[offset + 2 * s + 1] = b2 * x - a2 * y
        zi[offset + 2 * s] = y - b0 * x
        x = y


# The orientation tracker's state travels through the sample loop as a tuple of locals,
# (last sample time, samples seen, gravity x/y/z in m/s², gravity direction / g x/y/z), and is
# read from and written back to ``state`` once per call: kept in the state vector, its loads
# and stores would be the slowest part of the whole kernel.
Orientation = tuple[float, float, float, float, float, float, float, float]


@njit(cache=True)
def _load_orientation(state: F64Array) -> Orientation:
    return (
        state[S_LAST_T],
        state[S_N_SEEN],
        state[S_GX],
        state[S_GY],
        state[S_GZ],
        state[S_UX],
        state[S_UY],
        state[S_UZ],
    )


@njit(cache=True)
def _store_orientation(state: F64Array, o: Orientation) -> None:
    state[S_LAST_T], state[S_N_SEEN] = o[0], o[1]
    state[S_GX], state[S_GY], state[S_GZ] = o[2], o[3], o[4]
    state[S_UX], state[S_UY], state[S_UZ] = o[5], o[6], o[7]


@njit(cache=True, inline="always")
def _at_or_after(t: float, bound: float) -> bool:
    """t is at bound (within ``TIME_MARGIN_S``) or later; also for durations."""
    return t >= bound - TIME_MARGIN_S


@njit(cache=True, inline="always")
def _after(t: float, bound: float) -> bool:
    """t is later than bound by more than ``TIME_MARGIN_S``; also for durations."""
    return t > bound + TIME_MARGIN_S


@njit(cache=True, inline="always")
def _is_repeat(state: F64Array, last_t: float, t: float) -> bool:
    """Samples whose time does not move forward are dropped and counted."""
    if not math.isnan(last_t) and t <= last_t:
        state[S_N_REJECTED] += 1.0
        return True
    return False


@njit(cache=True, inline="always")
def _next_orientation(
    o: Orientation, t: float, acc: F64Array, i: int, inv_gravity_tau_s: float, warmup_s: float
) -> Orientation:
    """Take sample i into the gravity estimate: a plain running mean until warm-up is over,
    then an EMA that follows slow posture changes."""
    last_t, n, gx, gy, gz, ux, uy, uz = o
    n += 1.0
    if math.isnan(last_t):
        alpha = 1.0 / n
    else:
        dt = t - last_t
        alpha = min(1.0, dt * inv_gravity_tau_s)
        if not _after(n * dt, warmup_s):
            alpha = max(1.0 / n, alpha)
    n_channels = acc.shape[1]
    gx += alpha * (acc[i, 0] - gx)
    if n_channels > 1:
        gy += alpha * (acc[i, 1] - gy)
    if n_channels > 2:
        gz += alpha * (acc[i, 2] - gz)
    if n <= UNIT_EVERY_SAMPLE_UNTIL or int(n) % UNIT_REFRESH_SAMPLES == 0:
        norm = gx * gx + gy * gy + gz * gz
        scale = 0.0 if norm <= 0.0 else 1.0 / (math.sqrt(norm) * STANDARD_GRAVITY)
        ux, uy, uz = gx * scale, gy * scale, gz * scale
    return (t, n, gx, gy, gz, ux, uy, uz)


@njit(cache=True, inline="always")
def _vertical_g(o: Orientation, acc: F64Array, i: int) -> float:
    """Acceleration of sample i along the gravity estimate, in g (1 at rest, ~0 in flight)."""
    n_channels = acc.shape[1]
    v: float = o[5] * acc[i, 0]
    if n_channels > 1:
        v += o[6] * acc[i, 1]
    if n_channels > 2:
        v += o[7] * acc[i, 2]
    return v


@njit(cache=True, inline="always")
def _check_room(out: F64Array, n_out: int) -> None:
    """The caller sizes ``out`` for every event a call can make; compiled code does not
    check bounds, so a mistake there must stop here rather than write past the end."""
    if n_out >= out.shape[0]:
        raise IndexError("detector event buffer is full")


@njit(cache=True, inline="always")
def _is_gap(last_t: float, t: float, max_gap_s: float) -> bool:
    """Samples stopped for too long before t: the stream has a hole."""
    return not math.isnan(last_t) and _after(t - last_t, max_gap_s)


@njit(cache=True, inline="always")
def _mark_gap(
    state: F64Array, last_t: float, t: float, max_gap_s: float, out: F64Array, n_out: int
) -> int:
    """Write a gap event and forget partial steps when samples stopped for too long (the
    kernels first end the segment before it as they end the stream)."""
    if not _is_gap(last_t, t, max_gap_s):
        return n_out
    _check_room(out, n_out)
    out[n_out, 0] = EVENT_GAP
    out[n_out, 1] = last_t
    out[n_out, 2] = t
    _reset_after_gap(state)
    return n_out + 1


@njit(cache=True, inline="always")
def _push_ring(
    state: F64Array, ring_t: F64Array, ring_v: F64Array, t: float, v: float, mask: int
) -> int:
    """Append a sample to the ring buffers; returns the count of samples since the last reset."""
    count = int(state[S_RING_COUNT])
    if count == 0:
        state[S_SEGMENT_START] = t
    ring_t[count & mask] = t
    ring_v[count & mask] = v
    state[S_RING_COUNT] = count + 1
    return count + 1


@njit(cache=True)
def _ring_first(count: int, size: int) -> int:
    """Oldest counter still held by a ring of ``size`` after ``count`` writes."""
    return max(0, count - size)


@njit(cache=True)
def _ring_window(ring_t: F64Array, count: int, t_from: float) -> int:
    """Counter of the oldest ring sample with t >= t_from (the window ends at count)."""
    mask = ring_t.shape[0] - 1
    first = _ring_first(count, ring_t.shape[0])
    lo = count - 1
    while lo > first and _at_or_after(ring_t[(lo - 1) & mask], t_from):
        lo -= 1
    return lo


@njit(cache=True)
def _tangent_onset(
    ring_t: F64Array,
    ring_v: F64Array,
    count: int,
    t_from: float,
    baseline_window_s: float,
    first_rise_g: float,
) -> float:
    """Foot-on from the steepest part of the first rise after the lowest sample since t_from:
    its tangent meets the baseline.

    The rise stops counting once it is ``first_rise_g`` above the low: a second, steeper
    rise later in stance (the active peak after a soft landing) must not move foot-on late.
    """
    mask = ring_t.shape[0] - 1
    lo = _ring_window(ring_t, count, t_from)
    low_j = lo
    for j in range(lo + 1, count):
        if ring_v[j & mask] <= ring_v[low_j & mask]:
            low_j = j
    limit = ring_v[low_j & mask] + first_rise_g
    best_slope = 0.0
    best = -1
    for j in range(low_j + 1, count):
        v_before = ring_v[(j - 1) & mask]
        if v_before >= limit:
            break
        dt = ring_t[j & mask] - ring_t[(j - 1) & mask]
        slope = (ring_v[j & mask] - v_before) / dt
        # Equal rises have slopes that differ only by the rounding of dt: the first one wins.
        if slope > best_slope * (1.0 + SLOPE_MARGIN):
            best_slope = slope
            best = j
    if best < 0:
        return math.nan
    # The tangent through the midpoint of the steepest segment, back to the lowest level just
    # before it (the flight or swing level). Times count from the sample before the midpoint,
    # so that none of the arithmetic is done on the clock's large values.
    t_before = ring_t[(best - 1) & mask]
    mid_s = 0.5 * (ring_t[best & mask] - t_before)
    v_mid = 0.5 * (ring_v[best & mask] + ring_v[(best - 1) & mask])
    base = v_mid
    first = _ring_first(count, ring_t.shape[0])
    j = best - 1
    while j >= first and _at_or_after(ring_t[j & mask] - t_before, mid_s - baseline_window_s):
        base = min(base, ring_v[j & mask])
        j -= 1
    onset: float = t_before + (mid_s - (v_mid - base) / best_slope)
    return onset


@njit(cache=True)
def _ring_max_since(ring_t: F64Array, ring_v: F64Array, count: int, t_from: float) -> float:
    """Highest ring value from t_from to the newest sample."""
    mask = ring_t.shape[0] - 1
    highest: float = ring_v[(count - 1) & mask]
    for j in range(_ring_window(ring_t, count, t_from), count):
        highest = max(highest, ring_v[j & mask])
    return highest


@njit(cache=True)
def _trunk_gct_s(params: F64Array, fall_s: float, step_s: float) -> float:
    """Contact time from the fall to the flight level and the step period (a fitted line).

    The peak vertical acceleration would fit these trials a little better, but it saturates
    on a clipping sensor."""
    gct: float = params[9] + params[10] * fall_s + params[11] * step_s
    return gct


@njit(cache=True)
def _emit_trunk_contact(
    state: F64Array, gct_s: float, fall_s: float, step_s: float, out: F64Array, n_out: int
) -> int:
    """Emit the pending trunk contact (leg unknown) with its stance of gct_s."""
    on_s = state[S_PENDING_ON]
    return _emit_contact(out, n_out, on_s, on_s + gct_s, 0.0, fall_s, step_s, state[S_PENDING_PEAK])


@njit(cache=True)
def _start_trunk_contact(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    count: int,
    ti: float,
    params: F64Array,
    out: F64Array,
    n_out: int,
) -> int:
    """Stance began after a swing: foot-on from the rise before ti, unless it lies before the
    segment or too soon after the last foot-on. A contact still pending had no flight after
    it (walking) and is emitted with a duty factor of its step."""
    min_step_s = params[1]
    max_step_s = params[2]
    onset_search_s = params[6]
    baseline_window_s = params[7]
    walking_duty_steps = params[12]
    onset_correction_s = params[14]
    first_rise_g = params[15]
    t_on = (
        _tangent_onset(ring_t, ring_v, count, ti - onset_search_s, baseline_window_s, first_rise_g)
        - onset_correction_s
    )
    last_on = state[S_LAST_ON]
    if _after(t_on, state[S_SEGMENT_START]) and (
        math.isnan(last_on) or _at_or_after(t_on - last_on, min_step_s)
    ):
        pending_on = state[S_PENDING_ON]
        if not math.isnan(pending_on):
            # No flight before this step: walking. Stance spans a duty factor of steps.
            step_s = t_on - pending_on
            gct = walking_duty_steps * step_s
            n_out = _emit_trunk_contact(state, gct, math.nan, step_s, out, n_out)
        if not math.isnan(last_on) and not _after(t_on - last_on, max_step_s):
            state[S_STEP_S] = t_on - last_on
        state[S_LAST_ON] = t_on
        state[S_PENDING_ON] = t_on
        # The impact may already have peaked: the low-passed signal crosses later.
        state[S_PENDING_PEAK] = _ring_max_since(ring_t, ring_v, count, t_on)
    return n_out


@njit(cache=True)
def trunk_kernel(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    ring_w: F64Array,
    sos: F64Array,
    params: F64Array,
    t: F64Array,
    acc: F64Array,
    out: F64Array,
) -> int:
    """Contacts from a trunk-worn accelerometer (sacrum, lower back, hip).

    Stance is where the low-passed vertical acceleration rises through ``1 g + hysteresis``.
    Foot-on: the tangent of the steepest part of the first rise of the raw vertical
    acceleration, extended back to the flight level. Foot-off: the raw signal falling to
    ``offset_level_g`` after mid-stance (the flight level is near 0 g), with a linear
    correction learnt against force plates from that fall and the previous step period;
    walking has no flight, so there a duty factor of the step period is used. A contact whose
    foot-on lies before the first sample (of the stream or after a gap) was not seen whole and
    is left out. ``ring_w`` is not used.
    """
    hysteresis_g = params[0]
    max_gap_s = params[3]
    inv_gravity_tau_s = 1.0 / params[4]
    warmup_s = params[5]
    offset_level_g = params[8]
    min_fall_after_on_s = params[13]
    stance_g = 1.0 + hysteresis_g
    swing_g = 1.0 - hysteresis_g

    mask = ring_t.shape[0] - 1
    n_out = 0
    o = _load_orientation(state)
    for i in range(t.shape[0]):
        ti = t[i]
        if _is_gap(o[0], ti, max_gap_s):
            n_out = _end_trunk_segment(state, params, o[0], out, n_out)
        n_out = _mark_gap(state, o[0], ti, max_gap_s, out, n_out)
        if _is_repeat(state, o[0], ti):
            continue
        o = _next_orientation(o, ti, acc, i, inv_gravity_tau_s, warmup_s)
        v = _vertical_g(o, acc, i)
        prev_count = int(state[S_RING_COUNT])
        if prev_count == 0:
            _settle_filter(sos, state, S_FILTER_STATE, v)
            prev_t = math.nan
            prev_v = math.nan
        else:
            prev_t = ring_t[(prev_count - 1) & mask]
            prev_v = ring_v[(prev_count - 1) & mask]
        vf = _biquad_step(sos, state, S_FILTER_STATE, v)
        count = _push_ring(state, ring_t, ring_v, ti, v, mask)

        pending_on = state[S_PENDING_ON]
        if not math.isnan(pending_on):
            if v > state[S_PENDING_PEAK]:
                state[S_PENDING_PEAK] = v
            # The fall to the flight level closes the contact.
            if (
                v <= offset_level_g < prev_v
                and _after(ti - pending_on, min_fall_after_on_s)
                and state[S_PENDING_PEAK] > stance_g
            ):
                t_fall = prev_t + (prev_v - offset_level_g) / (prev_v - v) * (ti - prev_t)
                step_s = state[S_STEP_S]
                fall_s = t_fall - pending_on
                gct = _trunk_gct_s(params, fall_s, step_s)
                n_out = _emit_trunk_contact(state, gct, fall_s, step_s, out, n_out)
                state[S_LAST_FALL] = fall_s
                state[S_PENDING_ON] = math.nan

        phase = state[S_PHASE]
        if vf > stance_g and phase != PHASE_STANCE:
            state[S_PHASE] = PHASE_STANCE
            # A stance already under way when the segment began was not seen to begin.
            if phase == PHASE_SWING:
                n_out = _start_trunk_contact(state, ring_t, ring_v, count, ti, params, out, n_out)
        elif vf < swing_g:
            state[S_PHASE] = PHASE_SWING
    _store_orientation(state, o)
    return n_out


@njit(cache=True)
def trunk_finish(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    ring_w: F64Array,
    params: F64Array,
    out: F64Array,
) -> int:
    """End of stream: see ``_end_trunk_segment``."""
    return _end_trunk_segment(state, params, state[S_LAST_T], out, 0)


@njit(cache=True)
def _end_trunk_segment(
    state: F64Array, params: F64Array, end_s: float, out: F64Array, n_out: int
) -> int:
    """End of stream or of the segment before a gap, at end_s: emit the contact it ended in
    when it is certain it ended.

    Its stance is certain once the vertical acceleration rose through ``1 g + hysteresis``;
    the fall that measures foot-off is cut off, so the model is given a fall no shorter than
    the stream allowed nor than the last measured one. The contact is kept only when that
    foot-off lies within the stream: one that may still be going on is dropped, not guessed.
    """
    pending_on = state[S_PENDING_ON]
    last_fall_s = state[S_LAST_FALL]
    state[S_PENDING_ON] = math.nan
    if (
        math.isnan(pending_on)
        or math.isnan(last_fall_s)
        or state[S_PENDING_PEAK] <= 1.0 + params[0]
    ):
        return n_out
    step_s = state[S_STEP_S]
    fall_s = max(end_s - pending_on, last_fall_s)
    off_s = pending_on + _trunk_gct_s(params, fall_s, step_s)
    if _after(off_s, end_s):
        return n_out
    return _emit_contact(out, n_out, pending_on, off_s, 0.0, fall_s, step_s, state[S_PENDING_PEAK])


@njit(cache=True)
def _emit_contact(
    out: F64Array,
    n_out: int,
    on_s: float,
    off_s: float,
    leg: float,
    fall_s: float,
    period_s: float,
    impact_g: float,
) -> int:
    _check_room(out, n_out)
    out[n_out, 0] = EVENT_CONTACT
    out[n_out, 1] = on_s
    out[n_out, 2] = off_s
    out[n_out, 3] = leg
    out[n_out, 4] = fall_s
    out[n_out, 5] = period_s
    out[n_out, 6] = impact_g
    return n_out + 1


@njit(cache=True)
def _reset_after_gap(state: F64Array) -> None:
    """Forget every partial step: nothing is bridged across a gap. Gravity is kept."""
    state[S_RING_COUNT] = 0.0
    state[S_NEXT_CANDIDATE] = 0.0
    state[S_PHASE_NEXT] = 0.0
    state[S_PHASE_AFTER] = 0.0
    state[S_LAST_ON] = math.nan
    state[S_PENDING_ON] = math.nan
    state[S_PHASE] = PHASE_UNKNOWN
    state[S_WALK_STRIDE_S] = 0.0


@njit(cache=True)
def _leg_foot_off(
    ring_t: F64Array,
    ring_w: F64Array,
    count: int,
    on_s: float,
    stride_s: float,
    params: F64Array,
) -> float:
    """Foot-off of the sensor leg when running: the low-passed vertical acceleration falls
    through 1 g after stance has held it above ``1 g + push_off_g``, plus a lag learnt
    against force plates; NaN if not seen. (Walking stance is too level for it.)
    """
    push_off_g = params[14]
    search_from_strides = params[15]
    lag_s = params[16]
    mask = ring_t.shape[0] - 1
    j = _ring_window(ring_t, count, on_s + search_from_strides * stride_s)
    pushed = False
    while j < count:
        w = ring_w[j & mask, W_VERTICAL]
        if not pushed:
            pushed = w > 1.0 + push_off_g
        elif w < 1.0:
            t0, w0 = ring_t[(j - 1) & mask], ring_w[(j - 1) & mask, W_VERTICAL]
            t1 = ring_t[j & mask]
            off_s: float = t0 + (w0 - 1.0) / (w0 - w) * (t1 - t0) + lag_s
            return off_s
        j += 1
    return math.nan


@njit(cache=True)
def _foot_still_off(
    ring_t: F64Array,
    ring_v: F64Array,
    ring_w: F64Array,
    count: int,
    on_s: float,
    latest_off_s: float,
    params: F64Array,
) -> float:
    """Foot-off of a foot-mounted sensor: the end of the push-off that ends the still phase.

    In stance the foot rests on the ground (zero velocity): the acceleration magnitude stays
    near 1 g and the impact's ringing has died away. Push-off lifts it out of that band; the
    foot leaves the ground at the peak of that rise. NaN if no still phase followed by a
    push-off is seen by latest_off_s.
    """
    settle_s = params[22]
    still_g = params[23]
    still_hp_g = params[24]
    push_off_g = params[25]
    mask = ring_t.shape[0] - 1
    j = _ring_window(ring_t, count, on_s + settle_s)
    still = False
    peak_j = -1
    while j < count and not _after(ring_t[j & mask], latest_off_s):
        m = ring_w[j & mask, W_MAGNITUDE]
        if not still:
            still = abs(m - 1.0) < still_g and ring_v[j & mask] < still_hp_g
        elif peak_j < 0:
            if m > push_off_g:
                peak_j = j
        elif m > ring_w[peak_j & mask, W_MAGNITUDE]:
            peak_j = j
        elif m < push_off_g:
            break
        j += 1
    if peak_j < 0:
        return math.nan
    off_s: float = ring_t[peak_j & mask]
    return off_s


@njit(cache=True)
def _close_leg_contact(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    ring_w: F64Array,
    count: int,
    next_on_s: float,
    params: F64Array,
    out: F64Array,
    n_out: int,
) -> int:
    """Emit the pending contact once the next foot-on (NaN: a pause or the end) is known.

    Its stride is the time to the next foot-on when that is a plausible stride of its gait
    (walking or running, as its impact was judged), else the running estimate. Foot-off: on a
    foot, the end of its still phase (``_foot_still_off``); on a shank, measured when running
    (``_leg_foot_off``). When walking on a shank, or when the foot-off was not seen, a duty
    factor of the stride (stance is about 60 % of a walking stride for most walkers). The
    first impact of a segment is taken by the running rule; if it was walking, its foot-on is
    the walking rule's.
    """
    on_s = _foot_on_s(state, state[S_PENDING_ON], state[S_PENDING_ALIGNED])
    stride_s = next_on_s - on_s
    plausible = _at_or_after(stride_s, params[4]) and not _after(stride_s, params[5])
    if state[S_PENDING_WALKING] < 0.0:
        # The first impact of a segment had no stride to judge it by: the one after it tells.
        walking = (stride_s if plausible else state[S_STEP_S]) >= params[8]
        if walking and not math.isnan(state[S_FIRST_WALKING_ON]):
            # It was taken by the running rule (no stride said walking yet).
            on_s = state[S_FIRST_WALKING_ON]
            stride_s = next_on_s - on_s
    else:
        # Judged as walking, unless a running stride follows (the first steps of a run after
        # a walk, before the stride estimate follows).
        walking = state[S_PENDING_WALKING] > 0.0 and not (plausible and stride_s < params[8])
    # A run's last stride before a walk ends at the walk's first heel strike.
    if not plausible or (not walking and stride_s >= params[8]):
        stride_s = state[S_STEP_S]
    if params[21] > 0.0:
        # No gait keeps the foot down for more than this share of the stride.
        latest_off_s = on_s + params[26] * stride_s
        off_s = _foot_still_off(ring_t, ring_v, ring_w, count, on_s, latest_off_s, params)
    else:
        off_s = (
            math.nan if walking else _leg_foot_off(ring_t, ring_w, count, on_s, stride_s, params)
        )
    if math.isnan(off_s) or off_s <= on_s:
        duty = params[7] if walking else params[6]
        off_s = on_s + duty * stride_s
    state[S_PENDING_ON] = math.nan
    return _emit_contact(out, n_out, on_s, off_s, 1.0, math.nan, stride_s, state[S_PENDING_PEAK])


@njit(cache=True)
def _impact_half_window_s(state: F64Array, params: F64Array) -> float:
    """Three quarters of a stride keeps the push-off peak of walking out; the cap keeps the
    next impact of a fast runner out."""
    half: float = min(params[10], 0.75 * state[S_STEP_S])
    return half


@njit(cache=True)
def _is_walking(state: F64Array, t_candidate: float, params: F64Array) -> bool:
    """Walking when the strides are long, or already when this candidate comes a walking
    stride after the last impact (the first strides of a walk, before the estimate follows)."""
    if state[S_STEP_S] >= params[8]:
        return True
    return not math.isnan(state[S_LAST_ON]) and _at_or_after(
        t_candidate - state[S_LAST_ON], params[8]
    )


@njit(cache=True)
def _is_impact(
    ring_t: F64Array, ring_v: F64Array, competes: F64Array, c: int, count: int, half_s: float
) -> bool:
    """Ring sample c tops every sample within half_s before and after it that competes
    (``competes`` > 0; a signal that is never negative may stand for itself)."""
    mask = ring_t.shape[0] - 1
    first = _ring_first(count, ring_t.shape[0])
    tc = ring_t[c & mask]
    vc = ring_v[c & mask]
    j = c - 1
    while j >= first and _at_or_after(ring_t[j & mask], tc - half_s):
        if ring_v[j & mask] >= vc and competes[j & mask] > 0.0:
            return False
        j -= 1
    j = c + 1
    while j < count and not _after(ring_t[j & mask], tc + half_s):
        if ring_v[j & mask] > vc and competes[j & mask] > 0.0:
            return False
        j += 1
    return True


@njit(cache=True)
def _burst_centre_s(
    ring_t: F64Array, ring_v: F64Array, c: int, count: int, half_width_s: float
) -> float:
    """Power-weighted mean time of the high-passed magnitude within half_width_s of ring
    sample c: a soft heel strike is a burst of small peaks, and its envelope's peak alone
    wanders from one to the next."""
    mask = ring_t.shape[0] - 1
    tc: float = ring_t[c & mask]
    first = _ring_first(count, ring_t.shape[0])
    j = c
    while j > first and _at_or_after(ring_t[(j - 1) & mask], tc - half_width_s):
        j -= 1
    weight = 0.0
    moment = 0.0
    while j < count and not _after(ring_t[j & mask], tc + half_width_s):
        power = ring_v[j & mask] * ring_v[j & mask]
        weight += power
        moment += power * (ring_t[j & mask] - tc)
        j += 1
    if weight <= 0.0:
        return tc
    centre: float = tc + moment / weight
    return centre


@njit(cache=True)
def _walking_on_s(
    ring_t: F64Array, ring_v: F64Array, c: int, count: int, params: F64Array
) -> float:
    """Walking foot-on of the heel-strike peak at ring sample c (see ``_take_impact``)."""
    on_s: float = _burst_centre_s(ring_t, ring_v, c, count, params[30]) - params[19]
    return on_s


@njit(cache=True)
def _is_heel_strike(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    ring_w: F64Array,
    c: int,
    count: int,
    half_s: float,
    params: F64Array,
) -> bool:
    """Ring sample c is the heel strike of its burst.

    A heel strike's envelope (``W_HEEL_STRIKE``) may have several peaks of about the same
    height: a scuff or a slap before or after the strike. Peaks within ``walking_burst_s`` of
    the burst's strongest (the highest sample within half_s of c) and at least
    ``walking_rival_ratio`` of it compete; once a walking stride is known, the one whose
    foot-on falls nearest a stride after the last foot-on wins (walking strides repeat within
    a few per cent), else the strongest.
    """
    hs = ring_w[:, W_HEEL_STRIKE]
    mask = ring_t.shape[0] - 1
    local_s = params[30]
    if not _is_impact(ring_t, hs, hs, c, count, local_s):
        return False
    tc = ring_t[c & mask]
    strongest = c
    j = _ring_window(ring_t, count, tc - half_s)
    while j < count and not _after(ring_t[j & mask], tc + half_s):
        if hs[j & mask] > hs[strongest & mask]:
            strongest = j
        j += 1
    last_on = state[S_LAST_ON]
    stride_s = state[S_STEP_S]
    # Only a walking stride estimate predicts (after a run it may still hold a running one).
    predicted = not math.isnan(last_on) and state[S_STRIDES_SEEN] > 0.0 and stride_s >= params[8]
    if predicted:
        predicted = not _after(tc - last_on, 1.5 * stride_s)
    if strongest == c:
        if not predicted:
            return True
    elif not predicted:
        return False
    burst_s = params[31]
    floor = params[32] * hs[strongest & mask]
    t_strongest = ring_t[strongest & mask]
    if hs[c & mask] < floor or _after(abs(tc - t_strongest), burst_s):
        return False
    expected_on_s = last_on + stride_s
    miss_s = abs(_walking_on_s(ring_t, ring_v, c, count, params) - expected_on_s)
    j = _ring_window(ring_t, count, t_strongest - burst_s)
    while j < count and not _after(ring_t[j & mask], t_strongest + burst_s):
        if j != c and hs[j & mask] >= floor and _is_impact(ring_t, hs, hs, j, count, local_s):
            rival_s = abs(_walking_on_s(ring_t, ring_v, j, count, params) - expected_on_s)
            if rival_s < miss_s or (rival_s == miss_s and j < c):
                return False
        j += 1
    return True


@njit(cache=True)
def _resample_ring(
    ring_t: F64Array, signal: F64Array, count: int, start_s: float, step_s: float, out: F64Array
) -> bool:
    """The ring's signal at ``start_s + k step_s`` into out (linear interpolation); False,
    with out untouched, when the samples since the ring's last reset do not cover them."""
    mask = ring_t.shape[0] - 1
    first = _ring_first(count, ring_t.shape[0])
    end_s = start_s + (out.shape[0] - 1) * step_s
    if count == 0 or _after(ring_t[first & mask], start_s):
        return False
    if _after(end_s, ring_t[(count - 1) & mask]):
        return False
    j = max(first, _ring_window(ring_t, count, start_s) - 1)
    for k in range(out.shape[0]):
        tk = start_s + k * step_s
        while j + 1 < count and ring_t[(j + 1) & mask] <= tk:
            j += 1
        v0 = signal[j & mask]
        if j + 1 < count:
            t0 = ring_t[j & mask]
            frac = min(1.0, max(0.0, (tk - t0) / (ring_t[(j + 1) & mask] - t0)))
            out[k] = v0 + frac * (signal[(j + 1) & mask] - v0)
        else:
            out[k] = v0
    return True


@njit(cache=True)
def _best_shift(window: F64Array, template: F64Array) -> float:
    """Where the template fits the longer window best (least squares), in window samples to a
    fraction of one. NaN when the best fit is at either end of the shifts (it may lie beyond)
    or its error is as large as the template's own variation about its mean (the error of a
    flat line standing in for the template): then it is not this waveform (on the Bach
    trials, impacts fit their own gait's template with 0.45 of that at most, and running
    impacts a walking template with 2.6 at least)."""
    size = template.shape[0]
    errors = np.empty(window.shape[0] - size + 1)
    best = 0
    for shift in range(errors.shape[0]):
        error = 0.0
        for k in range(size):
            d = window[shift + k] - template[k]
            error += d * d
        errors[shift] = error
        if error < errors[best]:
            best = shift
    mean = np.mean(template)
    flat_error = 0.0
    for k in range(size):
        flat_error += (template[k] - mean) * (template[k] - mean)
    if best == 0 or best == errors.shape[0] - 1 or errors[best] >= flat_error:
        return math.nan
    curvature = errors[best - 1] - 2.0 * errors[best] + errors[best + 1]
    frac = 0.5 * (errors[best - 1] - errors[best + 1]) / curvature if curvature > 0.0 else 0.0
    return best + frac


@njit(cache=True)
def _align_to_template(
    state: F64Array,
    ring_t: F64Array,
    ring_w: F64Array,
    count: int,
    onset_s: float,
    walking: bool,
    params: F64Array,
) -> float:
    """The impact whose onset is onset_s, aligned to the template of this gait's impacts: the
    time where its low-passed magnitude, from ``template_before_s`` before to
    ``template_after_s`` after, best matches the template (least squares, to a fraction of a
    template sample). NaN when the ring does not hold the window or ``_best_shift`` finds no
    fit within the shifts tried (``template_max_shift_s``; walking: ``walking_burst_s``); the
    onset itself when the impact starts a template.

    The first impact of a gait starts the template, anchored at its onset; each aligned one
    is averaged in (with weight 1/n, never below ``template_min_weight``, so it follows a
    changing stride). ``S_ALIGN_OFFSET`` averages onset minus aligned time the same way: a
    foot-on is its aligned time plus that offset (``_foot_on_s``). The onset of a soft
    impact wanders by tens of ms with its amplitude; the whole waveform places it steadily.
    """
    template = state[S_TEMPLATE:]
    size = template.shape[0]
    before_s = params[35]
    step_s = (before_s + params[36]) / (size - 1)
    # A walking onset may sit on a rival peak of its burst (``_is_heel_strike``), as far as
    # walking_burst_s from the heel strike: the template may move it back that far.
    shifts = int((params[31] if walking else params[37]) / step_s + 0.5)
    window = np.empty(size + 2 * shifts)
    start_s = onset_s - before_s - shifts * step_s
    if not _resample_ring(ring_t, ring_w[:, W_MAGNITUDE], count, start_s, step_s, window):
        return math.nan
    gait = 1.0 if walking else 0.0
    restart = state[S_TEMPLATE_COUNT] == 0.0 or state[S_TEMPLATE_WALKING] != gait
    shift = math.nan
    if not restart:
        shift = _best_shift(window, template)
        # One misfit is an odd stride, left to its onset; two in a row, a changed waveform.
        state[S_TEMPLATE_MISFITS] = state[S_TEMPLATE_MISFITS] + 1.0 if math.isnan(shift) else 0.0
        restart = state[S_TEMPLATE_MISFITS] >= 2.0
    if restart:
        # The pending contact keeps the old template's offset (the new one starts at 0).
        state[S_PENDING_ALIGNED] += state[S_ALIGN_OFFSET]
        template[:] = window[shifts : shifts + size]
        state[S_TEMPLATE_COUNT] = 1.0
        state[S_TEMPLATE_WALKING] = gait
        state[S_TEMPLATE_MISFITS] = 0.0
        state[S_ALIGN_OFFSET] = 0.0
        return onset_s
    if math.isnan(shift):
        return math.nan
    aligned_s: float = onset_s + (shift - shifts) * step_s
    n = state[S_TEMPLATE_COUNT] + 1.0
    state[S_TEMPLATE_COUNT] = n
    weight = max(1.0 / n, params[38])
    state[S_ALIGN_OFFSET] += weight * ((onset_s - aligned_s) - state[S_ALIGN_OFFSET])
    for k in range(size):
        position = shift + k
        i = int(position)
        v = window[i] + (position - i) * (window[i + 1] - window[i])
        template[k] += weight * (v - template[k])
    return aligned_s


@njit(cache=True, inline="always")
def _foot_on_s(state: F64Array, onset_s: float, aligned_s: float) -> float:
    """Foot-on as reported: the aligned time plus the template's mean offset, or the onset
    where the impact was not aligned (see ``_align_to_template``)."""
    if math.isnan(aligned_s):
        return onset_s
    on_s: float = aligned_s + state[S_ALIGN_OFFSET]
    return on_s


@njit(cache=True)
def _take_impact(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    ring_w: F64Array,
    c: int,
    count: int,
    walking: bool,
    params: F64Array,
    out: F64Array,
    n_out: int,
) -> int:
    """Turn the impact at ring sample c into the pending contact if it passes the threshold
    and the stride limits; the contact pending before it is emitted first.

    Running: the onset is where the transient rose through ``onset_fraction`` of its peak,
    less a lead. Walking: the heel strike is soft and its transient a burst of small peaks, so
    the onset is the peak of the smoothed envelope, less a (longer) lead. The foot-on reported
    aligns the whole impact to the gait's template (``_align_to_template``); the stride
    limits and estimate work on onsets.
    """
    min_stride_s = params[4]
    max_stride_s = params[5]
    level_fraction = params[12]
    max_rise_s = params[17]
    mask = ring_t.shape[0] - 1
    first = _ring_first(count, ring_t.shape[0])
    tc = ring_t[c & mask]
    vc = ring_w[c & mask, W_ENVELOPE] if walking else ring_v[c & mask]
    if vc < (params[18] if walking else params[9]):
        return n_out
    # The threshold follows recent impacts, and lapses after a pause so that a changed
    # signal level (another surface, another pace) is picked up again. Running impacts and
    # walking heel strikes are measured differently and differ tenfold: each has its own.
    level_at = S_WALKING_LEVEL if walking else S_LEVEL
    last_on = state[S_LAST_ON]
    if (
        not math.isnan(last_on)
        and not _at_or_after(tc - last_on, 2.0 * max_stride_s)
        and vc < level_fraction * state[level_at]
    ):
        return n_out
    impact_g = vc
    if walking:
        t_on = _walking_on_s(ring_t, ring_v, c, count, params)
        # The impact reported is the transient's own peak, which the envelope's trails.
        j = c
        while j >= first and _at_or_after(ring_t[j & mask], tc - max_rise_s):
            impact_g = max(impact_g, ring_v[j & mask])
            j -= 1
    else:
        # The transient's start: back from the peak to where it rose through a fraction of it.
        level = params[11] * vc
        j = c
        while (
            j > first
            and ring_v[(j - 1) & mask] >= level
            and _at_or_after(ring_t[(j - 1) & mask], tc - max_rise_s)
        ):
            j -= 1
        t_rise = ring_t[j & mask]
        if j > first and ring_v[(j - 1) & mask] < level:
            t0, v0 = ring_t[(j - 1) & mask], ring_v[(j - 1) & mask]
            t_rise = t0 + (level - v0) / (ring_v[j & mask] - v0) * (t_rise - t0)
        t_on = t_rise - params[3]
    # The rise is only measured when all the time it may take is in the segment.
    if not _after(tc - state[S_SEGMENT_START], max_rise_s):
        return n_out
    stride_s = state[S_STEP_S]
    if not math.isnan(last_on) and not _at_or_after(t_on - last_on, min_stride_s):
        return n_out
    aligned_s = _align_to_template(state, ring_t, ring_w, count, t_on, walking, params)
    # The contact before is closed on the stride estimate it was made with.
    if not math.isnan(state[S_PENDING_ON]):
        next_on_s = _foot_on_s(state, t_on, aligned_s)
        n_out = _close_leg_contact(
            state, ring_t, ring_v, ring_w, count, next_on_s, params, out, n_out
        )
    if not math.isnan(last_on):
        stride = t_on - last_on
        # The first stride replaces the guess, and so does a walk break: a second walking
        # stride after a running estimate, about as long as the first (one long interval may
        # be a missed impact, two strides). Later strides are smoothed. A much longer
        # interval is a missed impact or a pause, not a new stride period.
        walk_after_run = False
        if (
            walking
            and stride_s < params[8]
            and _at_or_after(stride, params[8])
            and not _after(stride, max_stride_s)
        ):
            previous = state[S_WALK_STRIDE_S]
            walk_after_run = previous > 0.0 and abs(stride - previous) <= 0.2 * previous
            state[S_WALK_STRIDE_S] = stride
        else:
            state[S_WALK_STRIDE_S] = 0.0
        if (state[S_STRIDES_SEEN] == 0.0 or walk_after_run) and not _after(stride, max_stride_s):
            state[S_STEP_S] = stride
            state[S_STRIDES_SEEN] += 1.0
        elif not _after(stride, min(max_stride_s, 1.5 * stride_s)):
            state[S_STEP_S] += 0.5 * (stride - stride_s)
            state[S_STRIDES_SEEN] += 1.0
    state[S_LAST_ON] = t_on
    state[S_PENDING_ON] = t_on
    state[S_PENDING_ALIGNED] = aligned_s
    state[S_PENDING_PEAK] = impact_g
    state[S_PENDING_WALKING] = -1.0 if math.isnan(last_on) else 1.0 if walking else 0.0
    # After a gap the stride estimate may already say walking: then it was taken as a walk.
    first_by_running_rule = math.isnan(last_on) and not walking
    state[S_FIRST_WALKING_ON] = (
        _walking_on_s(ring_t, ring_v, c, count, params) if first_by_running_rule else math.nan
    )
    if state[level_at] == 0.0:
        state[level_at] = vc
    else:
        state[level_at] += 0.25 * (vc - state[level_at])
    return n_out


@njit(cache=True)
def _advance(ring_t: F64Array, j: int, count: int, t_target: float) -> int:
    """Move ring counter j forward to the first sample at or after t_target (or the newest)."""
    mask = ring_t.shape[0] - 1
    while j < count - 1 and not _at_or_after(ring_t[j & mask], t_target):
        j += 1
    return j


@njit(cache=True)
def _window_mean(ring_t: F64Array, ring_w: F64Array, j0: int, j1: int) -> float:
    """Mean of the low-passed vertical acceleration from ring counter j0 to j1."""
    mask = ring_t.shape[0] - 1
    span = ring_w[j1 & mask, W_VERTICAL_SUM] - ring_w[j0 & mask, W_VERTICAL_SUM]
    mean: float = span / (ring_t[j1 & mask] - ring_t[j0 & mask])
    return mean


@njit(cache=True)
def _judge_phases(
    state: F64Array,
    ring_t: F64Array,
    ring_w: F64Array,
    count: int,
    params: F64Array,
    segment_ends: bool,
) -> None:
    """Mark the samples after which the leg swings (a toe-off) once the time after them
    (``walking_phase_far_s``) has come in.

    A heel strike starts stance: the loaded shank stands near vertical and the low-passed
    vertical acceleration stays near 1 g. A toe-off starts the swing: the shank leaves
    tilted far forward and the same average, from ``near`` to ``far`` seconds after it,
    drops well below 1 g (under ``walking_stance_min_g``). When the segment ends, the samples
    left are judged on the part of their window there is, if it spans ``near`` seconds; those
    with less cannot be told and are not taken for heel strikes (the contact they would start
    could not end within the segment anyway).
    """
    near_s = params[27]
    # Running stance may last only 0.15 s: a window that long after a heel strike would read
    # the swing too.
    far_s = params[28] if state[S_STEP_S] >= params[8] else params[34]
    stance_min_g = params[29]
    mask = ring_t.shape[0] - 1
    newest = count - 1
    t_newest = ring_t[newest & mask]
    p = max(int(state[S_PHASE_NEXT]), _ring_first(count, ring_t.shape[0]))
    after = max(int(state[S_PHASE_AFTER]), p)
    last_s = t_newest - (2.0 * near_s if segment_ends else far_s)
    while p < count and not _after(ring_t[p & mask], last_s):
        after = _advance(ring_t, max(after, p), count, ring_t[p & mask] + near_s)
        if after < newest and _window_mean(ring_t, ring_w, after, newest) < stance_min_g:
            ring_w[p & mask, W_HEEL_STRIKE] = 0.0
        p += 1
    if segment_ends:
        while p < count:
            ring_w[p & mask, W_HEEL_STRIKE] = 0.0
            p += 1
    state[S_PHASE_NEXT] = p
    state[S_PHASE_AFTER] = after


@njit(cache=True)
def _judge_candidates(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    ring_w: F64Array,
    count: int,
    up_to_s: float,
    phase_delay_s: float,
    params: F64Array,
    out: F64Array,
    n_out: int,
) -> int:
    """Judge the ring samples not judged yet up to time up_to_s as impacts (on a shank,
    phase_delay_s earlier, once the stride phase of every sample they compete with is known).

    On a shank only samples that may start stance compete (``_judge_phases``), so that a
    toe-off's burst, which can outdo a soft heel strike, neither wins nor hides one; this
    holds before the strides have told a walk from a run too."""
    mask = ring_t.shape[0] - 1
    half_s = _impact_half_window_s(state, params)
    c = max(int(state[S_NEXT_CANDIDATE]), _ring_first(count, ring_t.shape[0]))
    while c < count and not _after(ring_t[c & mask], up_to_s):
        tc = ring_t[c & mask]
        walking = _is_walking(state, tc, params)
        # Not on a foot: the phase test reads the shank's tilt in the swing.
        shank = params[21] == 0.0
        if shank and _after(tc, up_to_s - phase_delay_s):
            break
        if shank and walking:
            impact = ring_w[c & mask, W_HEEL_STRIKE] > 0.0 and _is_heel_strike(
                state, ring_t, ring_v, ring_w, c, count, half_s, params
            )
        elif shank:
            # Running too: a slow walk's toe-off comes less than a walking stride after its
            # heel strike, and looks like a run's next impact until the strides are known
            # (``_judge_phases`` reads a shorter window while the strides say running).
            phases = ring_w[:, W_HEEL_STRIKE]
            impact = phases[c & mask] > 0.0 and _is_impact(ring_t, ring_v, phases, c, count, half_s)
        else:
            signal = ring_w[:, W_ENVELOPE] if walking else ring_v
            impact = _is_impact(ring_t, signal, signal, c, count, half_s)
        if impact:
            n_out = _take_impact(
                state, ring_t, ring_v, ring_w, c, count, walking, params, out, n_out
            )
        c += 1
    state[S_NEXT_CANDIDATE] = c
    return n_out


@njit(cache=True)
def leg_kernel(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    ring_w: F64Array,
    sos: F64Array,
    params: F64Array,
    t: F64Array,
    acc: F64Array,
    out: F64Array,
) -> int:
    """Contacts of the sensor leg from a shank, ankle or foot accelerometer.

    Each stride has one impact: the largest high-passed acceleration magnitude (walking: its
    smoothed envelope, toe-offs left out by ``_judge_phases``) within most of a stride either
    side (see ``_impact_half_window_s``), above a threshold that follows the level of recent
    impacts; foot-on from it as ``_take_impact`` says. A contact is emitted when the next
    impact is taken (or after the longest stride without one), its foot-off read from the
    signal after it (``_close_leg_contact``). ``ring_v`` holds the high-passed magnitude (g),
    ``ring_w`` the signals named by the ``W_*`` columns.
    """
    max_gap_s = params[0]
    inv_gravity_tau_s = 1.0 / params[1]
    warmup_s = params[2]
    smooth_hz = params[13]
    max_stride_s = params[5]
    envelope_hz = params[20]
    max_rise_s = params[17]
    # A walking candidate's rivals lie up to a burst and a local window beyond its half
    # window, and their stride phase is known walking_phase_far_s after them.
    walking_delay_s = params[28] + params[31] + params[30]

    mask = ring_t.shape[0] - 1
    n_out = 0
    n_channels = acc.shape[1]
    o = _load_orientation(state)
    for i in range(t.shape[0]):
        ti = t[i]
        last_t = o[0]
        if _is_gap(last_t, ti, max_gap_s):
            n_out = _end_leg_segment(state, ring_t, ring_v, ring_w, params, out, n_out)
        n_out = _mark_gap(state, last_t, ti, max_gap_s, out, n_out)
        if _is_repeat(state, last_t, ti):
            continue
        o = _next_orientation(o, ti, acc, i, inv_gravity_tau_s, warmup_s)
        fresh = state[S_RING_COUNT] == 0.0
        energy = 0.0
        for k in range(n_channels):
            offset = S_FILTER_STATE + 2 * sos.shape[0] * k
            if fresh:
                _settle_filter(sos, state, offset, acc[i, k])
            y = _biquad_step(sos, state, offset, acc[i, k])
            energy += y * y
        energy /= STANDARD_GRAVITY * STANDARD_GRAVITY
        v = _vertical_g(o, acc, i)
        magnitude = 0.0
        for k in range(n_channels):
            magnitude += acc[i, k] * acc[i, k]
        magnitude = math.sqrt(magnitude) / STANDARD_GRAVITY
        if fresh:
            state[S_SMOOTH_V] = v
            state[S_SMOOTH_MAG] = magnitude
            state[S_ENVELOPE] = energy
        else:
            dt = ti - last_t
            smooth = min(1.0, 2.0 * math.pi * smooth_hz * dt)
            state[S_SMOOTH_V] += smooth * (v - state[S_SMOOTH_V])
            state[S_SMOOTH_MAG] += smooth * (magnitude - state[S_SMOOTH_MAG])
            state[S_ENVELOPE] += min(1.0, 2.0 * math.pi * envelope_hz * dt) * (
                energy - state[S_ENVELOPE]
            )
        previous = int(state[S_RING_COUNT]) - 1
        slot = (previous + 1) & mask
        envelope = math.sqrt(state[S_ENVELOPE])
        ring_w[slot, W_VERTICAL] = state[S_SMOOTH_V]
        ring_w[slot, W_ENVELOPE] = envelope
        ring_w[slot, W_MAGNITUDE] = state[S_SMOOTH_MAG]
        ring_w[slot, W_VERTICAL_SUM] = (
            0.0
            if fresh
            else ring_w[previous & mask, W_VERTICAL_SUM] + state[S_SMOOTH_V] * (ti - last_t)
        )
        ring_w[slot, W_HEEL_STRIKE] = envelope
        count = _push_ring(state, ring_t, ring_v, ti, math.sqrt(energy), mask)
        _judge_phases(state, ring_t, ring_w, count, params, False)

        half_s = _impact_half_window_s(state, params)
        if not math.isnan(state[S_PENDING_ON]) and _at_or_after(
            ti - state[S_PENDING_ON], max_stride_s + max_rise_s + half_s + walking_delay_s
        ):
            # No next impact within the longest stride (its peak follows its foot-on within
            # max_rise_s and is judged half a window and the walking delay later): a pause.
            n_out = _close_leg_contact(
                state, ring_t, ring_v, ring_w, count, math.nan, params, out, n_out
            )

        # Judge every sample once the window after it is complete (at the start of a segment
        # the window before is cut short). A counter, not "the sample half a window back":
        # with rounding, that would skip a sample now and then, and it may be the impact.
        n_out = _judge_candidates(
            state,
            ring_t,
            ring_v,
            ring_w,
            count,
            ti - half_s,
            walking_delay_s,
            params,
            out,
            n_out,
        )
    _store_orientation(state, o)
    return n_out


@njit(cache=True)
def leg_finish(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    ring_w: F64Array,
    params: F64Array,
    out: F64Array,
) -> int:
    """End of stream: see ``_end_leg_segment``."""
    return _end_leg_segment(state, ring_t, ring_v, ring_w, params, out, 0)


@njit(cache=True)
def _end_leg_segment(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    ring_w: F64Array,
    params: F64Array,
    out: F64Array,
    n_out: int,
) -> int:
    """End of stream or of the segment before a gap: impacts not judged yet (their window
    after is cut short) are judged on what there is, and the last contact is emitted if it
    ended within the segment."""
    count = int(state[S_RING_COUNT])
    if count > 0:
        mask = ring_t.shape[0] - 1
        if params[21] == 0.0:
            _judge_phases(state, ring_t, ring_w, count, params, True)
        n_out = _judge_candidates(
            state,
            ring_t,
            ring_v,
            ring_w,
            count,
            ring_t[(count - 1) & mask],
            0.0,
            params,
            out,
            n_out,
        )
    if math.isnan(state[S_PENDING_ON]) or count == 0:
        state[S_PENDING_ON] = math.nan
        return n_out
    n_before = n_out
    n_out = _close_leg_contact(state, ring_t, ring_v, ring_w, count, math.nan, params, out, n_out)
    # Kept only if its foot-off came before the end, give or take the foot-off model's error:
    # one that is clearly still going on is dropped, not guessed.
    end_s = ring_t[(count - 1) & (ring_t.shape[0] - 1)]
    if _after(out[n_before, 2], end_s + params[33]):
        return n_before
    return n_out
