"""Playwright for Python driving Debian's Chromium against pytest-django's live server.

One browser for the whole session; one browser context (its own cookies) per role. Without
/usr/bin/chromium the browser tests skip locally and fail in CI (CI is set there); without
axe-core (npm install in tests/browser) they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_support import AXE, CHROMIUM, CHROMIUM_ARGS, Roles

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert AXE.exists(), f"{AXE} is missing: run `npm install` in tests/browser (make venv does)"
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


@pytest.fixture
def as_user(browser, live_server, demo):
    roles = Roles(browser, live_server.url)
    yield roles
    roles.close()
