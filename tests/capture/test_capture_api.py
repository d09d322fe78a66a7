"""The capture API: visits, form create/update with validation errors, queries, AEs; never an arm."""

import json

import pytest
import time_machine
from auth_support import api_token
from capture_cases import NIHSS_7, NOW

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import FormRecord

pytestmark = pytest.mark.django_db


def _auth(user):
    return api_token(user)


def _post(client, url, user, body, method="post"):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json", **_auth(user))


@time_machine.travel(NOW, tick=False)
def test_visits_are_listed_with_windows_and_status(client, participant, staff):
    response = client.get(f"/api/capture/participants/{participant.pk}/visits", **_auth(staff["monitor"]))
    assert response.status_code == 200
    by_id = {v["visit_id"]: v for v in response.json()["items"]}
    # 15 June 2026: month3 window 17 May-14 June closed yesterday; month6 window opens 15 August.
    assert by_id["month3"]["status"] == "missed" and by_id["month6"]["status"] == "upcoming"
    assert by_id["month3"]["latest"] == "2026-06-14"


@time_machine.travel(NOW, tick=False)
def test_form_create_then_update_with_reason(client, participant, staff):
    url = f"/api/capture/participants/{participant.pk}/forms"
    response = _post(
        client,
        url,
        staff["coordinator"],
        {"visit_id": "month3", "instrument": "nihss", "values": NIHSS_7, "complete": True},
    )
    assert response.status_code == 201, response.content
    form = response.json()
    assert form["scores"]["total"] == 7 and form["status"] == "complete" and form["version"] == 1
    again = _post(
        client,
        url,
        staff["coordinator"],
        {"visit_id": "month3", "instrument": "nihss", "values": NIHSS_7, "complete": True},
    )
    assert again.status_code == 409
    changed = dict(NIHSS_7, **{"5a": 3})
    no_version = _post(
        client,
        f"/api/capture/forms/{form['id']}",
        staff["coordinator"],
        {"values": changed, "complete": True, "reason": "re-scored from source"},
        method="put",
    )
    assert no_version.status_code == 422  # a change must say which version it changes
    assert [(e["field"], e["rule"]) for e in no_version.json()["errors"]] == [("expected_version", "required")]
    assert FormRecord.objects.get(pk=form["id"]).version == 1
    no_reason = _post(
        client,
        f"/api/capture/forms/{form['id']}",
        staff["coordinator"],
        {"values": changed, "complete": True, "expected_version": 1},
        method="put",
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "reason"
    updated = _post(
        client,
        f"/api/capture/forms/{form['id']}",
        staff["coordinator"],
        {"values": changed, "complete": True, "reason": "re-scored from source", "expected_version": 1},
        method="put",
    )
    assert updated.status_code == 200 and updated.json()["scores"]["total"] == 8 and updated.json()["version"] == 2


@time_machine.travel(NOW, tick=False)
def test_invalid_values_give_422_with_every_field_and_save_nothing(client, participant, staff):
    _auth(staff["coordinator"])  # the API token is made (and audited) before counting
    events = AuditEvent.objects.count()
    response = _post(
        client,
        f"/api/capture/participants/{participant.pk}/forms",
        staff["coordinator"],
        {
            "visit_id": "month3",
            "instrument": "vital_signs",
            "complete": True,
            "values": {"systolic_bp": "high", "diastolic_bp": 80, "heart_rate": 72},
        },
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"]
    fields = {(e["field"], e["rule"]) for e in body["errors"]}
    assert ("systolic_bp", "type") in fields and ("weight_kg", "required") in fields
    assert not FormRecord.objects.exists() and AuditEvent.objects.count() == events


@time_machine.travel(NOW, tick=False)
def test_query_open_answer_close_through_the_api(client, participant, staff):
    form = _post(
        client,
        f"/api/capture/participants/{participant.pk}/forms",
        staff["coordinator"],
        {"visit_id": "month3", "instrument": "mrs", "values": {"score": 4}, "complete": True},
    ).json()
    denied = _post(
        client, f"/api/capture/forms/{form['id']}/queries", staff["coordinator"], {"item": "score", "text": "?"}
    )
    assert denied.status_code == 403
    query = _post(
        client,
        f"/api/capture/forms/{form['id']}/queries",
        staff["monitor"],
        {"item": "score", "text": "Source says mRS 3; please check."},
    ).json()
    assert query["status"] == "open"
    answered = _post(
        client,
        f"/api/capture/queries/{query['id']}/answer",
        staff["coordinator"],
        {"text": "Source re-read: mRS 4 is correct."},
    ).json()
    assert answered["status"] == "answered"
    closed = _post(client, f"/api/capture/queries/{query['id']}/close", staff["monitor"], {"text": "ok"}).json()
    assert closed["status"] == "closed"
    assert [m["kind"] for m in closed["messages"]] == ["open", "answer", "close"]


@time_machine.travel(NOW, tick=False)
def test_sae_created_through_the_api_shows_its_clock(client, participant, staff):
    values = {
        "term": "Pulmonary embolism",
        "onset_date": "2026-06-14",
        "ctcae_grade": 3,
        "serious": True,
        "sae_hospitalization": True,
        "relatedness": "possible",
        "expectedness": "unexpected",
        "action_taken": "not_applicable",
        "outcome": "recovering",
    }
    response = _post(
        client,
        f"/api/capture/participants/{participant.pk}/adverse-events",
        staff["investigator"],
        {"values": values, "complete": True, "awareness_at": "2026-06-15T08:00:00Z"},
    )
    assert response.status_code == 201, response.content
    clock = response.json()["sae_clock"]
    assert clock["deadline"].startswith("2026-06-16T08:00") and clock["state"] == "running"
    assert clock["remaining_seconds"] == 22 * 3600


def test_no_capture_response_mentions_an_arm(client, participant, staff):
    """Blinded staff get clinical data only: no key or value names a treatment arm."""
    from trialkit.server.capture.services import save_form

    save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    for url in (
        f"/api/capture/participants/{participant.pk}/visits",
        f"/api/capture/participants/{participant.pk}/forms",
        f"/api/capture/participants/{participant.pk}/adverse-events",
    ):
        text = client.get(url, **_auth(staff["monitor"])).content.decode().lower()
        for word in ('"arm"', "placebo", "msc treatment", "allocation"):
            assert word not in text


def test_openapi_schema_lists_the_capture_endpoints(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "/api/capture/participants/{participant_id}/forms" in paths
    assert "/api/capture/forms/{form_id}" in paths


def test_other_sites_staff_are_refused(client, participant, ixcell, other_site, make_user):
    outsider = make_user("coordinator", ixcell, other_site)
    response = client.get(f"/api/capture/participants/{participant.pk}/forms", **_auth(outsider))
    assert response.status_code == 403
