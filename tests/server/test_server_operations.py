"""Safe settings, the request id in responses and logs, /healthz, and CSRF on the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from auth_support import api_token
from django.test import Client
from django.utils import timezone

from trialkit.server.jobs.models import WorkerProcess

NCT = "NCT04590118"
STRONG_KEY = "k" * 10 + "Zr8-3vQ_pX1mN7bT2yW9cL5dF4gH6jK0sA-eU_oI" + "x" * 10


AUDIT_KEY = "kprod01:" + "5a" * 32


def _manage(*args, tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "SECRET_KEY",
            "DEBUG",
            "TRIALKIT_DEMO",
            "DATABASE_URL",
            "ALLOWED_HOSTS",
            "TRIALKIT_HTTPS",
            "TRIALKIT_AUDIT_KEY",
            "TRIALKIT_AUDIT_KEY_FILE",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    clean.update(TRIALKIT_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-m", "trialkit", "manage", *args], capture_output=True, text=True, env=clean, timeout=120
    )


@pytest.mark.slow
def test_the_documented_production_environment_passes_the_deploy_check(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        tmp_path=tmp_path,
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="trials.example.org",
        TRIALKIT_AUDIT_KEY=AUDIT_KEY,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # Without the audit key the check names what is missing.
    keyless = _manage(
        "check", "--deploy", tmp_path=tmp_path / "keyless", SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="trials.example.org"
    )
    assert keyless.returncode != 0 and "No audit key" in keyless.stdout + keyless.stderr


@pytest.mark.slow
def test_outside_demo_and_tests_it_refuses_to_start_without_a_secret_key(tmp_path):
    result = _manage("check", tmp_path=tmp_path, ALLOWED_HOSTS="trials.example.org")
    assert result.returncode == 2
    assert "SECRET_KEY is not set" in result.stderr and "Traceback" not in result.stderr
    public = _manage("check", tmp_path=tmp_path, SECRET_KEY="trialkit-development-key-change-me-in-production")
    assert public.returncode == 2 and "public development key" in public.stderr
    demo = _manage("check", tmp_path=tmp_path, TRIALKIT_DEMO="1")
    assert demo.returncode == 0, demo.stderr


@pytest.mark.django_db
def test_the_request_id_is_honoured_or_made_and_always_returned(client):
    given = client.get("/trials/", HTTP_X_REQUEST_ID="lb-7f3a.42")
    assert given["X-Request-ID"] == "lb-7f3a.42"
    made = client.get("/trials/")["X-Request-ID"]
    assert len(made) == 32 and int(made, 16) >= 0
    forged = client.get("/trials/", HTTP_X_REQUEST_ID='x" injected=1 ' + "y" * 300)["X-Request-ID"]
    assert len(forged) == 32 and "injected" not in forged


@pytest.mark.django_db
@pytest.mark.urls("boom_urls")
def test_a_500_is_logged_as_one_json_line_with_its_traceback_and_request_id(capsys):
    capsys.readouterr()
    response = Client(raise_request_exception=False).get("/boom/", HTTP_X_REQUEST_ID="req-500-test")
    assert response.status_code == 500 and response["X-Request-ID"] == "req-500-test"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("level") == "ERROR" and line.get("logger") == "django.request"]
    assert len(errors) == 1, lines
    assert errors[0]["request_id"] == "req-500-test"
    assert "Traceback" in errors[0]["exc_info"] and "RuntimeError: a bug in a view" in errors[0]["exc_info"]


@pytest.mark.django_db
def test_healthz_reports_the_database_and_live_workers(client):
    down = client.get("/healthz", HTTP_HOST="10.1.2.3")  # a load balancer asks by address
    assert down.status_code == 503 and down.json() == {"database": "ok", "workers": 0, "status": "unhealthy"}
    now = timezone.now()
    WorkerProcess.objects.create(worker_id="h:1:a", hostname="h", pid=1, started_at=now, seen_at=now)
    WorkerProcess.objects.create(
        worker_id="h:2:b", hostname="h", pid=2, started_at=now, seen_at=now - timedelta(minutes=5)
    )  # died without saying so
    up = client.get("/healthz")
    assert up.status_code == 200 and up.json() == {"database": "ok", "workers": 1, "status": "ok"}
    assert up["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_healthz_says_unhealthy_when_the_database_fails(client, monkeypatch):
    from django.db import OperationalError, connection

    def broken():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "error: OperationalError", "status": "unhealthy"}


@pytest.mark.django_db
def test_api_calls_with_a_token_need_no_csrf_token_but_cookie_sessions_do(trials, make_user):
    dm = make_user("data_manager", trials[NCT], username="dm", password="pw-for-tests")
    url = f"/api/exports/{NCT}/jobs"
    body = json.dumps({"formats": ["pdf"]})  # refused by validation (422) once authenticated
    api = Client(enforce_csrf_checks=True)
    assert api.post(url, body, content_type="application/json", **api_token(dm)).status_code == 422
    assert (
        api.post(url, body, content_type="application/json", HTTP_AUTHORIZATION="Bearer tk_0000_wrong").status_code
        == 401
    )
    browser = Client(enforce_csrf_checks=True)
    from django.contrib.auth import get_user_model

    browser.force_login(get_user_model().objects.get(username="dm"))  # a browser's session cookie
    forged = browser.post(url, body, content_type="application/json")
    assert forged.status_code == 403  # a cross-site page riding the session cookie
    browser.get("/home/")  # sets the CSRF cookie as a page would
    token = browser.cookies["csrftoken"].value
    assert browser.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token).status_code == 422


def test_no_module_draws_with_pyplot():
    """Figures are matplotlib Figure objects: pyplot's global state is shared between threads."""
    src = Path(__file__).resolve().parents[2] / "src" / "trialkit"
    users = [str(p.relative_to(src)) for p in src.rglob("*.py") if "matplotlib.pyplot" in p.read_text()]
    assert users == []
