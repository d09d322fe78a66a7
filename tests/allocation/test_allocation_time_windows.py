"""Randomization and infusion re-check the time-dependent criteria on their own day, and write nothing
when they refuse.

Dates counted by hand: screening on 2025-03-01; onset 2024-12-01 is day 90 on that day (Dec 31 + Jan 31
+ Feb 28 days), so 2025-03-02 is day 91. Born 1954-03-03: 70 on 2025-03-01 and 2025-03-02, 71 from
2025-03-03 (the registry's "Age ≥18 years and ≤70 years").
"""

from datetime import UTC, date, datetime, timedelta

import pytest

from trialkit.server.allocation import services
from trialkit.server.allocation.models import AllocationList, AllocationSlot, DoseRecord
from trialkit.server.audit.models import AuditEvent
from trialkit.server.participants.models import Participant

pytestmark = pytest.mark.django_db
IXCELL = "NCT07197606"
SCREENED = date(2025, 3, 1)
ELIGIBLE = {
    "birth_date": "1967-09-20",
    "stroke": {"type": "ischemic", "territory": "anterior", "onset_date": "2025-01-15"},
}


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def facts(**changes):
    out = {**ELIGIBLE, "stroke": dict(ELIGIBLE["stroke"])}
    for key, value in changes.items():
        if key == "onset_date":
            out["stroke"]["onset_date"] = value
        else:
            out[key] = value
    return out


def written(trial):
    """What a randomization or an administration writes, to compare before and after a refusal."""
    return (
        AuditEvent.objects.count(),
        AllocationList.objects.get(trial=trial).allocated_count,
        AllocationSlot.objects.filter(trial=trial, participant__isnull=False).count(),
        DoseRecord.objects.filter(administered_at__isnull=False).count(),
    )


@pytest.fixture
def ixcell(generated, trials, make_user):
    trial = trials[IXCELL]
    site = trial.sites.get(code="ixcell-01")
    return (
        trial,
        make_user("coordinator", trial, site=site),
        make_user("unblinded_pharmacist", trial, site=site),
        make_user("investigator", trial, site=site),
    )


def test_a_70_year_old_who_turns_71_before_randomization_is_refused_and_no_slot_is_used(ixcell, enroll):
    trial, coordinator, _, _ = ixcell
    p = enroll(trial, "ixcell-01", facts=facts(birth_date="1954-03-03"))
    before = written(trial)
    with pytest.raises(services.AllocationProblem) as info:
        services.randomize(p, coordinator, now=at(date(2025, 3, 3)))
    assert str(info.value) == (
        f"participant {p.participant_number} is not eligible on 2025-03-03 (randomization; "
        "screened 2025-03-01): inc-age fails: age 71, needs 18–70"
    )
    assert info.value.field == "eligibility.inc-age"
    p.refresh_from_db()
    assert p.status == "enrolled" and p.randomization_number == "" and written(trial) == before
    # The day before the birthday the same participant is randomized.
    services.randomize(p, coordinator, now=at(date(2025, 3, 2)))
    p.refresh_from_db()
    assert p.status == "randomized"


def test_screened_on_day_90_after_onset_is_refused_at_infusion_on_day_91(ixcell, enroll):
    trial, coordinator, pharmacist, investigator = ixcell
    p = enroll(trial, "ixcell-01", facts=facts(onset_date="2024-12-01"))
    services.randomize(p, coordinator, now=at(SCREENED))  # day 90: still in the window
    services.prepare_dose(p, 70, pharmacist, now=at(SCREENED, 10))
    before = written(trial)
    with pytest.raises(
        services.AllocationProblem,
        match=r"inc-days-since-stroke fails: .*day 91 after onset, "
        r"needs 14–90",
    ) as info:
        services.record_administration(p, investigator, now=at(date(2025, 3, 2), 11))
    assert "(infusion; screened 2025-03-01)" in str(info.value)
    p.refresh_from_db()
    assert p.status == "randomized" and p.anchor_date is None and written(trial) == before
    assert DoseRecord.objects.get(participant=p).administered_at is None


def test_a_participant_within_every_window_is_randomized_and_infused(ixcell, enroll):
    trial, coordinator, pharmacist, investigator = ixcell
    p = enroll(trial, "ixcell-01", facts=facts())
    services.randomize(p, coordinator, now=at(date(2025, 3, 3)))
    services.prepare_dose(p, 70, pharmacist, now=at(date(2025, 3, 15), 8))
    services.record_administration(p, investigator, now=at(date(2025, 3, 15), 11))  # 14 days after screening
    p.refresh_from_db()
    assert p.status == "treated" and p.anchor_date == date(2025, 3, 15)


def test_a_screening_older_than_14_days_is_refused_at_infusion(ixcell, enroll):
    trial, coordinator, pharmacist, investigator = ixcell
    p = enroll(trial, "ixcell-01", facts=facts())
    services.randomize(p, coordinator, now=at(date(2025, 3, 3)))
    services.prepare_dose(p, 70, pharmacist, now=at(date(2025, 3, 16), 8))
    with pytest.raises(
        services.AllocationProblem,
        match="screened 15 days before, the protocol allows at most 14 days from screening to infusion",
    ) as info:
        services.record_administration(p, investigator, now=at(date(2025, 3, 16), 11))
    assert info.value.field == "eligibility.screening-to-infusion"
    assert Participant.objects.get(pk=p.pk).status == "randomized"


def test_the_api_answers_the_refusal_in_the_error_contract_and_writes_nothing(client, ixcell, enroll):
    import time_machine

    trial, coordinator, _, _ = ixcell
    p = enroll(trial, "ixcell-01", facts=facts(birth_date="1954-03-03"))
    client.force_login(coordinator)
    before = written(trial)
    with time_machine.travel(at(date(2025, 3, 3)), tick=True):
        response = client.post(f"/api/allocation/{IXCELL}/participants/{p.participant_number}/randomize")
        assert response.status_code == 422
        body = response.json()
        assert "inc-age fails: age 71, needs 18–70" in body["error"]
        assert body["errors"] == [
            {"field": "eligibility.inc-age", "rule": "eligible_on_the_day", "message": body["error"]}
        ]
        # The web page shows the same sentence beside the participant.
        page = client.post(f"/allocation/{IXCELL}/participants/{p.participant_number}/randomize/", follow=True)
        assert page.status_code == 200 and "inc-age fails: age 71, needs 18–70" in page.content.decode()
    assert written(trial) == before


def test_randomization_later_than_the_screening_window_is_refused_before_a_slot_is_used(ixcell, enroll):
    trial, coordinator, _, _ = ixcell
    p = enroll(trial, "ixcell-01", facts=facts())
    before = written(trial)
    with pytest.raises(services.AllocationProblem, match="screening-to-infusion fails"):
        services.randomize(p, coordinator, now=at(SCREENED + timedelta(days=15)))
    assert written(trial) == before
