"""Capture loads a visit, an adverse event or a query the way ``accounts.lookups`` does for every
row of a participant: 404 when there is no such row (of that participant), then the participant's
checks (403 for a site the user is not assigned to, or a permission the table does not give there).

Before the lookup layer's ``visit_for`` the visit pages asked the participant first and answered
403 for any visit code of another site's participant, real or not; the AE pages did the same for any
AE number. Now every page of a participant's row answers in one order, and a refused request
writes nothing.
"""

import json

import pytest
import time_machine
from auth_support import api_token
from capture_cases import NOW

from trialkit.server.accounts.lookups import visit_for
from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import AdverseEvent, Query, Visit
from trialkit.server.capture.services import ensure_schedule, open_query, save_adverse_event, save_form

pytestmark = pytest.mark.django_db

MILD = {"onset_date": "2026-06-14", "ctcae_grade": 1, "serious": False}

VISIT_PAGES = [
    ("post", "/capture/participants/{p}/visits/{v}/date/", {"done_on": "2026-06-01"}),
    ("post", "/capture/participants/{p}/visits/{v}/carried-review/", {"confirm": "yes"}),
    ("post", "/capture/participants/{p}/visits/{v}/sign/", {"password": "pw-for-tests"}),
    ("get", "/capture/participants/{p}/visits/{v}/forms/mrs/", None),
    ("get", "/capture/participants/{p}/visits/{v}/review/", None),
]


@pytest.fixture
def elsewhere(make_participant, other_site):
    """A participant of the site the staff of ``staff`` are not assigned to (site roles)."""
    p = make_participant(at_site=other_site)
    ensure_schedule(p)
    return p


def _status(client, method, url, data):
    return (client.post(url, data) if method == "post" else client.get(url)).status_code


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("method,url,data", VISIT_PAGES)
def test_a_visit_page_answers_404_for_no_such_visit_then_the_participants_checks(
    client, participant, elsewhere, staff, method, url, data
):
    client.force_login(staff["investigator"])
    events = AuditEvent.objects.count()
    # No such visit, of a participant here or at another site, or no such participant: 404 alike.
    for p, v in ((participant.pk, "day999"), (elsewhere.pk, "day999"), (10**9, "month3")):
        assert _status(client, method, url.format(p=p, v=v), data) == 404, (url, p, v)
    # A real visit of another site's participant: 403, and nothing is written.
    assert _status(client, method, url.format(p=elsewhere.pk, v="month3"), data) == 403
    assert Visit.objects.get(participant=elsewhere, visit_id="month3").done_on is None
    assert AuditEvent.objects.count() == events


@time_machine.travel(NOW, tick=False)
def test_the_visit_review_asks_the_oversight_permission_at_the_participants_site(client, participant, staff):
    # The pharmacist sees participants at the site but holds no capture.oversight (the table): 403.
    client.force_login(staff["pharmacist"])
    assert client.get(f"/capture/participants/{participant.pk}/visits/month3/review/").status_code == 403
    assert client.get(f"/capture/participants/{participant.pk}/visits/day999/review/").status_code == 404
    client.force_login(staff["monitor"])
    assert client.get(f"/capture/participants/{participant.pk}/visits/month3/review/").status_code == 200


@time_machine.travel(NOW, tick=False)
def test_the_carried_review_api_answers_like_the_page(client, participant, elsewhere, staff):
    def post(p, v):
        return client.post(
            f"/api/capture/participants/{p}/visits/{v}/carried-review",
            data=json.dumps({"confirm": True}),
            content_type="application/json",
            **api_token(staff["coordinator"]),
        )

    assert post(elsewhere.pk, "day999").status_code == 404
    assert post(elsewhere.pk, "month3").status_code == 403
    missing = post(participant.pk, "day999")
    assert missing.status_code == 404 and "error" in missing.json()


def test_visit_for_returns_the_checked_participant_with_the_visit(participant, elsewhere, staff):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    visit, p, access = visit_for(staff["coordinator"], participant.pk, "month3")
    assert visit.participant is p and p.pk == participant.pk and access.covers_site(participant.site_id)
    with pytest.raises(PermissionDenied):
        visit_for(staff["coordinator"], participant.pk, "month3", "capture.sign_form")
    with pytest.raises(PermissionDenied):
        visit_for(staff["coordinator"], elsewhere.pk, "month3")
    with pytest.raises(Http404):
        visit_for(staff["coordinator"], elsewhere.pk, "no-such-visit")


@time_machine.travel(NOW, tick=False)
def test_an_adverse_event_is_found_only_under_its_own_participant(client, participant, elsewhere, staff, make_user):
    ae = save_adverse_event(participant, dict(MILD, term="Headache"), staff["coordinator"], complete=False, now=NOW)
    theirs = save_adverse_event(
        elsewhere,
        dict(MILD, term="Nausea"),
        make_user("coordinator", participant.trial, elsewhere.site),
        complete=False,
        now=NOW,
    )
    client.force_login(staff["investigator"])
    assert client.get(f"/capture/participants/{participant.pk}/adverse-events/{ae.pk}/").status_code == 200
    # An AE under another participant's address is not that participant's: 404 (of either site).
    assert client.get(f"/capture/participants/{participant.pk}/adverse-events/{theirs.pk}/").status_code == 404
    assert client.get(f"/capture/participants/{elsewhere.pk}/adverse-events/{ae.pk}/").status_code == 404
    # The other site's AE at its own address: 403, and a follow-up posted there is not recorded.
    assert client.get(f"/capture/participants/{elsewhere.pk}/adverse-events/{theirs.pk}/").status_code == 403
    url = f"/capture/participants/{elsewhere.pk}/adverse-events/{theirs.pk}/follow-up/"
    assert client.post(url, {"note": "called", "outcome": "recovering"}).status_code == 403
    assert not AdverseEvent.objects.get(pk=theirs.pk).follow_ups.exists()


@time_machine.travel(NOW, tick=False)
def test_a_query_action_checks_the_querys_participant_before_the_verb(client, participant, elsewhere, staff, make_user):
    form = save_form(
        elsewhere,
        "month3",
        "mrs",
        {"score": 2},
        make_user("coordinator", participant.trial, elsewhere.site),
        complete=True,
        now=NOW,
    )
    query = open_query(form, "score", "Source says 3?", staff["monitor"], now=NOW)
    client.force_login(staff["coordinator"])
    for verb in ("answer", "close", "no-such-verb"):
        assert client.post(f"/capture/queries/{query.pk}/{verb}/", {"text": "3"}).status_code == 403, verb
    assert client.post(f"/capture/queries/{10**9}/answer/", {"text": "3"}).status_code == 404
    assert Query.objects.get(pk=query.pk).status == Query.Status.OPEN


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("revoke", ["abc", "1.5", "٣", "9" * 40])
def test_withdrawing_a_diary_code_by_a_number_that_is_not_one_is_not_found(client, participant, staff, revoke):
    client.raise_request_exception = False
    client.force_login(staff["coordinator"])
    url = f"/capture/participants/{participant.pk}/diary-access/"
    assert client.post(url, {"revoke": revoke}).status_code == 404
