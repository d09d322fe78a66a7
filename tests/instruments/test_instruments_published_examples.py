"""Published, itemised examples: each form entered exactly as its source lists the items, checked
against the total the source reports.

The sources are public example records whose authors state both the item scores and the total
(national FHIR example instances, implementation-guide examples, sample data sets). The published
clinical literature searched for this file (Brott 1989, Collin & Wade 1988, Folstein 1975,
Fugl-Meyer 1975, Gladstone 2002) reports ranges and group statistics, not one patient's items with
a total, so no example is taken from it.

Not used: the ANS CI-SIS example document AVC-EUNV_2022.01 (github.com/ansforge/TestContenuCDA-3-0,
ExemplesCDA/AVC-EUNV_2022.01.xml) publishes an NIHSS total of 4 whose coded item entries add up to 6
(its narrative table gives other item scores), so it cannot check a total either way.
"""

import itertools

import pytest

from trialkit.instruments import get_instrument

NIHSS = get_instrument("nihss")
BARTHEL = get_instrument("barthel")
MMSE = get_instrument("mmse")
FMA_UE = get_instrument("fma_ue")


# --------------------------------------------------------------------------- Barthel Index

# Collin C, Wade DT, Davies S, Horne V. The Barthel ADL Index: a reliability study.
# Int Disabil Stud 1988;10:61-63: each item scored 0..n, total 0-20. The same item levels are
# the Nictiz zib BarthelADLIndex value sets (codes FECAL0-2, URIN0-2, GROOM0-1, TOIL0-2, FEED0-2,
# TRANS0-3, MOBIL0-3, DRESS0-2, CLIMB0-2, BATH0-1, the digit being the 0-20 score).
COLLIN_WADE_LEVELS = {
    "bowels": 2,
    "bladder": 2,
    "grooming": 1,
    "toilet_use": 2,
    "feeding": 2,
    "transfers": 3,
    "mobility": 3,
    "dressing": 2,
    "stairs": 2,
    "bathing": 1,
}


def test_barthel_nictiz_zib_example_scores_14_of_20_which_is_70_of_100():
    """Nictiz, zib 2020 FHIR R4 example `nl-core-BarthelADLIndex-01`
    (github.com/Nictiz/Nictiz-R4-zib2020, examples/nl-core-BarthelADLIndex-01.xml): bowels FECAL2
    continent, bladder URIN1 occasional accident, grooming GROOM1 independent, toilet TOIL2
    independent, feeding FEED2 independent, transfers TRANS1 major help, mobility MOBIL1
    independent with wheelchair, dressing DRESS1 needs help, stairs CLIMB2 independent, bathing
    BATH1 independent; published Barthel index (0-20) = 14. The 1965 0-100 form scores the same
    levels at 5 points each (Collin et al. 1988), so 14 x 5 = 70."""
    published_0_20 = {
        "bowels": 2,
        "bladder": 1,
        "grooming": 1,
        "toilet_use": 2,
        "feeding": 2,
        "transfers": 1,
        "mobility": 1,
        "dressing": 1,
        "stairs": 2,
        "bathing": 1,
    }
    assert sum(published_0_20.values()) == 14
    form = {item: 5 * level for item, level in published_0_20.items()}
    assert BARTHEL.score(form).total == 70


@pytest.mark.slow
def test_barthel_0_100_total_is_five_times_the_collin_wade_0_20_total_on_every_form():
    """Collin, Wade, Davies & Horne 1988: the 0-20 Barthel ADL Index scores the items of
    Mahoney & Barthel 1965 at the same levels, one point per 5; so for every one of the
    3^6 x 2^2 x 4^2 = 46,656 possible forms, total(0-100) = 5 x total(0-20)."""
    assert {i.key: [c.code for c in i.choices] for i in BARTHEL.items} == {
        item: [5 * level for level in range(top + 1)] for item, top in COLLIN_WADE_LEVELS.items()
    }
    keys = list(COLLIN_WADE_LEVELS)
    forms = itertools.product(*(range(COLLIN_WADE_LEVELS[k] + 1) for k in keys))
    checked = 0
    for levels in forms:
        total = BARTHEL.score({k: 5 * level for k, level in zip(keys, levels)}).total
        assert total == 5 * sum(levels), levels
        checked += 1
    assert checked == 46_656


# --------------------------------------------------------------------------- MMSE


def test_mmse_rts_ig_example_scores_21():
    """Rehabilitation Training Scale Implementation Guide (HL7 FHIR), example
    `MMSEQuestionnaireResponseExample` (github.com/Rehabotics-Medical-Techology-Co/RTS-IG,
    input/fsh/Examples/Ins_MMSE_R.fsh): time year 0, month 1, date 1, day 0, season 1; place
    city 0, location 1, hospital 1, floor 0, number 1; registration ("memory") 3; serial sevens 4;
    recall 2; naming 2; phrase repetition 1; three-stage command 2; writing a sentence 0; reading
    ("paper") 1; copying the design 0; published total 21."""
    form = {
        "orientation_time_year": 0,
        "orientation_time_month": 1,
        "orientation_time_date": 1,
        "orientation_time_day": 0,
        "orientation_time_season": 1,
        "orientation_time": 3,
        "orientation_place": 3,
        "registration": 3,
        "attention": 4,
        "recall": 2,
        "naming": 2,
        "repetition": 1,
        "command": 2,
        "writing": 0,
        "reading": 1,
        "copying": 0,
    }
    scored = MMSE.score(form)
    assert scored.total == 21
    assert scored.subscores["orientation"] == 6


def test_mmse_taiwan_long_term_care_example_scores_30():
    """Taiwan Long-Term Care FHIR IG, example `ltc-questionnaire-response-mmse-complete-example`
    (github.com/Lorex/TWLongTermCare_IG_Build, input/fsh/examples/
    example_questionnaire_response_mmse.fsh): ten orientation items 1 each, registration 3,
    serial sevens 5, recall 1+1+1, naming 1+1, repetition 1, reading 1, three-stage command 3,
    writing 1, copying 1; published total 30."""
    form = {
        "orientation_time": 5,
        "orientation_place": 5,
        "registration": 3,
        "attention": 5,
        "recall": 3,
        "naming_watch": 1,
        "naming_pencil": 1,
        "naming": 2,
        "repetition": 1,
        "reading": 1,
        "command": 3,
        "writing": 1,
        "copying": 1,
    }
    assert MMSE.score(form).total == 30


# --------------------------------------------------------------------------- Fugl-Meyer


def test_fma_ue_rts_ig_example_scores_26_of_66():
    """Rehabilitation Training Scale Implementation Guide (HL7 FHIR), example
    `FMAUEMotorQuestionnaireResponseExample` (github.com/Rehabotics-Medical-Techology-Co/RTS-IG,
    input/fsh/Examples/Ins_FMAUEMotion_R.fsh; rendered at build.fhir.org/ig/
    Rehabotics-Medical-Techology-Co/RTS-IG), left arm: reflexes flexors 2, extensors 0; flexor
    synergy 2,1,2,1,2,1; extensor synergy 1,0,1; mixing 1,2,1; isolated 1,0,0; normal reflex 0;
    wrist 1,0,0,0,1; hand mass flexion 1, extension 1, grasps a-e 0,1,0,0,0; coordination 1,1,1;
    published FMA-UE motor total 26. Part V is 0 with part IV at 1 of 6, as the Gothenburg
    protocol requires."""
    form = {
        "a_reflex_flexors": 2,
        "a_reflex_extensors": 0,
        "a_flexor_shoulder_retraction": 2,
        "a_flexor_shoulder_elevation": 1,
        "a_flexor_shoulder_abduction": 2,
        "a_flexor_shoulder_outward_rotation": 1,
        "a_flexor_elbow_flexion": 2,
        "a_flexor_forearm_supination": 1,
        "a_extensor_shoulder_adduction": 1,
        "a_extensor_elbow_extension": 0,
        "a_extensor_forearm_pronation": 1,
        "a_mixing_hand_to_lumbar_spine": 1,
        "a_mixing_shoulder_flexion_0_90": 2,
        "a_mixing_pronation_supination": 1,
        "a_isolated_shoulder_abduction_0_90": 1,
        "a_isolated_shoulder_flexion_90_180": 0,
        "a_isolated_pronation_supination": 0,
        "a_normal_reflex_activity": 0,
        "b_stability_elbow_90": 1,
        "b_flexion_extension_elbow_90": 0,
        "b_stability_elbow_0": 0,
        "b_flexion_extension_elbow_0": 0,
        "b_circumduction": 1,
        "c_mass_flexion": 1,
        "c_mass_extension": 1,
        "c_grasp_hook": 0,
        "c_grasp_thumb_adduction": 1,
        "c_grasp_pincer": 0,
        "c_grasp_cylinder": 0,
        "c_grasp_spherical": 0,
        "d_tremor": 1,
        "d_dysmetria": 1,
        "d_time": 1,
    }
    scored = FMA_UE.score(form)
    assert scored.total == 26
    assert sum(scored.subscores.values()) == 26


# --------------------------------------------------------------------------- NIHSS


def test_nihss_pacio_sample_record_scores_5():
    """PACIO project sample data (github.com/paciowg/sample-data-fsh,
    input/fsh/EX_bsj1_questionnaireresponse.fsh, `betsysmith-johnson01-qr-strokescale-01`, LOINC
    NIHSS panel 70182-1): LOC 0, LOC questions 0, best gaze 0, facial palsy 0, motor arm 3 (no
    effort against gravity), motor leg 0, limb ataxia 1 (one limb), sensory 1, best language 0,
    dysarthria 0, extinction 0; published total score (LOINC 72089-6) 5. The record lists one arm
    and one leg and omits LOC commands and visual fields; its total, equal to the sum of the listed
    items, leaves 0 for those, so they are entered as 0 and the arm is put on the left."""
    form = {
        "1a": 0,
        "1b": 0,
        "1c": 0,
        "2": 0,
        "3": 0,
        "4": 0,
        "5a": 3,
        "5b": 0,
        "6a": 0,
        "6b": 0,
        "7": 1,
        "8": 1,
        "9": 0,
        "10": 0,
        "11": 0,
    }
    assert NIHSS.score(form).total == 5


def test_nihss_taiwan_vgh_stroke_ig_admission_example_scores_12():
    """TW VGH Stroke IG (Kaohsiung Veterans General Hospital, HL7 FHIR, package tw.vgh.stroke
    0.1.0), example Observation `stroke-nihss-admission-example`
    (github.com/SitatechCo/TWVGHStroke_IG_Build, input/fsh/examples/example_stroke_nihss.fsh;
    rendered at build.fhir.org/ig/SitatechCo/TWVGHStroke_IG_Build/
    Observation-stroke-nihss-admission-example.html), all 15 items as LOINC components:
    1a LOC (70184-7) 0, 1b LOC questions (70185-4) 1, 1c LOC commands (70186-2) 0, 2 best gaze
    (70187-0) 1, 3 visual (70188-8) 0, 4 facial palsy (70189-6) 2, 5a motor arm left (70190-4) 0,
    5b motor arm right (70967-5) 3, 6a motor leg left (70191-2) 0, 6b motor leg right (70968-3) 2,
    7 limb ataxia (70192-0) 0, 8 sensory (70193-8) 1, 9 best language (70194-6) 1, 10 dysarthria
    (70195-3) 1, 11 extinction and inattention (70196-1) 0; published total score (LOINC 72089-6)
    12. The IG's left/right LOINC codes map one to one onto 5a/5b/6a/6b."""
    form = {
        "1a": 0,
        "1b": 1,
        "1c": 0,
        "2": 1,
        "3": 0,
        "4": 2,
        "5a": 0,
        "5b": 3,
        "6a": 0,
        "6b": 2,
        "7": 0,
        "8": 1,
        "9": 1,
        "10": 1,
        "11": 0,
    }
    assert NIHSS.validate(form) == []
    assert NIHSS.score(form).total == 12


def test_nihss_taiwan_vgh_stroke_ig_24h_example_with_untestable_dysarthria_scores_6():
    """TW VGH Stroke IG (as above), example Observation `stroke-nihss-24h-example` (same file;
    rendered at build.fhir.org/ig/SitatechCo/TWVGHStroke_IG_Build/
    Observation-stroke-nihss-24h-example.html): 1a 0, 1b 0, 1c 0, 2 0, 3 0, 4 facial palsy 1,
    5a motor arm left 0, 5b motor arm right 2, 6a motor leg left 0, 6b motor leg right 1, 7 0,
    8 sensory 1, 9 best language 1, 10 dysarthria "X", 11 0; published total score (LOINC 72089-6)
    6. The IG keeps the dysarthria value as the source's non-numeric "X" (valueString) and fills
    the total with the source's own value; it does not define "X". Read here as untestable, the
    form's UN on item 10 (NINDS: intubated or other physical barrier to speech), which adds
    nothing: the published 6 is the sum of the fourteen numeric items."""
    form = {
        "1a": 0,
        "1b": 0,
        "1c": 0,
        "2": 0,
        "3": 0,
        "4": 1,
        "5a": 0,
        "5b": 2,
        "6a": 0,
        "6b": 1,
        "7": 0,
        "8": 1,
        "9": 1,
        "10": "UN",
        "11": 0,
    }
    assert NIHSS.validate(form) == []
    scored = NIHSS.score(form)
    assert scored.values["10"] == "UN"
    assert scored.total == 6
