"""Personal API tokens: made on a page and shown once, kept only as a digest, checked without a
password hash, limited by scope, expiry and revocation, audited; HTTP Basic is for reads only."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
import time_machine
from auth_support import login_verified
from django.test import Client
from django.utils import timezone

from trialkit.server.accounts import tokens
from trialkit.server.accounts.models import ApiToken
from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.verify import verify_all

pytestmark = pytest.mark.django_db

NCT = "NCT07197606"
RECORDS = f"/api/screening/{NCT}/records"


@pytest.fixture
def cora(trials, make_user):
    trial = trials[NCT]
    return make_user("coordinator", trial, trial.sites.order_by("code").first(), username="cora")


def _site(trials):
    return trials[NCT].sites.order_by("code").first().code


def _bearer(plaintext):
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def _make_on_page(client, **values):
    return client.post("/accounts/tokens/", {"name": "lab system", "scope": "write", "days": "30", **values})


def test_a_token_made_on_the_page_is_shown_once_and_kept_only_as_a_digest(client, cora):
    client.force_login(cora)
    page = _make_on_page(client)
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    plaintext = re.search(r'id="token-plaintext">(tk_[^<]+)<', page.content.decode()).group(1)
    token = ApiToken.objects.get(user=cora)
    assert token.secret_hash == tokens.digest(plaintext) and plaintext not in token.secret_hash
    assert plaintext not in client.get("/accounts/tokens/").content.decode()  # listed, never shown again
    assert f"tk_{token.key_id}_…" in client.get("/accounts/tokens/").content.decode()
    trail = json.dumps(list(AuditEvent.objects.values("before", "after")), default=str)
    secret = plaintext.split("_", 2)[2]
    assert secret not in trail and token.secret_hash not in trail  # the trail holds neither
    assert AuditEvent.objects.filter(action="api_token_create", actor=cora).count() == 1


def test_a_token_authenticates_reads_and_writes_without_a_csrf_token_or_a_password_hash(trials, cora, monkeypatch):
    plaintext = tokens.issue(cora, name="script", scope="write", days=30).plaintext
    checked = []
    monkeypatch.setattr("django.contrib.auth.hashers.check_password", lambda *a, **k: checked.append(a) or False)
    api = Client(enforce_csrf_checks=True)
    assert api.get(RECORDS, **_bearer(plaintext)).status_code == 200
    created = api.post(RECORDS, {"site": _site(trials)}, content_type="application/json", **_bearer(plaintext))
    assert created.status_code in (200, 201), created.content
    assert checked == []  # no password hash was computed for either call
    event = AuditEvent.objects.filter(action="screening_create").latest("seq")
    assert event.actor_id == cora.pk  # the change is the token owner's


def test_a_read_token_may_read_but_a_write_is_refused_in_the_error_contract(trials, cora):
    plaintext = tokens.issue(cora, name="dashboard", scope="read", days=30).plaintext
    assert Client().get(RECORDS, **_bearer(plaintext)).status_code == 200
    refused = Client().post(RECORDS, {"site": _site(trials)}, content_type="application/json", **_bearer(plaintext))
    assert refused.status_code == 403
    assert "read-only" in refused.json()["error"] and refused.json()["errors"] == []
    assert not AuditEvent.objects.filter(action="screening_create").exists()


@pytest.mark.parametrize("spoil", ["revoked", "expired", "inactive owner", "wrong secret", "unknown key", "malformed"])
def test_a_spoilt_token_is_refused(cora, spoil):
    issued = tokens.issue(cora, name="script", scope="write", days=30)
    plaintext = issued.plaintext
    when = timezone.now()
    if spoil == "revoked":
        tokens.revoke(cora, issued.token.pk)
    elif spoil == "expired":
        when += timedelta(days=30, seconds=1)
    elif spoil == "inactive owner":
        cora.is_active = False
        cora.save()
    elif spoil == "wrong secret":
        plaintext = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    elif spoil == "unknown key":
        plaintext = f"tk_000000000000_{plaintext.split('_', 2)[2]}"
    elif spoil == "malformed":
        plaintext = "tk_" + "x" * 300
    with time_machine.travel(when, tick=False):
        response = Client().get(RECORDS, **_bearer(plaintext))
    assert response.status_code == 401
    assert response.json()["error"].startswith("authentication required")


def test_http_basic_reads_but_a_write_is_told_to_use_a_token(trials, cora):
    basic = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"cora:pw-for-tests").decode()}
    assert Client().get(RECORDS, **basic).status_code == 200
    refused = Client().post(RECORDS, {"site": _site(trials)}, content_type="application/json", **basic)
    assert refused.status_code == 401
    assert "reads only" in refused.json()["error"] and "API token" in refused.json()["error"]
    assert not AuditEvent.objects.filter(action="screening_create").exists()


def test_revoking_is_audited_and_nobody_revokes_anothers_token(client, trials, cora, make_user):
    other = make_user("coordinator", trials[NCT], trials[NCT].sites.order_by("code").first(), username="otto")
    theirs = tokens.issue(other, name="theirs", scope="read", days=30)
    client.force_login(cora)
    refused = client.post("/accounts/tokens/", {"revoke": theirs.token.pk})
    assert refused.status_code == 422 and "no such token of yours" in refused.content.decode()
    assert ApiToken.objects.get(pk=theirs.token.pk).revoked_at is None
    mine = tokens.issue(cora, name="mine", scope="read", days=30)
    assert client.post("/accounts/tokens/", {"revoke": mine.token.pk}).status_code == 200
    assert ApiToken.objects.get(pk=mine.token.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="api_token_revoke", actor=cora).count() == 1
    assert verify_all()["ok"]  # the token rows are in the tamper-evident trail and replay to the live table


@pytest.mark.parametrize(
    "values, field, rule_words",
    [
        ({"name": ""}, "name", "give the token a name"),
        ({"name": "x" * 101}, "name", "at most 100 characters"),
        ({"name": "bad\x07name"}, "name", "control characters"),
        ({"scope": "admin"}, "scope", "one of read, write"),
        ({"days": "0"}, "days", "from 1 to 366"),
        ({"days": "9999"}, "days", "from 1 to 366"),
        ({"days": "soon"}, "days", "a whole number"),
    ],
)
def test_bad_input_on_the_page_names_the_field_and_keeps_what_was_typed(client, cora, values, field, rule_words):
    client.force_login(cora)
    page = _make_on_page(client, **values)
    assert page.status_code == 422
    html = page.content.decode()
    assert rule_words in html and f'id="f-{field}"' in html and 'aria-invalid="true"' in html
    assert not ApiToken.objects.exists()
    if field != "name" and values.get("name", "lab system"):
        assert 'value="lab system"' in html  # nothing typed is lost


def test_a_dsmb_statistician_makes_tokens_only_from_a_verified_session(client, trials, make_user):
    dsmb = make_user("dsmb_statistician", trials[NCT])
    client.force_login(dsmb)  # password only: the second factor is not verified
    assert client.get("/accounts/tokens/").status_code == 302
    assert _make_on_page(client).status_code == 302 and not ApiToken.objects.exists()
    login_verified(client, dsmb)
    assert _make_on_page(client).status_code == 200 and ApiToken.objects.filter(user=dsmb).count() == 1


def test_the_openapi_schema_documents_the_bearer_token(client):
    schema = client.get("/api/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values())
