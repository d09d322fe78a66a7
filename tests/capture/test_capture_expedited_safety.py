"""Expedited safety in capture: the clock from awareness, the SUSAR clock and report, likely
duplicates, coding with the trial's dictionary, follow-up receipt times — all audited."""

import json
from datetime import timedelta

import pytest
import time_machine
from auth_support import api_token
from capture_cases import NOW

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture import safety, services

pytestmark = pytest.mark.django_db

SUSAR = {
    "term": "Seizure",
    "onset_date": "2026-06-14",
    "ctcae_grade": 3,
    "serious": True,
    "sae_hospitalization": True,
    "relatedness": "probable",
    "expectedness": "unexpected",
    "action_taken": "not_applicable",
    "outcome": "recovering",
}


def _post(client, url, user, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json", **api_token(user))


@time_machine.travel(NOW, tick=False)
def test_the_susar_clock_runs_15_days_from_awareness_and_the_report_stops_it(client, participant, staff):
    aware = "2026-06-10T09:00:00Z"  # five days before the form is saved
    response = _post(
        client,
        f"/api/capture/participants/{participant.pk}/adverse-events",
        staff["investigator"],
        {"values": SUSAR, "complete": True, "awareness_at": aware},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["susar_clock"]["due_date"] == "2026-06-25" and body["susar_clock"]["state"] == "running"
    assert body["coding"]["code"] == "open:seizure" and body["coding"]["system_organ_class"]
    assert body["data"]["ctcae_grade"] == 3  # the CTCAE grade is kept beside the coding
    reported = _post(client, f"/api/capture/adverse-events/{body['id']}/report-susar", staff["investigator"])
    assert reported.status_code == 200
    assert reported.json()["susar_clock"]["state"] == "reported_on_time"
    assert AuditEvent.objects.filter(action="susar_report", object_id=str(body["id"])).count() == 1
    again = _post(client, f"/api/capture/adverse-events/{body['id']}/report-susar", staff["investigator"])
    assert again.status_code == 409


def test_a_life_threatening_susar_runs_on_7_days(participant, staff):
    ae = services.save_adverse_event(
        participant,
        {**SUSAR, "sae_life_threatening": True},
        staff["investigator"],
        complete=True,
        now=NOW,
        awareness_at=NOW - timedelta(days=1),
    )
    clock = safety.susar_clock(ae, NOW)
    assert clock.days == 7 and clock.due_date.isoformat() == "2026-06-21"


def test_an_expected_event_has_no_susar_clock_and_cannot_be_reported_as_one(participant, staff):
    ae = services.save_adverse_event(
        participant, {**SUSAR, "expectedness": "expected"}, staff["investigator"], complete=True, now=NOW
    )
    assert safety.susar_clock(ae, NOW) is None
    with pytest.raises(services.CaptureError, match="not a SUSAR"):
        services.report_susar(ae, staff["investigator"], now=NOW)


def test_a_likely_duplicate_is_warned_not_refused(client, participant, staff):
    first = services.save_adverse_event(participant, SUSAR, staff["investigator"], complete=True, now=NOW)
    second = services.save_adverse_event(
        participant, {**SUSAR, "term": "seizures", "onset_date": "2026-06-15"}, staff["investigator"],
        complete=True, now=NOW,
    )  # fmt: skip
    other = services.save_adverse_event(
        participant, {**SUSAR, "term": "Headache"}, staff["investigator"], complete=True, now=NOW
    )
    assert safety.duplicates_of(second) == [first]
    assert safety.duplicates_of(other) == []
    assert "Possible duplicate of AE1 (Seizure)" in safety.duplicate_warning(second)
    listed = client.get(
        f"/api/capture/participants/{participant.pk}/adverse-events", **api_token(staff["monitor"])
    ).json()["items"]
    assert {a["number"]: a["likely_duplicates"] for a in listed} == {1: [2], 2: [1], 3: []}


def test_the_web_form_takes_the_awareness_time_and_warns_of_a_duplicate(client, participant, staff):
    from auth_support import login_verified

    services.save_adverse_event(participant, SUSAR, staff["investigator"], complete=True, now=NOW)
    login_verified(client, staff["investigator"])
    posted = {k: ("true" if v is True else v) for k, v in SUSAR.items()}
    posted.update({"action": "complete", "awareness_at": "2026-06-12T07:30"})
    response = client.post(f"/capture/participants/{participant.pk}/adverse-events/new/", posted, follow=True)
    text = response.content.decode()
    assert "Possible duplicate of AE1" in text, text[:3000]
    ae = participant.adverse_events.get(number=2)
    assert ae.awareness_at.date().isoformat() == "2026-06-12"  # the clock starts at awareness, not at saving
    assert 'id="susar-clock"' in text


def test_a_follow_up_keeps_when_its_information_was_received(participant, staff):
    ae = services.save_adverse_event(participant, SUSAR, staff["investigator"], complete=True, now=NOW)
    received = NOW - timedelta(hours=5)
    fu = services.add_ae_follow_up(ae, staff["investigator"], note="Discharged", now=NOW, received_at=received)
    assert fu.received_at == received
    event = AuditEvent.objects.filter(action="ae_follow_up").latest("seq")
    assert event.after["received_at"].replace(" ", "T").startswith("2026-06-15T05:00")
    with pytest.raises(services.CaptureError, match="future"):
        services.add_ae_follow_up(ae, staff["investigator"], note="x", now=NOW, received_at=NOW + timedelta(hours=1))


def test_the_coding_search_offers_dictionary_terms(client, staff):
    found = client.get("/api/capture/coding?q=hyper", **api_token(staff["monitor"])).json()["items"]
    assert [t["term"] for t in found] == ["Hypertension"]


@time_machine.travel(NOW, tick=False)
def test_a_follow_up_that_makes_a_susar_fatal_re_clocks_it_7_days_from_its_own_awareness(client, participant, staff):
    """Regulation (EU) No 536/2014 Art. 42(2)(c), on the API, the page and the SAE clocks panel."""
    from auth_support import login_verified

    aware = "2026-06-01T09:00:00Z"  # 15-day clock: due 16 June
    created = _post(
        client,
        f"/api/capture/participants/{participant.pk}/adverse-events",
        staff["investigator"],
        {"values": SUSAR, "complete": True, "awareness_at": aware},
    ).json()
    assert created["susar_clock"]["due_date"] == "2026-06-16" and created["susar_clock"]["days"] == 15
    reported = _post(client, f"/api/capture/adverse-events/{created['id']}/report-susar", staff["investigator"])
    assert reported.json()["susar_clock"]["state"] == "reported_on_time"
    # The participant died; the site learned it on 14 June at 23:30 UTC and enters it an hour after
    # the first report was sent (that report could not carry it).
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        follow_up = _post(
            client,
            f"/api/capture/adverse-events/{created['id']}/follow-ups",
            staff["investigator"],
            {"note": "Died", "outcome": "fatal", "received_at": "2026-06-14T23:30:00Z", "seriousness": "fatal"},
        )
    assert follow_up.status_code == 201, follow_up.content
    body = follow_up.json()
    assert body["susar_clock"]["kind"] == "turned_fatal" and body["susar_clock"]["days"] == 7
    assert body["susar_clock"]["due_date"] == "2026-06-21"  # 14 June + 7, not 1 June + 7
    assert body["susar_clock"]["state"] == "running"
    first = body["susar_clocks"][0]
    assert (first["kind"], first["due_date"], first["state"]) == ("initial", "2026-06-16", "reported_on_time")
    assert body["follow_ups"][0]["seriousness"] == "fatal"
    assert not any("arm" in key for clock in body["susar_clocks"] for key in clock)

    login_verified(client, staff["investigator"])
    page = client.get(f"/capture/participants/{participant.pk}/adverse-events/{created['id']}/").content.decode()
    assert "SUSAR 7-day report (now fatal or life-threatening) due 2026-06-21" in page
    assert "Record SUSAR report" in page  # the new clock waits for its own report
    home = client.get(f"/home/?trial={participant.trial.nct_id}&role=investigator").content.decode()
    assert "SUSAR 7-day report (now fatal or life-threatening) due 2026-06-21" in home

    # The 7-day report, then the complete report within 8 more days (ICH E2A III.A.1).
    with time_machine.travel("2026-06-16T10:00:00Z", tick=False):
        after = _post(client, f"/api/capture/adverse-events/{created['id']}/report-susar", staff["investigator"]).json()
        assert after["susar_clock"]["kind"] == "complete" and after["susar_clock"]["due_date"] == "2026-06-24"
    with time_machine.travel("2026-06-22T10:00:00Z", tick=False):
        completed = _post(client, f"/api/capture/adverse-events/{created['id']}/report-susar", staff["investigator"])
        assert [c["state"] for c in completed.json()["susar_clocks"]] == ["reported_on_time"] * 3
        again = _post(client, f"/api/capture/adverse-events/{created['id']}/report-susar", staff["investigator"])
        assert again.status_code == 409
    assert AuditEvent.objects.filter(action="susar_report", object_id=str(created["id"])).count() == 3
    audited = AuditEvent.objects.filter(action="ae_follow_up").latest("seq")
    assert audited.after["seriousness"] == "fatal" and audited.after["assessment"]["fatal_or_life_threatening"]


def test_a_follow_up_refuses_an_unknown_seriousness(client, participant, staff):
    ae = services.save_adverse_event(participant, SUSAR, staff["investigator"], complete=True, now=NOW)
    with pytest.raises(services.CaptureError, match="seriousness"):
        services.add_ae_follow_up(ae, staff["investigator"], note="x", now=NOW, seriousness="dead")
    bad = _post(
        client,
        f"/api/capture/adverse-events/{ae.pk}/follow-ups",
        staff["investigator"],
        {"note": "x", "seriousness": "dead"},
    )
    assert bad.status_code == 422 and ae.follow_ups.count() == 0
