"""Pages stay flat as the trial grows: every role's home, every list page and every API list endpoint
runs the same number of SQL queries in a small world and in the same world grown about four-fold.

The world is the demo (both trials, every role, participants at every stage with forms, queries,
adverse events and diaries), built once for the module; it is measured, grown by copying each
trial's participants with everything recorded for them, and measured again. The list pages and
API lists are read from the URL conf and the OpenAPI schema, so a list added later is measured
without editing this file: a GET route whose only parameter is the trial (web) or whose answer is a
page of items (API) is a list.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from auth_support import login_verified
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

pytestmark = [pytest.mark.django_db]

TODAY = date.today()
MEASURED_TRIAL = "NCT04590118"  # ASSIST; IxCell's pages are the same code
ROLES = ("coordinator", "investigator", "assessor", "pharmacist", "monitor", "datamanager", "sponsor", "dsmb")
# Web lists that take the trial only, measured for every demo user who may open them.
NOT_LISTS = {
    "/exports/<nct_id>/start/",  # POST only
    "/screening/<nct_id>/new/",  # POST only
    "/reports/<nct_id>/start/",  # POST only
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue
        piece = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + piece)
        elif isinstance(entry, URLPattern):
            yield prefix + piece


def web_lists() -> list[str]:
    """GET pages whose only parameter is the trial: its lists and overviews."""
    out = []
    for route in _walk(get_resolver().url_patterns, "/"):
        if route.startswith(("/api/", "/admin/")) or route in NOT_LISTS:
            continue
        params = re.findall(r"<(?:\w+:)?(\w+)>", route)
        if params == ["nct_id"]:
            out.append(route.replace("<str:nct_id>", "<nct_id>"))
    return sorted(set(out))


def _answer_schema(schema, op) -> dict:
    ok = op["responses"].get(200) or op["responses"].get("200") or {}
    body = ok.get("content", {}).get("application/json", {}).get("schema", {})
    ref = body.get("$ref", "")
    return schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}) if ref else body


def api_lists(schema) -> dict[str, str]:
    """GET operations answering many things: path -> "page" (``items`` and ``count``) or "array"."""
    out = {}
    for path, methods in schema["paths"].items():
        op = methods.get("get")
        if not op:
            continue
        body = _answer_schema(schema, op)
        if {"items", "count"} <= set(body.get("properties", {})):
            out[path] = "page"
        elif body.get("type") == "array":
            out[path] = "array"
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------- growing the world


def _copy(obj, **change):
    obj.pk = None
    obj.id = None
    obj._state.adding = True
    for key, value in change.items():
        setattr(obj, key, value)
    obj.save(force_insert=True)
    return obj


def grow(copies: int) -> None:
    """Copy every participant of each trial ``copies`` times, with their screening record, consents,
    visits, forms, queries, adverse events and diary entries (fresh numbers, the same dates)."""
    from trialkit.server.capture.models import AdverseEvent, DiaryEntry, FormRecord, Query, Visit
    from trialkit.server.participants.models import Consent, Participant

    originals = list(Participant.objects.select_related("screening").order_by("pk"))
    for k in range(1, copies + 1):
        for p in originals:
            p = Participant.objects.select_related("screening").get(pk=p.pk)
            screening = p.screening
            old_screening_pk = screening.pk
            screening = _copy(screening, screening_number=f"{screening.screening_number}-C{k}")
            for consent in Consent.objects.filter(screening_id=old_screening_pk):
                _copy(consent, screening=screening)
            old_pk = p.pk
            rn = f"{p.randomization_number}C{k}" if p.randomization_number else ""
            kit = f"{p.kit_number}C{k}" if p.kit_number else ""
            p = _copy(p, participant_number=f"{p.participant_number}-C{k}", screening=screening)
            Participant.objects.filter(pk=p.pk).update(randomization_number=rn, kit_number=kit)
            forms = {}
            for visit in Visit.objects.filter(participant_id=old_pk):
                old_visit = visit.pk
                visit = _copy(visit, participant=p)
                for form in FormRecord.objects.filter(visit_id=old_visit):
                    old_form = form.pk
                    forms[old_form] = _copy(form, participant=p, visit=visit)
            for q in Query.objects.filter(participant_id=old_pk):
                _copy(q, participant=p, form=forms[q.form_id])
            for ae in AdverseEvent.objects.filter(participant_id=old_pk):
                _copy(ae, participant=p, form=forms.get(ae.form_id))
            for entry in DiaryEntry.objects.filter(participant_id=old_pk):
                _copy(entry, participant=p, access=None)


# --------------------------------------------------------------------------- measuring


def _count(client, url) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    return response.status_code, len(ctx.captured_queries)


def _participant(trial, most: bool):
    """The participant at the trial's first site with the fewest (or most) forms, at least one."""
    from django.db.models import Count

    from trialkit.server.participants.models import Participant

    first_site = trial.sites.order_by("code").first()
    ranked = (
        Participant.objects.filter(trial=trial, site=first_site)
        .annotate(n=Count("forms"))
        .filter(n__gt=0)
        .order_by("-n" if most else "n", "pk")
    )
    return ranked.first()


def measure(most: bool) -> dict[tuple[str, str], tuple[int, int]]:
    """(user, route) -> (status, queries); per-participant API lists are read for the participant
    with the fewest forms (small world) or the most (large world)."""
    from django.contrib.auth import get_user_model

    from trialkit.server.api import api
    from trialkit.server.trials.models import Trial

    users = {u.username: u for u in get_user_model().objects.filter(username__in=ROLES)}
    schema = api.get_openapi_schema()
    out = {}
    for trial in Trial.objects.filter(nct_id=MEASURED_TRIAL):
        person = _participant(trial, most)
        params = {"nct_id": trial.nct_id, "participant_id": str(person.pk)}
        for name in ROLES:
            client = login_verified(Client(), users[name])
            out[(name, f"/home/?trial={trial.nct_id}")] = _count(client, f"/home/?trial={trial.nct_id}")
            for route in web_lists():
                url = route.replace("<nct_id>", trial.nct_id)
                out[(name, url)] = _count(client, url)
            for path in api_lists(schema):
                url = re.sub(r"\{(\w+)\}", lambda m: params.get(m.group(1), "0"), path)
                if path == "/api/capture/queries":
                    url += f"?participant_id={person.pk}"
                out[(name, path.replace("{nct_id}", trial.nct_id))] = _count(client, url)
    return out


def safety_both_ways() -> dict[str, tuple[dict, dict]]:
    """trial -> (the DSMB safety summary from the database, the same from the extract)."""
    from django.contrib.auth import get_user_model

    from trialkit.server.trials.models import Trial
    from trialkit.server.web.safety_summary import unblinded_safety, unblinded_safety_from_extract

    dsmb = get_user_model().objects.get(username="dsmb")
    return {
        t.nct_id: (unblinded_safety(t, dsmb), unblinded_safety_from_extract(t, dsmb))
        for t in Trial.objects.order_by("nct_id")
    }


def unusual_adverse_events() -> None:
    """Adverse events of allocated participants that test each rule of the safety table: a death
    (grade 5, related), grades that are not JSON numbers from 1 to 5, a fractional grade, no term,
    a deleted and a draft event."""
    from django.utils import timezone

    from trialkit.server.allocation.models import AllocationSlot
    from trialkit.server.capture.models import AdverseEvent

    allocated = list(
        AllocationSlot.objects.filter(participant__isnull=False).order_by("pk").values_list("participant_id", flat=True)
    )
    model = AdverseEvent.objects.filter(participant_id__in=allocated, deleted_at__isnull=True).order_by("pk").first()
    assert model is not None, "the demo has an adverse event of an allocated participant"
    events = []
    for k in range(8):
        participant_id = allocated[k % len(allocated)]
        number = AdverseEvent.objects.filter(participant_id=participant_id).count() + 1
        events.append(
            _copy(AdverseEvent.objects.get(pk=model.pk), participant_id=participant_id, number=number, form=None)
        )
    changes = [
        {"ctcae_grade": 5, "relatedness": "definite"},
        {"ctcae_grade": "3"},
        {"ctcae_grade": True},
        {"ctcae_grade": 4.5, "relatedness": "probable"},
        {"ctcae_grade": 5.5},
        {"term": ""},
    ]
    for ae, change in zip(events, changes):
        AdverseEvent.objects.filter(pk=ae.pk).update(data={**ae.data, **change}, status="complete")
    AdverseEvent.objects.filter(pk=events[6].pk).update(deleted_at=timezone.now())
    AdverseEvent.objects.filter(pk=events[7].pk).update(status="draft", serious=True)


@pytest.fixture(scope="module")
def sizes(django_db_setup, django_db_blocker):
    from trialkit.server.demo import load_demo
    from trialkit.server.participants.models import Participant

    with django_db_blocker.unblock(), transaction.atomic():
        load_demo(today=TODAY)
        small_n = Participant.objects.count()
        small = measure(most=False)
        safety = {"demo": safety_both_ways()}
        grow(3)
        large_n = Participant.objects.count()
        large = measure(most=True)
        unusual_adverse_events()
        safety["unusual"] = safety_both_ways()
        transaction.set_rollback(True)
    return {"small": small, "large": large, "n": (small_n, large_n), "safety": safety}


def test_the_world_grows(sizes):
    small_n, large_n = sizes["n"]
    assert large_n == 4 * small_n and small_n >= 10


def test_the_measured_pages_include_every_home_list_and_api_list(sizes):
    urls = {url for _name, url in sizes["small"]}
    assert any(u.startswith("/home/") for u in urls)
    for expected in ("/capture/trials/NCT04590118/due/", "/capture/trials/NCT04590118/participants/"):
        assert expected in urls
    assert "/screening/NCT04590118/" in urls
    assert "/api/capture/participants/{participant_id}/forms" in urls
    assert "/api/screening/NCT04590118/records" in urls


def test_every_page_runs_the_same_number_of_queries_at_both_sizes(sizes):
    small, large = sizes["small"], sizes["large"]
    grew = {
        f"{name} {url}: {small[key][1]} -> {large[key][1]} queries"
        for key in small
        for name, url in [key]
        if small[key][0] == 200 and large[key] != small[key]
    }
    assert not grew, "\n".join(sorted(grew))


def test_the_pages_answer(sizes):
    """Each role reaches its own home; a list refused to a role is refused at both sizes alike."""
    small, large = sizes["small"], sizes["large"]
    for key, (status, _n) in small.items():
        assert large[key][0] == status, key
        assert status < 500, key
    assert all(small[(name, url)][0] == 200 for name, url in small if url.startswith("/home/"))


def test_every_api_list_answers_a_page_with_its_count():
    from trialkit.server.api import api

    lists = api_lists(api.get_openapi_schema())
    assert lists and not [path for path, kind in lists.items() if kind != "page"]


@pytest.mark.parametrize("world", ["demo", "unusual"])
def test_the_dsmb_safety_table_counted_by_the_database_equals_the_extracts(sizes, world):
    """The DSMB home's safety table, now grouped queries, has the numbers the report's pipeline (the
    extract through ``trialkit.analysis.safety``) gives: every row, the term table, the allocated."""
    for nct_id, (database, extract) in sizes["safety"][world].items():
        assert database["rows"] == extract["rows"], nct_id
        assert database["allocated"] == extract["allocated"], nct_id
        assert database["term_columns"] == extract["term_columns"], nct_id
        # Terms cited by as many participants may come in another order (the database's is by name).
        assert dict(database["terms"]) == {term: list(values) for term, values in extract["terms"]}, nct_id
        totals = [sum(values) for _term, values in database["terms"]]
        assert totals == sorted(totals, reverse=True)
    demo = sizes["safety"][world]["NCT04590118"][0]
    assert demo["allocated"] > 0 and sum(r.ae_events for r in demo["rows"]) > 0
    if world == "unusual":
        assert (
            sum(r.deaths for r in demo["rows"])
            + sum(r.deaths for r in sizes["safety"][world]["NCT07197606"][0]["rows"])
            >= 1
        )
