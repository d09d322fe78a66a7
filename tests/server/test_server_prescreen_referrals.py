"""The participant's side up to the coordinator: finder by distance, pre-screener, contact the site,
the site's referral list, and the screening record made from a referral."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from auth_support import login_verified
from django.core import signing
from django.core.cache import cache
from django.utils import timezone

from trialkit.server.audit.models import AuditEvent
from trialkit.server.participants.models import ScreeningRecord
from trialkit.server.referrals.models import Referral

pytestmark = pytest.mark.django_db

IXCELL, ASSIST = "NCT07197606", "NCT04590118"


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()
    yield
    cache.clear()


def _started(seconds_ago: int = 60) -> str:
    return signing.TimestampSigner(salt="trialkit.prescreen.started").sign(str(int(time.time()) - seconds_ago))


def _eligible_answers() -> dict[str, str]:
    onset = timezone.localdate() - timedelta(days=30)
    return {
        "a-age": "64",
        "a-sex": "male",
        "a-stroke-type": "ischemic",
        "a-stroke-date": onset.isoformat(),
        "a-territory": "anterior",
        "a-before-stroke": "0",
        "a-weakness": "yes",
    }


def _contact(site_code: str = "ixcell-02", **extra) -> dict[str, str]:
    data = {
        **_eligible_answers(),
        "site": site_code,
        "name": "Li Wei",
        "relationship": "caregiver",
        "phone": "+86 138 0000 0000",
        "email": "",
        "consent": "on",
        "website": "",
        "started": _started(),
    }
    data.update(extra)
    return data


def _cards(response) -> list[str]:
    html = response.content.decode()
    return [nct for _pos, nct in sorted((html.find(f'data-nct="{n}"'), n) for n in (ASSIST, IXCELL)) if _pos >= 0]


# --------------------------------------------------------------------------- finder by distance


def test_finder_sorts_by_distance_from_a_typed_place(client, trials):
    # Hangzhou: IxCell has a site there (demo site ixcell-02); ASSIST's nearest is Changsha or Beijing.
    response = client.get("/trials/", {"near": "Hangzhou"})
    assert response.status_code == 200
    assert _cards(response) == [IXCELL, ASSIST]
    # Changsha (ASSIST's registry site, coordinates from the protocol) puts ASSIST first.
    assert _cards(client.get("/trials/", {"near": "长沙"})) == [ASSIST, IXCELL]


def test_finder_within_filters_by_the_nearest_site(client, trials):
    near_changsha = client.get("/trials/", {"near": "Changsha", "within": "50"})
    assert _cards(near_changsha) == [ASSIST]
    assert "0 km" in near_changsha.content.decode()
    assert _cards(client.get("/trials/", {"near": "上海", "within": "50"})) == [IXCELL]
    assert _cards(client.get("/trials/", {"near": "Sydney", "within": "1000"})) == []


def test_an_unknown_place_is_a_message_not_an_error(client, trials):
    response = client.get("/trials/", {"near": "Xyzzyqville", "within": "50"})
    assert response.status_code == 200
    assert 'id="place-unknown"' in response.content.decode()
    assert set(_cards(response)) == {ASSIST, IXCELL}


@pytest.mark.parametrize("within", ["abc", "-5", "0", "99999999", "1e400"])
def test_a_bad_distance_is_refused_naming_the_field(client, trials, within):
    response = client.get("/trials/", {"near": "Shanghai", "within": within})
    assert response.status_code == 400
    assert "Within" in response.content.decode()


def test_nul_and_long_place_names_do_not_break_the_finder(client, trials):
    assert client.get("/trials/", {"near": "Shang\x00hai"}).status_code == 400  # NUL: refused before any view
    assert client.get("/trials/", {"near": "x" * 10_000}).status_code == 200


def test_each_site_shows_its_contact(client, trials):
    html = client.get(f"/trials/{IXCELL}/").content.decode()
    assert "Ming Xiao, PHD" in html  # the registry's central contact, for a site without its own
    assert "/prescreen/" in html


# --------------------------------------------------------------------------- the pre-screener


def test_prescreen_asks_the_protocols_questions(client, trials):
    html = client.get(f"/trials/{IXCELL}/prescreen/").content.decode()
    for name in ("a-age", "a-stroke-date", "a-territory", "a-before-stroke"):
        assert f'name="{name}"' in html
    assert 'name="a-pregnant"' not in html  # an ASSIST question only
    assert 'name="a-pregnant"' in client.get(f"/trials/{ASSIST}/prescreen/").content.decode()


def test_prescreen_may_be_eligible_lists_what_the_site_checks(client, trials):
    response = client.post(f"/trials/{IXCELL}/prescreen/", {**_eligible_answers(), "started": _started()})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-outcome="may_be_eligible"' in html
    assert 'id="site-checks"' in html and "NIHSS" in html
    assert 'id="contact-site"' in html
    assert Referral.objects.count() == 0  # nothing stored by pre-screening


def test_prescreen_not_eligible_says_why(client, trials):
    answers = {**_eligible_answers(), "a-age": "75", "a-stroke-type": "hemorrhagic"}
    html = client.post(f"/trials/{IXCELL}/prescreen/", answers).content.decode()
    assert 'data-outcome="not_eligible"' in html
    assert "Age ≥18 years and ≤70 years" in html and "age 75" in html
    assert "Intracranial hemorrhagic conditions" in html
    assert 'id="contact-site"' not in html


def test_prescreen_with_nothing_known_leaves_it_to_the_site(client, trials):
    html = client.post(f"/trials/{ASSIST}/prescreen/", {}).content.decode()
    assert 'data-outcome="may_be_eligible"' in html
    assert "18 years or older." in html  # unknown: in the site's list


@pytest.mark.parametrize(
    "field, value",
    [("a-age", "abc"), ("a-age", "300"), ("a-age", "6\x004"), ("a-age", "1" * 10_000), ("a-territory", "left")],
)
def test_prescreen_bad_answers_are_400_naming_the_question(client, trials, field, value):
    response = client.post(f"/trials/{IXCELL}/prescreen/", {**_eligible_answers(), field: value})
    assert response.status_code == 400
    html = response.content.decode()
    # NUL is refused by the web middleware for every form, naming the field; the rest by the pre-screener.
    assert field in html if "\x00" in value else 'id="prescreen-errors"' in html


def test_prescreen_future_stroke_date_is_refused(client, trials):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client.post(f"/trials/{IXCELL}/prescreen/", {**_eligible_answers(), "a-stroke-date": tomorrow})
    assert response.status_code == 400


# --------------------------------------------------------------------------- contact the site


def test_contact_reaches_that_sites_list_only(client, trials, make_user):
    response = client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact("ixcell-02"))
    assert response.status_code == 200, response.content.decode()[:2000]
    assert 'id="contact-sent"' in response.content.decode()
    referral = Referral.objects.get()
    assert referral.site.code == "ixcell-02" and referral.consent_to_contact
    assert referral.facts["age"] == 64 and referral.facts["stroke"]["territory"] == "anterior"
    assert referral.answers["weakness"] == "yes"
    # The row is audited (row.insert), like every table of personal data.
    assert AuditEvent.objects.filter(object_type="referrals_referral", object_id=str(referral.pk)).exists()

    site2 = trials[IXCELL].sites.get(code="ixcell-02")
    mine = login_verified(client.__class__(), make_user("coordinator", trials[IXCELL], site2))
    listing = mine.get(f"/referrals/{IXCELL}/")
    assert listing.status_code == 200 and "Li Wei" in listing.content.decode()
    home = mine.get("/home/", {"trial": IXCELL})
    assert "Li Wei" in home.content.decode()
    assert mine.get(f"/referrals/{IXCELL}/{referral.pk}/").status_code == 200


def _outsiders(trials, make_user):
    ixcell, assist = trials[IXCELL], trials[ASSIST]
    return {
        "coordinator of another site": make_user("coordinator", ixcell, ixcell.sites.get(code="ixcell-03")),
        "sponsor": make_user("sponsor_admin", ixcell, None),
        "monitor of another site": make_user("monitor", ixcell, ixcell.sites.get(code="ixcell-03")),
        "monitor of the site": make_user("monitor", ixcell, ixcell.sites.get(code="ixcell-02")),
        "coordinator of another trial": make_user("coordinator", assist, assist.sites.get(code="assist-01")),
    }


def test_nobody_outside_the_site_sees_a_referral_or_its_count(client, trials, make_user):
    client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact("ixcell-02"))
    referral = Referral.objects.get()
    anonymous = client.__class__()
    assert anonymous.get(f"/referrals/{IXCELL}/{referral.pk}/").status_code in (302, 403, 404)
    assert anonymous.get(f"/referrals/{IXCELL}/").status_code in (302, 403, 404)
    for who, user in _outsiders(trials, make_user).items():
        c = login_verified(client.__class__(), user)
        detail = c.get(f"/referrals/{IXCELL}/{referral.pk}/")
        assert detail.status_code in (403, 404), who
        assert "Li Wei" not in detail.content.decode(), who
        listing = c.get(f"/referrals/{IXCELL}/")
        assert listing.status_code in (200, 403, 404), who
        assert "Li Wei" not in listing.content.decode() and "138 0000" not in listing.content.decode(), who
        convert = c.post(f"/referrals/{IXCELL}/{referral.pk}/screen/")
        assert convert.status_code in (403, 404), who
        home = c.get("/home/", {"trial": IXCELL}).content.decode()
        assert "Li Wei" not in home and 'data-panel="referrals"' not in home, who
    assert ScreeningRecord.objects.count() == 0


def test_rate_limit_per_client_address(client, trials, settings):
    settings.TRIALKIT_REFERRAL_RATE_LIMIT = 2
    for _ in range(2):
        assert client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact()).status_code == 200
    refused = client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact())
    assert refused.status_code == 429
    assert Referral.objects.count() == 2
    other = client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact(), REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 200 and Referral.objects.count() == 3


def test_honeypot_stores_nothing(client, trials):
    response = client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact(website="http://spam.example"))
    assert response.status_code == 200
    assert Referral.objects.count() == 0


def test_too_fast_or_forged_start_stores_nothing(client, trials):
    fast = client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact(started=_started(0)))
    assert fast.status_code == 400
    forged = client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact(started="1700000000:forged"))
    assert forged.status_code == 400
    assert Referral.objects.count() == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", ""),
        ("name", "x" * 10_000),
        ("name", "Li\x00Wei"),
        ("phone", "call me maybe"),
        ("phone", "1" * 10_000),
        ("email", "not-an-address"),
        ("consent", ""),
        ("site", "no-such-site"),
        ("site", "assist-01"),  # a site of another trial
        ("relationship", "boss"),
        ("a-age", "\x00"),
    ],
)
def test_bad_contact_input_is_400_with_field_errors_and_writes_nothing(client, trials, field, value):
    data = _contact()
    if value == "" and field == "consent":
        data.pop("consent")
    else:
        data[field] = value
    response = client.post(f"/trials/{IXCELL}/prescreen/contact/", data)
    assert response.status_code == 400
    html = response.content.decode()
    if "\x00" in value:
        assert field in html  # the web middleware's refusal names the field
    else:
        assert 'id="contact-errors"' in html or 'id="prescreen-errors"' in html
    assert Referral.objects.count() == 0
    assert not AuditEvent.objects.filter(object_type="referrals_referral").exists()


def test_contact_needs_a_phone_or_an_email(client, trials):
    response = client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact(phone="", email=""))
    assert response.status_code == 400
    assert Referral.objects.count() == 0
    ok = client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact(phone="", email="li@example.org"))
    assert ok.status_code == 200 and Referral.objects.count() == 1


# --------------------------------------------------------------------------- referral → screening record


def test_coordinator_turns_a_referral_into_a_prefilled_screening_record(client, trials, make_user):
    client.post(f"/trials/{IXCELL}/prescreen/contact/", _contact("ixcell-02"))
    referral = Referral.objects.get()
    site2 = trials[IXCELL].sites.get(code="ixcell-02")
    coordinator = login_verified(client.__class__(), make_user("coordinator", trials[IXCELL], site2))
    response = coordinator.post(f"/referrals/{IXCELL}/{referral.pk}/screen/")
    assert response.status_code == 302
    record = ScreeningRecord.objects.get()
    assert record.site == site2 and record.screening_number.startswith("IXCELL-02-S")
    assert record.facts["age"] == 64
    assert record.facts["stroke"] == {
        "type": "ischemic",
        "territory": "anterior",
        "onset_date": (timezone.localdate() - timedelta(days=30)).isoformat(),
    }
    assert record.facts["premorbid_mrs"] == 0
    referral.refresh_from_db()
    assert referral.screening == record and referral.status == Referral.Status.SCREENING
    # Made by the screening services: their audit events, with the referral named as the reason.
    assert AuditEvent.objects.filter(action="screening_create", object_id=record.screening_number).exists()
    assert AuditEvent.objects.filter(reason=f"pre-filled from referral {referral.pk}").exists()
    # Twice is refused; no second record.
    coordinator.post(f"/referrals/{IXCELL}/{referral.pk}/screen/")
    assert ScreeningRecord.objects.count() == 1


def test_questions_are_shown_in_the_readers_language_when_the_protocol_gives_it(trials):
    from django.utils import translation

    from trialkit.server.trials.views import _question_rows

    protocol = trials[IXCELL].protocol
    with translation.override("zh-hans"):
        rows = {row["id"]: row for row in _question_rows(protocol, {}, {})}
    assert rows["age"]["text"] == "患者多大年龄（周岁）？"
    assert ("ischemic", "血管堵塞（缺血性脑卒中、脑梗死）") in rows["stroke-type"]["choices"]
    with translation.override("en"):
        assert _question_rows(protocol, {}, {})[0]["text"] == "How old is the person (in years)?"


# --------------------------------------------------------------------------- the pre-screener in Chinese

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


def test_prescreen_not_eligible_in_chinese_names_the_translated_criteria_and_no_english_reason(client, trials):
    answers = {**_eligible_answers(), "a-age": "75", "a-stroke-type": "hemorrhagic"}
    html = client.post(f"/trials/{IXCELL}/prescreen/", answers, **ZH).content.decode()
    assert 'data-outcome="not_eligible"' in html
    # The protocol's own Chinese texts of the failed criteria, and a plain Chinese reason.
    assert "年龄 ≥18 岁且 ≤70 岁，性别不限。" in html and "颅内出血性疾病。" in html
    assert "您的回答不符合这一条件" in html and "您的回答表明存在这一情况" in html
    # Neither the English criterion text nor the core's English technical reason.
    assert "Age ≥18 years and ≤70 years" not in html and "Intracranial hemorrhagic conditions" not in html
    assert "age 75" not in html


def test_prescreen_site_checks_in_chinese_use_the_protocols_translations(client, trials):
    html = client.post(f"/trials/{IXCELL}/prescreen/", {**_eligible_answers(), "started": _started()}, **ZH)
    html = html.content.decode()
    checks = html[html.index('id="site-checks"') :]
    checks = checks[: checks.index("</ul>")]
    assert "美国国立卫生研究院卒中量表（NIHSS）评分为 6-20 分" in checks
    assert "National Institutes of Health Stroke Scale" not in checks


@pytest.mark.parametrize(
    "field, value, english, chinese",
    [
        ("a-age", "300", "Enter a whole number from 0 to 120.", "请输入 0 到 120 之间的整数。"),
        ("a-age", "abc", "Enter a whole number from 0 to 120.", "请输入 0 到 120 之间的整数。"),
        ("a-territory", "left", "Choose one of the answers", "请选择一个答案"),
        ("a-stroke-date", "2999-01-01", "Enter a date (year-month-day)", "请输入日期（年-月-日）"),
        ("a-weakness", "maybe", "Answer yes or no", "请回答是或否"),
        ("a-age", "1" * 200, "at most 100 characters", "回答最多 100 个字符。"),
    ],
)
def test_prescreen_answer_errors_follow_the_readers_language(client, trials, field, value, english, chinese):
    answers = {**_eligible_answers(), field: value}
    in_english = client.post(f"/trials/{IXCELL}/prescreen/", answers).content.decode()
    in_chinese = client.post(f"/trials/{IXCELL}/prescreen/", answers, **ZH)
    assert in_chinese.status_code == 400
    assert english in in_english and chinese not in in_english
    html = in_chinese.content.decode()
    assert chinese in html and english not in html and "must be" not in html


def test_referral_refusals_are_in_the_readers_language(trials):
    from django.utils import translation

    from trialkit.eligibility.prescreen import prescreen
    from trialkit.server.referrals import services

    trial = trials[IXCELL]
    site = services.recruiting_sites(trial).first()
    result = prescreen(trial.protocol, {}, today=timezone.localdate())
    contact = services.Contact(name="李伟", phone="", email="", relationship="caregiver", consent_to_contact=True)
    for language, text in (
        ("zh-hans", "请填写电话号码或电子邮箱地址"),
        ("en", "give a phone number or an e-mail address"),
    ):
        with translation.override(language), pytest.raises(services.ReferralError) as refused:
            services.submit_referral(trial, site, result, contact, language)
        assert (refused.value.field, refused.value.rule, refused.value.message) == ("phone", "required", text)
    assert Referral.objects.count() == 0
