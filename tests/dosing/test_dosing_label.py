"""The blinded label reads the same, byte for byte, whatever the arm."""

from __future__ import annotations

from datetime import datetime

import pytest

from trialkit.dosing import DosingError, blinded_label, prepare_dose
from trialkit.protocol import load_protocol

ASSIST = load_protocol("NCT04590118")
IXCELL = load_protocol("NCT07197606")
WHEN = datetime(2025, 3, 4, 9, 30)


def label(protocol, preparation, weight):
    return blinded_label(
        protocol, "R01-007", "AS-1453", weight, preparation=preparation, prepared_at=WHEN, prepared_by="pharmacist 2"
    )


@pytest.mark.parametrize("weight", [35, 70, 70.37, 150])
def test_labels_for_cells_and_placebo_are_byte_identical(weight):
    for level in ("low", "mid", "high"):
        cells = label(ASSIST, prepare_dose(ASSIST, "it-hmsc", level, weight), weight)
        placebo = label(ASSIST, prepare_dose(ASSIST, "placebo", None, weight), weight)
        assert cells.encode() == placebo.encode()
    assert label(IXCELL, prepare_dose(IXCELL, "msc", None, weight), weight) == label(
        IXCELL, prepare_dose(IXCELL, "placebo", None, weight), weight
    )


def test_the_label_names_no_arm_dose_level_cell_count_or_product():
    text = label(ASSIST, prepare_dose(ASSIST, "it-hmsc", "high", 70), 70)
    forbidden = [
        "it-hmsc",
        "it-hMSC",
        "Placebo",
        "placebo",
        "cells",
        "10^",
        "1.4",
        "14.0",
        "56.0",
        "vial",
        "high",
        "2×",
    ]
    for arm in ASSIST.arms:
        forbidden += [arm.label, arm.description] + [lvl.label for lvl in arm.dose.levels]
    for word in forbidden:
        assert word not in text, word
    assert "R01-007" in text and "AS-1453" in text and "70.0 ml" in text and "For clinical trial use only" in text


def test_a_preparation_that_would_unblind_is_refused():
    other_weight = prepare_dose(ASSIST, "placebo", None, 72)
    with pytest.raises(DosingError, match="does not match the blinded volume"):
        label(ASSIST, other_weight, 70)


def test_the_label_checks_the_weight_too():
    with pytest.raises(DosingError, match="weight_kg: is missing"):
        blinded_label(ASSIST, "R01-001", "AS-0001", None)
