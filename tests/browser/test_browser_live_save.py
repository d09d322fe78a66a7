"""The screening facts are saved as they are changed, one request at a time, the latest change queued
behind the one in flight. A coordinator who changes two answers and at once follows a link or submits
another form on the page must not lose the second: the page waits for its saves before it leaves.

The server is made slow (each save takes 0.6 s) so that the second change is still queued when the
coordinator leaves."""

from __future__ import annotations

import re
import time

import pytest
from browser_support import Roles

from trialkit.server.participants.models import ScreeningRecord
from trialkit.server.trials.models import Trial

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slow_saves(monkeypatch):
    from trialkit.server.screening import views

    original = views.services.update_facts

    def slow(*args, **kwargs):
        time.sleep(0.6)
        return original(*args, **kwargs)

    monkeypatch.setattr(views.services, "update_facts", slow)


@pytest.fixture
def coordinator(browser, live_server, demo):
    roles = Roles(browser, live_server.url)
    yield roles("coordinator")
    roles.close()


def _record_in_screening() -> ScreeningRecord:
    trial = Trial.objects.get(nct_id="NCT07197606")
    site = trial.sites.order_by("code").first()
    record = (
        ScreeningRecord.objects.filter(trial=trial, site=site, outcome="in_screening")
        .order_by("screening_number")
        .first()
    )
    assert record is not None
    return record


def _change_two_answers(page, record: ScreeningRecord) -> tuple[str, int]:
    sex = "male" if (record.facts or {}).get("sex") == "female" else "female"
    mrs = 2 if (record.facts or {}).get("premorbid_mrs") != 2 else 1
    page.select_option('[name="sex"]', sex)  # sent at once; answered in 0.6 s
    page.select_option('[name="premorbid_mrs"]', str(mrs))  # queued behind it
    return sex, mrs


def test_following_a_link_waits_for_the_answers_to_be_saved(coordinator, slow_saves):
    record = _record_in_screening()
    page = coordinator
    page.goto(f"/screening/NCT07197606/{record.screening_number}/")
    sex, mrs = _change_two_answers(page, record)
    page.click("#consent-page-link")
    page.wait_for_url(re.compile(r"/informed-consent/$"))
    record.refresh_from_db()
    assert (record.facts.get("sex"), record.facts.get("premorbid_mrs")) == (sex, mrs)


def test_submitting_another_form_waits_for_the_answers_to_be_saved(coordinator, slow_saves):
    record = _record_in_screening()
    page = coordinator
    page.goto(f"/screening/NCT07197606/{record.screening_number}/")
    sex, mrs = _change_two_answers(page, record)
    page.fill("#wd-reason", "moved to another city")
    page.click("form[action$='/withdraw/'] button[type=submit]")
    page.wait_for_url(re.compile(rf"/screening/NCT07197606/{record.screening_number}/$"))
    page.wait_for_selector(".messages")
    record.refresh_from_db()
    assert (record.facts.get("sex"), record.facts.get("premorbid_mrs")) == (sex, mrs)
    assert record.outcome != "in_screening"  # the withdrawal went through, after the saves


def test_a_save_that_never_answers_keeps_the_page_no_longer_than_15_seconds(coordinator):
    """A save lost on a dead network: the browser holds it unanswered. The withdrawal waits for it, gives up
    after 15 s, and goes through once (the page is not held by its own re-sent submit)."""
    record = _record_in_screening()
    page = coordinator
    page.goto(f"/screening/NCT07197606/{record.screening_number}/")
    held = []
    page.route(re.compile(r"/facts/$"), lambda route: held.append(route))  # never answered
    sex = "male" if (record.facts or {}).get("sex") == "female" else "female"
    page.select_option('[name="sex"]', sex)
    page.wait_for_function("() => document.querySelector('#facts-form').classList.contains('htmx-request')")
    page.fill("#wd-reason", "moved to another city")
    started = time.monotonic()
    page.click("form[action$='/withdraw/'] button[type=submit]")
    page.wait_for_selector(".messages", timeout=30_000)
    waited = time.monotonic() - started
    assert 14 < waited < 25, waited
    assert held, "the save was never sent"
    record.refresh_from_db()
    assert record.outcome != "in_screening"  # withdrawn
    assert record.facts.get("sex") != sex  # the held save never reached the server
