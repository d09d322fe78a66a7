"""NIHSS: item ranges, UN handling, totals and the NINDS cross-item rules."""

import pytest

from trialkit.instruments import InstrumentError, get_instrument

NIHSS = get_instrument("nihss")
NORMAL = {key: 0 for key in ("1a", "1b", "1c", "2", "3", "4", "5a", "5b", "6a", "6b", "7", "8", "9", "10", "11")}


def test_it_has_the_15_ninds_items_in_order_with_their_ranges():
    """NINDS NIH Stroke Scale form: 1a 0-3, 1b 0-2, 1c 0-2, 2 0-2, 3 0-3, 4 0-3, 5a-6b 0-4,
    7 0-2, 8 0-2, 9 0-3, 10 0-2, 11 0-2."""
    ranges = {i.key: (i.min_score, i.max_score) for i in NIHSS.items}
    assert list(ranges) == list(NORMAL)
    assert ranges == {
        "1a": (0, 3),
        "1b": (0, 2),
        "1c": (0, 2),
        "2": (0, 2),
        "3": (0, 3),
        "4": (0, 3),
        "5a": (0, 4),
        "5b": (0, 4),
        "6a": (0, 4),
        "6b": (0, 4),
        "7": (0, 2),
        "8": (0, 2),
        "9": (0, 3),
        "10": (0, 2),
        "11": (0, 2),
    }


def test_un_is_allowed_only_where_the_ninds_instructions_allow_it():
    """NINDS: UN for amputation/joint fusion on 5a-6b and 7, for intubation on 10."""
    assert {i.key for i in NIHSS.items if i.untestable == ("UN",)} == {"5a", "5b", "6a", "6b", "7", "10"}
    errors = NIHSS.validate({**NORMAL, "9": "UN"})
    assert [(e.item, e.rule) for e in errors] == [("9", "type")]


def test_a_normal_examination_scores_zero_and_the_published_maximum_is_42():
    """Brott 1989 / NINDS: 0 is normal; the sum of every item's highest score is 42."""
    assert NIHSS.score(NORMAL).total == 0
    assert NIHSS.total_range == (0, 42)


def test_a_right_hemiparesis_with_aphasia_scores_the_sum_of_its_items():
    """Hand-computed from the NINDS definitions: 1a 0, 1b 1 (one question wrong), 1c 0, gaze 1,
    visual 0, face 2, left arm 0, right arm 3, left leg 0, right leg 2, ataxia 0, sensory 1,
    language 2, dysarthria 1, extinction 0 -> 13."""
    form = {**NORMAL, "1b": 1, "2": 1, "4": 2, "5b": 3, "6b": 2, "8": 1, "9": 2, "10": 1}
    assert NIHSS.score(form).total == 13


def test_untestable_items_are_kept_but_never_added_to_the_total():
    """NINDS: UN is recorded with an explanation and scores nothing."""
    form = {**NORMAL, "5a": "UN", "6a": "un", "5b": 4, "6b": 4, "7": "UN", "10": "UN"}
    scored = NIHSS.score(form)
    assert scored.total == 8
    assert scored.values["5a"] == "UN" and scored.values["6a"] == "UN"


def test_a_patient_in_coma_must_have_the_ninds_default_scores():
    """NINDS instructions: with 1a = 3, 1b = 2, 1c = 2, ataxia 0, sensory 2 ("automatically given
    a 2"), language 3 ("will automatically score 3"), dysarthria 2 (mute) or UN."""
    coma = {
        **NORMAL,
        "1a": 3,
        "1b": 2,
        "1c": 2,
        "2": 2,
        "3": 0,
        "4": 3,
        "5a": 4,
        "5b": 4,
        "6a": 4,
        "6b": 4,
        "7": 0,
        "8": 2,
        "9": 3,
        "10": 2,
        "11": 2,
    }
    assert NIHSS.score(coma).total == 3 + 2 + 2 + 2 + 0 + 3 + 16 + 0 + 2 + 3 + 2 + 2
    with pytest.raises(InstrumentError) as caught:
        NIHSS.score({**coma, "8": 1, "9": 2})
    assert {(e.item, e.rule) for e in caught.value.errors} == {("8", "coma_default"), ("9", "coma_default")}


def test_ataxia_cannot_exceed_the_limbs_that_can_move():
    """NINDS item 7: ataxia is absent in a paralyzed limb (motor score 4) or an untestable one."""
    errors = NIHSS.validate({**NORMAL, "5a": 4, "5b": 4, "6a": 4, "6b": 3, "7": 2})
    assert [(e.item, e.value, e.rule) for e in errors] == [("7", 2, "ataxia_paralysis")]
    assert NIHSS.validate({**NORMAL, "5a": 4, "5b": 4, "6a": 4, "6b": 3, "7": 1}) == []


def test_every_error_names_the_item_the_value_and_the_allowed_values():
    with pytest.raises(InstrumentError) as caught:
        NIHSS.score({**NORMAL, "1a": 4, "5b": 5})
    text = str(caught.value)
    assert "1a = 4" in text and "allowed: 0, 1, 2, 3" in text
    assert "5b = 5" in text and "allowed: 0, 1, 2, 3, 4 or UN" in text


def test_a_draft_may_omit_items_but_a_complete_form_may_not():
    draft = {"1a": 0, "1b": 1}
    assert NIHSS.validate(draft, partial=True) == []
    missing = {e.item for e in NIHSS.validate(draft) if e.rule == "required"}
    assert missing == set(NORMAL) - {"1a", "1b"}


def test_scores_that_look_like_numbers_are_not_accepted_loosely():
    """A tick box (bool) or a fraction is never a score; "2" typed in a web form is 2."""
    errors = NIHSS.validate({**NORMAL, "1b": True, "1c": 1.5, "2": "x"})
    assert {e.item for e in errors} == {"1b", "1c", "2"}
    assert NIHSS.score({**NORMAL, "2": "2"}).values["2"] == 2


def test_items_carry_trialkit_qs_codes_in_form_order():
    """CDISC SDTM CT has no NIHSS codelist, so these are TrialKit's own codes: QSCAT NIHSS,
    QSTESTCD NIHS0101 (1a) ... NIHS0115 (11) in the order of the NINDS form."""
    assert [i.qs_testcd for i in NIHSS.items] == [f"NIHS01{n:02d}" for n in range(1, 16)]
    assert {i.qs_cat for i in NIHSS.items} == {"NIHSS"}
    assert all(len(i.qs_test) <= 40 for i in NIHSS.items)  # SDTM QSTEST is at most 40 characters
