"""Every demo user's home, in the browser, with real content from the demo data; screenshots of each."""

import pytest
from browser_support import check_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# demo user -> (home heading, a panel that must hold at least one item from the demo data)
HOMES = {
    "coordinator": ("Site coordinator", "screening"),
    "investigator": ("Investigator", "unblinding"),
    "pharmacist": ("Unblinded pharmacist", "labels"),
    "assessor": ("Blinded outcome assessor", "participants"),
    "monitor": ("Monitor", "sites"),
    "datamanager": ("Data manager", "activity"),
    "sponsor": ("Sponsor", "fail-reasons"),
    "dsmb": ("DSMB statistician", "safety"),
}


def test_every_role_home_shows_demo_content(as_user, demo):
    from trialkit.server.trials.models import Trial

    arm_labels = [arm.label for trial in Trial.objects.all() for arm in trial.protocol.arms]
    for username, (heading, panel) in HOMES.items():
        page = as_user(username)
        page.goto("/home/")
        assert page.locator("h1").inner_text() == heading
        body = page.locator(f"#panel-{panel}")
        assert body.count() == 1, f"{username}: no panel {panel}"
        assert body.locator(".empty").count() == 0, f"{username}: panel {panel} is empty"
        if username == "assessor":
            text = page.content()
            assert not [label for label in arm_labels if label in text]
        check_page(page, f"home-{username}")


def test_the_demo_opens_on_a_login_page_listing_the_demo_users(browser, live_server, demo, settings):
    settings.TRIALKIT_DEMO = True
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        page.goto("/")
        page.wait_for_url("**/accounts/login/**")
        listed = page.locator("#demo-users").inner_text()
        for username in HOMES:
            assert username in listed
        check_page(page, "login")
    finally:
        context.close()
