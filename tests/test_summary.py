"""Summary figures on hand-built contacts whose right answers are known by construction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cadence.contacts import Contact, Gap, Leg
from cadence.errors import ConfigurationError
from cadence.placement import placement_is_leg
from cadence.summary import summarize


def regular_contacts(
    n: int, *, spm: float, start_s: float = 0.0, gct_s: float = 0.2, leg: Leg | None = None
) -> list[Contact]:
    """``n`` contacts whose foot-ons are exactly 60/spm seconds apart."""
    interval_s = 60.0 / spm
    return [
        Contact(start_s + i * interval_s, start_s + i * interval_s + gct_s, leg) for i in range(n)
    ]


def test_regular_steps_at_180_spm_give_180() -> None:
    summary = summarize(regular_contacts(31, spm=180), [], leg_mounted=False)
    assert summary.cadence_spm == pytest.approx(180.0)
    assert summary.n_contacts == summary.n_steps == 31
    assert summary.n_bouts == 1
    assert summary.moving_s == pytest.approx(10.0)


def test_a_ten_second_pause_does_not_lower_cadence() -> None:
    first = regular_contacts(20, spm=180)
    second = regular_contacts(20, spm=180, start_s=first[-1].on_s + 10.0)
    summary = summarize(first + second, [], leg_mounted=False)
    assert summary.cadence_spm == pytest.approx(180.0)
    assert summary.n_bouts == 2
    assert summary.moving_s == pytest.approx(2 * 19 / 3)


def test_bouts_at_different_cadences_weigh_by_time() -> None:
    # 60 s at 180 spm and 60 s at 160 spm average to 170 spm.
    fast = regular_contacts(181, spm=180)
    slow = regular_contacts(161, spm=160, start_s=fast[-1].on_s + 30.0)
    assert summarize(fast + slow, [], leg_mounted=False).cadence_spm == pytest.approx(170.0)


def test_a_gap_splits_bouts() -> None:
    # 1.2 s between the bouts is within the pause limit, but samples are missing in between.
    before = regular_contacts(10, spm=180)
    after = regular_contacts(10, spm=180, start_s=before[-1].on_s + 1.2)
    gap = Gap(before[-1].on_s + 0.1, after[0].on_s - 0.2)
    with_gap = summarize(before + after, [gap], leg_mounted=False)
    assert with_gap.n_bouts == 2
    assert with_gap.cadence_spm == pytest.approx(180.0)
    assert with_gap.gaps == (gap,)
    without_gap = summarize(before + after, [], leg_mounted=False)
    assert without_gap.n_bouts == 1
    assert without_gap.cadence_spm is not None
    assert without_gap.cadence_spm < 180.0


def test_gap_outside_the_contacts_does_not_split() -> None:
    contacts = regular_contacts(10, spm=180, start_s=5.0)
    summary = summarize(contacts, [Gap(1.0, 2.0), Gap(20.0, 21.0)], leg_mounted=False)
    assert summary.n_bouts == 1
    assert summary.cadence_spm == pytest.approx(180.0)


def test_leg_mounted_contacts_are_strides_of_two_steps() -> None:
    # A shank sensor at 180 spm sees its own leg land every 2/3 s (90 strides/min).
    strides = regular_contacts(31, spm=90, leg="sensor")
    summary = summarize(strides, [], leg_mounted=True)
    assert summary.cadence_spm == pytest.approx(180.0)
    assert summary.n_steps == 62
    assert summary.n_bouts == 1


def test_leg_mounted_doubles_the_pause_limit() -> None:
    # Slow walking strides 3 s apart: one bout for a leg sensor, no bout for a trunk sensor.
    strides = regular_contacts(5, spm=20)
    assert summarize(strides, [], leg_mounted=True).n_bouts == 1
    assert summarize(strides, [], leg_mounted=False).cadence_spm is None


def test_leg_mounted_ignores_other_leg_contacts_for_cadence() -> None:
    sensor_leg = regular_contacts(31, spm=90, leg="sensor")
    other_leg = regular_contacts(30, spm=90, start_s=1 / 3, leg="other")
    summary = summarize(sensor_leg + other_leg, [], leg_mounted=True)
    assert summary.cadence_spm == pytest.approx(180.0)
    assert summary.n_contacts == 61


def test_single_contact_has_no_cadence() -> None:
    summary = summarize([Contact(1.0, 1.25)], [], leg_mounted=False)
    assert summary.cadence_spm is None
    assert summary.n_bouts == 0
    assert summary.moving_s == 0.0
    assert summary.gct_ms == pytest.approx(250.0)


def test_no_contacts_has_no_figures() -> None:
    summary = summarize([], [Gap(0.0, 1.0)], leg_mounted=False)
    assert summary.cadence_spm is None
    assert summary.gct_ms is None
    assert summary.n_contacts == summary.n_steps == summary.n_bouts == 0


def test_gct_is_the_median_contact_duration() -> None:
    contacts = [Contact(0.0, 0.2), Contact(0.3, 0.55), Contact(0.6, 0.9), Contact(0.95, 1.15)]
    # Durations 200, 250, 300, 200 ms: median 225 ms, unmoved by one long outlier.
    assert summarize(contacts, [], leg_mounted=False).gct_ms == pytest.approx(225.0)
    outlier = [*contacts, Contact(1.3, 3.0)]
    assert summarize(outlier, [], leg_mounted=False).gct_ms == pytest.approx(250.0)


def test_contacts_out_of_order_give_the_same_answer() -> None:
    contacts = regular_contacts(31, spm=180)
    ordered = summarize(contacts, [], leg_mounted=False)
    shuffled = summarize(contacts[::2] + contacts[1::2], [], leg_mounted=False)
    assert shuffled == ordered


def test_non_positive_step_limit_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="max_step_interval_s"):
        summarize([], [], leg_mounted=False, max_step_interval_s=0.0)


@given(
    spm=st.floats(min_value=100.0, max_value=240.0),
    n=st.integers(min_value=2, max_value=400),
    start_s=st.floats(min_value=0.0, max_value=1e5),
)
def test_any_regular_cadence_is_recovered(spm: float, n: int, start_s: float) -> None:
    summary = summarize(regular_contacts(n, spm=spm, start_s=start_s), [], leg_mounted=False)
    assert summary.cadence_spm == pytest.approx(spm, rel=1e-6)


@pytest.mark.parametrize(
    "placement", ["shank", "tibia", "ankle", "foot", "shoe", "Shank-left", "footpod", "ankle_r"]
)
def test_leg_placements(placement: str) -> None:
    assert placement_is_leg(placement)


@pytest.mark.parametrize(
    "placement",
    [
        *("sacrum", "lower_back", "back", "hip", "waist", "pelvis", "trunk", "phone", "chest"),
        *("Sacrum", "lower back", "hip_right"),
    ],
)
def test_trunk_placements(placement: str) -> None:
    assert not placement_is_leg(placement)


def test_unknown_placement_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="wrist") as error:
        placement_is_leg("wrist")
    assert "shank" in str(error.value)
    assert "sacrum" in str(error.value)
