"""The screening services' refusals in the reader's language: the API answers in Chinese to a
client that asks for it and in English otherwise; field and rule stay machine codes."""

from __future__ import annotations

import json
from datetime import date

import pytest
from auth_support import api_token
from django.utils import translation

from trialkit.server.screening import services

pytestmark = pytest.mark.django_db
BASE = "/api/screening/NCT04590118"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


def post(client, url, user, body=None, **extra):
    return client.post(url, json.dumps(body or {}), content_type="application/json", **api_token(user), **extra)


def _record(client, user) -> str:
    response = post(client, f"{BASE}/records", user, {"site": "assist-01", "screening_date": "2025-03-03"})
    assert response.status_code == 201, response.content
    return response.json()["screening_number"]


def test_a_refused_step_answers_in_the_language_asked_for(client, assist, coordinator):
    number = _record(client, coordinator)
    english = post(client, f"{BASE}/records/{number}/enroll", coordinator)
    chinese = post(client, f"{BASE}/records/{number}/enroll", coordinator, **ZH)
    assert english.status_code == chinese.status_code == 409
    assert (
        english.json()["error"].startswith("cannot enroll: ")
        and "no informed consent recorded" in english.json()["error"]
    )
    assert chinese.json()["error"].startswith("无法入组：") and "未记录知情同意" in chinese.json()["error"]
    record = client.get(f"{BASE}/records/{number}", **api_token(coordinator), **ZH).json()
    assert "未记录知情同意" in record["enrollment_blockers"]


def test_field_errors_keep_their_codes_and_translate_the_message(client, assist, coordinator):
    number = _record(client, coordinator)
    bodies = {
        lang: post(client, f"{BASE}/records/{number}/withdraw", coordinator, {"reason": ""}, **extra).json()
        for lang, extra in (("en", {}), ("zh", ZH))
    }
    assert bodies["en"]["errors"] == [
        {"field": "reason", "rule": "required", "message": "say why the candidate withdrew"}
    ]
    assert bodies["zh"]["errors"] == [{"field": "reason", "rule": "required", "message": "请说明候选人退出的原因"}]
    assert bodies["zh"]["error"] == "reason: 请说明候选人退出的原因"


def test_consent_refusals_are_translated_when_raised(assist, site1, coordinator):
    record = services.create_screening(assist, site1, coordinator, date(2025, 3, 3))
    with translation.override("zh-hans"), pytest.raises(services.ScreeningError) as refused:
        services.record_consent(record, date(2025, 3, 4), "legal_guardian", coordinator, date(2025, 3, 5))
    problem = refused.value.errors[0]
    assert (problem.field, problem.rule) == ("signer_name", "required")
    assert problem.message == "请填写签署的法定监护人的姓名"
    with translation.override("en"), pytest.raises(services.ScreeningError) as refused:
        services.record_consent(record, date(2025, 3, 4), "legal_guardian", coordinator, date(2025, 3, 5))
    assert refused.value.errors[0].message == "name the legal guardian who signed"


def test_the_screening_pages_say_what_was_done_and_refused_in_the_readers_language(client, assist, coordinator):
    client.force_login(coordinator)
    created = client.post(
        "/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"}, follow=True, **ZH
    )
    page = created.content.decode()
    assert "已创建筛选记录 ASSIST-01-S0001。" in page and "未记录知情同意" in page
    refused = client.post("/screening/NCT04590118/ASSIST-01-S0001/enroll/", follow=True, **ZH).content.decode()
    assert "无法入组：" in refused and "cannot enroll" not in refused
    english = client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "x"}, follow=True)
    assert "Screening date: enter a date as YYYY-MM-DD." in english.content.decode()
