"""Dose preparation from the dosing-visit weight: cells, vials, volumes; weight errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialkit.dosing import DosingError, prepare_dose
from trialkit.protocol import load_protocol

ASSIST = load_protocol("NCT04590118")
IXCELL = load_protocol("NCT07197606")


def test_assist_worked_example_70_kg_at_2e6_cells_per_kg():
    """By hand: 2×10^6 × 70 = 1.4×10^8 cells; vials of 1×10^8 -> ceil(1.4) = 2; at 1×10^7/ml
    draw 14.0 ml; final 70 kg × 1 ml/kg = 70.0 ml, so 56.0 ml of saline."""
    dose = prepare_dose(ASSIST, "it-hmsc", "high", 70)
    assert dose.target_amount == 1.4e8
    assert dose.vials == 2
    assert dose.product_volume_ml == 14.0
    assert dose.diluent_volume_ml == 56.0
    assert dose.final_volume_ml == 70.0
    assert dose.delivered_amount == 1.4e8
    assert dose.steps() == [
        "Take 2 vial(s) of it-hMSC cell suspension.",
        "Draw 14.0 ml of it-hMSC cell suspension.",
        "Add 56.0 ml of 0.9% sodium chloride.",
        "Final infusion volume 70.0 ml, route IV; apply the blinded label.",
    ]


def test_placebo_is_1_ml_per_kg_with_the_same_final_volume():
    dose = prepare_dose(ASSIST, "placebo", "placebo", 70)
    assert (dose.product_volume_ml, dose.diluent_volume_ml, dose.final_volume_ml) == (70.0, 0.0, 70.0)
    assert dose.vials is None
    assert prepare_dose(ASSIST, "placebo", None, 70) == dose  # a single-level arm needs no level


def test_volumes_are_rounded_half_up_to_a_tenth_of_a_ml_and_the_delivered_dose_reported():
    """70.37 kg × 0.5×10^6 = 35,185,000 cells = 3.5185 ml -> 3.5 ml (3.5×10^7 cells, −0.53%);
    final 70.37 ml -> 70.4 ml; saline 66.9 ml."""
    dose = prepare_dose(ASSIST, "it-hmsc", "low", 70.37)
    assert dose.target_amount == pytest.approx(35_185_000)
    assert (dose.product_volume_ml, dose.final_volume_ml, dose.diluent_volume_ml) == (3.5, 70.4, 66.9)
    assert dose.delivered_amount == 3.5e7
    assert any("-0.53%" in note for note in dose.notes)
    assert prepare_dose(ASSIST, "placebo", None, 70.25).final_volume_ml == 70.3  # half-up, not to even


def test_vials_are_the_ceiling_of_cells_over_vial_content():
    assert prepare_dose(ASSIST, "it-hmsc", "mid", 100).vials == 1  # exactly 1×10^8
    assert prepare_dose(ASSIST, "it-hmsc", "mid", 100.1).vials == 2
    assert prepare_dose(IXCELL, "msc", None, 50).vials == 1  # exactly 5×10^7 in a 5×10^7 vial
    assert prepare_dose(IXCELL, "msc", None, 50.1).vials == 2


@settings(max_examples=200, deadline=None)
@given(weight=st.decimals(min_value=35, max_value=150, places=1), level=st.sampled_from(["low", "mid", "high"]))
def test_both_arms_get_the_same_final_volume_at_every_weight(weight, level):
    cells = prepare_dose(ASSIST, "it-hmsc", level, str(weight))
    placebo = prepare_dose(ASSIST, "placebo", None, str(weight))
    assert cells.final_volume_ml == placebo.final_volume_ml == float(weight)
    assert cells.product_volume_ml + cells.diluent_volume_ml == pytest.approx(cells.final_volume_ml)
    assert cells.vials == math.ceil(round(cells.target_amount) / 1e8)
    assert abs(cells.delivered_amount - cells.target_amount) <= 0.05 * 1e7  # half a 0.1 ml step


@pytest.mark.parametrize(
    "weight, words",
    [
        (None, "is missing"),
        ("", "is missing"),
        ("seventy", "must be a number"),
        (True, "must be a number"),
        (float("nan"), "finite"),
        (34.9, "outside the plausible range"),
        (150.1, "outside the plausible range"),
    ],
)
def test_a_missing_or_implausible_weight_is_an_error_naming_the_field_and_range(weight, words):
    with pytest.raises(DosingError, match=words) as caught:
        prepare_dose(ASSIST, "it-hmsc", "low", weight)
    assert caught.value.field == "weight_kg"
    assert "allowed 35–150 kg" in str(caught.value)


def test_the_range_ends_are_allowed():
    assert prepare_dose(ASSIST, "it-hmsc", "low", 35).final_volume_ml == 35.0
    assert prepare_dose(ASSIST, "it-hmsc", "high", "150").product_volume_ml == 30.0


def test_an_unknown_arm_or_level_is_an_error():
    with pytest.raises(DosingError, match="arm_id"):
        prepare_dose(ASSIST, "msc", "low", 70)
    with pytest.raises(DosingError, match="'max' is not a level"):
        prepare_dose(ASSIST, "it-hmsc", "max", 70)
    with pytest.raises(DosingError, match="the slot must name one"):
        prepare_dose(ASSIST, "it-hmsc", None, 70)
