"""Every ASSIST (NCT04590118) criterion, including the organ-function laboratory bullet.

Reference for each rule: the registry page in shared/seeds/NCT04590118-ASSIST.txt. Unit factors are
those of the AMA Manual of Style SI conversion table (1 g/dL = 10 g/L; 1 x 10^9/L = 1000 /uL;
creatinine 1 mg/dL = 88.4 umol/L; bilirubin 1 mg/dL = 17.104 umol/L; 1 ukat/L = 60 U/L).
"""

from __future__ import annotations

import pytest
from eligibility_helpers import ASSIST, DELETE, screen_example

BASE = "assist-eligible"  # screening_date 2025-03-03, male, on aspirin
ORGAN = "inc-organ-function"
NO_ANTITHROMBOTIC = [{"name": "atorvastatin", "class": "statin"}]


def status(result, criterion_id):
    return result.criterion(criterion_id).status


def reason(result, criterion_id):
    return result.criterion(criterion_id).reason


def test_the_example_record_is_eligible():
    result = screen_example(ASSIST, BASE)
    assert result.verdict == "eligible", [(c.id, c.reason) for c in result.criteria if c.status != "pass"]
    assert len(result.criteria) == 23


# --------------------------------------------------------------------------- computable inclusions


@pytest.mark.parametrize(("birth_date", "expected"), [("2007-03-03", "pass"), ("2007-03-04", "fail")])
def test_age_18_or_older(birth_date, expected):
    result = screen_example(ASSIST, BASE, birth_date=birth_date)
    assert status(result, "inc-age") == expected


@pytest.mark.parametrize(
    ("onset", "expected", "shown"),
    [
        ("2024-09-03", "fail", "onset 2024-09-03, 6 months before screening, needs more than 6 months"),
        ("2024-09-02", "pass", "onset 2024-09-02, 6 months 1 day before screening, more than 6 months"),
    ],
)
def test_stroke_more_than_6_months_ago_counts_calendar_months(onset, expected, shown):
    result = screen_example(ASSIST, BASE, stroke__onset_date=onset)
    assert status(result, "inc-stroke-over-6-months") == expected
    assert shown in reason(result, "inc-stroke-over-6-months")


@pytest.mark.parametrize(("total", "expected"), [(5, "fail"), (6, "pass"), (20, "pass"), (21, "fail")])
def test_nihss_total_6_to_20(total, expected):
    values = {
        "1a": 0,
        "1b": 0,
        "1c": 0,
        "2": 0,
        "3": 0,
        "4": 0,
        "5a": 0,
        "5b": 0,
        "6a": 0,
        "6b": 0,
        "7": 0,
        "8": 0,
        "9": 0,
        "10": 0,
        "11": 0,
    }
    left = total
    for item in ("5a", "5b", "6a", "6b", "9", "3"):
        values[item] = min(4 if item[0] in "56" else 3, left)
        left -= values[item]
    assert left == 0
    result = screen_example(ASSIST, BASE, nihss=values)
    assert status(result, "inc-nihss") == expected
    assert reason(result, "inc-nihss").startswith(f"NIHSS total {total}")


# --------------------------------------------------------------------------- organ function


@pytest.mark.parametrize(
    ("value", "unit", "uln", "uln_unit", "expected"),
    [
        (100, "U/L", 40, None, "pass"),  # exactly 2.5 x ULN
        (101, "U/L", 40, None, "fail"),
        (2.5, "ukat/L", 60, "U/L", "pass"),  # 150 U/L against ULN 60 U/L: exactly 2.5
        (2.51, "ukat/L", 60, "U/L", "fail"),
    ],
)
def test_ast_at_most_2_5_times_uln(value, unit, uln, uln_unit, expected):
    lab = {"value": value, "unit": unit, "uln": uln}
    if uln_unit:
        lab["uln_unit"] = uln_unit
    result = screen_example(ASSIST, BASE, labs__ast=lab)
    assert status(result, ORGAN) == expected
    if expected == "fail":
        assert "AST" in reason(result, ORGAN) and "> 2.5×ULN" in reason(result, ORGAN)


def test_ast_reason_shows_the_multiple():
    result = screen_example(ASSIST, BASE, labs__ast={"value": 104, "unit": "U/L", "uln": 40})
    assert reason(result, ORGAN) == "AST 104 U/L = 2.60×ULN (ULN 40 U/L) > 2.5×ULN"


def test_alt_creatinine_and_bilirubin_limits():
    assert status(screen_example(ASSIST, BASE, labs__alt={"value": 101, "unit": "U/L", "uln": 40}), ORGAN) == "fail"
    # Creatinine 159.12 umol/L = 1.8 mg/dL = 1.5 x ULN of 1.2 mg/dL (88.4 umol/L per mg/dL).
    on_limit = {"value": 159.12, "unit": "umol/L", "uln": 1.2, "uln_unit": "mg/dL"}
    assert status(screen_example(ASSIST, BASE, labs__creatinine=on_limit), ORGAN) == "pass"
    above = dict(on_limit, value=160)
    assert status(screen_example(ASSIST, BASE, labs__creatinine=above), ORGAN) == "fail"
    # Bilirubin 30.7872 umol/L = 1.8 mg/dL = 1.5 x ULN of 1.2 mg/dL (17.104 umol/L per mg/dL).
    tsb = {"value": 30.7872, "unit": "µmol/L", "uln": 1.2, "uln_unit": "mg/dL"}
    assert status(screen_example(ASSIST, BASE, labs__bilirubin=tsb), ORGAN) == "pass"
    assert status(screen_example(ASSIST, BASE, labs__bilirubin=dict(tsb, value=31)), ORGAN) == "fail"


@pytest.mark.parametrize(
    ("value", "unit", "expected", "shown"),
    [
        (30, "g/L", "pass", "albumin 30 g/L (3.0 g/dL) ≥ 3.0 g/dL"),
        (29, "g/L", "fail", "albumin 29 g/L (2.9 g/dL) < 3.0 g/dL"),
        (3.0, "g/dL", "pass", "albumin 3.0 g/dL ≥ 3.0 g/dL"),
        (2.9, "g/dL", "fail", "albumin 2.9 g/dL < 3.0 g/dL"),
    ],
)
def test_albumin_at_least_3_g_per_dl_in_both_unit_systems(value, unit, expected, shown):
    result = screen_example(ASSIST, BASE, labs__albumin={"value": value, "unit": unit})
    assert status(result, ORGAN) == expected
    assert shown in reason(result, ORGAN)


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "expected"),
    [
        ("anc", 1.5, "10^9/L", "pass"),
        ("anc", 1.49, "10^9/L", "fail"),
        ("anc", 1500, "/µL", "pass"),
        ("platelets", 150, "10^9/L", "pass"),
        ("platelets", 149, "10^9/L", "fail"),
        ("platelets", 149_999, "/µL", "fail"),
        ("hemoglobin", 90, "g/L", "pass"),
        ("hemoglobin", 89, "g/L", "fail"),
        ("hemoglobin", 9.0, "g/dL", "pass"),
    ],
)
def test_blood_counts_in_both_unit_systems(analyte, value, unit, expected):
    result = screen_example(ASSIST, BASE, **{f"labs__{analyte}": {"value": value, "unit": unit}})
    assert status(result, ORGAN) == expected


def test_platelets_reason_converts_from_si():
    result = screen_example(ASSIST, BASE, labs__platelets={"value": 149, "unit": "10^9/L"})
    assert reason(result, ORGAN) == "platelets 149 10^9/L (149,000 /µL) < 150,000 /µL"


def test_pt_and_ptt_are_not_required_on_antithrombotic_therapy():
    result = screen_example(ASSIST, BASE)  # aspirin, antiplatelet; no PT/PTT in the record
    assert status(result, ORGAN) == "pass"
    assert "not required: on aspirin (antiplatelet)" in reason(result, ORGAN)
    anticoagulated = screen_example(
        ASSIST,
        BASE,
        medications=[{"name": "warfarin", "class": "anticoagulant"}],
        labs__pt={"value": 30, "unit": "s", "uln": 13},
    )
    assert status(anticoagulated, ORGAN) == "pass"


def test_pt_and_ptt_are_required_without_antithrombotic_therapy():
    result = screen_example(ASSIST, BASE, medications=NO_ANTITHROMBOTIC)
    assert status(result, ORGAN) == "unknown"
    assert result.missing == ["labs.pt", "labs.ptt"]
    assert "no anticoagulant or antiplatelet among current medications" in reason(result, ORGAN)
    ok = screen_example(
        ASSIST,
        BASE,
        medications=NO_ANTITHROMBOTIC,
        labs__pt={"value": 15, "unit": "s", "uln": 12},  # exactly 1.25 x ULN
        labs__ptt={"value": 35, "unit": "s", "uln": 35},
    )
    assert status(ok, ORGAN) == "pass"
    long_pt = screen_example(
        ASSIST,
        BASE,
        medications=NO_ANTITHROMBOTIC,
        labs__pt={"value": 15.1, "unit": "s", "uln": 12},
        labs__ptt={"value": 35, "unit": "s", "uln": 35},
    )
    assert status(long_pt, ORGAN) == "fail"
    assert "PT 15.1 s = 1.26×ULN (ULN 12 s) > 1.25×ULN" in reason(long_pt, ORGAN)


def test_pt_ptt_with_medications_unrecorded():
    # Unknown therapy: PT/PTT within limits settle it either way; missing PT/PTT leave it unknown.
    settled = screen_example(
        ASSIST,
        BASE,
        medications=DELETE,
        labs__pt={"value": 12, "unit": "s", "uln": 12},
        labs__ptt={"value": 30, "unit": "s", "uln": 35},
    )
    assert status(settled, ORGAN) == "pass"
    unsettled = screen_example(ASSIST, BASE, medications=DELETE)
    assert status(unsettled, ORGAN) == "unknown"
    assert set(unsettled.missing) == {"medications", "labs.pt", "labs.ptt"}


def test_amylase_or_lipase_each_measured_must_be_within_uln():
    only_amylase = screen_example(ASSIST, BASE, labs__lipase=DELETE)
    assert status(only_amylase, ORGAN) == "pass"
    neither = screen_example(ASSIST, BASE, labs__lipase=DELETE, labs__amylase=DELETE)
    assert status(neither, ORGAN) == "unknown"
    assert neither.missing == ["labs.amylase", "labs.lipase"]
    high_lipase = screen_example(ASSIST, BASE, labs__lipase={"value": 61, "unit": "U/L", "uln": 60})
    assert status(high_lipase, ORGAN) == "fail"
    at_uln = screen_example(ASSIST, BASE, labs__lipase={"value": 60, "unit": "U/L", "uln": 60})
    assert status(at_uln, ORGAN) == "pass"


def test_organ_function_reason_lists_every_failing_part():
    result = screen_example(
        ASSIST, BASE, labs__albumin={"value": 2.9, "unit": "g/dL"}, labs__hemoglobin={"value": 85, "unit": "g/L"}
    )
    assert reason(result, ORGAN) == "albumin 2.9 g/dL < 3.0 g/dL; hemoglobin 85 g/L (8.5 g/dL) < 9.0 g/dL"


def test_organ_function_reason_lists_every_missing_part():
    result = screen_example(ASSIST, BASE, labs__ast=DELETE, labs__creatinine={"value": 1.0, "unit": "mg/dL"})
    assert status(result, ORGAN) == "unknown"
    assert reason(result, ORGAN) == "AST not recorded; creatinine 1.0 mg/dL: upper limit of normal not recorded"
    assert result.missing == ["labs.ast", "labs.creatinine.uln"]


# --------------------------------------------------------------------------- exclusions


@pytest.mark.parametrize(
    ("criterion", "name"),
    [
        ("exc-epilepsy", "epilepsy"),
        ("exc-cancer", "cancer"),
        ("exc-brain-trauma-tumor", "brain_trauma"),
        ("exc-brain-trauma-tumor", "brain_tumor"),
        ("exc-stem-cell-study", "stem_cell_study"),
    ],
)
def test_history_at_any_time_excludes(criterion, name):
    result = screen_example(ASSIST, BASE, conditions=[{"name": name, "date": "1990-05-01"}])
    assert status(result, criterion) == "fail"
    assert result.verdict == "ineligible"


def test_epilepsy_reason_says_what_was_found():
    found = screen_example(ASSIST, BASE, conditions=[{"name": "epilepsy", "date": "2019-03-01"}])
    assert reason(found, "exc-epilepsy") == "epilepsy recorded 2019-03-01"
    assert reason(screen_example(ASSIST, BASE), "exc-epilepsy") == "no epilepsy recorded"
    unasked = screen_example(ASSIST, BASE, conditions=DELETE)
    assert status(unasked, "exc-epilepsy") == "unknown"


@pytest.mark.parametrize(
    ("criterion", "name", "inside", "outside"),
    [
        # screening 2025-03-03; "within N months" counts back N calendar months, that day included
        ("exc-recent-mi", "myocardial_infarction", "2024-09-03", "2024-09-02"),
        ("exc-recent-hemorrhage", "subarachnoid_hemorrhage", "2024-03-03", "2024-03-02"),
        ("exc-recent-hemorrhage", "intracerebral_hemorrhage", "2024-03-03", "2024-03-02"),
        ("exc-recent-investigational", "investigational_drug_study", "2024-12-03", "2024-12-02"),
        ("exc-recent-investigational", "investigational_device_study", "2024-12-03", "2024-12-02"),
        ("exc-substance-abuse", "alcohol_abuse", "2024-03-03", "2024-03-02"),
        ("exc-substance-abuse", "drug_abuse", "2024-03-03", "2024-03-02"),
    ],
)
def test_dated_history_excludes_only_within_its_window(criterion, name, inside, outside):
    recent = screen_example(ASSIST, BASE, conditions=[{"name": name, "date": inside}])
    assert status(recent, criterion) == "fail"
    older = screen_example(ASSIST, BASE, conditions=[{"name": name, "date": outside}])
    assert status(older, criterion) == "pass"
    assert "months before screening" in reason(older, criterion)
    undated = screen_example(ASSIST, BASE, conditions=[{"name": name}])
    assert status(undated, criterion) == "unknown"
    assert undated.missing == [f"conditions.{name}.date"]


@pytest.mark.parametrize("test_name", ["hbsag", "hbeag", "anti_hbe", "anti_hbc", "hcv", "hiv", "rpr"])
def test_any_positive_serology_excludes(test_name):
    result = screen_example(ASSIST, BASE, **{f"serology__{test_name}": "positive"})
    assert status(result, "exc-serology") == "fail"
    assert reason(result, "exc-serology").startswith("positive: ")


def test_serology_missing_a_test_is_unknown_unless_another_is_positive():
    result = screen_example(ASSIST, BASE, serology__rpr=DELETE)
    assert status(result, "exc-serology") == "unknown"
    assert result.missing == ["serology.rpr"]
    positive = screen_example(ASSIST, BASE, serology__rpr=DELETE, serology__hiv="positive")
    assert status(positive, "exc-serology") == "fail"


def test_pregnancy_exclusion():
    woman = {
        "sex": "female",
        "pregnant": False,
        "lactating": False,
        "attestations.exc-pregnancy": {"answer": False, "by": "Dr. Chen"},
    }
    assert status(screen_example(ASSIST, BASE, **woman), "exc-pregnancy") == "pass"
    assert status(screen_example(ASSIST, BASE, **dict(woman, pregnant=True)), "exc-pregnancy") == "fail"
    assert status(screen_example(ASSIST, BASE, **dict(woman, lactating=True)), "exc-pregnancy") == "fail"
    planning = dict(woman, **{"attestations.exc-pregnancy": True})
    assert status(screen_example(ASSIST, BASE, **planning), "exc-pregnancy") == "fail"
    unasked = screen_example(ASSIST, BASE, sex="female")
    assert status(unasked, "exc-pregnancy") == "unknown"
    assert unasked.missing == ["pregnant", "lactating", "attestations.exc-pregnancy"]
    assert status(screen_example(ASSIST, BASE, sex=DELETE), "exc-pregnancy") == "unknown"


def test_allergy_to_cattle_or_pork_products():
    allergic = screen_example(ASSIST, BASE, allergies=["porcine"])
    assert status(allergic, "exc-bovine-porcine-allergy") == "fail"
    assert reason(allergic, "exc-bovine-porcine-allergy") == "allergy to porcine recorded"
    unasked = screen_example(ASSIST, BASE, allergies=DELETE)
    assert status(unasked, "exc-bovine-porcine-allergy") == "unknown"


# --------------------------------------------------------------------------- attestations

ATTESTED_INCLUSIONS = [
    "inc-imaging",
    "inc-severe-impairment",
    "inc-no-improvement",
    "inc-life-expectancy",
    "inc-secondary-prevention",
    "inc-consent",
    "inc-follow-up",
]


@pytest.mark.parametrize("criterion", ATTESTED_INCLUSIONS)
def test_attested_inclusions(criterion):
    met = screen_example(ASSIST, BASE)
    assert met.criterion(criterion).basis == "attestation"
    assert reason(met, criterion) == "investigator attests criterion met (by Dr. Chen on 2025-03-03)"
    not_met = screen_example(ASSIST, BASE, **{f"attestations.{criterion}": False})
    assert status(not_met, criterion) == "fail"
    missing = screen_example(ASSIST, BASE, **{f"attestations.{criterion}": DELETE})
    assert status(missing, criterion) == "unknown"
    assert missing.missing == [f"attestations.{criterion}"]


def test_attested_exclusion_answers_whether_it_applies():
    applies = screen_example(ASSIST, BASE, **{"attestations.exc-other-safety-risk": True})
    assert status(applies, "exc-other-safety-risk") == "fail"
    assert reason(applies, "exc-other-safety-risk") == "investigator attests applies, so excluded"
    clear = screen_example(ASSIST, BASE)
    assert reason(clear, "exc-other-safety-risk") == "investigator attests does not apply (by Dr. Chen on 2025-03-03)"
