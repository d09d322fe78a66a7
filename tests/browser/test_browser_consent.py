"""eConsent on a phone: the coordinator records a consent to the version in effect in Simplified
Chinese and opens the signed copy; a participant who owes a re-consent is refused a form the new
version affects, follows the link to the consent page, re-consents, and the form opens for entry."""

from __future__ import annotations

import re

import pytest
from browser_support import PHONE, Roles, check_page

from trialkit.server.participants.models import Consent, Participant, ScreeningRecord
from trialkit.server.trials.models import Trial

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone(browser, live_server, demo):
    roles = Roles(browser, live_server.url, viewport=PHONE)
    yield roles
    roles.close()


def _ixcell_site():
    trial = Trial.objects.get(nct_id="NCT07197606")
    return trial, trial.sites.order_by("code").first()


def test_recording_a_consent_in_chinese_on_a_phone(phone, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    trial, site = _ixcell_site()
    record = (
        ScreeningRecord.objects.filter(trial=trial, site=site, outcome="in_screening", consents__isnull=True)
        .order_by("screening_number")
        .first()
    )
    assert record is not None
    page = phone("coordinator")
    page.goto(f"/screening/{trial.nct_id}/{record.screening_number}/informed-consent/")
    check_page(page, "consent-page-phone")
    # The document as the person reads it, in Chinese.
    page.click("#consent-documents a[lang='zh-Hans'] >> nth=-1")
    page.wait_for_selector("#consent-document")
    assert page.get_attribute("#consent-document", "lang") == "zh-Hans"
    assert "知情同意书" in page.inner_text("#consent-document h1")
    check_page(page, "consent-document-zh-phone")
    page.go_back()
    page.select_option("#c-language", "zh-Hans")
    page.fill("#c-date", page.get_attribute("#c-date", "max"))
    page.select_option("#c-signed-by", "legal_representative")
    # A signer who cannot read needs a witness: refused first, naming the field.
    page.check("#c-unable")
    page.fill("#c-name", "李伟")
    page.click("#consent-form button[type=submit]")
    page.wait_for_selector("#c-witness-error")
    assert "impartial witness" in page.inner_text("#c-witness-error")
    assert not Consent.objects.filter(screening=record).exists()
    page.fill("#c-witness", "陈静")
    page.click("#consent-form button[type=submit]")
    page.wait_for_selector("#consent-history tbody tr")
    row = page.inner_text("#consent-history tbody tr")
    assert "2.0 (zh-Hans)" in row and "李伟" in row and "陈静" in row
    consent = Consent.objects.get(screening=record)
    with page.expect_download() as download:
        page.click(f"#consent-{consent.pk} a")
    assert download.value.path().read_bytes().startswith(b"%PDF")
    check_page(page, "consent-recorded-phone")


def test_a_form_is_blocked_until_the_participant_re_consents(phone, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    trial, site = _ixcell_site()
    participant = (
        Participant.objects.filter(trial=trial, site=site, status__in=["treated", "randomized"])
        .order_by("participant_number")
        .first()
    )
    assert participant is not None
    # The participant signed version 1.0 only (set up here: version 2.0 was approved since).
    Consent.objects.filter(screening=participant.screening).update(document_version="1.0")
    visit = next(v for v in participant.visits.order_by("pk") if "biomarkers" in v.forms)
    page = phone("coordinator")
    page.goto(f"/capture/participants/{participant.pk}/visits/{visit.visit_id}/forms/biomarkers/")
    page.wait_for_selector("#consent-block")
    assert "version 2.0" in page.inner_text("#consent-block")
    check_page(page, "consent-block-phone")
    page.click("#consent-block a")
    page.wait_for_url(re.compile(r"/informed-consent/$"))
    assert "Re-consent needed" in page.inner_text("#reconsent-needed")
    page.fill("#c-date", page.get_attribute("#c-date", "max"))
    page.select_option("#c-signed-by", "participant")
    page.click("#consent-form button[type=submit]")
    page.wait_for_selector("text=Informed consent recorded.")
    assert page.locator("#reconsent-needed").count() == 0
    page.goto(f"/capture/participants/{participant.pk}/visits/{visit.visit_id}/forms/biomarkers/")
    assert page.locator("#consent-block").count() == 0
    assert Consent.objects.filter(screening=participant.screening, document_version="2.0").exists()
