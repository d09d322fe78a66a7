"""Shared pieces of the browser tests: where Chromium is, the one login helper, and the checks made
on every page (no sideways overflow, no serious or critical axe-core violation, a screenshot)."""

from __future__ import annotations

import json
import re
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
PASSWORD = "trialkit-demo"
# axe-core from the npm registry (tests/browser/package.json; `make venv` runs npm install).
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
# An NIHSS of 8 scored item by item, within IxCell's item rules (total 6–20, a limb item 2–4, 1a below 2), for
# the walks that screen a person.
NIHSS_8 = {
    "1a": "0",
    "1b": "0",
    "1c": "0",
    "2": "0",
    "3": "0",
    "4": "2",
    "5a": "2",
    "5b": "0",
    "6a": "2",
    "6b": "0",
    "7": "0",
    "8": "0",
    "9": "1",
    "10": "1",
    "11": "0",
}
DESKTOP = (1280, 860)
PHONE = (390, 844)


def login(browser, base_url: str, username: str, viewport=DESKTOP, password: str = PASSWORD, locale: str | None = None):
    """A new browser context logged in as ``username``; returns its page (on the user's home).
    The one place the tests log in: a second factor, when there is one, is added here. ``locale``
    is the browser's language (its Accept-Language), e.g. "zh-CN"; Chromium's own when None."""
    options = {"locale": locale} if locale else {}
    context = browser.new_context(base_url=base_url, viewport={"width": viewport[0], "height": viewport[1]}, **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/(home|accounts/two-factor)/"))
    if "/accounts/two-factor/" in page.url:
        # The DSMB and staff log in with a second factor: their authenticator's current code.
        page.fill("#id_token", current_code(username))
        page.click("button[type=submit]")
        page.wait_for_url("**/home/**")
    return page


class Roles:
    """A logged-in page per demo user, opened on first use, all at one viewport (and browser language)."""

    def __init__(self, browser, base_url: str, viewport=DESKTOP, locale: str | None = None):
        self.browser, self.base_url, self.viewport, self.pages = browser, base_url, viewport, {}
        self.locale = locale

    def __call__(self, username: str):
        if username not in self.pages:
            self.pages[username] = login(self.browser, self.base_url, username, self.viewport, locale=self.locale)
        return self.pages[username]

    def close(self):
        for page in self.pages.values():
            page.context.close()


def current_code(username: str) -> str:
    """The current code of ``username``'s authenticator (the demo's, or one made for the test)."""
    from auth_support import otp_code
    from django.contrib.auth import get_user_model

    return otp_code(get_user_model().objects.get(username=username))


def screenshot(page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# Elements sticking out past the right edge of the viewport, unless a scrolling (or clipping)
# container of theirs keeps them inside it: a wide table may scroll in its box, the page may not.
OVERFLOW_JS = """() => {
  const vw = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if ((ox === 'auto' || ox === 'scroll' || ox === 'hidden' || ox === 'clip')
          && a.getBoundingClientRect().right <= vw + 1) return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.right > vw + 1 && !clipped(el)) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${String(el.className).split(' ').join('.')} right=${Math.round(r.right)}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, viewport: vw, wide: out.slice(0, 8)};
}"""

AXE_JS = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').split('\\n').slice(1, 2).join(''))
  }));
}"""


def htmx_done(page, selector: str) -> None:
    """Wait until the htmx requests of the element at ``selector`` are done: the one in flight and the
    one queued behind it. htmx marks the element with ``htmx-request`` while a request runs, and starts
    the queued one in the same task as it ends the last, so the mark is never off in between. (Playwright's
    ``wait_for_load_state("networkidle")`` returns at once on a page that reached it when it loaded.)"""
    page.wait_for_function("s => !document.querySelector(s).classList.contains('htmx-request')", arg=selector)


def check_page(page, name: str) -> None:
    """Every page of the walk: a screenshot, no horizontal overflow, no serious or critical axe violation."""
    page.wait_for_load_state("networkidle")
    # Whole pages on the desktop; the phone's first screen (its long pages are slow to capture whole).
    screenshot(page, name, full_page=page.viewport_size["width"] > 600)
    overflow = page.evaluate(OVERFLOW_JS)
    assert overflow["scrollWidth"] <= overflow["viewport"] and not overflow["wide"], (
        f"{name}: the page overflows sideways: {overflow}"
    )
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which the page's Content-Security-Policy (no
        # inline script) does not govern; a <script> tag would be refused, as it should be.
        page.evaluate(AXE.read_text(encoding="utf-8"))
    violations = page.evaluate(AXE_JS)
    assert not violations, f"{name}: axe-core violations:\n" + json.dumps(violations, indent=1)
