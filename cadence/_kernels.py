"""Per-sample streaming kernels, compiled with numba.

Each kernel walks the new samples one by one and carries everything it needs in ``state`` (a
float64 vector indexed by the constants below) and in ring buffers, so that the result does not
depend on how the stream was cut into chunks. Filters are biquad cascades in direct form II
transposed, the same recurrence as ``scipy.signal.sosfilt`` with carried ``zi``.

Events are written to ``out`` as rows of ``OUT_COLUMNS`` values, ``(kind, a, b, c, d, e)``; the
caller sizes ``out`` and turns rows into typed objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from numba import njit

F64Array = npt.NDArray[np.float64]
# (state, ring_t, ring_v, sos, params, t, acc, out) -> number of events written
Kernel = Callable[
    [F64Array, F64Array, F64Array, F64Array, F64Array, F64Array, F64Array, F64Array], int
]

STANDARD_GRAVITY = 9.80665

# Event kinds written to out[:, 0].
EVENT_CONTACT = 1.0  # a = foot-on s, b = foot-off s, c = leg (0 unknown, 1 sensor),
# d = fall time after foot-on (trunk, NaN otherwise), e = step or stride period used
OUT_COLUMNS = 6
EVENT_GAP = 2.0  # a = last sample before the gap, b = first sample after it

# Indices into the shared part of the state vector.
S_LAST_T = 0  # time of the previous accepted sample (NaN before the first)
S_N_SEEN = 1  # samples accepted since the start
S_N_REJECTED = 2  # samples dropped because time did not increase
S_GX = 3  # gravity estimate, up to three axes
S_GY = 4
S_GZ = 5
S_RING_COUNT = 6  # samples written to the ring since the last reset
S_LAST_ON = 7  # foot-on time of the previous contact (NaN if none since the last reset)
S_STEP_S = 8  # running estimate of the step (trunk) or stride (leg) period
S_PHASE = 9  # detector phase, kernel specific
S_PENDING_ON = 10  # foot-on time of the contact being measured (NaN if none)
S_PENDING_PEAK = 11  # highest vertical value since the pending foot-on (trunk)
S_FILTER_STATE = 12  # start of the filter states: 2 per biquad section per channel
STATE_SIZE = S_FILTER_STATE + 2 * 2 * 3


@njit(cache=True)
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


@njit(cache=True)
def _mark_gap(state: F64Array, t: float, max_gap_s: float, out: F64Array, n_out: int) -> int:
    """Write a gap event and forget partial steps when samples stopped for too long."""
    last_t = state[S_LAST_T]
    if math.isnan(last_t) or t - last_t <= max_gap_s:
        return n_out
    out[n_out, 0] = EVENT_GAP
    out[n_out, 1] = last_t
    out[n_out, 2] = t
    _reset_after_gap(state)
    return n_out + 1


@njit(cache=True)
def _accept_sample(
    state: F64Array, t: float, acc: F64Array, gravity_tau_s: float, warmup_s: float
) -> bool:
    """Drop samples whose time does not move forward; update the gravity estimate."""
    last_t = state[S_LAST_T]
    if not math.isnan(last_t) and t <= last_t:
        state[S_N_REJECTED] += 1.0
        return False
    state[S_LAST_T] = t
    state[S_N_SEEN] += 1.0
    n = state[S_N_SEEN]
    # A plain running mean until warm-up is over, then an EMA that follows slow posture changes.
    alpha = 1.0 / n
    if not math.isnan(last_t):
        ema_alpha = min(1.0, (t - last_t) / gravity_tau_s)
        alpha = ema_alpha if n * (t - last_t) > warmup_s else max(alpha, ema_alpha)
    for k in range(acc.shape[0]):
        state[S_GX + k] += alpha * (acc[k] - state[S_GX + k])
    return True


@njit(cache=True)
def _push_ring(state: F64Array, ring_t: F64Array, ring_v: F64Array, t: float, v: float) -> int:
    """Append a sample to the ring buffers; returns the count of samples since the last reset."""
    size = ring_t.shape[0]
    count = int(state[S_RING_COUNT])
    ring_t[count % size] = t
    ring_v[count % size] = v
    state[S_RING_COUNT] = count + 1
    return count + 1


@njit(cache=True)
def _vertical_g(state: F64Array, acc: F64Array) -> float:
    """Acceleration along the gravity estimate, in g (1 at rest, about 0 in flight)."""
    norm = 0.0
    dot = 0.0
    for k in range(acc.shape[0]):
        norm += state[S_GX + k] * state[S_GX + k]
        dot += state[S_GX + k] * acc[k]
    if norm <= 0.0:
        return 0.0
    return dot / math.sqrt(norm) / STANDARD_GRAVITY


@njit(cache=True)
def _ring_window(ring_t: F64Array, count: int, t_from: float) -> tuple[int, int]:
    """Oldest-to-newest index range (as absolute counters) of ring samples with t >= t_from."""
    size = ring_t.shape[0]
    first = max(0, count - size)
    lo = count - 1
    while lo > first and ring_t[(lo - 1) % size] >= t_from:
        lo -= 1
    return lo, count


@njit(cache=True)
def _tangent_onset(
    ring_t: F64Array, ring_v: F64Array, count: int, t_from: float, baseline_window_s: float
) -> float:
    """Foot-on from the steepest rise in the ring since t_from: its tangent meets the baseline."""
    size = ring_t.shape[0]
    lo, hi = _ring_window(ring_t, count, t_from)
    best_slope = 0.0
    best = -1
    for j in range(lo + 1, hi):
        dt = ring_t[j % size] - ring_t[(j - 1) % size]
        slope = (ring_v[j % size] - ring_v[(j - 1) % size]) / dt
        if slope > best_slope:
            best_slope = slope
            best = j
    if best < 0:
        return math.nan
    # The tangent through the midpoint of the steepest segment, back to the lowest level just
    # before it (the flight or swing level).
    t_mid = 0.5 * (ring_t[best % size] + ring_t[(best - 1) % size])
    v_mid = 0.5 * (ring_v[best % size] + ring_v[(best - 1) % size])
    base = v_mid
    first = max(0, count - size)
    j = best - 1
    while j >= first and ring_t[j % size] >= t_mid - baseline_window_s:
        base = min(base, ring_v[j % size])
        j -= 1
    onset: float = t_mid - (v_mid - base) / best_slope
    return onset


@njit(cache=True)
def trunk_kernel(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    sos: F64Array,
    params: F64Array,
    t: F64Array,
    acc: F64Array,
    out: F64Array,
) -> int:
    """Contacts from a trunk-worn accelerometer (sacrum, lower back, hip).

    Stance is where the low-passed vertical acceleration rises through ``1 g + hysteresis``.
    Foot-on: the tangent of the steepest rise of the raw vertical acceleration, extended back to
    the flight level. Foot-off: the raw signal falling to ``offset_level_g`` after mid-stance
    (the flight level is near 0 g), with a linear correction learnt against force plates from
    that fall and the previous step period; walking has no flight, so there a duty factor of
    the step period is used.
    """
    hysteresis_g = params[0]
    min_step_s = params[1]
    max_step_s = params[2]
    max_gap_s = params[3]
    gravity_tau_s = params[4]
    warmup_s = params[5]
    onset_search_s = params[6]
    baseline_window_s = params[7]
    offset_level_g = params[8]
    gct_intercept_s = params[9]
    gct_per_fall_s = params[10]
    gct_per_step_s = params[11]
    walking_duty_steps = params[12]
    min_fall_after_on_s = params[13]
    onset_correction_s = params[14]

    size = ring_t.shape[0]
    n_out = 0
    for i in range(t.shape[0]):
        ti = t[i]
        n_out = _mark_gap(state, ti, max_gap_s, out, n_out)
        if not _accept_sample(state, ti, acc[i], gravity_tau_s, warmup_s):
            continue
        v = _vertical_g(state, acc[i])
        if state[S_RING_COUNT] == 0.0:
            _settle_filter(sos, state, S_FILTER_STATE, v)
        vf = _biquad_step(sos, state, S_FILTER_STATE, v)
        prev_count = int(state[S_RING_COUNT])
        prev_t = ring_t[(prev_count - 1) % size] if prev_count > 0 else math.nan
        prev_v = ring_v[(prev_count - 1) % size] if prev_count > 0 else math.nan
        count = _push_ring(state, ring_t, ring_v, ti, v)

        pending_on = state[S_PENDING_ON]
        if not math.isnan(pending_on):
            if v > state[S_PENDING_PEAK]:
                state[S_PENDING_PEAK] = v
            # The fall to the flight level closes the contact.
            if (
                v <= offset_level_g < prev_v
                and ti - pending_on > min_fall_after_on_s
                and state[S_PENDING_PEAK] > 1.0 + hysteresis_g
            ):
                t_fall = prev_t + (prev_v - offset_level_g) / (prev_v - v) * (ti - prev_t)
                step_s = state[S_STEP_S]
                gct = (
                    gct_intercept_s
                    + gct_per_fall_s * (t_fall - pending_on)
                    + gct_per_step_s * step_s
                )
                n_out = _emit_contact(
                    out, n_out, pending_on, pending_on + gct, 0.0, t_fall - pending_on, step_s
                )
                state[S_PENDING_ON] = math.nan

        phase = state[S_PHASE]
        if phase == 0.0 and vf > 1.0 + hysteresis_g:
            state[S_PHASE] = 1.0
            t_on = (
                _tangent_onset(ring_t, ring_v, count, ti - onset_search_s, baseline_window_s)
                - onset_correction_s
            )
            last_on = state[S_LAST_ON]
            if not math.isnan(t_on) and (math.isnan(last_on) or t_on - last_on >= min_step_s):
                pending_on = state[S_PENDING_ON]
                if not math.isnan(pending_on):
                    # No flight before this step: walking. Stance spans a duty factor of steps.
                    step_s = t_on - pending_on
                    gct = walking_duty_steps * step_s
                    n_out = _emit_contact(
                        out, n_out, pending_on, pending_on + gct, 0.0, math.nan, step_s
                    )
                if not math.isnan(last_on) and t_on - last_on <= max_step_s:
                    state[S_STEP_S] = t_on - last_on
                state[S_LAST_ON] = t_on
                state[S_PENDING_ON] = t_on
                state[S_PENDING_PEAK] = v
        elif phase == 1.0 and vf < 1.0 - hysteresis_g:
            state[S_PHASE] = 0.0
    return n_out


@njit(cache=True)
def _emit_contact(
    out: F64Array, n_out: int, on_s: float, off_s: float, leg: float, fall_s: float, period_s: float
) -> int:
    out[n_out, 0] = EVENT_CONTACT
    out[n_out, 1] = on_s
    out[n_out, 2] = off_s
    out[n_out, 3] = leg
    out[n_out, 4] = fall_s
    out[n_out, 5] = period_s
    return n_out + 1


@njit(cache=True)
def _reset_after_gap(state: F64Array) -> None:
    """Forget every partial step: nothing is bridged across a gap. Gravity is kept."""
    state[S_RING_COUNT] = 0.0
    state[S_LAST_ON] = math.nan
    state[S_PENDING_ON] = math.nan
    state[S_PHASE] = 0.0


@njit(cache=True)
def leg_kernel(
    state: F64Array,
    ring_t: F64Array,
    ring_v: F64Array,
    sos: F64Array,
    params: F64Array,
    t: F64Array,
    acc: F64Array,
    out: F64Array,
) -> int:
    """Contacts of the sensor leg from a shank, ankle or foot accelerometer.

    Each stride has one impact: the largest high-passed acceleration magnitude within half a
    stride either side. Foot-on precedes the impact peak by ``impact_lead_s``; foot-off follows
    foot-on by a duty factor of the stride (running and walking differ; told apart by stride
    period).
    """
    max_gap_s = params[0]
    gravity_tau_s = params[1]
    warmup_s = params[2]
    impact_lead_s = params[3]
    min_stride_s = params[4]
    max_stride_s = params[5]
    running_duty = params[6]
    walking_duty = params[7]
    walk_stride_s = params[8]
    min_impact_g = params[9]
    max_window_s = params[10]

    size = ring_t.shape[0]
    n_out = 0
    n_channels = acc.shape[1]
    for i in range(t.shape[0]):
        ti = t[i]
        n_out = _mark_gap(state, ti, max_gap_s, out, n_out)
        if not _accept_sample(state, ti, acc[i], gravity_tau_s, warmup_s):
            continue
        energy = 0.0
        for k in range(n_channels):
            offset = S_FILTER_STATE + 2 * sos.shape[0] * k
            if state[S_RING_COUNT] == 0.0:
                _settle_filter(sos, state, offset, acc[i, k])
            y = _biquad_step(sos, state, offset, acc[i, k])
            energy += y * y
        count = _push_ring(state, ring_t, ring_v, ti, math.sqrt(energy) / STANDARD_GRAVITY)

        # The candidate is the sample a window back: it is an impact if it tops every sample
        # within the window on both sides. Three quarters of a stride keeps the push-off peak
        # of walking out; the cap keeps the next impact of a fast runner out.
        half = min(max_window_s, 0.75 * state[S_STEP_S])
        if ring_t[(count - 1) % size] - ring_t[max(0, count - size) % size] < 2.0 * half:
            continue
        c = count - 1
        while c > 0 and ring_t[(c - 1) % size] >= ti - half:
            c -= 1
        tc = ring_t[c % size]
        vc = ring_v[c % size]
        if vc < min_impact_g:
            continue
        is_peak = True
        j = c - 1
        first = max(0, count - size)
        while j >= first and ring_t[j % size] >= tc - half:
            if ring_v[j % size] >= vc:
                is_peak = False
                break
            j -= 1
        if is_peak:
            for j in range(c + 1, count):
                if ring_v[j % size] > vc:
                    is_peak = False
                    break
        if not is_peak:
            continue
        t_on = tc - impact_lead_s
        last_on = state[S_LAST_ON]
        if not math.isnan(last_on):
            stride = t_on - last_on
            if stride < min_stride_s:
                continue
            # A much longer interval is a missed impact or a pause, not a new stride period.
            if stride <= min(max_stride_s, 1.5 * state[S_STEP_S]):
                state[S_STEP_S] += 0.5 * (stride - state[S_STEP_S])
        state[S_LAST_ON] = t_on
        stride_s = state[S_STEP_S]
        duty = walking_duty if stride_s >= walk_stride_s else running_duty
        n_out = _emit_contact(out, n_out, t_on, t_on + duty * stride_s, 1.0, math.nan, stride_s)
    return n_out
