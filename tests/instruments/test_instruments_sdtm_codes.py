"""SDTM test codes of the scales: the SDTM rules for every code, and the CDISC Controlled
Terminology terms where CDISC publishes them (mRS, MMSE)."""

import re

import pytest

from trialkit.instruments import get_instrument, list_instruments

SCALES = list_instruments("scale")

# SDTMIG v3.3 (section 4.5.3.1 and the --TESTCD/--TEST definitions): a test code is at most 8
# characters, starts with a letter and holds only letters, digits and underscores; a test name is at
# most 40 characters; test code and test name correspond one to one.
TESTCD = re.compile(r"[A-Z][A-Z0-9_]{0,7}")


@pytest.mark.parametrize("inst", SCALES, ids=lambda i: i.name)
def test_every_scale_item_has_a_test_code_and_name_within_the_sdtm_limits(inst):
    for item in inst.items:
        assert item.qs_testcd and TESTCD.fullmatch(item.qs_testcd), (item.key, item.qs_testcd)
        assert item.qs_test and len(item.qs_test) <= 40, (item.key, item.qs_test)
        assert item.qs_cat == inst.qs_cat and item.qs_cat, item.key


@pytest.mark.parametrize("inst", SCALES, ids=lambda i: i.name)
def test_test_codes_and_test_names_are_one_to_one_within_a_scale(inst):
    codes = [i.qs_testcd for i in inst.items]
    names = [i.qs_test for i in inst.items]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)


def test_no_two_scales_share_a_test_code():
    codes = [i.qs_testcd for inst in SCALES for i in inst.items]
    assert len(set(codes)) == len(codes)


# CDISC SDTM Controlled Terminology, codelists MMS1TC (C100142, "Mini-Mental State Examination
# Functional Test Test Code") and MMS1TN (test names), as published in the NCI EVS SDTM Terminology
# file (2026 extract). Item key -> (FTTESTCD, FTTEST); the NCIt C-code of each term in the comment.
MMSE_CT = {
    "orientation_time_year": ("MMS101A", "MMS1-What Is the Year"),  # C100543
    "orientation_time_season": ("MMS101B", "MMS1-What Is the Season"),  # C100544
    "orientation_time_month": ("MMS101C", "MMS1-What Is the Month of Year"),  # C100547
    "orientation_time_day": ("MMS101D", "MMS1-What Is the Day of Week"),  # C100546
    "orientation_time_date": ("MMS101E", "MMS1-What Is the Date"),  # C100545
    "orientation_place_state": ("MMS102A", "MMS1-What Is the State"),  # C100549
    "orientation_place_county": ("MMS102B", "MMS1-What Is the County"),  # C100550
    "orientation_place_town": ("MMS102C", "MMS1-What Is the City/Town"),  # C100551
    "orientation_place_hospital": ("MMS102D", "MMS1-What Is the Building"),  # C100552
    "orientation_place_floor": ("MMS102E", "MMS1-What Is the Floor"),  # C100553
    "attention": ("MMS104", "MMS1-Attention and Calculation Subtotal"),  # C100570
    "naming_pencil": ("MMS106A", "MMS1-Naming Object 1"),  # C100576
    "naming_watch": ("MMS106B", "MMS1-Naming Object 2"),  # C100577
    "repetition": ("MMS107", "MMS1-Repeat What I Say"),  # C100578
    "command_take": ("MMS108A", "MMS1-Take in Right Hand"),  # C100580
    "command_fold": ("MMS108B", "MMS1-Fold in Half"),  # C100581
    "command_put": ("MMS108C", "MMS1-Put on Floor (or Table)"),  # C100582
    "reading": ("MMS109", "MMS1-Read This and Do What It Says"),  # C100583
    "writing": ("MMS110", "MMS1-Write a Sentence"),  # C100584
    "copying": ("MMS111", "MMS1-Copy This Design"),  # C100585
}


def test_mmse_items_carry_the_cdisc_ct_terms():
    """CDISC SDTM CT MMS1TC/MMS1TN (C100142), NCI EVS SDTM Terminology (2026 extract): e.g. year
    MMS101A "MMS1-What Is the Year" (C100543), attention MMS104 "MMS1-Attention and Calculation
    Subtotal" (C100570), copying MMS111 "MMS1-Copy This Design" (C100585)."""
    mmse = get_instrument("mmse")
    assert {key: (mmse.item(key).qs_testcd, mmse.item(key).qs_test) for key in MMSE_CT} == MMSE_CT


def test_mmse_domain_scores_without_a_ct_term_stay_outside_the_cdisc_namespace():
    """MMS1TC has no term for the orientation, registration, recall, naming and command domain
    scores (it codes them per question or word): those carry TrialKit's own TKMMS codes, never an
    MMS1 code CDISC could later assign to something else."""
    mmse = get_instrument("mmse")
    own = {i.key: i.qs_testcd for i in mmse.items if i.key not in MMSE_CT}
    assert own == {
        "orientation_time": "TKMMS01",
        "orientation_place": "TKMMS02",
        "registration": "TKMMS03",
        "recall": "TKMMS05",
        "naming": "TKMMS06",
        "command": "TKMMS08",
    }
    assert all(mmse.item(k).qs_test.startswith("TKMMS-") for k in own)


def test_mrs_grade_carries_the_cdisc_ct_term():
    """CDISC SDTM CT MRS01TC (C111348, "Modified Rankin Scale Clinical Classification Test Code"):
    its one term MRS0101, test name "MRS01-Modified Rankin Scale Score" (C111520); NCI EVS SDTM
    Terminology (2026 extract)."""
    item = get_instrument("mrs").item("score")
    assert (item.qs_testcd, item.qs_test) == ("MRS0101", "MRS01-Modified Rankin Scale Score")


def test_each_scale_names_the_sdtm_domain_cdisc_ct_classes_it_in():
    """CDISC SDTM CT: MMS1TC (C100142) is a functional test codelist (FT), MRS01TC (C111348) a
    clinical classification codelist (RS); CT has no NIHSS, Barthel or Fugl-Meyer codelist, and
    TrialKit keeps those in QS."""
    assert {inst.name: inst.sdtm_domain for inst in SCALES} == {
        "nihss": "QS",
        "mrs": "RS",
        "barthel": "QS",
        "mmse": "FT",
        "fma_ue": "QS",
        "fma_le": "QS",
    }


def test_an_instrument_outside_the_sdtm_scale_domains_is_refused_at_definition():
    from trialkit.instruments.framework import Instrument

    mrs = get_instrument("mrs")
    with pytest.raises(ValueError, match="sdtm_domain 'LB'"):
        Instrument(name="x", title="x", version="1", items=mrs.items, total_range=(0, 6), sdtm_domain="LB")
