"""The REST API's one error contract: every refusal is {"error", "errors": [{"field", "rule", "message"}]},
with the status the contract gives it, and the OpenAPI schema documents it on every operation."""

from __future__ import annotations

import base64
from datetime import UTC

import pytest

NCT = "NCT07197606"


def _contract(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error", "errors"} and isinstance(body["error"], str) and body["error"]
    assert all(set(e) == {"field", "rule", "message"} for e in body["errors"])
    return body


@pytest.fixture
def coordinator(trials, make_user, client):
    trial = trials[NCT]
    user = make_user("coordinator", trial, trial.sites.order_by("code").first(), username="cora")
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_an_unknown_api_address_is_a_404_in_the_contract(client):
    _contract(client.get("/api/no-such-thing/here"), 404)


@pytest.mark.django_db
def test_an_unauthenticated_call_is_a_401_that_says_how_to_authenticate(client, trials):
    response = client.get(f"/api/allocation/{NCT}/randomized")
    _contract(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="TrialKit API", Basic realm="TrialKit API"'
    wrong = base64.b64encode(b"nobody:wrong").decode()
    _contract(client.get(f"/api/allocation/{NCT}/randomized", HTTP_AUTHORIZATION=f"Basic {wrong}"), 401)


@pytest.mark.django_db
def test_framework_validation_names_the_field_without_the_body_prefix(client, coordinator):
    missing = _contract(client.post(f"/api/screening/{NCT}/records", {}, content_type="application/json"), 422)
    assert missing["errors"] == [{"field": "site", "rule": "missing", "message": "Field required"}]
    too_long = _contract(
        client.post(f"/api/screening/{NCT}/records", {"site": "x" * 65}, content_type="application/json"), 422
    )
    assert [(e["field"], e["rule"]) for e in too_long["errors"]] == [("site", "max_length")]
    assert too_long["error"].startswith("site: ")
    query = _contract(client.get("/api/capture/queries?participant_id=abc"), 422)
    assert [(e["field"], e["rule"]) for e in query["errors"]] == [("participant_id", "int_parsing")]
    nested = _contract(
        client.post(f"/api/exports/{NCT}/jobs", {"formats": ["x" * 65]}, content_type="application/json"), 422
    )
    assert [(e["field"], e["rule"]) for e in nested["errors"]] == [("formats[0]", "max_length")]


@pytest.mark.django_db
@pytest.mark.parametrize("participant_id", [0, 2**31, 2**64])
def test_an_id_out_of_the_databases_range_is_refused_before_the_database(client, coordinator, participant_id):
    # PostgreSQL's integer ends at 2**31 - 1 (a larger id there was a 500); SQLite's at 2**63 - 1.
    body = _contract(client.get(f"/api/capture/participants/{participant_id}"), 422)
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("participant_id", "range")]


@pytest.mark.django_db
def test_a_record_number_beyond_the_pages_range_is_refused(client, coordinator, trials):
    # FormRecord.repeat is a smallint on PostgreSQL: 40000 was a database error (500) there.
    from datetime import date, datetime

    from trialkit.server.capture.models import FormRecord
    from trialkit.server.capture.services import ensure_schedule
    from trialkit.server.participants.models import Participant, ScreeningRecord

    trial = trials[NCT]
    site = trial.sites.order_by("code").first()
    screening = ScreeningRecord.objects.create(
        trial=trial,
        site=site,
        screening_number="S-001",
        outcome="enrolled",
        screening_date=date(2026, 2, 20),
        created_by=coordinator,
    )
    participant = Participant.objects.create(
        trial=trial,
        site=site,
        screening=screening,
        participant_number="P-001",
        enrolled_at=datetime(2026, 3, 1, tzinfo=UTC),
        anchor_date=date(2026, 3, 1),
    )
    visit = ensure_schedule(participant)[-1]
    body = _contract(
        client.post(
            f"/api/capture/participants/{participant.pk}/forms",
            {"visit_id": visit.visit_id, "instrument": visit.forms[0], "values": {}, "repeat": 40000},
            content_type="application/json",
        ),
        422,
    )
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("repeat", "range")]
    assert not FormRecord.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [b'{"site": NaN}', b'{"site": Infinity}', b'{"site": '])
def test_a_body_that_is_not_json_is_a_422_naming_the_body(client, coordinator, raw):
    body = _contract(client.post(f"/api/screening/{NCT}/records", raw, content_type="application/json"), 422)
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("body", "json")]


@pytest.mark.django_db
def test_a_missing_trial_is_a_404_and_a_forbidden_one_a_403(client, coordinator, trials):
    _contract(client.get("/api/allocation/NCT00000000/randomized"), 404)
    _contract(client.get("/api/allocation/NCT04590118/randomized"), 403)  # no role in the other trial


@pytest.mark.django_db
def test_a_method_the_address_does_not_take_is_a_405_in_the_contract(client, coordinator):
    response = client.delete(f"/api/allocation/{NCT}/randomized")
    _contract(response, 405)
    assert "GET" in response["Allow"]


@pytest.mark.django_db
def test_the_schema_documents_the_contract_on_every_operation(client):
    schema = client.get("/api/openapi.json").json()
    error = schema["components"]["schemas"]["ErrorOut"]
    assert set(error["properties"]) == {"error", "errors"}
    assert set(schema["components"]["schemas"]["FieldErrorOut"]["properties"]) == {"field", "rule", "message"}
    operations = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    assert len(operations) > 30
    for path, method, op in operations:
        codes = set(op["responses"])
        assert {"403", "404", "422"} <= codes, (path, method)
        assert ("401" in codes) == bool(op.get("security")), (path, method)
        if method in ("post", "put", "patch"):
            assert "409" in codes, (path, method)
        for code in codes - {"200", "201", "202"}:
            ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in ("ErrorOut", "ConflictOut", "AdverseEventConflictOut"), (path, code)
    participant = schema["paths"]["/api/capture/participants/{participant_id}"]["get"]["parameters"][0]["schema"]
    assert (participant["minimum"], participant["maximum"]) == (1, 2**31 - 1)
