"""Time-dependent criteria re-checked on the day of randomization and of infusion.

References: the registry pages in shared/seeds/ ("Age ≥18 years and ≤70 years", "14 to 90 days after
ischemic stroke") and the completed-years rule (70 until the day before the 71st birthday). Every
expected date below is counted by hand from the example's dates.
"""

from __future__ import annotations

from datetime import date

import pytest
from eligibility_helpers import ASSIST, IXCELL, example, merged

from trialkit.eligibility.timing import SCREENING_WINDOW, is_time_dependent, recheck, time_dependent_criteria
from trialkit.protocol import load_protocol

SCREENED = date(2025, 3, 3)  # the IxCell example's screening_date


def ixcell(**changes):
    return merged(example("ixcell-eligible"), {k.replace("__", "."): v for k, v in changes.items()})


def test_only_the_criteria_about_time_are_rechecked():
    assert [c.id for c in time_dependent_criteria(load_protocol(IXCELL))] == ["inc-age", "inc-days-since-stroke"]
    assist = [c.id for c in time_dependent_criteria(load_protocol(ASSIST))]
    assert assist[:2] == ["inc-age", "inc-stroke-over-6-months"]
    assert "exc-recent-mi" in assist and "exc-epilepsy" not in assist  # within 6 months vs ever
    protocol = load_protocol(IXCELL)
    assert not is_time_dependent(protocol.eligibility.criteria[3].rule)  # NIHSS


def test_ixcell_bounds_screening_to_infusion_at_14_days():
    assert load_protocol(IXCELL).eligibility.timing.max_days_screening_to_infusion == 14
    assert load_protocol(ASSIST).eligibility.timing is None  # the registry says nothing; no bound assumed


def test_a_patient_within_every_window_passes():
    result = recheck(load_protocol(IXCELL), ixcell(), screening_date=SCREENED, on=date(2025, 3, 10), step="infusion")
    assert result.ok, result.refusal()
    assert [c.status for c in result.criteria] == ["pass", "pass"]
    assert result.refusal() == ""


def test_a_70_year_old_who_turns_71_before_randomization_is_refused():
    # Born 1954-03-10: 70 on the screening day (2025-03-03), 71 from 2025-03-10.
    facts = ixcell(birth_date="1954-03-10")
    protocol = load_protocol(IXCELL)
    assert recheck(protocol, facts, screening_date=SCREENED, on=date(2025, 3, 9), step="randomization").ok
    result = recheck(protocol, facts, screening_date=SCREENED, on=date(2025, 3, 10), step="randomization")
    assert not result.ok
    assert [(p.criterion_id, p.status) for p in result.problems] == [("inc-age", "fail")]
    assert result.refusal() == (
        "not eligible on 2025-03-10 (randomization; screened 2025-03-03): inc-age fails: age 71, needs 18–70"
    )


def test_screened_on_day_90_after_onset_is_refused_at_infusion_on_day_91():
    # Onset 2024-12-03: the screening day 2025-03-03 is day 90 after onset (Dec 28 + Jan 31 + Feb 28 + 3 = 90).
    facts = ixcell(stroke__onset_date="2024-12-03")
    protocol = load_protocol(IXCELL)
    assert recheck(protocol, facts, screening_date=SCREENED, on=SCREENED, step="infusion").ok
    for day_after_screening in (1, 5, 14):  # days 91, 95, 104 after onset, all inside the 14-day screening window
        on = date.fromordinal(SCREENED.toordinal() + day_after_screening)
        result = recheck(protocol, facts, screening_date=SCREENED, on=on, step="infusion")
        assert [p.criterion_id for p in result.problems] == ["inc-days-since-stroke"]
        assert f"day {90 + day_after_screening} after onset, needs 14–90" in result.refusal()


def test_a_screening_older_than_the_protocol_allows_is_refused_at_randomization_and_infusion():
    protocol = load_protocol(IXCELL)
    assert recheck(protocol, ixcell(), screening_date=SCREENED, on=date(2025, 3, 17), step="infusion").ok  # 14 days
    for step in ("randomization", "infusion"):
        result = recheck(protocol, ixcell(), screening_date=SCREENED, on=date(2025, 3, 18), step=step)  # 15 days
        assert [p.criterion_id for p in result.problems] == [SCREENING_WINDOW]
        assert (
            "screened 15 days before, the protocol allows at most 14 days from screening to infusion"
            in result.refusal()
        )


def test_an_age_without_birth_date_that_may_have_crossed_the_limit_cannot_be_confirmed():
    facts = ixcell(birth_date=None, age=70)
    del facts["birth_date"]
    protocol = load_protocol(IXCELL)
    result = recheck(protocol, facts, screening_date=SCREENED, on=date(2025, 3, 4), step="randomization")
    assert [(p.criterion_id, p.status) for p in result.problems] == [("inc-age", "unknown")]
    assert "is 70 or 71" in result.refusal() and "record the birth date" in result.refusal()
    # 69 at screening stays within 18–70 however the birthday falls in the next days.
    young = dict(facts, age=69)
    assert recheck(protocol, young, screening_date=SCREENED, on=date(2025, 3, 10), step="randomization").ok


def test_stored_facts_with_derived_fields_are_read():
    # The shell stores nihss_total beside the items, and the screening number and date inside the facts.
    facts = ixcell(nihss_total=13)
    assert recheck(load_protocol(IXCELL), facts, screening_date=SCREENED, on=date(2025, 3, 5), step="infusion").ok


def test_a_date_before_the_screening_is_refused():
    with pytest.raises(ValueError, match="before the screening"):
        recheck(load_protocol(IXCELL), ixcell(), screening_date=SCREENED, on=date(2025, 3, 2), step="infusion")


def test_a_criterion_the_facts_never_decided_is_left_to_the_screening_verdict():
    # No birth date and no age: inc-age is unknown on the screening day too, so screening could not
    # have called the patient eligible; the re-check reports only what the calendar changed.
    facts = ixcell()
    del facts["birth_date"]
    result = recheck(load_protocol(IXCELL), facts, screening_date=SCREENED, on=date(2025, 3, 5), step="infusion")
    assert result.ok and result.criteria[0].status == "unknown"
    # ...but a date that makes it fail is still refused, whatever screening said.
    facts["stroke"]["onset_date"] = "2024-12-01"  # day 92 on the screening day, day 94 on 2025-03-05
    result = recheck(load_protocol(IXCELL), facts, screening_date=SCREENED, on=date(2025, 3, 5), step="infusion")
    assert [p.criterion_id for p in result.problems] == ["inc-days-since-stroke"]
