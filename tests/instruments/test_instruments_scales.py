"""mRS, Barthel Index, MMSE and Fugl-Meyer: published items, ranges, totals and rules."""

import pytest

from trialkit.instruments import InstrumentError, get_instrument

MRS = get_instrument("mrs")
BARTHEL = get_instrument("barthel")
MMSE = get_instrument("mmse")
FMA_UE = get_instrument("fma_ue")
FMA_LE = get_instrument("fma_le")


# --------------------------------------------------------------------------- mRS


def test_mrs_has_the_seven_van_swieten_grades_with_descriptions():
    """van Swieten 1988: 0 no symptoms ... 5 severe disability; 6 dead."""
    item = MRS.item("score")
    assert [c.code for c in item.choices] == [0, 1, 2, 3, 4, 5, 6]
    assert item.choices[0].label == "No symptoms at all"
    assert item.choices[6].label == "Dead"
    assert [MRS.score({"score": grade}).total for grade in range(7)] == [0, 1, 2, 3, 4, 5, 6]
    with pytest.raises(InstrumentError, match="score = 7"):
        MRS.score({"score": 7})


# --------------------------------------------------------------------------- Barthel

BARTHEL_ALLOWED = {
    "feeding": [0, 5, 10],
    "bathing": [0, 5],
    "grooming": [0, 5],
    "dressing": [0, 5, 10],
    "bowels": [0, 5, 10],
    "bladder": [0, 5, 10],
    "toilet_use": [0, 5, 10],
    "transfers": [0, 5, 10, 15],
    "mobility": [0, 5, 10, 15],
    "stairs": [0, 5, 10],
}


def test_barthel_items_accept_only_the_1965_values():
    """Mahoney & Barthel 1965: each item's own values, summing to 100."""
    assert {i.key: [c.code for c in i.choices] for i in BARTHEL.items} == BARTHEL_ALLOWED
    errors = BARTHEL.validate({**{k: 0 for k in BARTHEL_ALLOWED}, "bathing": 10, "transfers": 3})
    assert {(e.item, e.value) for e in errors} == {("bathing", 10), ("transfers", 3)}
    assert "allowed: 0, 5" in str(InstrumentError(errors))


def test_barthel_independent_patient_scores_100_and_a_dependent_one_0():
    """Mahoney & Barthel 1965: 100 = continent, feeds, dresses, walks at least a block, climbs
    stairs without help; 0 = dependent in all."""
    assert BARTHEL.score({k: max(v) for k, v in BARTHEL_ALLOWED.items()}).total == 100
    assert BARTHEL.score({k: 0 for k in BARTHEL_ALLOWED}).total == 0


def test_barthel_partial_dependence_sums_the_items():
    """Hand-computed: feeding 5, bathing 0, grooming 5, dressing 5, bowels 10, bladder 5,
    toilet 5, transfers 10, mobility 10, stairs 0 -> 55."""
    form = {
        "feeding": 5,
        "bathing": 0,
        "grooming": 5,
        "dressing": 5,
        "bowels": 10,
        "bladder": 5,
        "toilet_use": 5,
        "transfers": 10,
        "mobility": 10,
        "stairs": 0,
    }
    assert BARTHEL.score(form).total == 55


# --------------------------------------------------------------------------- MMSE

MMSE_MAXIMA = {
    "orientation_time": 5,
    "orientation_place": 5,
    "registration": 3,
    "attention": 5,
    "recall": 3,
    "naming": 2,
    "repetition": 1,
    "command": 3,
    "reading": 1,
    "writing": 1,
    "copying": 1,
}


def test_mmse_domains_have_the_folstein_maxima_and_total_30():
    """Folstein 1975: orientation 10, registration 3, attention 5, recall 3, language/praxis 9."""
    domains = {i.key: i.max_score for i in MMSE.items if i.part_of is None}
    assert domains == MMSE_MAXIMA
    scored = MMSE.score(MMSE_MAXIMA)
    assert scored.total == 30
    assert scored.subscores == {"orientation": 10, "registration": 3, "attention": 5, "recall": 3, "language_praxis": 9}


def test_mmse_domain_can_be_entered_as_its_questions():
    """Folstein 1975 scores one point per orientation question; entering the five questions
    gives the domain as their sum."""
    form = {**MMSE_MAXIMA}
    del form["orientation_time"]
    form.update(
        {
            "orientation_time_year": 1,
            "orientation_time_season": 0,
            "orientation_time_date": 0,
            "orientation_time_day": 1,
            "orientation_time_month": 1,
        }
    )
    scored = MMSE.score(form)
    assert scored.values["orientation_time"] == 3
    assert scored.total == 28


def test_mmse_domain_that_disagrees_with_its_questions_is_rejected():
    form = {**MMSE_MAXIMA, "naming_pencil": 1, "naming_watch": 0}
    errors = MMSE.validate(form)
    assert [(e.item, e.rule) for e in errors] == [("naming", "components")]
    partial_items = {**MMSE_MAXIMA, "command_take": 1}
    del partial_items["command"]
    assert [(e.item, e.rule) for e in MMSE.validate(partial_items)] == [("command", "components")]


def test_mmse_rejects_a_domain_above_its_maximum():
    errors = MMSE.validate({**MMSE_MAXIMA, "recall": 4})
    assert [(e.item, e.value, e.rule) for e in errors] == [("recall", 4, "range")]
    assert "allowed: 0-3" in errors[0].message


# --------------------------------------------------------------------------- Fugl-Meyer


def _full(inst):
    return {i.key: i.max_score for i in inst.items}


def test_fma_ue_has_33_items_scoring_66_in_the_published_subsections():
    """Fugl-Meyer 1975 / Gladstone 2002: UE motor 33 items, 0-66; A 36, B 10, C 14, D 6."""
    assert len(FMA_UE.items) == 33
    scored = FMA_UE.score(_full(FMA_UE))
    assert scored.total == 66
    assert scored.subscores == {"A": 36, "B": 10, "C": 14, "D": 6}


def test_fma_le_has_17_items_scoring_34():
    """Fugl-Meyer 1975 / Gladstone 2002: LE motor 17 items, 0-34; E 28, F 6."""
    assert len(FMA_LE.items) == 17
    scored = FMA_LE.score(_full(FMA_LE))
    assert (scored.total, scored.subscores) == (34, {"E": 28, "F": 6})


def test_fma_reflex_items_score_0_or_2_never_1():
    """Published form, part I: "no reflex activity can be elicited" 0, "can be elicited" 2."""
    for inst in (FMA_UE, FMA_LE):
        reflex = [i for i in inst.items if "_reflex_" in i.key and "normal" not in i.key]
        assert len(reflex) == 2
        assert all([c.code for c in i.choices] == [0, 2] for i in reflex)
        errors = inst.validate({**_full(inst), reflex[0].key: 1})
        assert [(e.item, e.value) for e in errors] == [(reflex[0].key, 1)]


def test_fma_part_v_is_scored_only_when_part_iv_is_full():
    """Gothenburg FMA protocol: part V is assessed only if part IV has its full score (UE 6)."""
    form = {**_full(FMA_UE), "a_isolated_shoulder_flexion_90_180": 1}
    errors = FMA_UE.validate(form)
    assert [(e.item, e.rule) for e in errors] == [("a_normal_reflex_activity", "part_v_requires_full_part_iv")]
    form["a_normal_reflex_activity"] = 0
    assert FMA_UE.score(form).total == 66 - 1 - 2


def test_a_moderate_upper_limb_impairment_sums_by_subsection():
    """Hand-computed: reflexes 2+2, flexor synergy 2 each except supination 1 (11), extensor 2+1+1,
    mixing 1+1+0, isolated 0+0+0, part V 0 -> A 21; wrist 1+1+0+0+0 -> 2; hand 2+1+1+0+0+1+0 -> 5;
    coordination 1+1+0 -> 2; total 30."""
    form = {i.key: 0 for i in FMA_UE.items}
    form.update(
        {
            "a_reflex_flexors": 2,
            "a_reflex_extensors": 2,
            "a_flexor_shoulder_retraction": 2,
            "a_flexor_shoulder_elevation": 2,
            "a_flexor_shoulder_abduction": 2,
            "a_flexor_shoulder_outward_rotation": 2,
            "a_flexor_elbow_flexion": 2,
            "a_flexor_forearm_supination": 1,
            "a_extensor_shoulder_adduction": 2,
            "a_extensor_elbow_extension": 1,
            "a_extensor_forearm_pronation": 1,
            "a_mixing_hand_to_lumbar_spine": 1,
            "a_mixing_shoulder_flexion_0_90": 1,
            "b_stability_elbow_90": 1,
            "b_flexion_extension_elbow_90": 1,
            "c_mass_flexion": 2,
            "c_mass_extension": 1,
            "c_grasp_hook": 1,
            "c_grasp_cylinder": 1,
            "d_tremor": 1,
            "d_dysmetria": 1,
        }
    )
    scored = FMA_UE.score(form)
    assert scored.subscores == {"A": 21, "B": 2, "C": 5, "D": 2}
    assert scored.total == 30
