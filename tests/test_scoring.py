"""Scoring on hand-made contacts whose right answer is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cadence.scoring import cadence_spm, match_contacts, score_contacts

# 11 contacts, one every 0.35 s (171.43 spm), each 0.25 s long.
STEP_S = 0.35
GCT_S = 0.25
TRUE_ON_S = np.arange(11) * STEP_S + 1.0
TRUE_OFF_S = TRUE_ON_S + GCT_S


def test_identical_contacts_match_perfectly() -> None:
    score = score_contacts(TRUE_ON_S, TRUE_OFF_S, TRUE_ON_S, TRUE_OFF_S)

    assert (score.n_true, score.n_found, score.n_missed, score.n_extra) == (11, 11, 0, 0)
    assert score.foot_on_error_mae_ms == 0.0
    assert score.gct_mae_ms == 0.0
    assert score.cadence_error_spm == 0.0
    assert score.true_cadence_spm == pytest.approx(60.0 / STEP_S)


def test_shifted_copy_gives_the_shift_as_error() -> None:
    shift_s = 0.02
    score = score_contacts(TRUE_ON_S, TRUE_OFF_S, TRUE_ON_S + shift_s, TRUE_OFF_S + shift_s)

    assert score.n_found == 11
    assert score.foot_on_error_mean_ms == pytest.approx(20.0)
    assert score.foot_on_error_mae_ms == pytest.approx(20.0)
    assert score.foot_off_error_mean_ms == pytest.approx(20.0)
    assert score.gct_bias_ms == pytest.approx(0.0, abs=1e-9)
    assert score.cadence_error_spm == pytest.approx(0.0, abs=1e-9)


def test_longer_contacts_give_a_positive_gct_bias() -> None:
    early_s = np.where(np.arange(11) % 2 == 0, 0.01, 0.03)
    score = score_contacts(TRUE_ON_S, TRUE_OFF_S, TRUE_ON_S - early_s, TRUE_OFF_S)

    assert score.foot_on_error_mean_ms == pytest.approx(-(6 * 10 + 5 * 30) / 11)
    assert score.gct_bias_ms == pytest.approx((6 * 10 + 5 * 30) / 11)
    assert score.gct_mae_ms == pytest.approx(score.gct_bias_ms)
    assert score.foot_off_error_mae_ms == pytest.approx(0.0, abs=1e-9)


def test_missing_contact_is_counted_and_lowers_cadence() -> None:
    keep = np.arange(11) != 5
    score = score_contacts(TRUE_ON_S, TRUE_OFF_S, TRUE_ON_S[keep], TRUE_OFF_S[keep])

    assert (score.n_found, score.n_missed, score.n_extra) == (10, 1, 0)
    # Same span, one step fewer: 9 intervals instead of 10.
    assert score.cadence_error_spm == pytest.approx(-60.0 / (10 * STEP_S))


def test_extra_contact_is_counted() -> None:
    extra_on = np.sort(np.append(TRUE_ON_S, TRUE_ON_S[3] + STEP_S / 2))
    extra_off = extra_on + GCT_S
    score = score_contacts(TRUE_ON_S, TRUE_OFF_S, extra_on, extra_off)

    assert (score.n_found, score.n_missed, score.n_extra) == (11, 0, 1)
    assert score.foot_on_error_mae_ms == 0.0


def test_contact_just_outside_tolerance_is_missed_and_extra() -> None:
    detected_on = TRUE_ON_S.copy()
    detected_on[4] += 0.051
    match = match_contacts(TRUE_ON_S, detected_on, tolerance_s=0.05)

    assert (match.n_matched, match.n_missed, match.n_extra) == (10, 1, 1)
    assert 4 not in match.true_index


def test_contact_just_inside_tolerance_is_matched() -> None:
    detected_on = TRUE_ON_S.copy()
    detected_on[4] += 0.049
    match = match_contacts(TRUE_ON_S, detected_on, tolerance_s=0.05)

    assert (match.n_matched, match.n_missed, match.n_extra) == (11, 0, 0)


def test_each_detection_matches_at_most_one_true_contact() -> None:
    # One detection between two true contacts 60 ms apart: it goes to the nearer one.
    match = match_contacts([1.00, 1.06], [1.04], tolerance_s=0.05)

    assert match.true_index.tolist() == [1]
    assert match.detected_index.tolist() == [0]
    assert (match.n_missed, match.n_extra) == (1, 0)


def test_unsorted_detections_are_paired_by_time() -> None:
    match = match_contacts([1.0, 2.0, 3.0], [3.01, 1.02, 1.98])

    assert match.true_index.tolist() == [0, 1, 2]
    assert match.detected_index.tolist() == [1, 2, 0]


def test_unknown_foot_off_is_left_out_of_off_and_gct_errors() -> None:
    truth_off = TRUE_OFF_S.copy()
    truth_off[::2] = np.nan
    detected_off = TRUE_OFF_S + 0.01
    score = score_contacts(TRUE_ON_S, truth_off, TRUE_ON_S, detected_off)

    assert score.n_with_off == 5
    assert score.foot_off_error_mean_ms == pytest.approx(10.0)
    assert score.gct_bias_ms == pytest.approx(10.0)


def test_no_foot_off_at_all_gives_nan_off_errors() -> None:
    no_off = np.full_like(TRUE_ON_S, np.nan)
    score = score_contacts(TRUE_ON_S, no_off, TRUE_ON_S, TRUE_OFF_S)

    assert score.n_with_off == 0
    assert math.isnan(score.foot_off_error_mae_ms)
    assert math.isnan(score.gct_bias_ms)
    assert score.foot_on_error_mae_ms == 0.0


def test_nothing_detected_misses_everything() -> None:
    score = score_contacts(TRUE_ON_S, TRUE_OFF_S, [], [])

    assert (score.n_found, score.n_missed, score.n_extra) == (0, 11, 0)
    assert math.isnan(score.foot_on_error_mean_ms)
    assert math.isnan(score.detected_cadence_spm)


def test_one_leg_cadence_counts_two_steps_per_contact() -> None:
    stride_s = 0.7
    one_leg_on = np.arange(6) * stride_s

    assert cadence_spm(one_leg_on, steps_per_contact=2) == pytest.approx(120.0 / stride_s)
    score = score_contacts(
        one_leg_on, one_leg_on + GCT_S, one_leg_on, one_leg_on + GCT_S, steps_per_contact=2
    )
    assert score.true_cadence_spm == pytest.approx(120.0 / stride_s)


def test_cadence_needs_two_contacts() -> None:
    assert math.isnan(cadence_spm([1.0]))
    assert math.isnan(cadence_spm([1.0, 1.0]))


def test_negative_tolerance_is_rejected() -> None:
    with pytest.raises(ValueError, match="tolerance_s"):
        match_contacts(TRUE_ON_S, TRUE_ON_S, tolerance_s=-0.01)


def test_mismatched_on_off_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        score_contacts(TRUE_ON_S, TRUE_OFF_S[:-1], TRUE_ON_S, TRUE_OFF_S)
