"""The participant's walk on a 390×844 phone: find a trial by place, pre-screen, contact the site; then
the site's coordinator sees the referral on their home and turns it into a screening record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from browser_support import PHONE, check_page, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IXCELL = "NCT07197606"


def test_find_prescreen_contact_and_screen(browser, live_server, demo, settings):
    from django.utils import timezone

    from trialkit.protocol.places import find_place
    from trialkit.server.participants.models import ScreeningRecord
    from trialkit.server.referrals.models import Referral

    settings.TRIALKIT_REFERRAL_MIN_SECONDS = 1
    find_place("上海")  # the gazetteer loads once per process (seconds on a busy machine); the live server shares it
    context = browser.new_context(base_url=live_server.url, viewport={"width": PHONE[0], "height": PHONE[1]})
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        # Find by place, typed in Chinese: IxCell's Shanghai site comes first.
        page.goto("/trials/")
        page.fill("#near", "上海")
        page.click("form.filters button[type=submit]")
        page.wait_for_selector("#place-found")
        first = page.locator("article.trial-card").first
        assert first.get_attribute("data-nct") == IXCELL
        check_page(page, "phone-finder-near")
        first.locator("a.btn").click()

        # Pre-screen: plain questions from the protocol.
        page.wait_for_url(f"**/trials/{IXCELL}/prescreen/")
        page.fill("#a-age", "62")
        page.check("input[name=a-sex][value=female]")
        page.check("input[name=a-stroke-type][value=ischemic]")
        page.fill("#a-stroke-date", (timezone.localdate() - timedelta(days=40)).isoformat())
        page.check("input[name=a-territory][value=anterior]")
        page.check("input[name=a-before-stroke][value='1']")
        page.check("input[name=a-weakness][value=yes]")
        check_page(page, "phone-prescreen")
        page.click("form.prescreen button[type=submit]")
        page.wait_for_selector("#prescreen-result")
        assert page.locator("#prescreen-result").get_attribute("data-outcome") == "may_be_eligible"
        assert page.locator("#site-checks li").count() > 0

        # Contact the site.
        page.select_option("#id_site", "ixcell-01")
        page.fill("#id_name", "Wang Fang")
        page.select_option("#id_relationship", "caregiver")
        page.fill("#id_phone", "+86 139 1234 5678")
        page.check("#id_consent")
        check_page(page, "phone-contact-site")
        page.wait_for_timeout(1100)  # the minimum fill time
        page.click("#contact-site button[type=submit]")
        page.wait_for_selector("#contact-sent")
        check_page(page, "phone-contact-sent")
        assert Referral.objects.filter(name="Wang Fang", site__code="ixcell-01").count() == 1
    finally:
        context.close()

    # The coordinator of that site (the demo's) sees it on their home and creates the screening record.
    staff = login(browser, live_server.url, "coordinator", PHONE)
    try:
        staff.goto(f"/home/?trial={IXCELL}")
        panel = staff.locator("#panel-referrals")
        assert "Wang Fang" in panel.inner_text()
        check_page(staff, "phone-coordinator-referrals")
        panel.get_by_text("Wang Fang").click()
        staff.wait_for_selector("#referral-answers")
        check_page(staff, "phone-referral")
        staff.get_by_role("button", name="Create the screening record").click()
        staff.wait_for_url(f"**/screening/{IXCELL}/**")
        record = ScreeningRecord.objects.get(site__code="ixcell-01", facts__age=62)
        assert record.facts["stroke"]["territory"] == "anterior" and record.facts["premorbid_mrs"] == 1
        assert record.screening_number in staff.content()
        check_page(staff, "phone-screening-from-referral")
    finally:
        staff.context.close()
