"""The dose is prepared from the weight recorded at the dosing visit in data capture; day 0 comes
from the real event (the infusion for IxCell), and the schedule, the dose record and the anchor agree."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from trialkit.server.allocation import services as allocation
from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture import services as capture
from trialkit.server.capture.models import Visit
from trialkit.server.participants.models import Consent, Participant, ScreeningRecord

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
VITALS = {"systolic_bp": 131, "diastolic_bp": 79, "heart_rate": 66}


@pytest.fixture
def ixcell_randomized(trials, make_user):
    """An IxCell participant randomized at ixcell-02, with the site's staff."""
    trial = trials["NCT07197606"]
    site = trial.sites.get(code="ixcell-02")
    allocation.generate_allocation_list(trial, make_user("dsmb_statistician", trial), now=NOW, seed="weights")
    staff = {
        role: make_user(role, trial, site=site, username=f"{role}-w")
        for role in ("coordinator", "investigator", "unblinded_pharmacist")
    }
    staff["coordinator"].first_name, staff["coordinator"].last_name = "Cora", "Entry"
    staff["coordinator"].save()
    screening = ScreeningRecord.objects.create(
        trial=trial,
        site=site,
        screening_number="S-W1",
        screening_date=date(2026, 2, 27),
        facts={"nihss_total": 9},
        verdict="eligible",
        outcome="enrolled",
        created_by=staff["coordinator"],
    )
    Consent.objects.create(
        screening=screening,
        document_version="v1",
        consent_date=date(2026, 2, 27),
        signed_by="participant",
        recorded_by=staff["coordinator"],
    )
    participant = Participant.objects.create(
        trial=trial, site=site, screening=screening, participant_number="IXCELL-02-001", enrolled_at=NOW
    )
    allocation.randomize(participant, staff["coordinator"], now=NOW)
    participant.refresh_from_db()
    return participant, staff


def test_an_infusion_anchored_schedule_is_provisional_until_the_infusion(ixcell_randomized):
    participant, staff = ixcell_randomized
    assert participant.anchor_date is None  # anchor: infusion, not given yet
    baseline = Visit.objects.get(participant=participant, visit_id="baseline")
    assert baseline.kind == "treatment" and baseline.target == NOW.date()  # planned from randomization
    capture.save_form(
        participant,
        "baseline",
        "vital_signs",
        {**VITALS, "weight_kg": 64.5},
        staff["coordinator"],
        complete=True,
        now=NOW + timedelta(days=2),
    )
    allocation.prepare_dose(participant, None, staff["unblinded_pharmacist"], now=NOW + timedelta(days=2, hours=1))
    given = NOW + timedelta(days=2, hours=3)
    allocation.record_administration(participant, staff["investigator"], now=given)
    participant.refresh_from_db()
    assert participant.anchor_date == given.date() == participant.dose_record.administered_at.date()
    visits = {v.visit_id: v for v in Visit.objects.filter(participant=participant)}
    assert visits["baseline"].target == given.date() == visits["baseline"].done_on
    assert visits["month3"].target == given.date() + timedelta(days=90)
    moved = AuditEvent.objects.filter(action="schedule_moved", participant_id=participant.pk).get()
    assert moved.after["anchor_date"] == given.date().isoformat() and moved.after["provisional"] is False


def test_the_pharmacist_doses_by_the_recorded_weight_and_a_different_one_needs_a_reason(ixcell_randomized):
    participant, staff = ixcell_randomized
    pharmacist = staff["unblinded_pharmacist"]
    with pytest.raises(allocation.AllocationProblem, match="weight_kg: is missing") as info:
        allocation.prepare_dose(participant, None, pharmacist, now=NOW)
    assert info.value.field == "weight_kg"
    capture.save_form(
        participant,
        "baseline",
        "vital_signs",
        {**VITALS, "weight_kg": 64.5},
        staff["coordinator"],
        complete=True,
        now=NOW + timedelta(hours=1),
    )
    recorded = allocation.recorded_weight(participant)
    assert (recorded.weight_kg, recorded.visit_id, recorded.entered_by) == (64.5, "baseline", "Cora Entry")
    assert allocation.prepare_dose(participant, None, pharmacist, now=NOW).preparation.weight_kg == 64.5
    assert allocation.prepare_dose(participant, "64.50", pharmacist, now=NOW).preparation.weight_kg == 64.5
    with pytest.raises(allocation.AllocationProblem, match=r"differs from the 64\.5 kg") as info:
        allocation.prepare_dose(participant, 66, pharmacist, now=NOW)
    assert info.value.field == "weight_reason"
    prepared = allocation.prepare_dose(
        participant,
        66,
        pharmacist,
        now=NOW + timedelta(hours=2),
        weight_reason="Re-weighed on the ward scale before the infusion",
    )
    assert prepared.preparation.weight_kg == 66.0
    event = AuditEvent.objects.filter(action="dose.prepared").latest("seq")
    assert event.restricted and event.reason == "Re-weighed on the ward scale before the infusion"
    assert event.after["weight_source"]["overridden"] is True and event.after["weight_source"]["weight_kg"] == 64.5


def test_the_preparation_page_prefills_the_recorded_weight_and_says_where_it_came_from(ixcell_randomized, client):
    participant, staff = ixcell_randomized
    capture.save_form(
        participant,
        "baseline",
        "vital_signs",
        {**VITALS, "weight_kg": 71.2},
        staff["coordinator"],
        complete=True,
        now=NOW + timedelta(hours=1),
    )
    client.force_login(staff["unblinded_pharmacist"])
    url = f"/allocation/{participant.trial.nct_id}/pharmacy/{participant.participant_number}/"
    page = client.get(url).content.decode()
    assert 'value="71.2"' in page
    assert "Baseline and infusion" in page and "Cora Entry" in page and "2 Mar 2026" in page
    answer = client.post(url, {"weight_kg": "73", "weight_reason": ""}).content.decode()
    assert "differs from the 71.2 kg" in answer
    assert client.post(url, {"weight_kg": "71.2", "action": "record"}).status_code == 302
    assert Participant.objects.get(pk=participant.pk).dose_record.weight_kg == Decimal("71.2")
