"""Every IxCell (NCT07197606) criterion, with the boundaries the registry text sets.

Reference for each rule: the registry page in shared/seeds/NCT07197606-IxCell.txt.
"""

from __future__ import annotations

import pytest
from eligibility_helpers import DELETE, IXCELL, screen_example

BASE = "ixcell-eligible"  # screening_date 2025-03-03


def status(result, criterion_id):
    return result.criterion(criterion_id).status


def reason(result, criterion_id):
    return result.criterion(criterion_id).reason


def test_the_example_record_is_eligible():
    result = screen_example(IXCELL, BASE)
    assert result.verdict == "eligible"
    assert [c.status for c in result.criteria] == ["pass"] * 10
    assert result.missing == []


# --------------------------------------------------------------------------- age 18 to 70


@pytest.mark.parametrize(
    ("birth_date", "expected", "shown"),
    [
        ("2007-03-03", "pass", "age 18 within 18–70"),  # 18th birthday on the screening day
        ("2007-03-04", "fail", "age 17, needs 18–70"),  # one day short of 18
        ("1954-03-04", "pass", "age 70 within 18–70"),  # last day of being 70
        ("1954-03-03", "fail", "age 71, needs 18–70"),  # 71st birthday
    ],
)
def test_age_boundaries_are_inclusive_in_completed_years(birth_date, expected, shown):
    result = screen_example(IXCELL, BASE, birth_date=birth_date)
    assert status(result, "inc-age") == expected
    assert reason(result, "inc-age") == shown


def test_age_may_be_given_instead_of_birth_date():
    result = screen_example(IXCELL, BASE, birth_date=DELETE, age=70)
    assert status(result, "inc-age") == "pass"
    assert status(screen_example(IXCELL, BASE, birth_date=DELETE, age=71), "inc-age") == "fail"


def test_missing_age_is_unknown():
    result = screen_example(IXCELL, BASE, birth_date=DELETE)
    assert status(result, "inc-age") == "unknown"
    assert result.verdict == "incomplete"
    assert result.missing == ["birth_date"]


# --------------------------------------------------------------------------- 14 to 90 days


@pytest.mark.parametrize(
    ("onset", "expected", "shown"),
    [
        ("2025-02-18", "fail", "day 13 after onset, needs 14–90"),
        ("2025-02-17", "pass", "day 14 after onset, within 14–90"),
        ("2024-12-03", "pass", "day 90 after onset, within 14–90"),
        ("2024-12-02", "fail", "day 91 after onset, needs 14–90"),
    ],
)
def test_days_since_stroke_boundaries(onset, expected, shown):
    result = screen_example(IXCELL, BASE, stroke__onset_date=onset)
    assert status(result, "inc-days-since-stroke") == expected
    assert shown in reason(result, "inc-days-since-stroke")


def test_days_since_stroke_needs_an_ischemic_stroke():
    result = screen_example(IXCELL, BASE, stroke__type="hemorrhagic")
    assert status(result, "inc-days-since-stroke") == "fail"
    assert "stroke type hemorrhagic, not ischemic" in reason(result, "inc-days-since-stroke")


def test_days_since_stroke_without_onset_is_unknown():
    result = screen_example(IXCELL, BASE, stroke__onset_date=DELETE)
    assert status(result, "inc-days-since-stroke") == "unknown"
    assert result.missing == ["stroke.onset_date"]


def test_screening_date_defaults_to_today():
    from datetime import date

    result = screen_example(IXCELL, BASE, screening_date=DELETE)
    assert result.screening_date == date.today()


# --------------------------------------------------------------------------- anterior circulation


def test_posterior_circulation_stroke_fails():
    result = screen_example(IXCELL, BASE, stroke__territory="posterior")
    assert status(result, "inc-anterior-circulation") == "fail"
    assert reason(result, "inc-anterior-circulation") == "stroke territory posterior, not anterior"


def test_unknown_territory_is_unknown():
    result = screen_example(IXCELL, BASE, stroke__territory=DELETE)
    assert status(result, "inc-anterior-circulation") == "unknown"
    assert result.missing == ["stroke.territory"]


# --------------------------------------------------------------------------- NIHSS

# Item values with a chosen total that keep 5a in 2-4 and 1a < 2 (the other parts of the criterion).
ZERO = {
    "1a": 0,
    "1b": 0,
    "1c": 0,
    "2": 0,
    "3": 0,
    "4": 0,
    "5a": 2,
    "5b": 0,
    "6a": 0,
    "6b": 0,
    "7": 0,
    "8": 0,
    "9": 0,
    "10": 0,
    "11": 0,
}


def nihss_with_total(total: int) -> dict:
    values = dict(ZERO)  # total 2 so far
    extra = total - 2
    for item, top in (
        ("3", 3),
        ("4", 3),
        ("9", 3),
        ("5b", 4),
        ("6a", 4),
        ("6b", 4),
        ("8", 2),
        ("11", 2),
        ("2", 2),
        ("1b", 2),
        ("1c", 2),
        ("10", 2),
    ):
        add = min(top, extra)
        values[item] += add
        extra -= add
    assert extra == 0 and sum(v for v in values.values() if v != "UN") == total
    return values


@pytest.mark.parametrize(("total", "expected"), [(5, "fail"), (6, "pass"), (20, "pass"), (21, "fail")])
def test_nihss_total_boundaries(total, expected):
    result = screen_example(IXCELL, BASE, nihss=nihss_with_total(total))
    assert status(result, "inc-nihss") == expected
    assert f"NIHSS total {total}" in reason(result, "inc-nihss")


def test_nihss_motor_item_must_reach_2_to_4_on_some_limb():
    values = dict(nihss_with_total(8), **{"5a": 1, "5b": 1, "6a": 1, "6b": 1})
    result = screen_example(IXCELL, BASE, nihss=values)
    assert status(result, "inc-nihss") == "fail"
    assert "none within 2–4" in reason(result, "inc-nihss")
    # One leg scoring 4 is enough ("motor arm (item 5) or motor leg (item 6)").
    result = screen_example(IXCELL, BASE, nihss=dict(values, **{"6b": 4}))
    assert status(result, "inc-nihss") == "pass"


def test_untestable_motor_items_are_neither_counted_nor_qualifying():
    values = dict(nihss_with_total(10), **{"5a": "UN"})  # total 8: UN adds nothing
    values["5b"] = 1
    result = screen_example(IXCELL, BASE, nihss=values)
    text = reason(result, "inc-nihss")
    assert "5a UN" in text
    assert status(result, "inc-nihss") == "fail"


def test_level_of_consciousness_1a_must_be_below_2():
    result = screen_example(IXCELL, BASE, nihss=dict(nihss_with_total(8), **{"1a": 2}))
    assert status(result, "inc-nihss") == "fail"
    assert "NIHSS 1a 2 ≥ 2" in reason(result, "inc-nihss")


def test_missing_nihss_items_are_unknown_and_named():
    values = {k: v for k, v in nihss_with_total(8).items() if k not in {"7", "8"}}
    result = screen_example(IXCELL, BASE, nihss=values)
    assert status(result, "inc-nihss") == "unknown"
    assert result.missing == ["nihss.7", "nihss.8"]


def test_partial_nihss_already_above_20_fails():
    values = {k: v for k, v in nihss_with_total(21).items() if k not in {"7"}}
    result = screen_example(IXCELL, BASE, nihss=values)
    assert status(result, "inc-nihss") == "fail"


# --------------------------------------------------------------------------- consent (attestation)


def test_consent_is_an_attestation():
    record_result = screen_example(IXCELL, BASE, **{"attestations.inc-consent": DELETE})
    assert status(record_result, "inc-consent") == "unknown"
    assert record_result.criterion("inc-consent").basis == "attestation"
    assert "needs investigator attestation" in reason(record_result, "inc-consent")
    assert record_result.missing == ["attestations.inc-consent"]
    refused = screen_example(IXCELL, BASE, **{"attestations.inc-consent": False})
    assert status(refused, "inc-consent") == "fail"
    assert reason(refused, "inc-consent") == "investigator attests criterion not met"


# --------------------------------------------------------------------------- exclusions


@pytest.mark.parametrize(
    ("criterion", "condition"),
    [
        ("exc-neuro-psychiatric", "epilepsy"),
        ("exc-neuro-psychiatric", "dementia"),
        ("exc-neuro-psychiatric", "parkinsons_disease"),
        ("exc-neuro-psychiatric", "severe_depression"),
        ("exc-intracranial-hemorrhage", "subdural_hematoma"),
        ("exc-intracranial-hemorrhage", "intracerebral_hemorrhage"),
        ("exc-cardiovascular", "severe_cardiovascular_disease"),
        ("exc-pulmonary", "severe_pulmonary_disease"),
    ],
)
def test_a_recorded_condition_excludes(criterion, condition):
    result = screen_example(IXCELL, BASE, conditions=[{"name": condition, "date": "2020-01-01"}])
    assert status(result, criterion) == "fail"
    assert result.verdict == "ineligible"
    assert "recorded 2020-01-01" in reason(result, criterion)


def test_history_not_taken_is_unknown_but_an_empty_history_clears():
    result = screen_example(IXCELL, BASE, conditions=DELETE)
    for criterion in ("exc-intracranial-hemorrhage", "exc-cardiovascular", "exc-pulmonary"):
        assert status(result, criterion) == "unknown"
    assert "conditions" in result.missing
    cleared = screen_example(IXCELL, BASE, conditions=[])
    assert reason(cleared, "exc-cardiovascular") == "no severe cardiovascular disease recorded"
    assert cleared.verdict == "eligible"


def test_other_neurological_disorder_is_attested():
    result = screen_example(IXCELL, BASE, **{"attestations.exc-neuro-psychiatric": True})
    assert status(result, "exc-neuro-psychiatric") == "fail"
    assert "attested yes" in reason(result, "exc-neuro-psychiatric")


def test_hemorrhagic_index_stroke_is_an_intracranial_hemorrhage():
    result = screen_example(IXCELL, BASE, stroke__type="hemorrhagic")
    assert status(result, "exc-intracranial-hemorrhage") == "fail"


@pytest.mark.parametrize(("mrs", "expected"), [(0, "pass"), (1, "pass"), (2, "fail"), (5, "fail")])
def test_pre_stroke_mrs_above_1_excludes(mrs, expected):
    result = screen_example(IXCELL, BASE, premorbid_mrs=mrs)
    assert status(result, "exc-premorbid-mrs") == expected
    assert reason(result, "exc-premorbid-mrs").startswith(f"pre-stroke mRS {mrs} ")


def test_missing_pre_stroke_mrs_is_unknown():
    result = screen_example(IXCELL, BASE, premorbid_mrs=DELETE)
    assert status(result, "exc-premorbid-mrs") == "unknown"
