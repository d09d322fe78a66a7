"""Keyboard use in Chromium: the skip link, the focus ring's contrast, and a trial/role switcher that
changes only when its button is pressed (WCAG 2.2: 2.4.1 Bypass Blocks, 2.4.7 Focus Visible with
1.4.11 Non-text Contrast, 3.2.2 On Input)."""

from __future__ import annotations

import re

import pytest
from browser_support import check_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IXCELL, ASSIST = "NCT07197606", "NCT04590118"


def relative_luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour (0-255 channels)."""

    def linear(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a, b) -> float:
    """WCAG 2.x contrast ratio (L1 + 0.05) / (L2 + 0.05), the lighter over the darker."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_the_contrast_formula_matches_published_values():
    # WCAG's own end points, and WebAIM's contrast checker for #767676 on white (4.54:1) and the
    # 3:1 boundary colour #949494 on white (3.03:1).
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((255, 255, 255), (255, 255, 255)) == pytest.approx(1.0)
    assert contrast_ratio((0x76, 0x76, 0x76), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio((0x94, 0x94, 0x94), (255, 255, 255)) == pytest.approx(3.03, abs=0.01)


# The focused element's outline, and the colour it is drawn on: the backgrounds of its ancestors
# (the outline sits outside the element), composited from the page up while they are translucent.
FOCUS_RING_JS = """() => {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const layers = [];
  for (let a = el.parentElement; a; a = a.parentElement) {
    const bg = parse(getComputedStyle(a).backgroundColor);
    if (bg && bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
  }
  let base = [255, 255, 255];
  for (const [r, g, b, alpha] of layers.reverse()) {
    base = [r * alpha + base[0] * (1 - alpha), g * alpha + base[1] * (1 - alpha), b * alpha + base[2] * (1 - alpha)];
  }
  return {tag: el.tagName.toLowerCase(), text: (el.innerText || el.value || '').trim().slice(0, 40),
          outlineStyle: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth), outline: parse(s.outlineColor),
          background: base, focusVisible: el.matches(':focus-visible')};
}"""


def _tab_to(page, predicate_js: str, limit: int = 60):
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return {predicate_js}; }}"):
            return
    raise AssertionError(f"no element matching {predicate_js} reached with Tab")


def _assert_ring(page, where: str) -> dict:
    ring = page.evaluate(FOCUS_RING_JS)
    assert ring["focusVisible"] and ring["outlineStyle"] != "none" and ring["outlineWidth"] >= 2, (where, ring)
    ratio = contrast_ratio(ring["outline"][:3], ring["background"])
    assert ratio >= 3.0, f"{where}: focus ring {ring['outline']} on {ring['background']}: {ratio:.2f}:1 < 3:1 ({ring})"
    return ring


def test_the_skip_link_is_first_visible_on_focus_and_moves_to_the_main_content(as_user):
    page = as_user("coordinator")
    page.goto(f"/home/?trial={IXCELL}")
    page.keyboard.press("Tab")
    skip = page.evaluate("""() => { const el = document.activeElement; const r = el.getBoundingClientRect();
        return {cls: el.className, text: el.innerText, href: el.getAttribute('href'), top: r.top, bottom: r.bottom}; }""")
    assert skip["cls"] == "skip-link" and skip["text"] == "Skip to main content" and skip["href"] == "#main"
    assert skip["top"] >= 0 and skip["bottom"] > skip["top"], skip  # on screen while focused
    _assert_ring(page, "skip link")
    check_page(page, "keyboard-skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main" and page.url.endswith("#main")
    # The next Tab lands inside the main content, past the top bar.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.querySelector('main').contains(document.activeElement)")


def test_the_focus_ring_has_3_to_1_contrast_on_links_buttons_fields_and_the_top_bar(as_user):
    page = as_user("coordinator")
    page.goto(f"/home/?trial={IXCELL}")
    page.keyboard.press("Tab")  # the skip link
    _tab_to(page, "el.closest('header.topbar') && el.tagName === 'A'")
    _assert_ring(page, "top bar link")
    _tab_to(page, "document.querySelector('main').contains(el) && el.tagName === 'SELECT'")
    _assert_ring(page, "switcher select")
    _tab_to(page, "document.querySelector('main').contains(el) && el.tagName === 'BUTTON'")
    _assert_ring(page, "switcher button")
    _tab_to(page, "document.querySelector('main').contains(el) && el.tagName === 'A'")
    _assert_ring(page, "link in the main content")
    check_page(page, "keyboard-focus-ring")
    page.goto(f"/capture/trials/{IXCELL}/participants/")
    page.keyboard.press("Tab")
    _tab_to(page, "document.querySelector('main').contains(el) && el.tagName === 'A' && !!el.closest('.card, table')")
    _assert_ring(page, "link in a card or table")


def test_the_trial_switcher_changes_only_when_its_button_is_pressed(as_user):
    page = as_user("coordinator")
    page.goto(f"/home/?trial={IXCELL}")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    start = page.url
    switch = page.locator("#trial-switch")
    options = switch.locator("option").evaluate_all("(os) => os.map((o) => o.value)")
    assert set(options) == {IXCELL, ASSIST}
    switch.focus()
    seen = []
    # Arrow keys move the choice (and fire "change" in Chromium); last, the key that lands on ASSIST.
    for key in ("ArrowDown", "ArrowUp", "End", "Home", "Home" if options[0] == ASSIST else "End"):
        page.keyboard.press(key)
        seen.append(switch.input_value())
    page.wait_for_timeout(700)
    assert navigations == [] and page.url == start, navigations
    assert set(seen) == {IXCELL, ASSIST}, seen  # the keys did change the choice
    assert switch.input_value() == ASSIST  # chosen, and nothing was submitted
    if page.locator("#role-switch").count():
        page.locator("#role-switch").focus()
        page.keyboard.press("ArrowDown")
        page.wait_for_timeout(300)
        assert navigations == []
    # The explicit step: the button (Enter on it, as a keyboard user does).
    page.locator(".switcher button").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/home/\?trial={ASSIST}"))
    assert ASSIST in page.locator(".eyebrow").inner_text()
    check_page(page, "keyboard-switched-trial")
