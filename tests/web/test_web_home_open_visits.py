"""The homes' open visits, told from plain values in one pass over a site's visits, are exactly the
visits whose own status (``Visit.status``) is open, in the home's order; the assessments due are
those of them with an outcome scale not complete."""

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from web_builders import participant

from trialkit.instruments import OUTCOME_INSTRUMENTS, instrument_name
from trialkit.schedule import OPEN_STATUSES, VisitStatus
from trialkit.server.accounts.access import access_for
from trialkit.server.accounts.roles import Role
from trialkit.server.capture.models import FormRecord, Visit
from trialkit.server.capture.services import ensure_schedule
from trialkit.server.web.capture_panels import _open_visits
from trialkit.server.web.homes import HOME_LIST_LIMIT, HomeContext

pytestmark = pytest.mark.django_db

IXCELL = "NCT07197606"
TODAY = date(2025, 9, 1)


def _form(visit, instrument, user, *, status, deleted=False, repeat=1):
    at = datetime(2025, 8, 1, 9, tzinfo=UTC)
    return FormRecord.objects.create(
        participant=visit.participant,
        visit=visit,
        instrument=instrument,
        repeat=repeat,
        data={},
        status=status,
        created_by=user,
        created_at=at,
        updated_by=user,
        updated_at=at,
        deleted_at=at if deleted else None,
        delete_reason="entered in error" if deleted else "",
    )


def _world(trial, site, user, seed: int) -> None:
    """Participants day 0 over the past year, each visit whose window has opened held (in or out of
    window, by today) or not, with
    every required form complete, one missing, a draft, a deleted record, a repeat, carried screening
    forms reviewed or not, and forms lists the protocol no longer has."""
    rng = random.Random(seed)
    for n in range(10):
        start = datetime(2024, 9, 1, 9, tzinfo=UTC) + timedelta(days=rng.randint(0, 360))
        p = participant(trial, site, user, f"IX-Q{seed}{n:03d}", enrolled=start)
        for visit in ensure_schedule(p):
            choice = rng.random()
            if choice < 0.2 or visit.earliest > TODAY:
                continue  # not held (yet)
            visit.done_on = (
                visit.earliest + timedelta(days=rng.randint(0, (min(visit.latest, TODAY) - visit.earliest).days))
                if choice < 0.9 or visit.latest >= TODAY
                else visit.latest + timedelta(days=1)  # out of window
            )
            if rng.random() < 0.1:
                visit.forms = [*visit.forms, "mmse"] if "mmse" not in visit.forms else visit.forms[:-1]
            if rng.random() < 0.15:
                visit.carried_from = f"S-{p.participant_number}"
                if rng.random() < 0.5:
                    visit.carried_reviewed_by = user
                    visit.carried_reviewed_at = datetime(2025, 8, 2, tzinfo=UTC)
            visit.save()
            names = sorted({instrument_name(f) for f in visit.forms})
            missing = rng.choice([None, None, *names]) if names else None
            for name in names:
                if name == missing:
                    kind = rng.choice(["absent", "draft", "deleted"])
                    if kind != "absent":
                        _form(
                            visit,
                            name,
                            user,
                            status="draft" if kind == "draft" else "complete",
                            deleted=kind == "deleted",
                        )
                    continue
                _form(visit, name, user, status="complete")
                if rng.random() < 0.1:
                    _form(visit, name, user, status="draft", repeat=2)


def _by_each_visit(ctx) -> list[tuple[int, str]]:
    """Every visit at the home's sites, its status asked of the visit itself, the open ones in the
    home's order."""
    visits = ctx.at_my_sites(Visit.objects.filter(participant__trial=ctx.trial), "participant__site_id")
    rows = [
        (v, v.status(ctx.today))
        for v in visits.select_related("participant").order_by("latest", "participant__participant_number", "order")
    ]
    return [(v.pk, s) for v, s in rows if s in OPEN_STATUSES]


@pytest.mark.parametrize("seed", [1, 2])
def test_open_visits_are_those_each_visits_status_calls_open(trials, make_user, seed):
    trial = trials[IXCELL]
    site = trial.sites.order_by("code").first()
    user = make_user(Role.COORDINATOR, trial, site, username=f"coordinator{seed}")
    _world(trial, site, user, seed)
    ctx = HomeContext(
        trial, user, access_for(user, trial), Role.COORDINATOR, TODAY, datetime(2025, 9, 1, 9, tzinfo=UTC)
    )

    expected = _by_each_visit(ctx)
    found = _open_visits(ctx)
    assert found.rows == expected
    statuses = {s for _, s in expected}
    assert {VisitStatus.OVERDUE, VisitStatus.INCOMPLETE} & statuses, "a held visit lacks a form"
    scales = {}
    for pk, _status in expected:
        visit = Visit.objects.get(pk=pk)
        done = set(
            visit.form_records.filter(status="complete", deleted_at__isnull=True).values_list("instrument", flat=True)
        )
        if missing := [f for f in visit.forms if f in OUTCOME_INSTRUMENTS and f not in done]:
            scales[pk] = missing
    assert found.scales_due == scales and list(found.scales_due) == [pk for pk, _ in expected if pk in scales]
    # The visits the panels show are loaded, and only those.
    shown = {pk for pk, _ in expected[:HOME_LIST_LIMIT]} | set(list(scales)[:HOME_LIST_LIMIT])
    assert set(found.shown) == shown
