"""English and Simplified Chinese: the language follows the browser (Accept-Language) or the switch in
the header (Django's set_language view); the page, its fixed wording, its registry texts and its dates
follow it; English is unchanged."""

from datetime import UTC, date, datetime

import pytest
from auth_support import login_verified
from django.utils import translation

from trialkit.protocol.page import PAGE_WORDING
from trialkit.server.accounts.roles import Role
from trialkit.server.trials.page_wording import MARKED, page_labels
from trialkit.server.web.dates import format_date, format_datetime

pytestmark = pytest.mark.django_db

ASSIST, IXCELL = "NCT04590118", "NCT07197606"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_an_english_browser_gets_the_english_page(client, trials):
    html = _html(client.get(f"/trials/{IXCELL}/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8"))
    assert '<html lang="en">' in html
    assert "Inclusion criteria" in html and "Clinical Trial of Umbilical Cord Mesenchymal Stem Cells" in html
    assert "入选标准" not in html and "Find a trial" in html


def test_a_chinese_browser_gets_the_chinese_trial_page(client, trials):
    html = _html(client.get(f"/trials/{IXCELL}/", **ZH))
    assert '<html lang="zh-Hans">' in html
    # The header (catalogue), the page's headings (labels) and the registry texts (protocol translations).
    assert "查找试验" in html and "登录" in html
    assert "入选标准" in html and "排除标准" in html and "盲法" in html and "三盲" in html
    assert "脐带间充质干细胞治疗亚急性期缺血性卒中的临床试验" in html
    assert "年龄 ≥18 岁且 ≤70 岁，性别不限。" in html
    assert "18 至 70 岁" in html
    # Identifiers and names are not translated.
    assert IXCELL in html and "IxCell hUC-MSC-S" in html


def test_the_finder_s_cards_follow_the_language(client, trials):
    # Each card's title, conditions, summary, status and phases from the protocol's translation and the
    # catalogue, as on the trial page; English for an English browser.
    html = _html(client.get("/trials/", **ZH))
    assert "脐带间充质干细胞治疗亚急性期缺血性卒中的临床试验" in html and "缺血性卒中" in html
    assert "同种异体间充质干细胞治疗缺血性卒中幸存者试验（ASSIST）" in html
    assert "Clinical Trial of Umbilical Cord Mesenchymal Stem Cells" not in html
    # The filters too: the value stays the registry's, the label is the reader's.
    assert '<option value="RECRUITING" >正在招募</option>' in html and '<option value="PHASE2" >2 期</option>' in html
    assert '<option value="Ischemic Stroke" >缺血性卒中</option>' in html
    html = _html(client.get("/trials/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "Clinical Trial of Umbilical Cord Mesenchymal Stem Cells" in html and "脐带" not in html


def test_every_criterion_of_both_seed_trials_has_chinese_text(client, trials):
    for nct_id, trial in trials.items():
        html = _html(client.get(f"/trials/{nct_id}/", **ZH))
        for criterion in trial.protocol.eligibility.criteria:
            assert criterion.text.split("\n")[0] not in html, (nct_id, criterion.id)


def test_the_switch_sets_the_language_for_an_anonymous_visitor(client, trials):
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": f"/trials/{ASSIST}/"})
    assert response.status_code == 302 and response["Location"] == f"/trials/{ASSIST}/"
    html = _html(client.get(f"/trials/{ASSIST}/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "同种异体间充质干细胞治疗缺血性卒中幸存者试验（ASSIST）" in html and '<html lang="zh-Hans">' in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/trials/"})
    assert "Inclusion criteria" in _html(client.get(f"/trials/{ASSIST}/", **ZH))


def test_the_switch_refuses_an_unknown_language_and_a_foreign_next(client, trials):
    client.post("/i18n/setlang/", {"language": "xx" * 5000, "next": "/trials/"})
    assert '<html lang="en">' in _html(client.get("/trials/"))
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil" not in response["Location"]


def test_the_switch_needs_the_csrf_token(trials):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/i18n/setlang/", {"language": "zh-hans", "next": "/trials/"}).status_code == 403


def test_every_page_header_has_the_switch_as_a_post_form(client, trials):
    html = _html(client.get("/trials/"))
    assert 'action="/i18n/setlang/"' in html and 'name="csrfmiddlewaretoken"' in html
    assert 'value="zh-hans" lang="zh-Hans"' in html and "简体中文" in html


def test_a_staff_home_in_chinese(client, trials, make_user):
    user = make_user(Role.COORDINATOR, trials[IXCELL], trials[IXCELL].sites.order_by("code").first())
    login_verified(client, user)
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/home/"})
    html = _html(client.get("/home/"))
    assert "协调员" in html and "受试者" in html and "筛选" in html and "退出登录" in html
    assert "Site coordinator" not in html
    # The role's links in the header (navigation.py) are translated too.
    assert ">待访视<" in html


def test_dates_follow_the_language():
    day = date(2026, 3, 14)
    moment = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
    with translation.override("en"):
        assert format_date(day) == "14 Mar 2026"
        assert format_datetime(moment) == "14 Mar 2026 09:30 UTC"
    with translation.override("zh-hans"):
        assert format_date(day) == "2026年3月14日"
        assert format_datetime(moment) == "2026年3月14日 09:30 UTC"


def test_the_shell_marks_exactly_the_page_wording_of_the_core():
    assert set(MARKED) == set(PAGE_WORDING)


def test_every_fixed_text_of_the_page_has_a_chinese_translation():
    with translation.override("zh-hans"):
        labels = page_labels()
    untranslated = [text for text, shown in labels.items() if shown == text and text.strip() not in {"NIH"}]
    assert not untranslated


def test_the_coordinator_s_badges_and_the_timeline_s_statuses_are_chinese(client, trials, make_user):
    # Stored statuses stay English; the home's next-step badges and the timeline's visit, form and
    # query statuses are shown in the reader's language, the same words whatever the arm.
    from web_builders import participant, screening

    from trialkit.server.capture.services import ensure_schedule

    trial = trials[IXCELL]
    site = trial.sites.order_by("code").first()
    user = make_user(Role.COORDINATOR, trial, site)
    screening(trial, site, user, "IX-901", verdict="eligible")
    screening(trial, site, user, "IX-902", verdict="incomplete")
    person = participant(trial, site, user, "IX-0901")
    ensure_schedule(person)
    login_verified(client, user)
    home = _html(client.get("/home/", HTTP_ACCEPT_LANGUAGE="zh-Hans"))
    assert "合格：记录知情同意" in home and "资料缺失：继续筛选" in home
    assert "eligible: record consent" not in home and "facts missing" not in home
    assert " screened " not in home
    timeline = _html(client.get(f"/capture/participants/{person.pk}/", HTTP_ACCEPT_LANGUAGE="zh-Hans"))
    # Day 0 was long ago: every visit of the schedule is past (missed, or overdue where forms were begun).
    assert ">已错过</span>" in timeline
    for english in (">missed<", ">forms overdue<", ">in window<", ">upcoming<"):
        assert english not in timeline


def test_the_monitor_s_recent_activity_reads_in_chinese(client, trials, make_user):
    # The panel takes its words from the audit vocabulary; the stored action stays an English code.
    from trialkit.server.audit.models import AuditEvent
    from trialkit.server.audit.service import record_event

    trial = trials[IXCELL]
    user = make_user(Role.MONITOR, trial)
    record_event(actor=user, action="query_open", object_type="query", object_id="7", trial_id=trial.id)
    record_event(actor=user, action="row.update", object_type="capture_formrecord", object_id="3", trial_id=trial.id)
    login_verified(client, user)
    home = _html(client.get("/home/", HTTP_ACCEPT_LANGUAGE="zh-Hans"))
    assert "已发起质疑 · query 7" in home and "表单已更改 · capture_formrecord 3" in home
    assert "query open" not in home and "query opened" not in home
    english = _html(client.get("/home/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "query opened · query 7" in english and "form changed · capture_formrecord 3" in english
    assert AuditEvent.objects.filter(action="query_open").exists()
