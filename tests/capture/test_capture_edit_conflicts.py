"""Edit conflicts (optimistic locking): a form carries its version; a save made from a version that
is no longer current is refused, nothing is written, and the other person's change is shown. Of
many simultaneous saves from one version exactly one wins and the audit trail holds one change.
Creating a form that exists answers 409, never 500 or a false 201."""

import json
import threading

import pytest
import time_machine
from auth_support import api_token
from capture_cases import NIHSS_7, NOW
from django.db import connections
from django.test import Client

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import FormRecord
from trialkit.server.capture.services import EditConflict, save_form

VITALS = {"systolic_bp": 130, "diastolic_bp": 80, "heart_rate": 70, "weight_kg": 72.5}


def _auth(user):
    return api_token(user)


def _json(client, method, url, user, body, **headers):
    return getattr(client, method)(
        url, data=json.dumps(body), content_type="application/json", **_auth(user), **headers
    )


def _updates(form):
    return AuditEvent.objects.filter(object_type="form", object_id=str(form.pk), action="form_update")


def _draft(participant, user, values=VITALS):
    return save_form(participant, "month3", "vital_signs", values, user, complete=False, now=NOW)


# --------------------------------------------------------------------------- the service


@pytest.mark.django_db
def test_a_save_from_a_stale_version_is_refused_and_changes_nothing(participant, staff):
    form = _draft(participant, staff["coordinator"])
    assert form.version == 1
    save_form(
        participant,
        "month3",
        "vital_signs",
        dict(VITALS, heart_rate=88),
        staff["investigator"],
        complete=False,
        now=NOW,
        expected_version=1,
    )
    with pytest.raises(EditConflict) as refused:
        save_form(
            participant,
            "month3",
            "vital_signs",
            dict(VITALS, heart_rate=64),
            staff["coordinator"],
            complete=False,
            now=NOW,
            expected_version=1,
        )
    assert refused.value.current.version == 2 and refused.value.current.data["heart_rate"] == 88
    assert "ines" in str(refused.value) and "version 2" in str(refused.value)
    form.refresh_from_db()
    assert form.version == 2 and form.data["heart_rate"] == 88
    assert _updates(form).count() == 1


@pytest.mark.django_db
def test_creating_a_form_that_exists_is_a_conflict_not_a_silent_update(participant, staff):
    _draft(participant, staff["coordinator"])
    with pytest.raises(EditConflict) as refused:
        save_form(
            participant,
            "month3",
            "vital_signs",
            dict(VITALS, heart_rate=99),
            staff["investigator"],
            complete=False,
            now=NOW,
            expected_version=0,
        )
    assert "already entered by cora" in str(refused.value)
    assert FormRecord.objects.get().data["heart_rate"] == 70


# --------------------------------------------------------------------------- the web form


def _post_ecrf(client, participant, version, values, action="draft", reason=""):
    url = f"/capture/participants/{participant.pk}/visits/month3/forms/vital_signs/"
    return client.post(
        url,
        {
            **{k: str(v) for k, v in values.items()},
            "version": str(version),
            "repeat": "1",
            "action": action,
            "reason": reason,
        },
    )


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_second_of_two_web_editors_sees_who_changed_what_and_keeps_their_input(participant, staff):
    form = _draft(participant, staff["coordinator"])
    staff["investigator"].first_name, staff["investigator"].last_name = "Ines", "Ortega"
    staff["investigator"].save()
    first, second = Client(), Client()
    first.force_login(staff["investigator"])
    second.force_login(staff["coordinator"])
    page = second.get(f"/capture/participants/{participant.pk}/visits/month3/forms/vital_signs/").content.decode()
    assert 'name="version" value="1"' in page
    assert _post_ecrf(first, participant, 1, dict(VITALS, heart_rate=88, weight_kg=80)).status_code == 302
    stale = _post_ecrf(second, participant, 1, dict(VITALS, heart_rate=64))
    assert stale.status_code == 200
    html = stale.content.decode()
    assert "Ines Ortega saved this form" in html and "version 2" in html
    assert 'value="64"' in html  # what this user typed is kept
    assert "Saved by Ines Ortega: <strong>88</strong>" in html  # the other person's value, per field
    assert "Saved by Ines Ortega: <strong>80" in html
    assert 'data-item="systolic_bp"' not in html  # fields that agree are not flagged
    assert 'name="version" value="2"' in html  # saving again is a deliberate overwrite
    form.refresh_from_db()
    assert form.version == 2 and form.data["heart_rate"] == 88 and _updates(form).count() == 1
    again = _post_ecrf(second, participant, 2, dict(VITALS, heart_rate=64))
    assert again.status_code == 302
    form.refresh_from_db()
    assert form.version == 3 and form.data["heart_rate"] == 64


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_web_form_opened_before_anyone_entered_it_does_not_overwrite_a_new_entry(participant, staff):
    first, second = Client(), Client()
    first.force_login(staff["investigator"])
    second.force_login(staff["coordinator"])
    blank = second.get(f"/capture/participants/{participant.pk}/visits/month3/forms/vital_signs/").content.decode()
    assert 'name="version" value="0"' in blank
    assert _post_ecrf(first, participant, 0, VITALS).status_code == 302
    stale = _post_ecrf(second, participant, 0, dict(VITALS, heart_rate=101))
    assert stale.status_code == 200 and "already entered by ines" in stale.content.decode()
    assert FormRecord.objects.get().data["heart_rate"] == 70


# --------------------------------------------------------------------------- the API


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_api_put_with_a_stale_version_answers_409_with_the_current_form(client, participant, staff):
    created = _json(
        client,
        "post",
        f"/api/capture/participants/{participant.pk}/forms",
        staff["coordinator"],
        {"visit_id": "month3", "instrument": "nihss", "values": NIHSS_7, "complete": False},
    )
    assert created.status_code == 201 and created["ETag"] == '"1"'
    url = f"/api/capture/forms/{created.json()['id']}"
    got = client.get(url, **_auth(staff["monitor"]))
    assert got["ETag"] == '"1"'
    ok = _json(client, "put", url, staff["investigator"], {"values": dict(NIHSS_7, **{"5a": 3})}, HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200 and ok["ETag"] == '"2"' and ok.json()["version"] == 2
    stale = _json(
        client, "put", url, staff["coordinator"], {"values": dict(NIHSS_7, **{"5a": 4}), "expected_version": 1}
    )
    assert stale.status_code == 409 and stale["ETag"] == '"2"'
    body = stale.json()
    assert set(body) >= {"error", "errors", "current"}
    assert body["current"]["version"] == 2 and body["current"]["data"]["5a"] == 3
    assert "ines" in body["error"]
    stale_header = _json(client, "put", url, staff["coordinator"], {"values": NIHSS_7}, HTTP_IF_MATCH="1")
    assert stale_header.status_code == 409
    assert FormRecord.objects.get().version == 2 and _updates(FormRecord.objects.get()).count() == 1


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_api_version_arguments_that_disagree_or_are_malformed_are_422(client, participant, staff):
    form = _draft(participant, staff["coordinator"])
    url = f"/api/capture/forms/{form.pk}"
    both = _json(
        client, "put", url, staff["coordinator"], {"values": VITALS, "expected_version": 1}, HTTP_IF_MATCH='"2"'
    )
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "expected_version"
    bad = _json(client, "put", url, staff["coordinator"], {"values": VITALS}, HTTP_IF_MATCH="yesterday")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "If-Match"
    negative = _json(client, "put", url, staff["coordinator"], {"values": VITALS, "expected_version": -1})
    assert negative.status_code == 422 and negative.json()["errors"][0]["field"] == "expected_version"
    unsaid = _json(client, "put", url, staff["coordinator"], {"values": VITALS})
    assert unsaid.status_code == 422  # no silent last-writer-wins: a change names the version it changes
    assert [(e["field"], e["rule"]) for e in unsaid.json()["errors"]] == [("expected_version", "required")]
    assert FormRecord.objects.get().version == 1
    anything = _json(
        client, "put", url, staff["coordinator"], {"values": dict(VITALS, heart_rate=90)}, HTTP_IF_MATCH="*"
    )
    assert anything.status_code == 200 and FormRecord.objects.get().version == 2  # "*": whatever is there


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_api_create_of_an_existing_form_is_409_even_when_values_are_identical(client, participant, staff):
    _draft(participant, staff["coordinator"])
    again = _json(
        client,
        "post",
        f"/api/capture/participants/{participant.pk}/forms",
        staff["investigator"],
        {"visit_id": "month3", "instrument": "vital_signs", "values": VITALS},
    )
    assert again.status_code == 409
    assert again.json()["current"]["version"] == 1 and again.json()["current"]["data"]["heart_rate"] == 70
    assert FormRecord.objects.count() == 1


# --------------------------------------------------------------------------- concurrency

SAVERS = 16


def _race(requests):
    """Run each request in its own thread (own database connection), all released together."""
    barrier = threading.Barrier(len(requests))
    results, crashes = [None] * len(requests), []

    def run(i, request):
        try:
            barrier.wait(timeout=60)
            results[i] = request()
        except Exception as exc:
            crashes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a save hung"
    assert crashes == []
    return results


def _put_from_version_1(url, user, heart_rate):
    """A save from version 1 of values that differ from version 1's (an identical save is a no-op,
    not a conflict)."""
    assert heart_rate != VITALS["heart_rate"]

    def request():
        client = Client(raise_request_exception=False)
        return _json(client, "put", url, user, {"values": dict(VITALS, heart_rate=heart_rate), "expected_version": 1})

    return request


def _check_one_winner(responses, form):
    codes = sorted(r.status_code for r in responses)
    winners = [r.json() for r in responses if r.status_code == 200]
    assert codes == [200] + [409] * (SAVERS - 1), (
        codes,
        [(w["version"], w["data"]) for w in winners],
        list(_updates(form).values_list("seq", "actor", "after")),
    )
    winner = next(r for r in responses if r.status_code == 200).json()
    form.refresh_from_db()
    assert form.version == 2 and form.data["heart_rate"] == winner["data"]["heart_rate"]
    assert _updates(form).count() == 1
    for refused in (r.json() for r in responses if r.status_code == 409):
        assert refused["current"] is not None and refused["current"]["version"] == 2, refused


@pytest.mark.django_db(transaction=True)
def test_sixteen_simultaneous_api_saves_from_one_version(participant, staff):
    """The same race on whichever database the suite runs on (SQLite serializes writers with
    BEGIN IMMEDIATE; PostgreSQL with the row lock)."""
    form = _draft(participant, staff["coordinator"])
    url = f"/api/capture/forms/{form.pk}"
    users = [staff["coordinator"], staff["investigator"]]
    responses = _race([_put_from_version_1(url, users[i % 2], 100 + i) for i in range(SAVERS)])
    _check_one_winner(responses, form)


@pytest.mark.django_db(transaction=True)
def test_sixteen_simultaneous_creates_make_one_form_and_fifteen_409(participant, staff):
    url = f"/api/capture/participants/{participant.pk}/forms"
    users = [staff["coordinator"], staff["investigator"]]

    def create(i):
        def request():
            client = Client(raise_request_exception=False)
            return _json(
                client,
                "post",
                url,
                users[i % 2],
                {"visit_id": "month3", "instrument": "vital_signs", "values": dict(VITALS, heart_rate=60 + i)},
            )

        return request

    responses = _race([create(i) for i in range(SAVERS)])
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * (SAVERS - 1), codes
    assert FormRecord.objects.count() == 1
    assert AuditEvent.objects.filter(action="form_create").count() == 1


# --------------------------------------------------------------------------- the adverse event log

MILD_AE = {
    "term": "Headache",
    "onset_date": "2026-06-14",
    "ctcae_grade": 1,
    "serious": False,
    "relatedness": "unlikely",
    "expectedness": "expected",
    "action_taken": "not_applicable",
    "outcome": "recovering",
}


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_stale_adverse_event_save_is_refused_on_the_web_and_in_the_api(client, participant, staff):
    from trialkit.server.capture.models import AdverseEvent
    from trialkit.server.capture.services import save_adverse_event

    ae = save_adverse_event(participant, MILD_AE, staff["coordinator"], complete=False, now=NOW)
    page_url = f"/capture/participants/{participant.pk}/adverse-events/{ae.pk}/"
    first, second = Client(), Client()
    first.force_login(staff["investigator"])
    second.force_login(staff["coordinator"])
    assert 'name="version" value="1"' in second.get(page_url).content.decode()
    form = {
        **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in MILD_AE.items()},
        "version": "1",
        "action": "draft",
    }
    assert first.post(page_url, dict(form, ctcae_grade="2")).status_code == 302
    stale = second.post(page_url, dict(form, outcome="recovered"))
    html = stale.content.decode()
    assert stale.status_code == 200 and 'id="edit-conflict"' in html and "ines saved this adverse event" in html
    assert 'data-item="ctcae_grade"' in html and 'name="version" value="2"' in html
    assert AdverseEvent.objects.get().version == 2 and AdverseEvent.objects.get().data["outcome"] == "recovering"
    api = _json(
        client,
        "put",
        f"/api/capture/adverse-events/{ae.pk}",
        staff["coordinator"],
        {"values": MILD_AE},
        HTTP_IF_MATCH='"1"',
    )
    assert api.status_code == 409 and api["ETag"] == '"2"'
    assert api.json()["current"]["version"] == 2 and api.json()["current"]["data"]["ctcae_grade"] == 2
    ok = _json(
        client,
        "put",
        f"/api/capture/adverse-events/{ae.pk}",
        staff["coordinator"],
        {"values": dict(MILD_AE, outcome="recovered"), "expected_version": 2},
    )
    assert ok.status_code == 200 and ok["ETag"] == '"3"'


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_visit_adverse_event_checks_its_version_before_its_form_is_saved(participant, staff):
    from trialkit.server.capture.services import save_adverse_event

    save_form(participant, "month3", "adverse_event", MILD_AE, staff["coordinator"], complete=False, now=NOW)
    ae = participant.adverse_events.get()
    save_adverse_event(
        participant,
        dict(MILD_AE, ctcae_grade=2),
        staff["investigator"],
        complete=False,
        now=NOW,
        adverse_event=ae,
        expected_version=1,
    )
    with pytest.raises(EditConflict) as refused:
        save_adverse_event(
            participant,
            dict(MILD_AE, ctcae_grade=3),
            staff["coordinator"],
            complete=False,
            now=NOW,
            adverse_event=ae,
            expected_version=1,
        )
    assert "ines saved this adverse event" in str(refused.value)
    assert FormRecord.objects.get(instrument="adverse_event").data["ctcae_grade"] == 2


@pytest.mark.django_db(transaction=True)
def test_sixteen_simultaneous_adverse_event_saves_from_one_version(participant, staff):
    from trialkit.server.capture.services import save_adverse_event

    ae = save_adverse_event(participant, MILD_AE, staff["coordinator"], complete=False, now=NOW)
    url = f"/api/capture/adverse-events/{ae.pk}"
    users = [staff["coordinator"], staff["investigator"]]

    def put(i):
        def request():
            return _json(
                Client(raise_request_exception=False),
                "put",
                url,
                users[i % 2],
                {"values": dict(MILD_AE, term=f"Headache {i}"), "expected_version": 1},
            )

        return request

    responses = _race([put(i) for i in range(SAVERS)])
    assert sorted(r.status_code for r in responses) == [200] + [409] * (SAVERS - 1)
    assert AuditEvent.objects.filter(object_type="adverse_event", action="ae_update").count() == 1
