"""The trial flow end to end in Chromium, as the roles who do each step, on the demo data (IxCell).

Screen a patient to eligible, attest, consent, enroll, randomize; prepare the dose and view the
blinded label; enter a visit form with its live score; raise and answer a query; sign a visit;
record an SAE and see its clock; unblind in an emergency; view a form's audit trail; generate the
DSMB report with progress. Then every role's home is photographed.

Steps run in order and share ``flow`` (what earlier steps created). A step whose pages do not exist
in this build (its URL names do not resolve) is PENDING: it is reported, not run, and the test ends
with a skip naming the pending steps after every available step has passed.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from auth_support import otp_code
from browser_support import PASSWORD, screenshot
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NCT = "NCT07197606"  # IxCell: the coordinator, investigator, assessor and pharmacist work its first site
STEPS = []


def step(title: str, *url_names: str, after: tuple[str, ...] = ()):
    """Register a flow step; it is pending while any of ``url_names`` is not a page of this build,
    or while an earlier step it builds on (``after``: keys of ``flow``) is pending."""

    def register(function):
        STEPS.append((title, url_names, after, function))
        return function

    return register


def _resolvable(name: str) -> bool:
    for count in range(5):
        try:
            reverse(name, args=["1"] * count)
        except NoReverseMatch:
            continue
        return True
    return False


def expect_text(page, selector: str, pattern: str, timeout: int = 10_000):
    page.locator(selector).filter(has_text=re.compile(pattern)).first.wait_for(timeout=timeout)


# --------------------------------------------------------------------------- screening to randomization


@step("coordinator creates a screening record", "screening:log", "screening:new")
def create_screening(as_user, flow):
    page = as_user("coordinator")
    page.goto(f"/screening/{NCT}/")
    page.click("#new-screening button[type=submit]")
    page.wait_for_url(re.compile(rf"/screening/{NCT}/[^/]+/$"))
    flow["screening"] = page.locator("h1").inner_text().split()[0]
    flow["screening_url"] = page.url


@step("coordinator enters facts until only the investigator's attestations are missing", "screening:facts", after=("screening_url",))
def enter_facts(as_user, flow):
    page = as_user("coordinator")
    page.goto(flow["screening_url"])
    today = date.today()
    page.fill('[name="birth_date"]', (today - timedelta(days=58 * 365)).isoformat())
    page.select_option('[name="sex"]', "female")
    page.select_option('[name="stroke.type"]', "ischemic")
    page.select_option('[name="stroke.territory"]', "anterior")
    page.fill('[name="stroke.onset_date"]', (today - timedelta(days=30)).isoformat())
    # NIHSS 8 with a motor arm score of 2 and full consciousness (IxCell's NIHSS criterion).
    nihss = {"1a": "0", "1b": "0", "1c": "0", "2": "0", "3": "0", "4": "2", "5a": "2", "5b": "0", "6a": "2",
             "6b": "0", "7": "0", "8": "0", "9": "1", "10": "1", "11": "0"}
    for item, value in nihss.items():
        page.select_option(f'[name="nihss.{item}"]', value)
    page.select_option('[name="premorbid_mrs"]', "0")
    page.check('[name="conditions_reviewed"]')
    page.check('[name="medications_reviewed"]')
    page.locator('[name="allergies"]').press("Tab")
    # Live eligibility: every computable criterion passes; the attestations remain.
    expect_text(page, "#criteria-panel", r"10 pass|8 pass · 0 fail · 2 unknown")
    assert "0 fail" in page.locator("#criteria-panel .verdict").inner_text()


@step("investigator attests the criteria the facts cannot decide", "screening:attest", after=("screening_url",))
def attest(as_user, flow):
    page = as_user("investigator")
    page.goto(flow["screening_url"])
    for label in ("Yes, met", "No, does not apply"):
        button = page.locator("#criteria-panel button", has_text=label).first
        button.click()
        page.wait_for_load_state("networkidle")
    expect_text(page, "#criteria-panel .verdict", "Eligible")


@step("coordinator records consent and enrolls", "screening:consent", "screening:enroll", after=("screening_url",))
def consent_and_enroll(as_user, flow):
    page = as_user("coordinator")
    page.goto(flow["screening_url"])
    page.fill("#c-date", date.today().isoformat())
    page.select_option("#c-signed-by", "participant")
    page.click("#consent-panel button[type=submit]")
    expect_text(page, "#consent-panel", "Current")
    page.click("#enroll-button")
    expect_text(page, "#enroll-panel", "Enrolled")
    flow["participant"] = page.locator("#enroll-panel strong").inner_text()


@step("coordinator randomizes: a randomization and kit number, no arm", "allocation:participant", "allocation:randomize",
      after=("participant",))
def randomize(as_user, flow):
    page = as_user("coordinator")
    page.goto(f"/allocation/{NCT}/participants/{flow['participant']}/")
    page.click("button:has-text('Randomize')")
    page.wait_for_load_state("networkidle")
    number = page.locator("dt:has-text('Randomization no.') + dd").inner_text()
    assert number not in ("", "—")
    flow["randomization_number"] = number
    for arm in ("MSCs treatment", "Placebo"):
        assert arm not in page.locator("main").inner_text()


@step("pharmacist prepares the dose, then views the blinded label", "allocation:prepare", "allocation:label", after=("randomization_number",))
def prepare_dose(as_user, flow):
    page = as_user("pharmacist")
    page.goto(f"/home/?trial={NCT}")
    assert flow["participant"] in page.locator("#panel-doses").inner_text()
    page.goto(f"/allocation/{NCT}/pharmacy/{flow['participant']}/")
    page.fill("#weight_kg", "abc")
    page.click("button:has-text('Compute the preparation')")
    # The error sits next to the field and the typed value is kept.
    expect_text(page, ".has-error", ".")
    assert page.input_value("#weight_kg") == "abc"
    page.fill("#weight_kg", "68.5")
    page.click("button:has-text('Compute the preparation')")
    expect_text(page, "h2", "Preparation sheet")
    page.goto(f"/allocation/{NCT}/participants/{flow['participant']}/label/")
    label = page.locator("main").inner_text()
    assert flow["randomization_number"] in label


@step("coordinator records the infusion as given (day 0 of the visit schedule)", "allocation:administered", after=("randomization_number",))
def administered(as_user, flow):
    page = as_user("coordinator")
    page.goto(f"/allocation/{NCT}/participants/{flow['participant']}/")
    page.click("button:has-text('Record infusion given')")
    page.wait_for_load_state("networkidle")
    expect_text(page, "dd", "given")


# --------------------------------------------------------------------------- visit capture


def participant_pk(number: str) -> int:
    from trialkit.server.participants.models import Participant

    return Participant.objects.get(trial__nct_id=NCT, participant_number=number).pk


@step("assessor enters the baseline NIHSS and sees the live total", "capture:participant", "capture:ecrf",
      after=("participant",))
def visit_form(as_user, flow):
    page = as_user("assessor")
    flow["participant_url"] = f"/capture/participants/{participant_pk(flow['participant'])}/"
    page.goto(flow["participant_url"])
    page.locator("#visit-baseline a", has_text="nihss").first.click()
    page.wait_for_url("**/forms/nihss/**")
    flow["form_url"] = page.url
    scores = {"1a": "0", "1b": "0", "1c": "0", "2": "0", "3": "0", "4": "1", "5a": "2", "5b": "0", "6a": "2",
              "6b": "0", "7": "0", "8": "1", "9": "1", "10": "1", "11": "0"}
    for key, value in scores.items():
        page.select_option(f"#ecrf [name='{key}']", value)
    # The derived score is computed by the instrument as the form changes (HTMX preview).
    expect_text(page, "#score", r"total: 8")
    page.click("#ecrf button:has-text('Save as complete')")
    page.wait_for_load_state("networkidle")
    assert "Arm" not in page.locator("main").inner_text()


@step("monitor raises a query on the form", "capture:open_query", after=("form_url",))
def raise_query(as_user, flow):
    page = as_user("monitor")
    page.goto(flow["form_url"])
    page.select_option("select[name=item]", "5a")
    page.fill("input[name=text][required]", "Please confirm item 5a against the source notes.")
    page.click("button:has-text('Open query')")
    page.wait_for_load_state("networkidle")
    expect_text(page, "main", "Please confirm item 5a")


@step("coordinator answers the query from the home page", "capture:query_action", after=("form_url",))
def answer_query(as_user, flow):
    page = as_user("coordinator")
    page.goto(f"/home/?trial={NCT}")
    queries = page.locator("#panel-queries")
    assert flow["participant"] in queries.inner_text()
    queries.locator("a", has_text=flow["participant"]).first.click()
    page.fill("input[name=text][placeholder=Answer]", "Confirmed against the source notes.")
    page.click("button:has-text('Answer')")
    page.wait_for_load_state("networkidle")
    expect_text(page, "main", "answered")


@step("investigator signs the baseline visit with the password", "capture:sign_visit", after=("form_url",))
def sign_visit(as_user, flow):
    page = as_user("investigator")
    page.goto(flow["participant_url"])
    visit = page.locator("#visit-baseline")
    visit.locator("input[name=password]").fill(PASSWORD)
    visit.locator("button:has-text('Sign this visit')").click()
    page.wait_for_load_state("networkidle")
    expect_text(page, "#visit-baseline", "signed by")


@step("investigator records an SAE and sees its 24-hour clock", "capture:adverse_event_new", after=("participant",))
def record_sae(as_user, flow):
    page = as_user("investigator")
    page.goto(f"/capture/participants/{participant_pk(flow['participant'])}/adverse-events/new/")
    page.fill("#id_term", "Pneumonia")
    page.fill("#id_onset_date", date.today().isoformat())
    page.select_option("#id_ctcae_grade", "3")
    page.select_option("#id_serious", "true")
    page.select_option("#id_sae_hospitalization", "true")
    page.select_option("#id_relatedness", "unlikely")
    page.select_option("#id_expectedness", "unexpected")
    page.select_option("#id_action_taken", "not_applicable")
    page.select_option("#id_outcome", "recovering")
    page.click("button:has-text('Save as complete')")
    expect_text(page, "main", "left to report")
    assert "Pneumonia" in page.locator("main").inner_text()
    page.goto(f"/home/?trial={NCT}")
    expect_text(page, "#panel-sae", "left to report")


@step("investigator unblinds in an emergency (reason and password)", "allocation:unblind", after=("randomization_number",))
def unblind(as_user, flow):
    page = as_user("investigator")
    investigator = get_user_model().objects.get(username="investigator")
    page.goto(f"/allocation/{NCT}/participants/{flow['participant']}/unblind/")
    page.fill("#reason", "Anaphylaxis during infusion; treating physician needs the product.")
    page.fill("#password", "not-my-password")
    page.fill("#otp_token", otp_code(investigator))
    page.click("button:has-text('Reveal treatment')")
    # A wrong password reveals nothing and keeps the typed reason.
    assert "Anaphylaxis" in page.input_value("#reason")
    page.fill("#password", PASSWORD)
    page.fill("#otp_token", "000000" if otp_code(investigator) != "000000" else "111111")
    page.click("button:has-text('Reveal treatment')")
    # A wrong authenticator code reveals nothing either.
    expect_text(page, "main", "authentication code is not correct")
    page.fill("#password", PASSWORD)
    page.fill("#otp_token", otp_code(investigator))
    page.click("button:has-text('Reveal treatment')")
    expect_text(page, "main", "MSCs treatment|Placebo")


@step("data manager views the audit trail of the form", "capture:form_audit", after=("form_url",))
def audit_trail(as_user, flow):
    page = as_user("datamanager")
    page.goto(flow["participant_url"])
    page.locator("#visit-baseline tr", has_text="nihss").locator("a", has_text="audit").click()
    expect_text(page, "table", "assessor")
    expect_text(page, "table", "Form entered")


@step("DSMB statistician generates the unblinded report and watches its progress", "start_report", "job_progress")
def dsmb_report(as_user, flow):
    page = as_user("dsmb")
    page.goto(f"/home/?trial={NCT}&role=dsmb_statistician")
    page.click("#panel-report button:has-text('Generate unblinded report')")
    page.locator("#report-jobs .job").first.wait_for()
    page.locator("#report-jobs .job[data-status=done], #report-jobs .job[data-status=failed]").first.wait_for(
        timeout=60_000)
    job = page.locator("#report-jobs .job").first
    assert job.get_attribute("data-status") == "done", job.inner_text()
    with page.expect_popup() as popup:
        job.locator("a", has_text="Open the report").click()
    assert "UNBLINDED" in popup.value.content()


def test_trial_flow_end_to_end(as_user):
    flow: dict = {}
    green, pending = [], []
    for title, url_names, after, function in STEPS:
        missing = [name for name in url_names if not _resolvable(name)] + [key for key in after if key not in flow]
        if missing:
            pending.append(f"{title} (needs {', '.join(missing)})")
            continue
        try:
            function(as_user, flow)
        except Exception:
            for username, page in as_user.pages.items():  # what each role saw when the step failed
                screenshot(page, f"failed-step-{username}")
            raise
        green.append(title)
    print("\nflow steps green:\n  " + "\n  ".join(green))
    # Every role's home after the flow: the new participant, its query, SAE clock and report.
    for username, page in as_user.pages.items():
        page.goto(f"/home/?trial={NCT}")
        screenshot(page, f"after-flow-{username}-home")
    if pending:
        pytest.skip(f"{len(green)} steps green; pending until their pages exist: " + "; ".join(pending))
