"""One adverse event, two ways in: the visit's adverse_event form is also the event's entry in the
participant's AE log (with its SAE clock and follow-ups); editing or deleting it from either side
changes both, and the audit trail has one event per change on each record."""

from datetime import UTC, date, datetime, timedelta

import pytest

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture import services
from trialkit.server.capture.models import AdverseEvent, FormRecord
from trialkit.server.participants.models import Participant, ScreeningRecord

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
PNEUMONIA = {
    "term": "Pneumonia",
    "onset_date": "2026-03-08",
    "ctcae_grade": 3,
    "serious": True,
    "sae_hospitalization": True,
    "relatedness": "unlikely",
    "expectedness": "unexpected",
    "action_taken": "not_applicable",
    "outcome": "recovering",
}


@pytest.fixture
def treated(trials, make_user):
    trial = trials["NCT07197606"]
    site = trial.sites.get(code="ixcell-01")
    coordinator = make_user("coordinator", trial, site=site)
    screening = ScreeningRecord.objects.create(
        trial=trial,
        site=site,
        screening_number="S-AE1",
        screening_date=date(2026, 2, 20),
        created_by=coordinator,
        outcome="enrolled",
    )
    participant = Participant.objects.create(
        trial=trial,
        site=site,
        screening=screening,
        participant_number="P-AE1",
        status="treated",
        enrolled_at=NOW,
        randomization_number="IX-R0001",
        kit_number="IX-0001",
        anchor_date=date(2026, 3, 2),
    )
    services.ensure_schedule(participant)
    return participant, coordinator


def test_the_visit_form_creates_and_updates_the_log_entry_with_its_sae_clock(treated):
    participant, coordinator = treated
    aware = NOW - timedelta(hours=3)
    form = services.save_form(
        participant, "day7", "adverse_event", PNEUMONIA, coordinator, complete=True, now=NOW, awareness_at=aware
    )
    ae = AdverseEvent.objects.get(participant=participant)
    assert (ae.form_id, ae.number, ae.serious, ae.awareness_at, ae.term) == (form.pk, 1, True, aware, "Pneumonia")
    # Changing the visit form changes the log entry (the form's rule: a reason for a complete form).
    services.save_form(
        participant,
        "day7",
        "adverse_event",
        {**PNEUMONIA, "outcome": "recovered", "resolution_date": "2026-03-15"},
        coordinator,
        complete=True,
        now=NOW + timedelta(days=6),
        reason="resolved on day 13",
    )
    ae.refresh_from_db()
    assert ae.data["outcome"] == "recovered" and ae.version == 2 and ae.awareness_at == aware
    # Editing from the AE log goes through the visit form: one record, never two versions.
    services.save_adverse_event(
        participant,
        {**PNEUMONIA, "outcome": "recovered", "resolution_date": "2026-03-16"},
        coordinator,
        complete=True,
        now=NOW + timedelta(days=8),
        adverse_event=ae,
        reason="discharge letter gives the 16th",
    )
    form.refresh_from_db()
    ae.refresh_from_db()
    assert form.data["resolution_date"] == ae.data["resolution_date"] == "2026-03-16"
    assert AdverseEvent.objects.filter(participant=participant).count() == 1
    actions = list(
        AuditEvent.objects.filter(
            participant_id=participant.pk, action__in=("form_create", "form_update", "ae_create", "ae_update")
        )
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["form_create", "ae_create", "form_update", "ae_update", "form_update", "ae_update"]


def test_deleting_either_side_deletes_both_and_log_only_events_stay_log_only(treated):
    participant, coordinator = treated
    form = services.save_form(
        participant,
        "month1",
        "adverse_event",
        {**PNEUMONIA, "serious": False, "sae_hospitalization": False, "ctcae_grade": 1, "term": "Headache"},
        coordinator,
        complete=True,
        now=NOW,
    )
    ae = AdverseEvent.objects.get(form=form)
    services.delete_adverse_event(ae, coordinator, reason="entered for the wrong participant", now=NOW)
    form.refresh_from_db()
    ae.refresh_from_db()
    assert form.deleted_at and ae.deleted_at and ae.delete_reason == "entered for the wrong participant"
    # An event entered in the log between visits has no visit form.
    logged = services.save_adverse_event(participant, PNEUMONIA, coordinator, complete=True, now=NOW)
    assert logged.form_id is None and logged.number == 2
    assert FormRecord.objects.filter(participant=participant, instrument="adverse_event").count() == 1
