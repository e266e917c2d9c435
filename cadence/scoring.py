"""Score detected foot contacts against ground truth: pure numpy, no I/O.

Times are seconds on the trace's clock. Errors are signed ``detected - true``, so a positive
foot-on error means the detector is late and a positive GCT bias means it reports contacts
that are too long.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

DEFAULT_TOLERANCE_S = 0.05


@dataclass(frozen=True, slots=True, eq=False)
class ContactMatch:
    """A one-to-one pairing of true and detected foot-on times.

    ``true_index[i]`` and ``detected_index[i]`` index the same contact in the two input arrays;
    pairs are sorted by true index.
    """

    true_index: IndexArray
    detected_index: IndexArray
    n_missed: int
    n_extra: int

    @property
    def n_matched(self) -> int:
        return int(self.true_index.size)


@dataclass(frozen=True, slots=True)
class ContactScore:
    """How well detected contacts agree with the truth of one recording.

    Error means and mean-absolute errors (MAE) are in milliseconds over the matched pairs;
    foot-off and GCT errors only over pairs where both foot-off times are known (``n_with_off``
    of them). Cadences are steps/min; ``cadence_error_spm`` is detected minus true. A statistic
    with nothing to average over is NaN.
    """

    n_true: int
    n_found: int
    n_missed: int
    n_extra: int
    n_with_off: int
    foot_on_error_mean_ms: float
    foot_on_error_mae_ms: float
    foot_off_error_mean_ms: float
    foot_off_error_mae_ms: float
    gct_bias_ms: float
    gct_mae_ms: float
    true_cadence_spm: float
    detected_cadence_spm: float
    cadence_error_spm: float


def _as_times(values: npt.ArrayLike, name: str) -> FloatArray:
    times = np.asarray(values, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {times.shape}")
    return times


def match_contacts(
    true_on: npt.ArrayLike, detected_on: npt.ArrayLike, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> ContactMatch:
    """Pair each true foot-on with at most one detected foot-on within ``±tolerance_s``.

    Greedy by smallest distance: all candidate pairs within tolerance are taken in order of
    increasing ``|detected - true|`` (ties: earlier true contact first) and kept when neither
    side is already paired. Contacts are hundreds of ms apart and the tolerance tens of ms, so
    candidates rarely compete and greedy equals the optimal assignment in practice.
    Inputs need not be sorted; foot-on times must be finite.
    """
    if tolerance_s < 0:
        raise ValueError(f"tolerance_s must be >= 0, got {tolerance_s}")
    truth = _as_times(true_on, "true_on")
    detected = _as_times(detected_on, "detected_on")
    if not (np.isfinite(truth).all() and np.isfinite(detected).all()):
        raise ValueError("foot-on times must be finite")

    order = np.argsort(detected, kind="stable")
    detected_sorted = detected[order]
    # Candidate window of each true contact in the sorted detections: [first, stop).
    first = np.searchsorted(detected_sorted, truth - tolerance_s, side="left")
    stop = np.searchsorted(detected_sorted, truth + tolerance_s, side="right")
    counts = stop - first
    candidate_true = np.repeat(np.arange(truth.size), counts)
    offsets = np.arange(candidate_true.size) - np.repeat(np.cumsum(counts) - counts, counts)
    candidate_detected = order[np.repeat(first, counts) + offsets]
    distance_s = np.abs(detected[candidate_detected] - truth[candidate_true])

    true_taken = np.zeros(truth.size, dtype=bool)
    detected_taken = np.zeros(detected.size, dtype=bool)
    pairs: list[tuple[int, int]] = []
    for candidate in np.lexsort((candidate_true, distance_s)):
        i, j = int(candidate_true[candidate]), int(candidate_detected[candidate])
        if not (true_taken[i] or detected_taken[j]):
            true_taken[i] = detected_taken[j] = True
            pairs.append((i, j))

    pairs.sort()
    paired = np.array(pairs, dtype=np.intp).reshape(-1, 2)
    return ContactMatch(
        true_index=paired[:, 0],
        detected_index=paired[:, 1],
        n_missed=truth.size - len(pairs),
        n_extra=detected.size - len(pairs),
    )


def cadence_spm(foot_on_s: npt.ArrayLike, steps_per_contact: int = 1) -> float:
    """Steps per minute over the span of the contacts: ``60 (n - 1) / (last - first)``.

    ``steps_per_contact`` is 2 when the contacts are one leg's only (each is a stride).
    NaN with fewer than two contacts or a zero span.
    """
    times = _as_times(foot_on_s, "foot_on_s")
    if times.size < 2:
        return float("nan")
    span_s = float(times.max() - times.min())
    if span_s <= 0:
        return float("nan")
    return 60.0 * steps_per_contact * (times.size - 1) / span_s


def _mean_ms(errors_s: FloatArray) -> float:
    return float(np.mean(errors_s) * 1000.0) if errors_s.size else float("nan")


def _mae_ms(errors_s: FloatArray) -> float:
    return float(np.mean(np.abs(errors_s)) * 1000.0) if errors_s.size else float("nan")


def score_contacts(
    truth_on: npt.ArrayLike,
    truth_off: npt.ArrayLike,
    det_on: npt.ArrayLike,
    det_off: npt.ArrayLike,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    steps_per_contact: int = 1,
) -> ContactScore:
    """Compare detected contacts with the truth; see :class:`ContactScore`.

    ``truth_off`` may hold NaN where a foot-off is not known. ``steps_per_contact`` applies to
    both cadences: pass 2 when truth and detections are both the sensor leg's contacts only.
    """
    true_on_s = _as_times(truth_on, "truth_on")
    true_off_s = _as_times(truth_off, "truth_off")
    detected_on_s = _as_times(det_on, "det_on")
    detected_off_s = _as_times(det_off, "det_off")
    if true_off_s.shape != true_on_s.shape or detected_off_s.shape != detected_on_s.shape:
        raise ValueError("foot-on and foot-off arrays must have the same length")

    match = match_contacts(true_on_s, detected_on_s, tolerance_s)
    i, j = match.true_index, match.detected_index
    on_error_s = detected_on_s[j] - true_on_s[i]
    with_off = np.isfinite(true_off_s[i]) & np.isfinite(detected_off_s[j])
    i_off, j_off = i[with_off], j[with_off]
    off_error_s = detected_off_s[j_off] - true_off_s[i_off]
    gct_error_s = off_error_s - on_error_s[with_off]

    true_cadence = cadence_spm(true_on_s, steps_per_contact)
    detected_cadence = cadence_spm(detected_on_s, steps_per_contact)
    return ContactScore(
        n_true=true_on_s.size,
        n_found=match.n_matched,
        n_missed=match.n_missed,
        n_extra=match.n_extra,
        n_with_off=int(i_off.size),
        foot_on_error_mean_ms=_mean_ms(on_error_s),
        foot_on_error_mae_ms=_mae_ms(on_error_s),
        foot_off_error_mean_ms=_mean_ms(off_error_s),
        foot_off_error_mae_ms=_mae_ms(off_error_s),
        gct_bias_ms=_mean_ms(gct_error_s),
        gct_mae_ms=_mae_ms(gct_error_s),
        true_cadence_spm=true_cadence,
        detected_cadence_spm=detected_cadence,
        cadence_error_spm=detected_cadence - true_cadence,
    )
