"""English and Simplified Chinese in Chromium on a phone: the language follows the browser, the switch
in the header (a POST form with its CSRF token, no script) changes it for an anonymous visitor and a
logged-in coordinator, <html lang> follows it, and axe-core finds no serious violation either way."""

import pytest
from browser_support import PHONE, check_page, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IXCELL = "NCT07197606"


def _switch_to(page, code: str) -> None:
    with page.expect_navigation():
        page.locator(f"form.lang-switch button[value='{code}']").click()


def test_an_anonymous_visitor_reads_the_trial_page_in_chinese_and_switches_to_english(browser, live_server, demo):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": PHONE[0], "height": PHONE[1]}, locale="zh-CN"
    )
    try:
        page = context.new_page()
        page.goto(f"/trials/{IXCELL}/")
        assert page.locator("html").get_attribute("lang") == "zh-Hans"
        text = page.locator("main").inner_text()
        assert "脐带间充质干细胞治疗亚急性期缺血性卒中的临床试验" in text and "入选标准" in text
        assert page.locator("form.lang-switch button[aria-pressed='true']").inner_text() == "简体中文"
        check_page(page, "trial-page-zh-phone")

        _switch_to(page, "en")
        assert page.url.endswith(f"/trials/{IXCELL}/")
        assert page.locator("html").get_attribute("lang") == "en"
        text = page.locator("main").inner_text()
        assert "Clinical Trial of Umbilical Cord Mesenchymal Stem Cells" in text and "Inclusion criteria" in text
        check_page(page, "trial-page-en-phone")

        # The choice outlives the page: the browser still asks for Chinese, the cookie says English.
        page.goto("/trials/")
        assert page.locator("html").get_attribute("lang") == "en"
    finally:
        context.close()


def test_a_coordinator_switches_the_staff_pages_to_chinese_and_back(browser, live_server, demo):
    page = login(browser, live_server.url, "coordinator", PHONE)
    try:
        assert page.locator("h1").inner_text() == "Site coordinator"
        _switch_to(page, "zh-hans")
        assert "/home/" in page.url
        assert page.locator("html").get_attribute("lang") == "zh-Hans"
        assert page.locator("h1").inner_text() == "中心协调员"
        assert "退出登录" in page.locator("header.topbar").inner_text()
        check_page(page, "home-coordinator-zh-phone")

        # The role's own link in the header (navigation.py) is translated and leads to the screening log.
        with page.expect_navigation():
            page.locator("nav.mainnav a", has_text="筛选").first.click()
        assert page.locator("html").get_attribute("lang") == "zh-Hans"
        assert "筛选日志" in page.locator("main").inner_text()
        check_page(page, "screening-log-zh-phone")

        _switch_to(page, "en")
        assert page.locator("html").get_attribute("lang") == "en"
        assert "Screening log" in page.locator("main").inner_text()
    finally:
        page.context.close()
