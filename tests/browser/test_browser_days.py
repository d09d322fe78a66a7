"""Every role's working day in Chromium, on a desktop and on a 390×844 phone, submitting every form.

One walk through IxCell at its first site, as the roles who do each step: the coordinator screens
(facts, consent, enroll) and the investigator attests; the coordinator randomizes through the
confirmation page; the pharmacist computes, confirms and prints the dose; the coordinator records
the infusion (confirmed), confirms the review of the screening data carried into the Screening
visit, hands out a diary code, and the participant fills in the diary (no login);
the assessor rates the NIHSS; the monitor raises a query and verifies the form; the coordinator
answers; the investigator signs the visit, records an SAE and unblinds; the data manager reads the
audit trail, locks the form and exports; the sponsor reads the unblinding notice; the DSMB
statistician generates the unblinded report; the coordinator ends the participation (confirmed).

On every page: a screenshot in test-artifacts/screenshots/, no element overflowing the viewport
sideways, and no serious or critical axe-core violation (``browser_support.check_page``). A page
that does not exist fails the walk: nothing here is skipped.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from browser_support import (
    DESKTOP,
    NIHSS_8,
    PASSWORD,
    PHONE,
    Roles,
    check_page,
    current_code,
    htmx_done,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NCT = "NCT07197606"  # IxCell: the coordinator, investigator, assessor and pharmacist work its first site


def expect_text(page, selector: str, pattern: str, timeout: int = 15_000):
    page.locator(selector).filter(has_text=re.compile(pattern)).first.wait_for(timeout=timeout)


class Walk:
    def __init__(self, roles: Roles, tag: str):
        self.roles, self.tag, self.n, self.flow = roles, tag, 0, {}

    def page(self, username: str):
        return self.roles(username)

    def check(self, page, what: str):
        self.n += 1
        check_page(page, f"{self.tag}-{self.n:02d}-{what}")


def participant_pk(number: str) -> int:
    from trialkit.server.participants.models import Participant

    return Participant.objects.get(trial__nct_id=NCT, participant_number=number).pk


# --------------------------------------------------------------------------- the day, step by step


def coordinator_screens(w: Walk):
    page = w.page("coordinator")
    page.goto(f"/home/?trial={NCT}")
    w.check(page, "coordinator-home")
    page.goto(f"/screening/{NCT}/")
    w.check(page, "screening-log")
    page.click("#new-screening button[type=submit]")
    page.wait_for_url(re.compile(rf"/screening/{NCT}/[^/]+/$"))
    w.flow["screening_url"] = page.url
    today = date.today()
    page.fill('[name="birth_date"]', (today - timedelta(days=58 * 365)).isoformat())
    page.select_option('[name="sex"]', "female")
    page.select_option('[name="stroke.type"]', "ischemic")
    page.select_option('[name="stroke.territory"]', "anterior")
    page.fill('[name="stroke.onset_date"]', (today - timedelta(days=30)).isoformat())
    for item, value in NIHSS_8.items():
        page.select_option(f'[name="nihss.{item}"]', value)
    page.select_option('[name="premorbid_mrs"]', "0")
    page.check('[name="conditions_reviewed"]')
    page.check('[name="medications_reviewed"]')
    page.locator('[name="allergies"]').press("Tab")
    htmx_done(page, "#facts-form")  # every change saved before the investigator opens the record
    expect_text(page, "#criteria-panel", r"0 fail")
    # A refused value: its message in the slot the input is described by, the input marked invalid,
    # the summary linking to it; what was typed stays; corrected, all of it goes away.
    from playwright.sync_api import expect

    albumin = page.locator("#f-labs\\.albumin\\.value")
    albumin.fill("forty")
    albumin.press("Tab")
    expect_text(page, "#err-labs-albumin", "number")
    expect(albumin).to_have_attribute("aria-invalid", "true")  # set once htmx has settled the swap
    assert albumin.input_value() == "forty"
    assert "err-labs-albumin" in albumin.get_attribute("aria-describedby")
    assert page.locator('#facts-errors a[href="#f-labs.albumin.value"]').count() == 1
    w.check(page, "screening-facts-error")
    albumin.fill("")
    albumin.press("Tab")
    page.locator("#facts-errors:empty").wait_for(state="attached")
    expect(albumin).not_to_have_attribute("aria-invalid", "true")
    assert page.locator("#criteria-live[aria-live=polite]").count() == 1
    w.check(page, "screening-facts")


def investigator_attests(w: Walk):
    page = w.page("investigator")
    page.goto(f"/home/?trial={NCT}")
    w.check(page, "investigator-home")
    page.goto(w.flow["screening_url"])
    from playwright.sync_api import expect

    for label in ("Yes, met", "No, does not apply"):
        attested = page.locator("#criteria-panel", has_text="Attested:").locator("text=Attested:").count()
        page.locator("#criteria-panel button", has_text=label).first.click()
        expect(page.locator("#criteria-panel").locator("text=Attested:")).to_have_count(attested + 1)
    expect_text(page, "#criteria-panel .verdict", "Eligible")
    w.check(page, "attested")


def coordinator_consents_enrolls_randomizes(w: Walk):
    page = w.page("coordinator")
    page.goto(w.flow["screening_url"])
    page.fill("#c-date", date.today().isoformat())
    page.select_option("#c-signed-by", "participant")
    page.click("#consent-panel button[type=submit]")
    expect_text(page, "#consent-panel", "Current")
    page.click("#enroll-button")
    expect_text(page, "#enroll-panel", "Enrolled")
    w.flow["participant"] = page.locator("#enroll-panel strong").inner_text()
    w.check(page, "enrolled")
    # After enrolling, the Randomize button; it opens a confirmation page (a GET randomizes nothing).
    page.click("#randomize-link")
    expect_text(page, "h1", "Randomize")
    from trialkit.server.participants.models import Participant

    assert not Participant.objects.get(trial__nct_id=NCT, participant_number=w.flow["participant"]).randomization_number
    w.check(page, "randomize-confirm")
    page.click("#confirm-randomize")
    page.wait_for_load_state("networkidle")
    number = page.locator("dt:has-text('Randomization no.') + dd").inner_text()
    assert number not in ("", "—")
    w.flow["randomization_number"] = number
    main = page.locator("main").inner_text()
    assert "MSCs treatment" not in main and "Placebo" not in main
    w.check(page, "randomized")


def pharmacist_prepares(w: Walk):
    page = w.page("pharmacist")
    page.goto(f"/home/?trial={NCT}")
    assert w.flow["participant"] in page.locator("#panel-doses").inner_text()
    w.check(page, "pharmacist-home")
    page.goto(f"/allocation/{NCT}/pharmacy/")
    w.check(page, "pharmacy")
    page.goto(f"/allocation/{NCT}/pharmacy/{w.flow['participant']}/")
    page.fill("#weight_kg", "abc")
    page.click("button:has-text('Compute the preparation')")
    expect_text(page, ".has-error", ".")
    assert page.input_value("#weight_kg") == "abc"
    assert page.get_attribute("#weight_kg", "aria-invalid") == "true"
    w.check(page, "prepare-error")
    page.fill("#weight_kg", "68.5")
    page.click("button:has-text('Compute the preparation')")
    # The trial keeps the chain of custody (the demo's supply): no preparation before the kit is thawed.
    expect_text(page, "main", "is in storage; thaw it before preparing the dose")
    page.click("a:has-text('(assign, thaw)')")
    page.wait_for_url(f"**/product/{NCT}/participants/{w.flow['participant']}/")
    w.check(page, "kit-stored")
    page.click("button[name=action][value=assign]")
    page.wait_for_load_state("networkidle")
    page.click("button[name=action][value=thaw]")  # thawed now (the time left blank)
    page.wait_for_load_state("networkidle")
    expect_text(page, ".messages", "Recorded")
    expect_text(page, "main", "Thawed")
    w.check(page, "kit-thawed")
    page.goto(f"/allocation/{NCT}/pharmacy/{w.flow['participant']}/")
    page.fill("#weight_kg", "68.5")
    page.click("button:has-text('Compute the preparation')")
    expect_text(page, "#plan-sheet h2", "Check the preparation")
    from trialkit.server.allocation.models import DoseRecord

    assert not DoseRecord.objects.filter(participant__participant_number=w.flow["participant"]).exists()
    assert "68,500,000 cells" in page.locator("#plan-sheet").inner_text()
    w.check(page, "prepare-confirm")
    page.click("#record-preparation")
    expect_text(page, "#prepared-sheet h2", "Preparation sheet")
    assert "No weight is recorded" not in page.locator("main").inner_text()
    w.check(page, "prepared")
    page.click("#prepared-sheet a:has-text('Print the blinded label')")
    page.wait_for_url("**/label/")
    assert page.locator("#label svg[role=img]").count() == 1  # the kit number's barcode
    label = page.locator("#label").inner_text()
    assert w.flow["randomization_number"] in label and re.search(r"Use by:\s+\d", label)
    page.emulate_media(media="print")
    assert not page.locator("header.topbar").is_visible()
    page.emulate_media(media="screen")
    w.check(page, "label")


def coordinator_records_infusion_and_diary(w: Walk):
    page = w.page("coordinator")
    page.goto(f"/allocation/{NCT}/participants/{w.flow['participant']}/")
    page.click("text=Record infusion given…")
    page.wait_for_url("**/administered/")
    w.check(page, "infusion-confirm")
    page.click("#confirm-administered")
    expect_text(page, "dd", "given")
    w.flow["participant_url"] = f"/capture/participants/{participant_pk(w.flow['participant'])}/"
    page.goto(w.flow["participant_url"])
    # The Screening visit was held at screening and carries its facts; it is not missed.
    assert "Missed visits: Screening" not in page.locator("main").inner_text()
    screening = page.locator("#visit-screening")
    assert "not entered" not in screening.locator("tr", has_text="NIH Stroke Scale").inner_text()
    page.click("#visit-screening a:has-text('Demographics')")
    w.check(page, "screening-visit-demographics")
    page.goto(w.flow["participant_url"])
    # The carried forms await the coordinator's review; the visit is not done until it is confirmed.
    carried = page.locator("#carried-screening")
    assert "carried from screening — awaiting review" in carried.inner_text()
    assert "done" not in screening.locator("h3 .badge").first.inner_text()
    page.check("#carried-review-form input[name=confirm]")
    w.check(page, "screening-visit-review")
    page.click("#confirm-carried-review")
    expect_text(page, "#carried-screening", "reviewed by")
    from trialkit.server.capture.models import Visit

    visit = Visit.objects.get(participant_id=participant_pk(w.flow["participant"]), visit_id="screening")
    assert visit.carried_reviewed_by.username == "coordinator" and not visit.awaiting_review
    page.click("button:has-text('Create code')")
    page.wait_for_load_state("networkidle")
    w.flow["diary_link"] = page.locator("code.wrap").inner_text()
    w.check(page, "timeline-diary-code")


def participant_fills_the_diary(w: Walk):
    """The participant writes today's diary, changes it the same day (with a reason), and the next
    day finds it can no longer be changed: the form left open over midnight is refused."""
    from trialkit.server.capture.models import DiaryEntry

    # No login: the personal link opens the diary; the form posts from Chromium (CSRF with Origin).
    context = w.roles.browser.new_context(viewport={"width": w.roles.viewport[0], "height": w.roles.viewport[1]})
    try:
        page = context.new_page()
        page.goto(w.flow["diary_link"])
        w.check(page, "diary")
        page.locator("fieldset.yesno").first.locator("input[value=yes]").check()
        page.locator("textarea").first.fill("Left hand weak in the morning")
        page.click('button:has-text("Save today\'s diary")')
        expect_text(page, "main", "Saved for")
        assert "CSRF" not in page.content()
        w.check(page, "diary-saved")
        # The same day: a change needs a reason, and is kept with it.
        page.locator("textarea").first.fill("Left hand weak in the morning, better by the evening")
        page.click('button:has-text("Save the changes")')
        expect_text(page, "#reason-error", "say why")
        w.check(page, "diary-change-needs-reason")
        page.fill("#reason", "it got better later")
        page.click('button:has-text("Save the changes")')
        expect_text(page, "main", "Saved for")
        entry = DiaryEntry.objects.get(participant__participant_number=w.flow["participant"])
        assert entry.sections["symptoms"]["details"].endswith("better by the evening")
        # The next day (the page still open from yesterday): the change is refused, nothing written.
        page.locator("textarea").first.fill("Written the day after")
        page.fill("#reason", "forgot something")
        # The next day at the site, for the diary only (the server runs in this process): a
        # travelling clock would also move every other role's session and job.
        from unittest import mock

        from trialkit.server.capture import services as capture_services

        real_today = capture_services.diary_today
        with mock.patch.object(capture_services, "diary_today", lambda p, now: real_today(p, now) + timedelta(days=1)):
            page.click('button:has-text("Save the changes")')
            expect_text(page, "#diary-errors", "can no longer be written or changed")
            w.check(page, "diary-next-day-refused")
            assert page.locator("#diary-readonly").count() == 1 and page.locator("#diary-form").count() == 0
    finally:
        context.close()
    entry.refresh_from_db()
    assert entry.sections["symptoms"]["details"].endswith("better by the evening")
    assert DiaryEntry.objects.filter(participant__participant_number=w.flow["participant"]).count() == 1


def assessor_rates(w: Walk):
    page = w.page("assessor")
    page.goto(f"/home/?trial={NCT}")
    w.check(page, "assessor-home")
    page.goto(w.flow["participant_url"])
    w.check(page, "assessor-timeline")
    page.locator("#visit-baseline a", has_text="NIH Stroke Scale").first.click()
    page.wait_for_url("**/forms/nihss/**")
    w.flow["form_url"] = page.url
    for key, value in {**NIHSS_8, "8": "1", "4": "1"}.items():
        page.select_option(f"#ecrf [name='{key}']", value)
    expect_text(page, "#score", r"total: 8")
    w.check(page, "nihss-form")
    page.click("#ecrf button:has-text('Save as complete')")
    page.wait_for_load_state("networkidle")
    assert "Arm" not in page.locator("main").inner_text()


def monitor_queries_and_verifies(w: Walk):
    page = w.page("monitor")
    page.goto(f"/home/?trial={NCT}")
    w.check(page, "monitor-home")
    page.goto(w.flow["form_url"])
    page.select_option("select[name=item]", "5a")
    page.fill("#queries input[name=text][required]", "Please confirm item 5a against the source notes.")
    page.click("button:has-text('Open query')")
    expect_text(page, "main", "Please confirm item 5a")
    page.click("button:has-text('Mark source-verified')")
    expect_text(page, "main", "source-verified")
    w.check(page, "query-raised")


def coordinator_answers(w: Walk):
    page = w.page("coordinator")
    page.goto(f"/home/?trial={NCT}")
    queries = page.locator("#panel-queries")
    assert w.flow["participant"] in queries.inner_text()
    queries.locator("a", has_text=w.flow["participant"]).first.click()
    page.fill("input[name=text][placeholder=Answer]", "Confirmed against the source notes.")
    page.click("button:has-text('Answer')")
    expect_text(page, "main", "answered")
    w.check(page, "query-answered")


def investigator_signs_reports_unblinds(w: Walk):
    page = w.page("investigator")
    page.goto(w.flow["participant_url"])
    assert page.locator("#visit-month1 input[name=password]").count() == 0  # not held: nothing to sign
    visit = page.locator("#visit-baseline")
    visit.locator("input[name=password]").fill(PASSWORD)
    visit.locator("button:has-text('Sign this visit')").click()
    expect_text(page, "#visit-baseline", "signed by")
    w.check(page, "visit-signed")
    page.goto(f"/capture/participants/{participant_pk(w.flow['participant'])}/adverse-events/new/")
    page.fill("#id_term", "Pneumonia")
    page.fill("#id_onset_date", date.today().isoformat())
    page.select_option("#id_ctcae_grade", "3")
    page.select_option("#id_serious", "true")
    for name, value in (
        ("relatedness", "unlikely"),
        ("expectedness", "unexpected"),
        ("action_taken", "not_applicable"),
        ("outcome", "recovering"),
    ):
        page.select_option(f"#id_{name}", value)
    page.click("button:has-text('Save as complete')")  # serious, but no criterion answered: refused
    expect_text(page, ".msg.error", "Not saved")
    assert page.input_value("#id_sae_hospitalization") == ""  # blank stays blank
    assert page.get_attribute("#id_serious", "aria-invalid") == "true"
    w.check(page, "sae-refused")
    page.select_option("#id_sae_hospitalization", "true")
    page.click("button:has-text('Save as complete')")
    expect_text(page, "main", "left to report")
    w.check(page, "sae-clock")
    page.goto(f"/allocation/{NCT}/participants/{w.flow['participant']}/unblind/")
    w.check(page, "unblind-form")
    page.fill("#reason", "Anaphylaxis during infusion; treating physician needs the product.")
    page.fill("#password", "not-my-password")
    page.fill("#otp_token", current_code("investigator"))
    page.click("button:has-text('Reveal treatment')")
    assert "Anaphylaxis" in page.input_value("#reason")
    page.fill("#password", PASSWORD)
    page.fill("#otp_token", current_code("investigator"))  # unblinding asks for the second factor too
    page.click("button:has-text('Reveal treatment')")
    expect_text(page, "main", "MSCs treatment|Placebo")
    w.check(page, "unblinded")
    # Flagged in every listing of the participant.
    for where in (f"/capture/trials/{NCT}/participants/", f"/home/?trial={NCT}", w.flow["participant_url"]):
        page.goto(where)
        row = page.locator("main").inner_text()
        assert re.search(r"[Ee]mergency unblinded", row), where


def data_manager_audits_locks_exports(w: Walk):
    page = w.page("datamanager")
    page.goto(f"/home/?trial={NCT}")
    w.check(page, "datamanager-home")
    page.goto(w.flow["participant_url"])
    page.locator("#visit-baseline tr", has_text="NIH Stroke Scale").locator("a", has_text="audit").click()
    expect_text(page, "table", "assessor")
    w.check(page, "audit-trail")
    page.goto(w.flow["form_url"])
    page.locator("form:has(button:has-text('Lock form')) input[name=reason]").fill("Verified; query answered")
    page.click("button:has-text('Lock form')")
    expect_text(page, "main", "locked")
    w.check(page, "form-locked")
    page.goto(f"/exports/{NCT}/")
    page.click("button:has-text('Start export')")
    if w.tag == "desktop":  # the job runs the same whatever the screen: waited for once
        page.locator("text=Download").first.wait_for(timeout=90_000)
    else:
        page.locator("[id^=export-]").first.wait_for()
    w.check(page, "export")


def sponsor_reads(w: Walk):
    page = w.page("sponsor")
    page.goto(f"/home/?trial={NCT}")
    w.check(page, "sponsor-home")
    page.goto(f"/allocation/{NCT}/notifications/")
    expect_text(page, "main", w.flow["participant"])
    page.locator("button:has-text('Mark as read')").first.click()
    page.wait_for_load_state("networkidle")
    w.check(page, "notifications")


def dsmb_reports(w: Walk):
    page = w.page("dsmb")
    page.goto(f"/home/?trial={NCT}&role=dsmb_statistician")
    page.click("#panel-report button:has-text('Generate unblinded report')")
    # The test server runs a job inside the request that queues it (Django's immediate task backend):
    # the list shows the job once the whole report is built, the analysis libraries loaded first.
    page.locator("#report-jobs .job").first.wait_for(timeout=90_000)
    if w.tag != "desktop":  # the job runs the same whatever the screen: waited for once
        w.check(page, "dsmb-home-report")
        return
    page.locator("#report-jobs .job[data-status=done], #report-jobs .job[data-status=failed]").first.wait_for(
        timeout=90_000
    )
    job = page.locator("#report-jobs .job").first
    assert job.get_attribute("data-status") == "done", job.inner_text()
    w.check(page, "dsmb-home-report")
    with page.expect_popup() as popup:
        job.locator("a", has_text="Open the report").click()
    assert "UNBLINDED" in popup.value.content()
    popup.value.close()


def coordinator_ends_participation(w: Walk):
    page = w.page("coordinator")
    page.goto(w.flow["participant_url"])
    page.click("#end-participation summary")
    page.select_option("#id_outcome", "withdrawn")
    page.fill("#id_ended_on", date.today().isoformat())
    page.fill("#id_end_reason", "Moved abroad; agreed that the data collected so far are kept.")
    page.click("button:has-text('Record end of participation')")
    expect_text(page, "h1", "Record the end of participation")
    w.check(page, "end-confirm")
    page.click("#confirm-end")
    page.locator("#participation-ended").wait_for()
    w.check(page, "ended")
    # A link to a POST-only address: a styled page with a way back, not a bare 405.
    page.goto(f"{w.flow['participant_url']}end/")
    expect_text(page, "main", "only takes a form")
    w.check(page, "error-405")


DAY = [
    coordinator_screens,
    investigator_attests,
    coordinator_consents_enrolls_randomizes,
    pharmacist_prepares,
    coordinator_records_infusion_and_diary,
    participant_fills_the_diary,
    assessor_rates,
    monitor_queries_and_verifies,
    coordinator_answers,
    investigator_signs_reports_unblinds,
    data_manager_audits_locks_exports,
    sponsor_reads,
    dsmb_reports,
    coordinator_ends_participation,
]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_role_s_day_end_to_end(browser, live_server, demo, viewport):
    tag = "desktop" if viewport == DESKTOP else "phone"
    roles = Roles(browser, live_server.url, viewport)
    walk = Walk(roles, tag)
    try:
        for step in DAY:
            try:
                step(walk)
            except Exception:
                for username, page in roles.pages.items():  # what each role saw when the step failed
                    screenshot(page, f"{tag}-failed-{step.__name__}-{username}")
                raise
    finally:
        roles.close()
