"""The end of participation: who may record it, the rules on outcome, date and reason, the audit
trail, reopening a mistaken end, and visits that stop being expected (services, pages and API)."""

import json
from datetime import date, timedelta

import pytest
import time_machine
from auth_support import api_token
from capture_cases import NOW
from django.core.exceptions import PermissionDenied

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture import services
from trialkit.server.capture.models import Visit
from trialkit.server.capture.services import CaptureError, FormInvalid, end_participation, reopen_participation
from trialkit.server.capture.worklist import due_visits, timeline
from trialkit.server.participants.models import Participant

pytestmark = pytest.mark.django_db

# conftest: enrolled 15 June 2026 10:00 UTC (NOW), day 0 on 2 March 2026, status treated.
TODAY = NOW.date()


def _state(participant):
    participant.refresh_from_db()
    return (participant.status, participant.ended_on, participant.end_reason, participant.status_before_end)


def _enrolled_on(participant, day=date(2026, 2, 20)):
    """conftest enrolls on NOW (15 June) with day 0 on 2 March; move enrollment to the screening day."""
    Participant.objects.filter(pk=participant.pk).update(enrolled_at=NOW.replace(month=day.month, day=day.day))
    participant.refresh_from_db()
    return participant


# --------------------------------------------------------------------------- services


def test_a_coordinator_records_a_withdrawal_and_the_audit_trail_keeps_before_after_and_why(participant, staff):
    p = end_participation(
        participant,
        staff["coordinator"],
        outcome="withdrawn",
        ended_on=TODAY,
        reason="  Withdrew consent to further visits  ",
        now=NOW,
    )
    assert _state(p) == ("withdrawn", TODAY, "Withdrew consent to further visits", "treated")
    event = AuditEvent.objects.get(action="participation_end")
    assert (
        event.actor == "cora" and event.participant_id == p.pk and event.reason == "Withdrew consent to further visits"
    )
    assert event.before == {"status": "treated", "ended_on": None, "end_reason": ""}
    assert event.after == {
        "status": "withdrawn",
        "ended_on": TODAY.isoformat(),
        "end_reason": "Withdrew consent to further visits",
        "status_before_end": "treated",
    }


def test_the_investigator_of_the_site_may_record_an_end_too(participant, staff):
    end_participation(
        participant, staff["investigator"], outcome="died", ended_on=TODAY, reason="Fatal recurrent stroke", now=NOW
    )
    assert _state(participant)[:2] == ("died", TODAY)


@pytest.mark.parametrize(
    "role",
    ["blinded_assessor", "unblinded_pharmacist", "monitor", "data_manager", "sponsor_admin", "dsmb_statistician"],
)
def test_roles_other_than_site_staff_cannot_end_participation(participant, ixcell, site, make_user, role):
    user = make_user(role, ixcell, site if role in ("blinded_assessor", "unblinded_pharmacist") else None)
    with pytest.raises(PermissionDenied):
        end_participation(participant, user, outcome="withdrawn", ended_on=TODAY, reason="x", now=NOW)
    assert _state(participant) == ("treated", None, "", "")
    assert not AuditEvent.objects.filter(action="participation_end").exists()


def test_site_staff_of_another_site_cannot_end_participation(participant, ixcell, other_site, make_user):
    with pytest.raises(PermissionDenied):
        end_participation(
            participant,
            make_user("coordinator", ixcell, other_site),
            outcome="withdrawn",
            ended_on=TODAY,
            reason="x",
            now=NOW,
        )
    assert _state(participant)[0] == "treated"


def test_every_problem_is_named_at_once_and_nothing_is_written(participant, staff):
    events = AuditEvent.objects.count()
    with pytest.raises(FormInvalid) as info:
        end_participation(
            participant, staff["coordinator"], outcome="moved", ended_on=TODAY + timedelta(days=1), reason="", now=NOW
        )
    assert {(e["field"], e["rule"]) for e in info.value.as_list()} == {("outcome", "choice"), ("ended_on", "range")}
    assert "completed, withdrawn, lost_to_follow_up, died" in str(info.value)
    assert "cannot be in the future (today is 2026-06-15)" in str(info.value)
    with pytest.raises(FormInvalid) as info:
        end_participation(
            participant, staff["coordinator"], outcome="lost_to_follow_up", ended_on="15/06/2026", reason=" ", now=NOW
        )
    assert {(e["field"], e["rule"]) for e in info.value.as_list()} == {("ended_on", "type"), ("reason", "required")}
    assert _state(participant) == ("treated", None, "", "")
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("outcome", ["withdrawn", "lost_to_follow_up", "died"])
def test_a_reason_is_required_for_every_end_but_completion(participant, staff, outcome):
    with pytest.raises(FormInvalid) as info:
        end_participation(participant, staff["coordinator"], outcome=outcome, ended_on=TODAY, reason="", now=NOW)
    assert [(e["field"], e["rule"]) for e in info.value.as_list()] == [("reason", "required")]


def test_the_date_is_required_and_not_before_enrollment(participant, staff):
    _enrolled_on(participant)
    with pytest.raises(FormInvalid) as info:
        end_participation(participant, staff["coordinator"], outcome="withdrawn", ended_on="", reason="x", now=NOW)
    assert [(e["field"], e["rule"]) for e in info.value.as_list()] == [("ended_on", "required")]
    with pytest.raises(FormInvalid, match="cannot be before enrollment on 2026-02-20"):
        end_participation(
            participant, staff["coordinator"], outcome="withdrawn", ended_on=date(2026, 2, 19), reason="x", now=NOW
        )
    # The enrollment day itself and a date given as text are accepted.
    end_participation(
        participant, staff["coordinator"], outcome="withdrawn", ended_on="2026-02-20", reason="x", now=NOW
    )
    assert _state(participant)[1] == date(2026, 2, 20)


def test_completion_needs_the_end_of_study_visit_and_is_not_dated_before_it(participant, staff):
    _enrolled_on(participant)
    with pytest.raises(FormInvalid) as info:
        end_participation(participant, staff["coordinator"], outcome="completed", ended_on=TODAY, now=NOW)
    (error,) = info.value.as_list()
    assert (error["field"], error["rule"]) == ("outcome", "end_of_study_visit")
    assert "Month 12 (month12)" in error["message"]  # IxCell's visit of kind end_of_study
    month12 = Visit.objects.get(participant=participant, visit_id="month12")
    services.record_visit_date(month12, date(2026, 6, 10), staff["coordinator"], NOW)
    with pytest.raises(FormInvalid, match="before the end-of-study visit, Month 12 on 2026-06-10"):
        end_participation(participant, staff["coordinator"], outcome="completed", ended_on=date(2026, 6, 9), now=NOW)
    end_participation(participant, staff["coordinator"], outcome="completed", ended_on=date(2026, 6, 10), now=NOW)
    assert _state(participant) == ("completed", date(2026, 6, 10), "", "treated")


def test_an_ended_participation_is_not_ended_again(participant, staff):
    end_participation(participant, staff["coordinator"], outcome="withdrawn", ended_on=TODAY, reason="x", now=NOW)
    with pytest.raises(CaptureError, match="already ended participation"):
        end_participation(participant, staff["investigator"], outcome="died", ended_on=TODAY, reason="y", now=NOW)
    assert _state(participant)[:3] == ("withdrawn", TODAY, "x")
    assert AuditEvent.objects.filter(action="participation_end").count() == 1


def test_the_investigator_reopens_a_mistaken_end_with_a_reason(participant, staff):
    end_participation(
        participant,
        staff["coordinator"],
        outcome="lost_to_follow_up",
        ended_on=TODAY,
        reason="no answer to calls",
        now=NOW,
    )
    with pytest.raises(PermissionDenied):
        reopen_participation(participant, staff["coordinator"], reason="wrong participant", now=NOW)
    with pytest.raises(FormInvalid) as info:
        reopen_participation(participant, staff["investigator"], reason="  ", now=NOW)
    assert [(e["field"], e["rule"]) for e in info.value.as_list()] == [("reason", "required")]
    assert _state(participant)[0] == "lost_to_follow_up"
    reopen_participation(participant, staff["investigator"], reason="Recorded for the wrong participant", now=NOW)
    assert _state(participant) == ("treated", None, "", "")
    event = AuditEvent.objects.get(action="participation_reopen")
    assert event.actor == "ines" and event.reason == "Recorded for the wrong participant"
    assert event.before == {
        "status": "lost_to_follow_up",
        "ended_on": TODAY.isoformat(),
        "end_reason": "no answer to calls",
        "status_before_end": "treated",
    }
    assert event.after == {"status": "treated", "ended_on": None, "end_reason": ""}
    with pytest.raises(CaptureError, match="has not ended participation"):
        reopen_participation(participant, staff["investigator"], reason="again", now=NOW)


# --------------------------------------------------------------------------- visits and work lists


def test_visits_after_the_end_are_not_expected_and_a_visit_missed_before_it_stays_missed(participant, staff):
    """Day 0 2 March 2026: month1 window 25 Mar-8 Apr (closed before the end), month3 17 May-14 Jun,
    month6 15 Aug-12 Sep. Withdrawn on 20 May 2026, looked at on 15 June."""
    _enrolled_on(participant)
    end_participation(
        participant,
        staff["coordinator"],
        outcome="withdrawn",
        ended_on=date(2026, 5, 20),
        reason="moved abroad",
        now=NOW,
    )
    t = timeline(participant, TODAY, NOW)
    cards = {c.visit.visit_id: c for c in t.visits}
    assert cards["month1"].status.value == "missed" and cards["month1"].note == ""
    assert [cards[v].status.value for v in ("month3", "month6", "month12")] == ["not_expected"] * 3
    assert cards["month3"].note == "not expected: participant withdrew on 20 May 2026"
    # The Screening visit was held on the screening date (carried in from the screening record).
    assert cards["screening"].visit.done_on == participant.screening.screening_date
    assert t.flags[0] == "Missed visits: Baseline and infusion, Day 7, Month 1"


@time_machine.travel(NOW, tick=False)
def test_an_ended_participants_visits_leave_the_weekly_list_and_the_home_panels(client, make_participant, staff, site):
    # Day 0 10 May: month1 target 9 June, window 2-16 June, overdue on 15 June (see test_capture_web).
    p = _enrolled_on(make_participant(anchor=date(2026, 5, 10)), date(2026, 5, 5))
    services.ensure_schedule(p)

    def keys():
        return {
            (v.participant.participant_number, v.visit_id) for v in due_visits(staff["coordinator"], site.trial, TODAY)
        }

    assert (p.participant_number, "month1") in keys()
    client.force_login(staff["coordinator"])
    home = client.get(f"/home/?trial={site.trial.nct_id}").content.decode()
    assert f"{p.participant_number} · Month 1" in home
    end_participation(p, staff["coordinator"], outcome="withdrawn", ended_on=date(2026, 6, 12), reason="x", now=NOW)
    assert keys() == set()
    rows = client.get(f"/api/capture/trials/{site.trial.nct_id}/due").json()["items"]
    assert rows == []
    assert p.participant_number not in client.get(f"/capture/trials/{site.trial.nct_id}/due/").content.decode()
    home = client.get(f"/home/?trial={site.trial.nct_id}").content.decode()
    assert f"{p.participant_number} · Month 1" not in home
    visits = {
        v["visit_id"]: v["status"] for v in client.get(f"/api/capture/participants/{p.pk}/visits").json()["items"]
    }
    assert visits["month1"] == "not_expected" and visits["day7"] == "missed"


# --------------------------------------------------------------------------- pages


@time_machine.travel(NOW, tick=False)
def test_the_timeline_form_shows_errors_by_field_keeps_what_was_typed_and_changes_nothing(client, participant, staff):
    client.force_login(staff["coordinator"])
    url = f"/capture/participants/{participant.pk}/"
    page = client.get(url).content.decode()
    assert 'id="end-participation"' in page and "reopen-participation" not in page
    response = client.post(f"{url}end/", {"outcome": "died", "ended_on": "2026-06-16", "reason": ""})
    page = response.content.decode()
    assert response.status_code == 200 and "Nothing was changed" in page
    assert (
        "cannot be in the future (today is 2026-06-15)" in page
        and "say why the participant is recorded as died" in page
    )
    assert '<option value="died" selected>' in page and 'value="2026-06-16"' in page
    assert page.count("has-error") == 2
    assert _state(participant)[0] == "treated"


@time_machine.travel(NOW, tick=False)
def test_an_ended_participant_shows_a_banner_and_the_investigator_alone_may_reopen(client, participant, staff):
    _enrolled_on(participant)
    client.force_login(staff["coordinator"])
    url = f"/capture/participants/{participant.pk}/"
    values = {"outcome": "withdrawn", "ended_on": "2026-06-01", "reason": "Withdrew consent after the month 3 visit"}
    # First the confirmation page: what will change, nothing written yet.
    confirm = client.post(f"{url}end/", values)
    assert confirm.status_code == 200 and 'id="confirm-end"' in confirm.content.decode()
    assert "Month 6" in confirm.content.decode() and _state(participant)[0] == "treated"
    response = client.post(f"{url}end/", {**values, "confirmed": "1"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert 'id="participation-ended"' in page and "1 Jun 2026" in page
    assert "Withdrew consent after the month 3 visit" in page and "participant withdrew on 1 Jun 2026" in page
    assert 'id="end-participation"' not in page and "reopen-participation" not in page
    assert client.post(f"{url}reopen/", {"reason": "mistake"}).status_code == 403
    client.force_login(staff["investigator"])
    assert 'id="reopen-participation"' in client.get(url).content.decode()
    page = client.post(f"{url}reopen/", {"reason": ""}).content.decode()
    assert "say why the recorded end was a mistake" in page and _state(participant)[0] == "withdrawn"
    assert client.post(f"{url}reopen/", {"reason": "entered for the wrong participant"}).status_code == 302
    assert _state(participant) == ("treated", None, "", "")
    assert 'id="end-participation"' in client.get(url).content.decode()


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("role", ["monitor", "sponsor", "pharmacist"])
def test_other_roles_see_no_end_form_and_are_refused(client, participant, staff, role):
    client.force_login(staff[role])
    url = f"/capture/participants/{participant.pk}/"
    page = client.get(url).content.decode()
    assert "end-participation" not in page
    response = client.post(f"{url}end/", {"outcome": "withdrawn", "ended_on": "2026-06-01", "reason": "x"})
    assert response.status_code == 403
    assert _state(participant)[0] == "treated"


# --------------------------------------------------------------------------- API


def _auth(user):
    return api_token(user)


def _post(client, url, user, body):
    return client.post(url, data=json.dumps(body), content_type="application/json", **_auth(user))


@time_machine.travel(NOW, tick=False)
def test_the_api_ends_and_reopens_participation(client, participant, staff):
    _enrolled_on(participant)
    base = f"/api/capture/participants/{participant.pk}"
    got = client.get(base, **_auth(staff["monitor"])).json()
    assert (got["status"], got["ended_on"], got["participant_number"]) == ("treated", None, "P-001")
    bad = _post(client, f"{base}/end", staff["coordinator"], {"outcome": "lost", "ended_on": "2026-13-01"})
    assert bad.status_code == 422
    assert {(e["field"], e["rule"]) for e in bad.json()["errors"]} == {("outcome", "choice"), ("ended_on", "type")}
    assert _state(participant)[0] == "treated"
    assert (
        _post(
            client, f"{base}/end", staff["monitor"], {"outcome": "died", "ended_on": "2026-06-10", "reason": "x"}
        ).status_code
        == 403
    )
    ended = _post(
        client,
        f"{base}/end",
        staff["coordinator"],
        {"outcome": "died", "ended_on": "2026-06-10", "reason": "Fatal pneumonia"},
    )
    assert ended.status_code == 200, ended.content
    assert (ended.json()["status"], ended.json()["ended_on"], ended.json()["end_reason"]) == (
        "died",
        "2026-06-10",
        "Fatal pneumonia",
    )
    assert client.get(base, **_auth(staff["monitor"])).json()["ended_on"] == "2026-06-10"
    again = _post(
        client, f"{base}/end", staff["coordinator"], {"outcome": "withdrawn", "ended_on": "2026-06-10", "reason": "x"}
    )
    assert again.status_code == 409 and "already ended" in again.json()["error"]
    assert _post(client, f"{base}/reopen", staff["coordinator"], {"reason": "mistake"}).status_code == 403
    no_reason = _post(client, f"{base}/reopen", staff["investigator"], {})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    reopened = _post(client, f"{base}/reopen", staff["investigator"], {"reason": "death was another patient's"})
    assert reopened.status_code == 200 and (reopened.json()["status"], reopened.json()["ended_on"]) == ("treated", None)


@time_machine.travel(NOW, tick=False)
def test_the_weekly_list_in_the_database_is_the_schedule_rule(make_participant, staff, site):
    """``due_visits`` filters in the database; it keeps exactly the visits ``schedule.due_in_week``
    keeps, over participants with day 0 spread across a year, some ended before, within and after
    a window, and some visits held."""
    from trialkit.schedule import due_in_week

    # Day 0 every 9 days back over a year, and for each visit of the schedule a participant whose
    # window of that visit closes today, and one whose window closes tomorrow.
    anchors = [TODAY - timedelta(days=back) for back in range(0, 380, 9)]
    for visit in site.trial.protocol.schedule.visits:
        anchors += [TODAY - timedelta(days=visit.day + visit.window_after - ahead) for ahead in (0, 1)]
    people = []
    for anchor in anchors:
        p = _enrolled_on(make_participant(anchor=anchor), date(2026, 1, 5))
        services.ensure_schedule(p)
        people.append(p)
    for i, p in enumerate(people):
        if i % 3 == 1:  # ended today or earlier: before some windows close, on the day others close
            end_participation(
                p,
                staff["coordinator"],
                outcome="withdrawn",
                ended_on=TODAY - timedelta(days=i % 7),
                reason="x",
                now=NOW,
            )
        if i % 5 == 2:  # a visit held
            Visit.objects.filter(participant=p, order=2).update(done_on=TODAY - timedelta(days=1))
    expected = {
        v.pk
        for v in Visit.objects.filter(participant__trial=site.trial).select_related("participant")
        if due_in_week(v.planned, v.done_on, TODAY, v.participant.ended_on)
    }
    found = {v.pk for v in due_visits(staff["coordinator"], site.trial, TODAY)}
    assert len(expected) > 5 and found == expected
