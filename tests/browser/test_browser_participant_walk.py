"""One person's whole way into IxCell (NCT07197606) on a 390×844 phone, in English and in Simplified
Chinese: the language each browser asks for (Accept-Language "en-US" or "zh-CN") is the language of
every page, chosen by Django's LocaleMiddleware; nobody presses the language switch.

The person (a caregiver, no login) finds the trial by typing a place, answers the pre-screen and asks
the Shanghai site to contact them. The site's coordinator (the demo's, in a browser asking for the same
language) finds the referral on their home and turns it into a screening record; completes the facts the
referral did not give (NIHSS, medical history, medications, allergies); the investigator attests what
only an investigator can judge. The coordinator opens the consent document in the person's language,
records the consent to the version in effect in that language and downloads the signed PDF; enrolls
and randomizes. The pharmacist assigns and thaws the kit and records the preparation; the coordinator
records the infusion and hands out the diary code. The participant opens the diary link on their own
phone, reads it in their language, and saves today's entry.

Every page passes ``browser_support.check_page`` (a screenshot, no sideways overflow, no serious or
critical axe-core violation) and has ``<html lang>`` of the language asked for. In Chinese, the
participant's own pages (finder, pre-screen, contact sent, consent document, diary) show no English
words in their headings, labels and buttons. Selectors are ids, names and values, never English words,
so the same walk runs in both languages.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from browser_support import NIHSS_8, PHONE, Roles, check_page, htmx_done, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NCT = "NCT07197606"
SITE = "ixcell-01"

# What each language reads; the Chinese are the catalogue's own words (locale/zh_Hans/.../django.po).
LANGUAGES = {
    "en": {
        "locale": "en-US",
        "html": "en",
        "person": "Wang Fang",
        "finder": "Find a clinical trial",
        "sent": "Thank you: your answers were sent",
        "consent": "Informed consent",
        "document": "IxCell informed consent form",
        "diary": "My diary",
        "save": "Save today's diary",
        "saved": "Saved for",
        "diary_note": "Left hand weak in the morning",
    },
    "zh-Hans": {
        "locale": "zh-CN",
        "html": "zh-Hans",
        "person": "王芳",
        "finder": "查找临床试验",
        "sent": "谢谢：您的回答已发送",
        "consent": "知情同意",
        "document": "知情同意书",
        "diary": "我的日记",
        "save": "保存今天的日记",
        "saved": "的日记已保存",
        "diary_note": "早上左手无力",
    },
}

# Headings, labels, legends and buttons of a participant's page; in Chinese none of them may be English.
WORDING = "h1, h2, h3, label, legend, button, th, .btn, p.muted"
WORDING_JS = """([root, parts]) => {
  const seen = [];
  for (const el of document.querySelectorAll(root + ' :is(' + parts + ')')) {
    if (el.closest('[lang]:not(html)') && el.closest('[lang]:not(html)').lang !== document.documentElement.lang) continue;
    if (el.closest('[hidden], .hp')) continue;
    const text = el.innerText.trim();
    if (text) seen.push(text);
  }
  return seen;
}"""
# Words that are the same in every language: identifiers, units, the product's and the sites' names.
NOT_ENGLISH = re.compile(r"\b(NCT\d+|IxCell|hUC-MSC-S|MSC|NIHSS|mRS|PDF|ixcell-\d+|km|kg|[A-Z0-9-]{4,})\b")


def english_leftovers(page, root: str = "main", parts: str = WORDING) -> list[str]:
    """The texts of ``root``'s headings, labels and buttons (or ``parts``) that read as English (a word
    of three Latin letters or more, once identifiers are set aside) and carry no Chinese character."""
    leftovers = []
    for text in page.evaluate(WORDING_JS, [root, parts]):
        if re.search(r"[\u4e00-\u9fff]", text):
            continue
        if re.search(r"[A-Za-z]{3,}", NOT_ENGLISH.sub("", text)):
            leftovers.append(text)
    return leftovers


class Walk:
    def __init__(self, browser, base_url: str, lang: str):
        self.lang, self.words = lang, LANGUAGES[lang]
        self.staff = Roles(browser, base_url, viewport=PHONE, locale=self.words["locale"])
        self.browser, self.base_url, self.n, self.flow, self.contexts = browser, base_url, 0, {}, []

    def person_page(self):
        """The person's own phone: no login, the browser asking for their language."""
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport={"width": PHONE[0], "height": PHONE[1]},
            locale=self.words["locale"],
        )
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        return context.new_page()

    def check(self, page, what: str, participant_facing: bool = False):
        self.n += 1
        name = f"walk-{self.lang}-{self.n:02d}-{what}"
        assert page.locator("html").get_attribute("lang") == self.words["html"], f"{name}: <html lang>"
        check_page(page, name)
        if participant_facing and self.lang != "en":
            assert not english_leftovers(page), f"{name}: English on a Chinese page: {english_leftovers(page)}"

    def close(self):
        for context in self.contexts:
            context.close()
        self.staff.close()

    def pages(self):
        return {**{f"person{i}": c.pages[0] for i, c in enumerate(self.contexts) if c.pages}, **self.staff.pages}


def expect_text(page, selector: str, text: str, timeout: int = 15_000):
    page.locator(selector).filter(has_text=text).first.wait_for(timeout=timeout)


# --------------------------------------------------------------------------- the walk, step by step


def person_finds_prescreens_and_contacts(w: Walk):
    from trialkit.server.referrals.models import Referral

    page = w.person_page()
    page.goto("/trials/")
    assert w.words["finder"] in page.locator("h1").inner_text()
    w.check(page, "finder", participant_facing=True)
    if w.lang != "en":  # the filters' choices, and each card's title, conditions and status
        assert not english_leftovers(page, "main", "option, article.trial-card :is(h2, .badge)")
    page.fill("#near", "上海")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#place-found")
    first = page.locator("article.trial-card").first
    assert first.get_attribute("data-nct") == NCT
    w.check(page, "finder-near", participant_facing=True)
    first.locator("a.btn").click()

    page.wait_for_url(f"**/trials/{NCT}/prescreen/")
    page.fill("#a-age", "62")
    page.check("input[name=a-sex][value=female]")
    page.check("input[name=a-stroke-type][value=ischemic]")
    page.fill("#a-stroke-date", (date.today() - timedelta(days=40)).isoformat())
    page.check("input[name=a-territory][value=anterior]")
    page.check("input[name=a-before-stroke][value='1']")
    page.check("input[name=a-weakness][value=yes]")
    w.check(page, "prescreen", participant_facing=True)
    page.click("form.prescreen button[type=submit]")
    page.wait_for_selector("#prescreen-result")
    assert page.locator("#prescreen-result").get_attribute("data-outcome") == "may_be_eligible"
    assert page.locator("#site-checks li").count() > 0

    page.select_option("#id_site", SITE)
    page.fill("#id_name", w.words["person"])
    page.select_option("#id_relationship", "caregiver")
    page.fill("#id_phone", "+86 139 1234 5678")
    page.check("#id_consent")
    w.check(page, "contact-site", participant_facing=True)
    page.wait_for_timeout(1100)  # the minimum fill time (TRIALKIT_REFERRAL_MIN_SECONDS = 1)
    page.click("#contact-site button[type=submit]")
    page.wait_for_selector("#contact-sent")
    assert w.words["sent"] in page.locator("#contact-sent h1").inner_text()
    w.check(page, "contact-sent", participant_facing=True)
    referral = Referral.objects.get(name=w.words["person"], site__code=SITE)
    assert referral.language.lower() == w.lang.lower()
    w.flow["referral"] = referral


def coordinator_screens_the_referral(w: Walk):
    from trialkit.server.participants.models import ScreeningRecord

    page = w.staff("coordinator")
    page.goto(f"/home/?trial={NCT}")
    panel = page.locator("#panel-referrals")
    assert w.words["person"] in panel.inner_text()
    w.check(page, "coordinator-home")
    panel.locator("a", has_text=w.words["person"]).first.click()
    page.wait_for_selector("#referral-answers")
    w.check(page, "referral")
    if w.lang != "en":  # the questions and answers as the person read them
        assert not english_leftovers(page, "#referral-answers", "dt, dd")
    page.click(f"form[action$='/{w.flow['referral'].pk}/screen/'] button[type=submit]")
    page.wait_for_url(re.compile(rf"/screening/{NCT}/[^/]+/$"))
    w.flow["referral"].refresh_from_db()
    record = ScreeningRecord.objects.get(pk=w.flow["referral"].screening_id)
    assert record.site.code == SITE and record.facts["age"] == 62
    assert record.facts["stroke"]["territory"] == "anterior" and record.facts["premorbid_mrs"] == 1
    w.flow["record"], w.flow["screening_url"] = record, page.url
    w.check(page, "screening-from-referral")

    # What a lay person could not say: the NIHSS, the history, the medications, the allergies.
    for item, value in NIHSS_8.items():
        page.select_option(f'[name="nihss.{item}"]', value)
    page.check('[name="conditions_reviewed"]')
    page.check('[name="medications_reviewed"]')
    page.check('[name="allergies_reviewed"]')
    page.locator('[name="allergies"]').press("Tab")
    htmx_done(page, "#facts-form")  # every change saved: the last request, and the one queued behind it
    page.locator("#criteria-panel .criterion-fail").first.wait_for(state="detached")
    record.refresh_from_db()
    assert record.facts["nihss"]["5a"] == 2
    w.check(page, "screening-facts")
    if w.lang != "en":  # the page's own words (the instruments' item labels stay as defined)
        staff_words = ".facts-column :is(h2, .check), #save-status, #criteria-panel .badge, #enroll-panel :is(h2, button), #consent-panel h2"
        assert not english_leftovers(page, "main", staff_words)


def investigator_attests(w: Walk):
    from playwright.sync_api import expect

    page = w.staff("investigator")
    page.goto(w.flow["screening_url"])
    # Criteria that need the investigator's judgement: the consent can be given (inclusion: met) and
    # no other neurological or psychiatric disorder (exclusion: does not apply).
    for criterion, value in (("inc-consent", "true"), ("exc-neuro-psychiatric", "false")):
        page.click(f"#criterion-{criterion} button[name=value][value={value}]")
        expect(page.locator(f"#criterion-{criterion} button[name=value][value={value}]")).to_have_class(
            re.compile(r"\bchosen\b")
        )
    page.locator("#criteria-panel .verdict .status-eligible").wait_for()
    w.check(page, "attested")


def coordinator_consents_enrolls_randomizes(w: Walk):
    from trialkit.server.participants.models import Consent, Participant

    # The version in effect today (the newest the ethics committee approved), in the person's language.
    consent_documents = w.flow["record"].trial.protocol.consent
    lang_version = consent_documents.in_effect(date.today())
    assert consent_documents.document(lang_version, w.lang) is not None
    page = w.staff("coordinator")
    page.goto(w.flow["screening_url"])
    page.click("#consent-page-link")
    page.wait_for_url("**/informed-consent/")
    assert w.words["consent"] in page.locator("h1").inner_text()
    w.check(page, "consent-page")
    # The document of the version in effect, in the person's language, as the person reads it.
    page.click(f"#consent-documents a[lang='{w.lang}'][href*='version={lang_version}&']")
    page.wait_for_selector("#consent-document")
    assert page.get_attribute("#consent-document", "lang") == w.lang
    assert w.words["document"] in page.inner_text("#consent-document h1")
    w.check(page, "consent-document", participant_facing=True)
    page.go_back()
    page.wait_for_selector("#consent-form")
    assert page.input_value("#c-version") == lang_version  # offered first: the version in effect
    page.select_option("#c-language", w.lang)
    page.fill("#c-date", page.get_attribute("#c-date", "max"))
    page.select_option("#c-signed-by", "participant")
    page.click("#consent-form button[type=submit]")
    page.wait_for_selector("#consent-history tbody tr")
    consent = Consent.objects.get(screening=w.flow["record"])
    assert (consent.document_version, consent.language, consent.signed_by) == (lang_version, w.lang, "participant")
    assert f"{lang_version} ({w.lang})" in page.inner_text(f"#consent-{consent.pk}")
    with page.expect_download() as download:
        page.click(f"#consent-{consent.pk} a")
    assert download.value.path().read_bytes().startswith(b"%PDF")
    w.check(page, "consent-recorded")

    page.goto(w.flow["screening_url"])
    page.click("#enroll-button")
    page.locator("#enroll-panel #randomize-link").wait_for()
    participant = Participant.objects.get(screening=w.flow["record"])
    w.flow["participant"] = participant.participant_number
    assert participant.participant_number in page.inner_text("#enroll-panel strong")
    w.check(page, "enrolled")
    page.click("#randomize-link")
    page.wait_for_selector("#confirm-randomize")
    participant.refresh_from_db()
    assert not participant.randomization_number  # a GET randomizes nothing
    w.check(page, "randomize-confirm")
    page.click("#confirm-randomize")
    page.wait_for_load_state("networkidle")
    participant.refresh_from_db()
    assert participant.randomization_number and participant.randomization_number in page.inner_text("main")
    main = page.locator("main").inner_text()
    assert "MSCs treatment" not in main and "Placebo" not in main
    w.check(page, "randomized")


def pharmacist_prepares(w: Walk):
    from trialkit.server.allocation.models import DoseRecord

    number = w.flow["participant"]
    page = w.staff("pharmacist")
    page.goto(f"/home/?trial={NCT}")
    assert number in page.locator("#panel-doses").inner_text()
    # The kit first (the chain of custody): assign it, record it thawed.
    page.goto(f"/product/{NCT}/participants/{number}/")
    page.click("button[name=action][value=assign]")
    page.wait_for_selector("button[name=action][value=thaw]")
    page.click("button[name=action][value=thaw]")  # thawed now (the time left blank)
    page.wait_for_load_state("networkidle")
    w.check(page, "kit-thawed")
    page.goto(f"/allocation/{NCT}/pharmacy/{number}/")
    page.fill("#weight_kg", "68.5")
    page.click("button[name=action][value=compute]")
    page.wait_for_selector("#plan-sheet")
    assert not DoseRecord.objects.filter(participant__participant_number=number).exists()
    w.check(page, "prepare-confirm")
    page.click("#record-preparation")
    page.wait_for_selector("#prepared-sheet")
    assert DoseRecord.objects.filter(participant__participant_number=number).exists()
    w.check(page, "prepared")


def coordinator_records_infusion_and_diary_code(w: Walk):
    from trialkit.server.participants.models import Participant

    number = w.flow["participant"]
    page = w.staff("coordinator")
    page.goto(f"/allocation/{NCT}/participants/{number}/")
    page.click(f"a[href$='/participants/{number}/administered/']")
    page.wait_for_selector("#confirm-administered")
    w.check(page, "infusion-confirm")
    page.click("#confirm-administered")
    page.wait_for_load_state("networkidle")
    participant = Participant.objects.get(trial__nct_id=NCT, participant_number=number)
    assert participant.status == "treated" and participant.anchor_date is not None
    page.goto(f"/capture/participants/{participant.pk}/")
    form = page.locator(f"form[action$='/participants/{participant.pk}/diary-access/']").first
    form.locator("select[name=who]").select_option("participant")
    form.locator("button").click()
    page.wait_for_selector("code.wrap")
    w.flow["diary_link"] = page.locator("code.wrap").inner_text()
    w.flow["participant_pk"] = participant.pk
    w.check(page, "timeline-diary-code")


def participant_keeps_the_diary(w: Walk):
    from trialkit.server.capture.models import DiaryEntry

    page = w.person_page()
    page.goto(w.flow["diary_link"])
    assert page.locator("h1").inner_text() == w.words["diary"]
    save = page.locator("#diary-form button")
    assert save.inner_text() == w.words["save"]
    w.check(page, "diary", participant_facing=True)
    page.locator("fieldset.yesno").first.locator("input[value=yes]").check()
    page.locator("#diary-form textarea").first.fill(w.words["diary_note"])
    save.click()
    expect_text(page, "p.msg.success", w.words["saved"])
    w.check(page, "diary-saved", participant_facing=True)
    entry = DiaryEntry.objects.get(participant_id=w.flow["participant_pk"])
    assert entry.entered_by == "participant"
    assert entry.sections["symptoms"] == {"new_or_worse": True, "details": w.words["diary_note"]}


WALK = [
    person_finds_prescreens_and_contacts,
    coordinator_screens_the_referral,
    investigator_attests,
    coordinator_consents_enrolls_randomizes,
    pharmacist_prepares,
    coordinator_records_infusion_and_diary_code,
    participant_keeps_the_diary,
]


@pytest.mark.parametrize("lang", list(LANGUAGES), ids=list(LANGUAGES))
def test_one_person_from_the_finder_to_the_diary_on_a_phone(browser, live_server, demo, settings, tmp_path, lang):
    from trialkit.protocol.places import find_place

    settings.TRIALKIT_REFERRAL_MIN_SECONDS = 1
    settings.DATA_DIR = tmp_path  # the signed consent copies
    find_place("上海")  # the gazetteer loads once per process (seconds on a busy machine); the live server shares it
    walk = Walk(browser, live_server.url, lang)
    try:
        for step in WALK:
            try:
                step(walk)
            except Exception:
                for who, page in walk.pages().items():  # what each one saw when the step failed
                    screenshot(page, f"walk-{lang}-failed-{step.__name__}-{who}")
                raise
    finally:
        walk.close()
