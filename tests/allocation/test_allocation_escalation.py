"""Escalation gates in the shell: randomization refused (409) while a gate is closed, the DSMB's
decision recorded and audited, stopping rules notified, and blinded roles told only open/paused."""

from datetime import timedelta

import pytest
from allocation_cases import NOW
from django.core.exceptions import PermissionDenied

from trialkit.dosing.escalation import EscalationError, GateState
from trialkit.server.allocation import escalation, services
from trialkit.server.allocation.models import AllocationSlot, EscalationDecision, Notification
from trialkit.server.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

ASSIST = "NCT04590118"
SITES = ("assist-01", "assist-02", "assist-03")
DAY = timedelta(days=1)


@pytest.fixture
def world(generated, trials, make_user, enroll):
    trial = trials[ASSIST]
    coordinators = {code: make_user("coordinator", trial, site=trial.sites.get(code=code)) for code in SITES}
    dsmb = make_user("dsmb_statistician", trial)
    sponsor = make_user("sponsor_admin", trial)

    def randomize(at):
        code = SITES[randomize.n % 3]
        randomize.n += 1
        return services.randomize(enroll(trial, code), coordinators[code], now=at)

    randomize.n = 0
    return trial, randomize, dsmb, sponsor, coordinators


def _fill_low_cohort(randomize):
    randomize(NOW)
    randomize(NOW + DAY)
    for i in range(18):
        randomize(NOW + 8 * DAY + i * timedelta(hours=1))
    return NOW + 8 * DAY + 17 * timedelta(hours=1)  # the last dosing


def test_sentinels_then_the_wait_is_refused_with_a_message_that_names_no_cohort(world):
    trial, randomize, *_ = world
    randomize(NOW)
    randomize(NOW + DAY)
    with pytest.raises(services.AllocationProblem, match="paused pending a safety review") as refused:
        randomize(NOW + 2 * DAY)
    assert "cohort" not in str(refused.value) and "low" not in str(refused.value)
    assert AllocationSlot.objects.filter(trial=trial, participant__isnull=False).count() == 2
    randomize(NOW + 8 * DAY)  # 7 days after the second sentinel


def test_the_next_cohort_opens_only_after_the_dsmb_escalates_after_day_28(world):
    trial, randomize, dsmb, _sponsor, _ = world
    last = _fill_low_cohort(randomize)
    with pytest.raises(services.AllocationProblem, match="paused"):
        randomize(last + 29 * DAY)  # followed up, but no decision yet
    with pytest.raises(EscalationError, match="cannot be escalated yet"):
        escalation.record_decision(
            trial, dsmb, cohort_id="cohort-low", decision="escalate", rationale="early", now=last + 10 * DAY
        )
    events = AuditEvent.objects.count()
    escalation.record_decision(
        trial, dsmb, cohort_id="cohort-low", decision="escalate", rationale="no DLT", now=last + 29 * DAY
    )
    audit = AuditEvent.objects.filter(action="escalation.decision").get()
    assert audit.restricted and audit.after["decision"] == "escalate" and audit.after["open_cohort"] == "cohort-mid"
    assert AuditEvent.objects.count() > events
    randomize(last + 30 * DAY)
    newest = AllocationSlot.objects.filter(trial=trial, participant__isnull=False).order_by("-allocated_at").first()
    assert newest.cohort == "cohort-mid"


def test_only_the_dsmb_statistician_records_a_decision(world):
    trial, _randomize, _dsmb, sponsor, coordinators = world
    for user in (sponsor, coordinators["assist-01"]):
        with pytest.raises(PermissionDenied):
            escalation.record_decision(trial, user, cohort_id="cohort-low", decision="stop", rationale="x", now=NOW)
    assert not EscalationDecision.objects.exists()


def test_a_related_sae_pauses_randomization_and_notifies_once_until_the_dsmb_decides(world, make_user):
    from trialkit.server.capture.services import save_adverse_event

    trial, randomize, dsmb, sponsor, _coordinators = world
    randomize(NOW)
    participant = trial.participants.filter(randomized_at__isnull=False).first()
    investigator = make_user("investigator", trial, site=participant.site)
    values = {
        "term": "Seizure",
        "onset_date": "2025-03-04",
        "ctcae_grade": 3,
        "serious": True,
        "sae_hospitalization": True,
        "relatedness": "possible",
        "expectedness": "unexpected",
        "action_taken": "not_applicable",
        "outcome": "recovering",
    }
    save_adverse_event(participant, values, investigator, complete=True, now=NOW + 2 * DAY)
    notes = Notification.objects.filter(trial=trial)
    assert {dsmb.pk, sponsor.pk} <= {n.recipient_id for n in notes}
    assert {n.recipient_role for n in notes} == {"dsmb_statistician", "sponsor_admin"}
    assert all("related-sae" in n.message and "cohort-low" not in n.message for n in notes)
    with pytest.raises(services.AllocationProblem, match="paused"):
        randomize(NOW + 3 * DAY)
    sent = Notification.objects.filter(trial=trial).count()
    with pytest.raises(services.AllocationProblem, match="paused"):
        randomize(NOW + 3 * DAY)
    assert Notification.objects.filter(trial=trial).count() == sent  # not again for the same event
    escalation.record_decision(
        trial, dsmb, cohort_id="cohort-low", decision="stay", rationale="reviewed", now=NOW + 4 * DAY
    )
    assert escalation.current_gate(trial, NOW + 4 * DAY).state is GateState.OPEN
    randomize(NOW + 4 * DAY)


def test_the_api_answers_409_while_the_gate_is_closed_and_blinded_roles_get_open_or_paused(world, client, enroll):
    from auth_support import login_verified

    trial, randomize, dsmb, _sponsor, coordinators = world
    randomize(NOW)
    login_verified(client, coordinators["assist-03"])
    gate = client.get(f"/api/allocation/{ASSIST}/gate").json()
    assert gate == {"randomization": "open", "message": "Randomization is open."}
    escalation.record_decision(trial, dsmb, cohort_id="cohort-low", decision="stop", rationale="x", now=NOW + DAY)
    waiting = enroll(trial, "assist-03")
    response = client.post(f"/api/allocation/{ASSIST}/participants/{waiting.participant_number}/randomize")
    assert response.status_code == 409
    assert "ended on the safety committee's decision" in response.json()["error"]
    gate = client.get(f"/api/allocation/{ASSIST}/gate").json()
    assert gate["randomization"] == "paused" and "cohort" not in gate["message"]
    assert client.get(f"/api/allocation/{ASSIST}/escalation").status_code == 403
    page = client.get(f"/allocation/{ASSIST}/").content.decode()
    assert 'id="gate"' in page and "cohort" not in page.lower()
    assert client.get(f"/allocation/{ASSIST}/escalation/").status_code in (403, 404)


def test_the_dsmb_page_shows_counts_by_arm_and_records_a_decision(world, client):
    from auth_support import login_verified

    _trial, randomize, dsmb, *_ = world
    randomize(NOW)
    login_verified(client, dsmb)
    page = client.get(f"/allocation/{ASSIST}/escalation/").content.decode()
    assert "Cohort 1" in page and ("it-hmsc 1" in page or "placebo 1" in page)
    response = client.post(
        f"/allocation/{ASSIST}/escalation/", {"cohort_id": "cohort-low", "decision": "stop", "rationale": "safety"}
    )
    assert response.status_code == 302
    assert EscalationDecision.objects.get().decision == "stop"
    api = client.get(f"/api/allocation/{ASSIST}/escalation").json()
    assert api["state"] == "stopped" and api["cohorts"][0]["randomized"] == 1
