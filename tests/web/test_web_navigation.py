"""The top menu follows the page's trial; home lists that stop say so; IxCell reads by its acronym."""

from datetime import UTC, datetime

import pytest
from web_builders import participant, screening

from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import Role

pytestmark = pytest.mark.django_db

ASSIST, IXCELL = "NCT04590118", "NCT07197606"


def test_the_top_menu_follows_the_trial_of_the_page_not_the_session(client, trials, make_user):
    assist, ixcell = trials[ASSIST], trials[IXCELL]
    user = make_user(Role.COORDINATOR, assist, assist.sites.first(), username="two-trials")
    Membership.objects.create(user=user, trial=ixcell, site=ixcell.sites.first(), role=Role.MONITOR)
    client.force_login(user)
    client.get(f"/home/?trial={ASSIST}&role={Role.COORDINATOR}")  # the session now says ASSIST
    page = client.get(f"/capture/trials/{IXCELL}/participants/").content.decode()
    nav = page.split('<nav class="mainnav"')[1].split("</nav>")[0]
    assert "IxCell" in nav and f"/screening/{IXCELL}/" in nav and ASSIST not in nav
    assert "/capture/trials/NCT07197606/due/" not in nav  # the monitor's links, not the coordinator's
    home = client.get(f"/home/?trial={ASSIST}").content.decode()
    assert f"/screening/{ASSIST}/" in home.split('<nav class="mainnav"')[1].split("</nav>")[0]


def test_ixcell_pages_name_the_trial_once(client, trials, make_user):
    ixcell = trials[IXCELL]
    client.force_login(make_user(Role.COORDINATOR, ixcell, ixcell.sites.first()))
    page = client.get(f"/home/?trial={IXCELL}").content.decode()
    assert "IxCell · NCT07197606" in page and "NCT07197606 · NCT07197606" not in page


def test_a_home_list_that_stops_says_how_many_there_are(client, trials, make_user):
    ixcell = trials[IXCELL]
    site = ixcell.sites.order_by("code").first()
    author = make_user(Role.COORDINATOR, ixcell, site, username="busy")
    for n in range(18):
        screening(ixcell, site, author, f"IX-{n:03d}", verdict="incomplete")
        participant(ixcell, site, author, f"IX-P{n:03d}", enrolled=datetime(2025, 1, 1 + n, tzinfo=UTC))
    client.force_login(author)
    page = client.get(f"/home/?trial={IXCELL}").content.decode()
    pipeline = page.split('id="panel-screening"')[1].split("</section>")[0]
    assert pipeline.count("<li>") == 15 and "Showing 15 of 18." in pipeline
    assert f'href="/screening/{IXCELL}/">See all 18' in pipeline
    people = page.split('id="panel-participants"')[1].split("</section>")[0]
    assert "Showing 15 of 18." in people and f'href="/capture/trials/{IXCELL}/participants/">See all 18' in people
