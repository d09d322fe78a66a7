"""Playwright for Python driving Debian's Chromium against pytest-django's live server.

One browser for the whole session; one browser context (its own cookies) per role. Without
/usr/bin/chromium the browser tests skip locally and fail in CI (CI is set there).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auth_support import otp_code
from browser_support import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from django.contrib.auth import get_user_model

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def demo(transactional_db):
    """The demo data (both trials, several sites, participants at every stage), with fast password hashes."""
    from trialkit.server.demo import load_demo

    return load_demo()


class Roles:
    """A logged-in page per demo user, opened on first use."""

    def __init__(self, browser, base_url: str):
        self.browser, self.base_url, self.pages = browser, base_url, {}

    def __call__(self, username: str, viewport=(1280, 860)):
        if username not in self.pages:
            context = self.browser.new_context(base_url=self.base_url,
                                               viewport={"width": viewport[0], "height": viewport[1]})
            context.set_default_timeout(10_000)
            page = context.new_page()
            page.goto("/accounts/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            if "/accounts/two-factor/" in page.url or username in ("dsmb", "admin"):
                # The DSMB and staff log in with a second factor: the demo authenticator's current code.
                page.wait_for_url("**/accounts/two-factor/**")
                page.fill("#id_token", otp_code(get_user_model().objects.get(username=username)))
                page.click("button[type=submit]")
            page.wait_for_url("**/home/**")
            self.pages[username] = page
        return self.pages[username]

    def close(self):
        for page in self.pages.values():
            page.context.close()


@pytest.fixture
def as_user(browser, live_server, demo):
    roles = Roles(browser, live_server.url)
    yield roles
    roles.close()
