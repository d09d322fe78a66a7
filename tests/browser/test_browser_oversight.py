"""The oversight screens and edit conflicts in Debian's Chromium, on a desktop and on a 390×844
phone: each page opens with no element overflowing the viewport sideways, the bulk review form
source-verifies a visit's forms, and two tabs editing one form end in a shown conflict."""

from __future__ import annotations

import pytest
from browser_support import PASSWORD, screenshot

NCT = "NCT07197606"
DESKTOP, PHONE = (1280, 860), (390, 844)
PAGES = [
    ("dashboard", "status/", "record status"),
    ("calendar", "calendar/", "visit calendar"),
    ("queries", "queries/", "queries"),
    ("verification", "verification/", "source verification"),
    ("signatures", "signatures/", "investigator signatures"),
]

# Elements whose box ends outside the viewport, unless a scrolling or clipping ancestor holds them.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if ((r.right > width + 1 || r.left < -1) && !clipped(el)) {
      out.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(r.right)}`);
    }
  }
  return {page: document.documentElement.scrollWidth, width, out: out.slice(0, 8)};
}"""


def assert_no_sideways_overflow(page):
    found = page.evaluate(OVERFLOW_JS)
    assert found["page"] <= found["width"], found
    assert found["out"] == [], found


def login(browser, live_server, username, viewport):
    context = browser.new_context(base_url=live_server.url, viewport={"width": viewport[0], "height": viewport[1]})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/home/**")
    return page


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_each_oversight_page_opens_without_sideways_overflow(browser, live_server, demo, viewport):
    from playwright.sync_api import expect

    page = login(browser, live_server, "monitor", viewport)
    try:
        for name, path, heading in PAGES:
            response = page.goto(f"/capture/trials/{NCT}/{path}")
            assert response.status == 200, (name, response.status)
            assert heading in page.locator("h1").inner_text().lower()
            assert_no_sideways_overflow(page)
            screenshot(page, f"oversight-{name}-{'phone' if viewport == PHONE else 'desktop'}")
        page.goto(f"/capture/trials/{NCT}/status/")
        assert page.locator(".legend li").count() == 8
        cells = page.locator("table.status-grid a.fs")
        assert cells.count() > 0
        # The state is in text too (a letter and a hidden label), never in colour alone.
        assert cells.first.locator(".sr-only").inner_text().strip() != ""
        page.goto(f"/capture/trials/{NCT}/calendar/")
        # Wait for the next month's page to load: the URL changes before its document is parsed.
        with page.expect_navigation(wait_until="load"):
            page.click("a[rel=next]")
        assert "month=" in page.url
        if viewport == PHONE:
            expect(page.locator("ol.cal-list")).to_be_visible()
            expect(page.locator("table.calendar")).to_be_hidden()
        else:
            expect(page.locator("table.calendar")).to_be_visible()
            expect(page.locator("ol.cal-list")).to_be_hidden()
    finally:
        page.context.close()


def _form_to_verify():
    from trialkit.server.capture.models import FormRecord

    form = (
        FormRecord.objects.filter(
            participant__trial__nct_id=NCT,
            status="complete",
            verified_at__isnull=True,
            deleted_at__isnull=True,
            locked_at__isnull=True,
        )
        .select_related("visit")
        .order_by("participant__participant_number", "visit__order")
        .first()
    )
    assert form is not None, "the demo has no complete form awaiting verification"
    return form


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_monitor_source_verifies_a_visit_in_one_submission(browser, live_server, demo, viewport):
    from trialkit.server.audit.models import AuditEvent
    from trialkit.server.capture.models import FormRecord

    form = _form_to_verify()
    page = login(browser, live_server, "monitor", viewport)
    try:
        page.goto(f"/capture/participants/{form.participant_id}/visits/{form.visit.visit_id}/review/")
        assert_no_sideways_overflow(page)
        # Keep only the complete forms chosen (a draft would make the whole action refused).
        rows = page.locator("#bulk-review tbody tr")
        chosen = []
        for i in range(rows.count()):
            row = rows.nth(i)
            box = row.locator("input[type=checkbox]")
            if "Complete" in row.locator("td[data-label=State]").inner_text():
                box.check()
                chosen.append(int(box.get_attribute("value")))
            else:
                box.uncheck()
        assert form.pk in chosen
        page.fill("#id_reason", "Checked against the hospital record at the monitoring visit")
        screenshot(page, f"bulk-review-{'phone' if viewport == PHONE else 'desktop'}")
        page.click("button[value=verify]")
        page.wait_for_load_state("networkidle")
        assert f"{len(chosen)} form(s) source-verified" in page.locator(".messages").inner_text()
        assert_no_sideways_overflow(page)
        assert FormRecord.objects.filter(pk__in=chosen, verified_at__isnull=False).count() == len(chosen)
        reasons = set(
            AuditEvent.objects.filter(action="form_verify", object_id__in=[str(pk) for pk in chosen]).values_list(
                "reason", flat=True
            )
        )
        assert reasons == {"Checked against the hospital record at the monitoring visit"}
    finally:
        page.context.close()


def _editable_vitals():
    from trialkit.server.capture.models import FormRecord

    form = (
        FormRecord.objects.filter(
            participant__trial__nct_id=NCT,
            participant__site__code="ixcell-01",
            instrument="vital_signs",
            locked_at__isnull=True,
            deleted_at__isnull=True,
        )
        .select_related("visit")
        .first()
    )
    assert form is not None, "the demo has no editable vital signs form at the first site"
    return form


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_two_tabs_editing_one_form_end_in_a_shown_conflict(browser, live_server, demo, viewport):
    from trialkit.server.capture.models import FormRecord

    form = _editable_vitals()
    url = f"/capture/participants/{form.participant_id}/visits/{form.visit.visit_id}/forms/vital_signs/"
    first = login(browser, live_server, "investigator", viewport)
    second = login(browser, live_server, "coordinator", viewport)
    try:
        for page in (first, second):
            page.goto(url)
        first.fill("#id_heart_rate", "91")
        first.fill("#id_reason", "re-measured at rest")
        first.click("#ecrf button[value=complete]")
        first.wait_for_url(f"**/participants/{form.participant_id}/")
        second.fill("#id_heart_rate", "63")
        second.fill("#id_reason", "transcription error")
        second.click("#ecrf button[value=complete]")
        second.wait_for_load_state("networkidle")
        box = second.locator("#edit-conflict")
        assert box.is_visible()
        assert "Ines Investigator saved version" in box.inner_text()
        assert second.locator("#id_heart_rate").input_value() == "63"  # the input is kept
        assert "Saved by Dr Ines Investigator: 91" in second.locator("p.theirs[data-item=heart_rate]").inner_text()
        assert_no_sideways_overflow(second)
        screenshot(second, f"edit-conflict-{'phone' if viewport == PHONE else 'desktop'}")
        saved = FormRecord.objects.get(pk=form.pk)
        assert saved.data["heart_rate"] == 91 and saved.version == form.version + 1
    finally:
        first.context.close()
        second.context.close()
