"""Role homes at /home/: one per role, what to do next, the trial and role switcher, and blinding."""

from datetime import UTC, datetime

import pytest
from auth_support import login_verified
from web_builders import participant, screening

from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import Role

pytestmark = pytest.mark.django_db

ASSIST, IXCELL = "NCT04590118", "NCT07197606"
HOME_TITLES = {
    Role.COORDINATOR: "Site coordinator",
    Role.INVESTIGATOR: "Investigator",
    Role.BLINDED_ASSESSOR: "Blinded outcome assessor",
    Role.UNBLINDED_PHARMACIST: "Unblinded pharmacist",
    Role.MONITOR: "Monitor",
    Role.DATA_MANAGER: "Data manager",
    Role.SPONSOR_ADMIN: "Sponsor",
    Role.DSMB_STATISTICIAN: "DSMB statistician",
}


@pytest.fixture
def site_data(trials, make_user):
    """IxCell: two sites, screenings at every stage, participants enrolled over three months."""
    trial = trials[IXCELL]
    first, second = list(trial.sites.order_by("code"))[:2]
    author = make_user(Role.COORDINATOR, trial, first, username="author")
    screening(trial, first, author, "IX-001", verdict="eligible")
    screening(trial, first, author, "IX-002", verdict="incomplete")
    screening(trial, second, author, "IX-003", verdict="incomplete")
    screening(
        trial,
        first,
        author,
        "IX-004",
        outcome="screen_failed",
        verdict="ineligible",
        fail_reasons=["inc-nihss", "inc-age"],
    )
    screening(
        trial,
        second,
        author,
        "IX-005",
        outcome="screen_failed",
        verdict="ineligible",
        fail_reasons=[{"criterion_id": "inc-nihss"}],
    )
    participant(trial, first, author, "IX-P001", enrolled=datetime(2025, 1, 10, tzinfo=UTC))
    participant(trial, first, author, "IX-P002", enrolled=datetime(2025, 2, 11, tzinfo=UTC))
    participant(trial, second, author, "IX-P003", enrolled=datetime(2025, 3, 12, tzinfo=UTC))
    participant(trial, first, author, "IX-P004", randomized=False)
    return {"trial": trial, "first": first, "second": second}


def login(client, make_user, role, trial, site=None, username=None):
    user = make_user(role, trial, site, username=username)
    login_verified(client, user)
    return user


@pytest.mark.parametrize("role", list(HOME_TITLES))
def test_every_role_has_its_own_home(client, make_user, site_data, role):
    site = (
        site_data["first"]
        if role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.BLINDED_ASSESSOR, Role.UNBLINDED_PHARMACIST)
        else None
    )
    login(client, make_user, role, site_data["trial"], site)
    response = client.get("/home/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"<h1>{HOME_TITLES[role]}</h1>" in html
    assert 'class="card panel' in html


def test_coordinator_sees_the_next_step_of_each_screening_at_their_site_only(client, make_user, site_data):
    login(client, make_user, Role.COORDINATOR, site_data["trial"], site_data["first"])
    html = client.get("/home/").content.decode()
    assert "IX-001" in html and "eligible: record consent" in html
    assert "IX-002" in html and "facts missing: continue screening" in html
    assert "IX-003" not in html  # the other site's screening
    # the enrolled, not yet randomized participant waits for randomization
    awaiting = html.split('id="panel-randomize"')[1].split("</section>")[0]
    assert "IX-P004" in awaiting and "IX-P001" not in awaiting


def test_sponsor_sees_enrollment_by_site_over_time_and_screen_fail_reasons(client, make_user, site_data):
    login(client, make_user, Role.SPONSOR_ADMIN, site_data["trial"])
    html = client.get("/home/").content.decode()
    enrollment = html.split('id="panel-enrollment"')[1].split("</section>")[0]
    assert "<svg" in enrollment
    first, second = site_data["first"].code, site_data["second"].code
    assert f"{first} (3)" in enrollment and f"{second} (1)" in enrollment  # the chart's legend
    reasons = html.split('id="panel-fail-reasons"')[1].split("</section>")[0]
    # inc-nihss is cited by both failures, inc-age by one; the criterion's registry text is shown
    assert reasons.index("inc-nihss") < reasons.index("inc-age")
    nihss_text = next(c.text for c in site_data["trial"].protocol.eligibility.criteria if c.id == "inc-nihss")
    assert nihss_text[:40] in reasons
    assert "2 screen failures" in reasons


def test_sponsor_enrollment_counts_are_cumulative_by_month(site_data, make_user):
    from datetime import date

    from trialkit.server.accounts.access import access_for
    from trialkit.server.web.homes import HomeContext, enrollment_by_site

    user = make_user(Role.SPONSOR_ADMIN, site_data["trial"])
    ctx = HomeContext(
        site_data["trial"],
        user,
        access_for(user, site_data["trial"]),
        Role.SPONSOR_ADMIN,
        date(2025, 4, 15),
        datetime(2025, 4, 15, 12, tzinfo=UTC),
    )
    result = enrollment_by_site(ctx)
    assert [m.isoformat() for m in result["months"]] == ["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01"]
    by_code = {s["code"]: s["counts"] for s in result["sites"]}
    # IX-P004 enrolled on 2 March at the first site (not randomized, still enrolled)
    assert by_code[site_data["first"].code] == [1, 2, 3, 3]
    assert by_code[site_data["second"].code] == [0, 0, 1, 1]


def test_blinded_assessor_home_shows_no_arm(client, make_user, site_data):
    login(client, make_user, Role.BLINDED_ASSESSOR, site_data["trial"], site_data["first"])
    html = client.get("/home/").content.decode()
    assert "IX-P001" in html
    for arm in site_data["trial"].protocol.arms:
        assert arm.label not in html
        assert f">{arm.id}<" not in html


def test_a_user_in_two_trials_switches_between_them(client, make_user, trials):
    user = login(client, make_user, Role.MONITOR, trials[ASSIST], username="twotrials")
    Membership.objects.create(user=user, trial=trials[IXCELL], role=Role.MONITOR)
    html = client.get("/home/").content.decode()
    assert 'id="trial-switch"' in html and "ASSIST" in html
    switched = client.get("/home/", {"trial": IXCELL}).content.decode()
    assert f"{IXCELL} · all sites" in switched
    # the choice is remembered
    assert f"{IXCELL} · all sites" in client.get("/home/").content.decode()


def test_a_user_with_two_roles_in_one_trial_switches_role(client, make_user, site_data):
    user = login(client, make_user, Role.MONITOR, site_data["trial"], username="tworoles")
    Membership.objects.create(user=user, trial=site_data["trial"], role=Role.DATA_MANAGER)
    html = client.get("/home/").content.decode()
    assert 'id="role-switch"' in html and "<h1>Monitor</h1>" in html
    assert "<h1>Data manager</h1>" in client.get("/home/", {"role": Role.DATA_MANAGER}).content.decode()
    # a role the user does not hold falls back to one they do
    assert "<h1>Monitor</h1>" in client.get("/home/", {"role": Role.DSMB_STATISTICIAN}).content.decode()


def test_a_user_without_a_role_is_told_so(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x"))
    assert "You hold no role in any trial yet" in client.get("/home/").content.decode()


def test_home_needs_login(client):
    response = client.get("/home/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_data_manager_home_flags_data_quality_and_offers_exports(client, make_user, site_data):
    from trialkit.server.participants.models import Participant

    Participant.objects.filter(participant_number="IX-P002").update(anchor_date=None)
    login(client, make_user, Role.DATA_MANAGER, site_data["trial"])
    html = client.get("/home/").content.decode()
    quality = html.split('id="panel-quality"')[1].split("</section>")[0]
    assert "IX-P002" in quality and "infusion (day 0) not recorded" in quality
    assert "stale screening" in quality  # screened on 1 March 2025, long ago
    assert 'id="panel-exports"' in html and "ODM 1.3.2" in html


def test_the_landing_page_is_the_home_or_the_login_or_the_finder(client, make_user, trials, settings):
    settings.TRIALKIT_DEMO = False
    assert client.get("/")["Location"] == "/trials/"
    settings.TRIALKIT_DEMO = True
    assert client.get("/")["Location"] == "/accounts/login/"
    client.force_login(make_user(Role.MONITOR, trials[ASSIST]))
    assert client.get("/")["Location"] == "/home/"


def test_home_lists_break_ties_by_participant_not_by_storage_order(client, make_user, site_data):
    """Visits sharing a deadline are listed by participant number, not in the order the database
    happens to return them: on PostgreSQL that order follows row updates, which follow the arms,
    and a blinded home that reorders with the arms leaks them (found by the two-worlds crawl)."""
    from datetime import date

    from trialkit.server.capture.models import Visit

    trial, site = site_data["trial"], site_data["first"]
    author = make_user(Role.COORDINATOR, trial, site, username="tie-author")
    # stored last-first: row ids and storage order run against the participant numbers
    people = [participant(trial, site, author, f"IX-T{n:03d}") for n in (3, 2, 1)]
    for person in people:
        Visit.objects.create(
            participant=person,
            visit_id="day-30",
            label="Day 30",
            kind="follow_up",
            day=30,
            order=3,
            target=date(2025, 4, 1),
            earliest=date(2025, 3, 25),
            latest=date(2025, 4, 8),
            forms=["mrs"],
            done_on=date(2025, 4, 1),
        )  # held, form missing: overdue
    login(client, make_user, Role.COORDINATOR, trial, site)
    html = client.get("/home/").content.decode()
    positions = [html.index(f"IX-T{n:03d} · Day 30") for n in (1, 2, 3)]
    assert positions == sorted(positions)
