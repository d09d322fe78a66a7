"""The screening API: create, read, patch facts (422 on bad input), attest, consent, enroll, log."""

from __future__ import annotations

import copy
import json

import pytest
from auth_support import api_token
from screening_cases import ELIGIBLE_ASSIST

from trialkit.server.participants.models import ScreeningRecord

pytestmark = pytest.mark.django_db
BASE = "/api/screening/NCT04590118"


def auth(user) -> dict:
    return api_token(user)


def post(client, url, user, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json", **auth(user))


def patch(client, url, user, body):
    return client.patch(url, json.dumps(body), content_type="application/json", **auth(user))


def create(client, user, site="assist-01"):
    response = post(client, f"{BASE}/records", user, {"site": site, "screening_date": "2025-03-03"})
    assert response.status_code == 201, response.content
    return response.json()


def test_create_patch_attest_consent_enroll(client, assist, coordinator, investigator):
    record = create(client, coordinator)
    number = record["screening_number"]
    assert number == "ASSIST-01-S0001" and record["verdict"] == "incomplete"
    assert record["can_enroll"] is False and "no informed consent recorded" in record["enrollment_blockers"]

    response = patch(client, f"{BASE}/records/{number}/facts", coordinator, copy.deepcopy(ELIGIBLE_ASSIST))
    assert response.status_code == 200
    body = response.json()
    statuses = {c["id"]: c["status"] for c in body["criteria"]}
    assert statuses["inc-nihss"] == "pass" and statuses["inc-imaging"] == "unknown"
    assert "attestations.inc-imaging" in body["missing"]
    assert body["criteria"][0]["text"] == "18 years or older."

    forbidden = post(
        client, f"{BASE}/records/{number}/attestations", coordinator, {"criterion_id": "inc-imaging", "value": True}
    )
    assert forbidden.status_code == 403 and "error" in forbidden.json()
    criteria = {c.id: c for c in assist.protocol.eligibility.criteria}
    for cid in [c["id"] for c in body["criteria"] if c["status"] == "unknown"]:
        answer = post(
            client,
            f"{BASE}/records/{number}/attestations",
            investigator,
            {"criterion_id": cid, "value": criteria[cid].type == "inclusion"},
        )
        assert answer.status_code == 200
    assert answer.json()["verdict"] == "eligible"

    early = post(client, f"{BASE}/records/{number}/enroll", coordinator)
    assert early.status_code == 409 and "no informed consent" in early.json()["error"]
    consent = post(
        client,
        f"{BASE}/records/{number}/consent",
        coordinator,
        {"consent_date": "2025-03-04", "signed_by": "participant"},
    )
    assert consent.status_code == 201 and consent.json()["document_version"] == "1.0"
    enrolled = post(client, f"{BASE}/records/{number}/enroll", coordinator)
    assert enrolled.status_code == 201
    assert enrolled.json()["participant_number"] == "ASSIST-01-001" and enrolled.json()["status"] == "enrolled"

    got = client.get(f"{BASE}/records/{number}", **auth(coordinator)).json()
    assert got["outcome"] == "enrolled" and got["participant_number"] == "ASSIST-01-001"
    log = client.get(f"{BASE}/records?outcome=enrolled", **auth(coordinator)).json()
    assert [r["screening_number"] for r in log["items"]] == [number] and log["counts"]["enrolled"] == 1


def test_bad_facts_answer_422_naming_each_field_and_save_nothing(client, assist, coordinator):
    number = create(client, coordinator)["screening_number"]
    patch(client, f"{BASE}/records/{number}/facts", coordinator, {"sex": "male"})
    response = patch(
        client,
        f"{BASE}/records/{number}/facts",
        coordinator,
        {
            "sex": "female",
            "nihss": {"1a": 9},
            "stroke": {"onset_date": "2026-01-01"},
            "labs": {"albumin": {"value": 4.1, "unit": "G/dL"}},
            "shoe_size": 42,
        },
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"].startswith("the facts were not saved")
    found = {e["field"]: e for e in body["errors"]}
    assert found["nihss.1a"]["rule"] == "allowed_values"
    assert found["shoe_size"]["rule"] == "unknown_field"
    assert "labs.albumin.unit" in found
    assert all(set(e) == {"field", "rule", "message"} for e in body["errors"])
    assert ScreeningRecord.objects.get().facts["sex"] == "male"


def test_an_unknown_condition_answers_422_naming_the_field_and_saves_nothing(client, assist, coordinator):
    number = create(client, coordinator)["screening_number"]
    url = f"{BASE}/records/{number}/facts"
    assert patch(client, url, coordinator, copy.deepcopy(ELIGIBLE_ASSIST)).status_code == 200
    before = ScreeningRecord.objects.get().facts
    response = patch(
        client,
        url,
        coordinator,
        {
            "premorbid_mrs": 1,
            "conditions": [
                {"name": "hypertension"},
                {"name": "Atrial fibrillation"},
                {"name": "epilepsey"},
                {"name": "other"},
            ],
        },
    )
    assert response.status_code == 422
    found = {e["field"]: e for e in response.json()["errors"]}
    assert found["conditions.2.name"] == {
        "field": "conditions.2.name",
        "rule": "condition_vocabulary",
        "message": "'epilepsey' is not in the condition vocabulary of NCT04590118; did you mean epilepsy? "
        "Enter a condition outside the list as 'other' with a description.",
    }
    assert found["conditions.3.description"]["rule"] == "required"
    assert set(found) == {"conditions.2.name", "conditions.3.description"}
    assert ScreeningRecord.objects.get().facts == before

    fixed = patch(
        client,
        url,
        coordinator,
        {
            "conditions": [
                {"name": "hypertension"},
                {"name": "Atrial fibrillation"},
                {"name": "seizure disorder"},
                {"name": "other", "description": "gout"},
            ]
        },
    )
    assert fixed.status_code == 200
    assert [c["name"] for c in fixed.json()["facts"]["conditions"]] == [
        "hypertension",
        "atrial_fibrillation",
        "epilepsy",
        "other",
    ]
    assert {c["id"]: c["status"] for c in fixed.json()["criteria"]}["exc-epilepsy"] == "fail"


def test_the_condition_vocabulary_is_published(client, assist, coordinator):
    body = client.get(f"{BASE}/condition-vocabulary", **auth(coordinator)).json()
    assert body["screened"][:3] == ["epilepsy", "cancer", "brain_trauma"]
    assert body["terms"] == ["hypertension", "hyperlipidemia", "diabetes", "atrial_fibrillation"]
    assert body["synonyms"]["seizure_disorder"] == "epilepsy" and body["other"] == "other"


def test_a_date_after_screening_is_refused(client, assist, coordinator):
    number = create(client, coordinator)["screening_number"]
    response = patch(client, f"{BASE}/records/{number}/facts", coordinator, {"stroke": {"onset_date": "2026-01-01"}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "date_order"


def test_screen_fail_and_withdraw(client, assist, coordinator):
    number = create(client, coordinator)["screening_number"]
    patch(client, f"{BASE}/records/{number}/facts", coordinator, {"serology": {"hiv": "positive"}})
    failed = post(client, f"{BASE}/records/{number}/screen-fail", coordinator, {})
    assert failed.status_code == 200 and failed.json()["fail_reasons"][0]["criterion_id"] == "exc-serology"
    again = post(client, f"{BASE}/records/{number}/withdraw", coordinator, {"reason": "moved away"})
    assert again.status_code == 409
    other = create(client, coordinator)["screening_number"]
    withdrawn = post(client, f"{BASE}/records/{other}/withdraw", coordinator, {"reason": "moved away"})
    assert withdrawn.json()["outcome"] == "withdrawn"
    log = client.get(f"{BASE}/records", **auth(coordinator)).json()
    assert log["screen_fail_reasons"] == [["exc-serology", 1]]


def test_unknown_record_and_site(client, assist, coordinator):
    assert client.get(f"{BASE}/records/NOPE", **auth(coordinator)).status_code == 404
    response = post(client, f"{BASE}/records", coordinator, {"site": "nowhere"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "site"


def test_the_trial_is_found_through_the_lookup_layer(client, trials, assist, coordinator, make_user):
    """No such trial: 404; a trial the caller holds no role in: 403 on every screening endpoint, its
    condition vocabulary too, and the same for a record that exists and one that does not."""
    outsider = make_user("coordinator", trials["NCT07197606"], trials["NCT07197606"].sites.first())
    number = create(client, coordinator)["screening_number"]
    missing = client.get("/api/screening/NCT00000000/records/X", **auth(coordinator))
    assert missing.status_code == 404 and "error" in missing.json()
    for url in (f"{BASE}/condition-vocabulary", f"{BASE}/records", f"{BASE}/records/{number}", f"{BASE}/records/NOPE"):
        refused = client.get(url, **auth(outsider))
        assert refused.status_code == 403 and refused.json()["error"] == "you hold no role in this trial", url
    refused = post(client, f"{BASE}/records/{number}/withdraw", outsider, {"reason": "moved away"})
    assert refused.status_code == 403
    assert client.get(f"{BASE}/records/{number}", **auth(coordinator)).json()["outcome"] != "withdrawn"


def test_the_endpoints_are_in_the_openapi_schema(client, db):
    schema = client.get("/api/openapi.json").json()
    paths = schema["paths"]
    assert "/api/screening/{nct_id}/records/{number}/facts" in paths
    assert "patch" in paths["/api/screening/{nct_id}/records/{number}/facts"]
    for suffix in ("records", "records/{number}/attestations", "records/{number}/consent", "records/{number}/enroll"):
        assert f"/api/screening/{{nct_id}}/{suffix}" in paths
    facts_schema = client.get("/api/screening/facts-schema", **{}).status_code
    assert facts_schema in (200, 401)


def test_labs_and_serology_by_common_names_are_stored_under_their_keys(client, assist, coordinator):
    number = create(client, coordinator)["screening_number"]
    url = f"{BASE}/records/{number}/facts"
    response = patch(
        client,
        url,
        coordinator,
        {
            "labs": {"SGOT": {"value": 30, "unit": "U/L", "uln": 40}},
            "serology": {"HBsAg": "negative", "HIV Ag/Ab": "negative"},
        },
    )
    assert response.status_code == 200, response.content
    facts = ScreeningRecord.objects.get().facts
    assert facts["labs"] == {"ast": {"value": 30, "unit": "U/L", "uln": 40}}
    assert facts["serology"] == {"hbsag": "negative", "hiv": "negative"}


def test_an_unknown_analyte_or_an_implausible_uln_answers_422_and_saves_nothing(client, assist, coordinator):
    number = create(client, coordinator)["screening_number"]
    url = f"{BASE}/records/{number}/facts"
    response = patch(
        client,
        url,
        coordinator,
        {
            "labs": {"SGTO": {"value": 30, "unit": "U/L"}, "ALT": {"value": 6, "unit": "µkat/L", "uln": 40}},
            "serology": {"HBsAgg": "negative"},
        },
    )
    assert response.status_code == 422
    found = {e["field"]: e for e in response.json()["errors"]}
    assert (
        found["labs.SGTO"]["rule"] == "lab_vocabulary"
        and "did you mean" in found["labs.SGTO"]["message"]
        and "ast" in found["labs.SGTO"]["message"]
    )
    assert found["labs.ALT.uln"]["rule"] == "plausibility"
    assert found["serology.HBsAgg"]["rule"] == "serology_vocabulary"
    assert "labs" not in ScreeningRecord.objects.get().facts
