"""Proof by difference: whatever a blinded principal can request is the same in two worlds that
differ only in which participants got which arm.

Three worlds are built from the same seed, people and frozen clock (``blinding_worlds``): the base
world, the same world with the randomized participants' arms permuted, and the same world with
other efficacy outcomes. Every principal requests every route of the project in each world:

- the URLconf is walked from ``get_resolver()`` and the API's operations are read from its OpenAPI
  schema, so a route added later is crawled without editing this file; a route that is neither
  crawled nor listed in ``EXCLUDED`` with a reason fails the test;
- path parameters are filled with real ids (trials, participants, screening records, forms,
  queries, adverse events, notifications, export and report jobs) and required query parameters
  too; HTML pages are also requested as HTMX fragments (``HX-Request``);
- lists are also read a page further: the paged web lists with ``?page=2`` and every API list
  with ``?limit=1&offset=1`` (a page's order must tell no arm);
- every method is tried: GET first, for every principal, then the writing methods with empty
  bodies, in the same order in every world;
- export archives are unpacked and compared file by file.

A blinded principal (each blinded role, and people holding two roles at once) must receive the
same responses in the base and the permuted world once volatile tokens are set aside: CSRF tokens
and the archive's nonce (and hashes of archives, which carry it). Any other difference is a leak.
The unblinded pharmacist and the DSMB statistician must receive the same responses in the base
and the other-outcomes world (the efficacy firewall), except the statistician's DSMB pages.

The worlds are built and crawled once per module.
"""

from __future__ import annotations

import difflib
import html
import io
import json
import re
import zipfile

import pytest
import time_machine
from auth_support import login_verified
from blinding_worlds import (
    BLINDED_PRINCIPALS,
    CLOCK,
    UNBLINDED_PRINCIPALS,
    build_world,
    restored_sequences,
)
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

# Routes not crawled, each with its reason. Anything else the resolver or the schema lists is crawled.
CHINESE_READERS = {
    name: "zh-CN,zh;q=0.9"
    for name in (
        "investigator@01+monitor",
        "coordinator@01+assessor@02",
        "investigator@02",
        "data_manager+sponsor_admin",
    )
}

EXCLUDED = {
    ("POST", "/accounts/logout/"): "ends the crawling session; shows no trial data",
    ("GET", "/accounts/logout/"): "ends the crawling session; shows no trial data",
}
# The statistician's own pages: arm-level results are shown there and only there.
DSMB_PAGES = ("/exports/", "/api/exports/", "/jobs/", "/reports/", "/home/", "/allocation/", "/api/allocation/")
WRITE_METHODS = ("post", "put", "patch", "delete")
PUBLIC_REGISTRY_PREFIX = "/trials/"
FORBIDDEN_JSON_KEYS = {
    "arm",
    "arm_id",
    "arm_label",
    "dose_level",
    "dose_label",
    "cohort",
    "preparation",
    "vials",
    "product_volume_ml",
    "target_amount",
    "delivered_amount",
    "stratum",
}

# One worker builds and crawls the worlds once: the Makefile runs xdist a module at a time (--dist loadscope).
pytestmark = [pytest.mark.django_db]


# ------------------------------------------------------------------ route discovery

PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def _walk(patterns, prefix=""):
    """Yield (route template, reason it cannot be filled or None) for every URL pattern."""
    for entry in patterns:
        pattern = entry.pattern
        if isinstance(pattern, RoutePattern):
            piece = str(pattern)
        elif isinstance(pattern, RegexPattern):
            regex = pattern._regex
            if pattern.regex.groups:
                yield prefix + regex, "regex with groups"
                continue
            piece = regex.lstrip("^").rstrip("$").replace("\\", "")
        else:  # pragma: no cover
            yield prefix + str(pattern), "unknown pattern type"
            continue
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + piece)
        elif isinstance(entry, URLPattern):
            yield PARAM.sub(r"<\g<name>>", prefix + piece), None


def site_routes() -> list[str]:
    routes, skipped = [], []
    for template, reason in _walk(get_resolver().url_patterns, "/"):
        if template.startswith("/api/") and template not in ("/api/openapi.json", "/api/docs", "/api/"):
            continue  # the API is crawled from its OpenAPI schema, with its real methods
        (skipped if reason else routes).append(template)
    # Only the admin's regex routes (staff only; no principal is staff) cannot be filled.
    assert all(t.startswith("/admin/") for t in skipped), skipped
    return list(dict.fromkeys(routes))


def api_operations(schema) -> list[tuple[str, str, list[str]]]:
    """(method, template, required query parameter names) of every API operation."""
    ops = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            query = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query" and p.get("required")]
            ops.append((method, re.sub(r"\{(\w+)\}", r"<\1>", path), query))
    return ops


def paged_api_operations(schema) -> set[str]:
    """Templates of the API's list operations (they take ``limit`` and ``offset``)."""
    return {
        re.sub(r"\{(\w+)\}", r"<\1>", path)
        for path, methods in schema["paths"].items()
        if any(p.get("name") == "limit" for p in methods.get("get", {}).get("parameters", []))
    }


# Web lists shown a page at a time: also read as their second page (the last one in a small world).
PAGED_PAGES = (
    "/capture/trials/<nct_id>/due/",
    "/capture/trials/<nct_id>/participants/",
    "/capture/trials/<nct_id>/queries/",
    "/capture/trials/<nct_id>/verification/",
    "/capture/trials/<nct_id>/signatures/",
    "/capture/trials/<nct_id>/status/",
    "/screening/<nct_id>/",
    "/allocation/<nct_id>/",
    "/allocation/<nct_id>/notifications/",
)


def _paged(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def _contexts(world) -> list[dict]:
    """Parameter sets from the world's real objects."""
    from blinding_worlds import _outcome_visit

    from trialkit.server.jobs.models import Job

    contexts = []
    for p in world["participants"]:
        forms = world["forms"].get(p.pk, {})
        base = {
            "nct_id": p.trial.nct_id,
            "participant_number": p.participant_number,
            "participant_id": p.pk,
            "number": p.screening.screening_number,
            "visit_id": _outcome_visit(p.trial.protocol),
            "_participant": True,
        }
        if p.kit_number:
            base["kit_number"] = p.kit_number
        consent = p.screening.consents.first()
        if consent is not None:
            base["consent_id"] = consent.pk
        if p.pk in world["aes"]:
            base["ae_id"] = world["aes"][p.pk].pk
            base["query_id"] = world["queries"][p.pk].pk
        for instrument in ("nihss", "vital_signs"):
            ctx = dict(base, instrument=instrument)
            form = forms.get("nihss" if instrument == "nihss" else "mrs")
            if form is not None:
                ctx["form_id"] = form.pk
            contexts.append(ctx)
    for trial in world["trials"].values():
        contexts.append({"nct_id": trial.nct_id})
    contexts += [dict(c) for c in world.get("product", [])]  # lots, shipments, excursions, stock kits
    for referral in world.get("referrals", []):
        contexts.append({"nct_id": referral.trial.nct_id, "pk": referral.pk})
    for n in world["notifications"]:
        contexts.append({"nct_id": n.trial.nct_id, "notification_id": n.pk})
    for job in Job.objects.filter(kind="export").select_related("trial"):
        contexts.append({"nct_id": job.trial.nct_id, "job_id": job.pk})
    for job in world["report_jobs"]:
        contexts.append({"pk": job.pk})
    contexts.append({"code": "not-a-diary-code"})
    contexts.append({"q": "head"})  # a coding search (the dictionary's terms, the same in every world)
    # The admin (staff only; no principal is staff): real content types and objects.
    from django.contrib.contenttypes.models import ContentType

    from trialkit.server.participants.models import Participant

    first = world["participants"][0]
    contexts.append(
        {
            "content_type_id": ContentType.objects.get_for_model(Participant).pk,
            "object_id": first.pk,
            "id": world["users"]["monitor"].pk,
        }
    )
    return contexts


def _verb(template: str) -> str:
    return "report" if "adverse-events" in template else "close"


def fill(template: str, contexts: list[dict], query: list[str] = ()) -> list[str]:
    names = {m.group("name") for m in PARAM.finditer(template)} | set(query)
    names.discard("verb")
    if not names:
        return [template.replace("<verb>", _verb(template))]
    urls = []
    for ctx in contexts:
        if not names <= ctx.keys():
            continue
        # Trial-level routes take the trial contexts, not one copy per participant.
        if ctx.get("_participant") and not names - {"nct_id"}:
            continue
        url = PARAM.sub(lambda m: _verb(template) if m.group("name") == "verb" else str(ctx[m.group("name")]), template)
        if query:
            url += "?" + "&".join(f"{q}={ctx[q]}" for q in query)
        urls.append(url)
    assert urls, f"no real ids fill {template}: add them to _contexts"
    return list(dict.fromkeys(urls))


# ------------------------------------------------------------------ requests and normalisation


def _unzipped(content: bytes) -> str:
    out = []
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                assert re.fullmatch(r"[0-9a-f]{32}", manifest.pop("nonce")), "every archive carries a nonce"
                data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            out.append(
                f"== {info.filename} {info.date_time} {oct(info.external_attr >> 16)}\n"
                + data.decode("utf-8", "replace")
            )
    return "\n".join(out)


def _normalised(text: str) -> str:
    # CSRF tokens are masked afresh for every response; archive hashes carry the archive's nonce.
    text = re.sub(r"\b[A-Za-z0-9]{64}\b", "<TOKEN>", text)
    return re.sub(r'nonce="[^"]*"', 'nonce="<NONCE>"', text)


def record(response) -> dict:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    kind = response.headers.get("Content-Type", "")
    if kind == "application/zip" and response.status_code == 200:
        body = _unzipped(content)
    else:
        body = content.decode("utf-8", "replace")
    # The request id is random for every response (trialkit.server.ops); a nonce in the
    # Content-Security-Policy likewise.
    headers = {
        k: ("<REQUEST-ID>" if k == "X-Request-ID" else _normalised(v))
        for k, v in response.headers.items()
        if k not in ("Set-Cookie", "Content-Length") and not (k == "Content-Length" and "zip" in kind)
    }
    return {
        "status": response.status_code,
        "headers": headers,
        "body": _normalised(body),
        "raw": body,
        "zip": kind == "application/zip" and response.status_code == 200,
    }


_HTMX_MODULES: dict[str, bool] = {}


def _answers_htmx(url: str) -> bool:
    """Whether the view behind ``url`` renders differently for HTMX (its module reads HX-Request)."""
    import inspect
    import sys

    from django.urls import Resolver404, resolve

    try:
        module = resolve(url.split("?")[0]).func.__module__
    except Resolver404:
        return False
    if module not in _HTMX_MODULES:
        source = inspect.getsource(sys.modules[module])
        _HTMX_MODULES[module] = "HX-Request" in source or "request.htmx" in source
    return _HTMX_MODULES[module]


def crawl(world, principals: dict, writers: tuple[str, ...]) -> tuple[dict, set]:
    """{principal: {(method, url, htmx): record}} and the (method, template) pairs requested.

    Every principal reads every route with every real id; then each of ``writers`` tries every
    writing route once (the first real id), in the same order in every world."""
    contexts = _contexts(world)
    anonymous = Client()
    schema = anonymous.get("/api/openapi.json").json()
    html_routes = site_routes()
    api_ops = api_operations(schema)
    paged_api = paged_api_operations(schema)
    requested: set[tuple[str, str]] = set()
    results: dict[str, dict] = {name: {} for name in (*principals, "anonymous")}
    clients = {"anonymous": anonymous}
    for name in principals:
        # The principals holding two roles (or the second site's investigator) read every page in
        # Simplified Chinese, the others in English: translated pages must not tell an arm either.
        clients[name] = Client(HTTP_ACCEPT_LANGUAGE=CHINESE_READERS.get(name, "en"))
        login_verified(clients[name], world["users"][name])

    def go(name, method, url, template, *, htmx=False, body=None):
        client = clients[name]
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        if method == "get":
            response = client.get(url, **extra)
        elif url.startswith("/api/"):
            response = getattr(client, method)(url, data=json.dumps(body or {}), content_type="application/json")
        else:
            response = client.post(url, data={}, **extra)
        assert response.status_code < 500, (name, method, url, response.status_code)
        results[name][(method, url, htmx)] = record(response)
        requested.add((method.upper(), template))

    def phase(names, methods, first_only=False):
        for name in names:
            for template in html_routes:
                for method in methods:
                    if (method.upper(), template) in EXCLUDED or method not in ("get", "post"):
                        continue
                    for url in fill(template, contexts)[: 1 if first_only else None]:
                        go(name, method, url, template)
                        if method == "get" and _answers_htmx(url):
                            go(name, method, url, template, htmx=True)
                        if method == "get" and template in PAGED_PAGES:
                            go(name, method, _paged(url, "page=2"), template)
            for method, template, query in api_ops:
                if method in methods and (method.upper(), template) not in EXCLUDED:
                    for url in fill(template, contexts, query)[: 1 if first_only else None]:
                        go(name, method, url, template)
                        if method == "get" and template in paged_api:
                            # A page of one row past the first: its order must not tell an arm either.
                            go(name, method, _paged(url, "limit=1&offset=1"), template)

    phase(results, ("get",))
    phase(writers, WRITE_METHODS, first_only=True)  # writes last, in the same order in every world
    results = {name: found for name, found in results.items() if found}
    return results, requested


def world_crawl(variant: str, principals: dict, writers: tuple[str, ...]) -> tuple[dict, set, dict]:
    from django.core.cache import cache

    # Each world starts afresh, the cache too (the pre-screener's rate limit counts in it).
    cache.clear()
    with restored_sequences(), time_machine.travel(CLOCK, tick=False), transaction.atomic():
        world = build_world(variant)
        results, requested = crawl(world, principals, writers)
        facts = {"arms": world["arms"], "outcomes": world["outcomes"], "world": world}
        transaction.set_rollback(True)
    return results, requested, facts


@pytest.fixture(scope="module")
def crawls(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.conf import settings

    everyone = {**UNBLINDED_PRINCIPALS, **BLINDED_PRINCIPALS}
    # The other-outcomes world is read (GET) by the unblinded staff, who go first in every world,
    # and by the monitor, to show that the outcomes do differ for someone.
    firewall = {**UNBLINDED_PRINCIPALS, "monitor": BLINDED_PRINCIPALS["monitor"]}
    saved = settings.DATA_DIR
    out = {}
    with django_db_blocker.unblock():
        try:
            writers = ("anonymous", *BLINDED_PRINCIPALS)
            for variant, principals, write in (
                ("base", everyone, writers),
                ("arms", everyone, writers),
                ("outcomes", firewall, ()),
            ):
                settings.DATA_DIR = tmp_path_factory.mktemp(variant)
                out[variant] = world_crawl(variant, principals, write)
        finally:
            settings.DATA_DIR = saved
    return out


def _differences(a: dict, b: dict, skip=lambda key: False) -> list[str]:
    found = []
    shared = a.keys() & b.keys()
    assert shared, "nothing to compare"
    for key in a:
        if key not in shared:
            continue
        if skip(key):
            continue
        ra, rb = a[key], b[key]
        if (ra["status"], ra["headers"], ra["body"]) != (rb["status"], rb["headers"], rb["body"]):
            diff = "\n".join(
                list(difflib.unified_diff(ra["body"].splitlines(), rb["body"].splitlines(), lineterm="", n=1))[:30]
            )
            found.append(
                f"{key}: status {ra['status']}/{rb['status']} headers equal: {ra['headers'] == rb['headers']}\n{diff}"
            )
    return found


# ------------------------------------------------------------------ the proofs


def test_the_worlds_differ_in_arms_and_outcomes_only(crawls):
    base, arms, outcomes = (crawls[v][2] for v in ("base", "arms", "outcomes"))
    moved = [p for p in base["arms"] if base["arms"][p] != arms["arms"][p]]
    assert len(moved) >= 4, "the permuted world must move participants between arms"
    assert sorted(base["arms"].values()) == sorted(arms["arms"].values())  # the same arms in total
    assert base["outcomes"] == arms["outcomes"]
    assert base["arms"] == outcomes["arms"]
    assert base["outcomes"] != outcomes["outcomes"]


def test_every_route_is_crawled_or_excluded_with_a_reason(crawls):
    _results, requested, _facts = crawls["base"]
    client = Client()
    expected = {("GET", t) for t in site_routes()} | {("POST", t) for t in site_routes()}
    expected |= {(m.upper(), t) for m, t, _q in api_operations(client.get("/api/openapi.json").json())}
    missing = sorted(expected - requested - set(EXCLUDED))
    assert missing == []
    assert len(requested) > 150


@pytest.mark.parametrize("principal", ["anonymous", *BLINDED_PRINCIPALS])
def test_a_blinded_principal_sees_the_same_whoever_got_which_arm(crawls, principal):
    base, arms = crawls["base"][0][principal], crawls["arms"][0][principal]
    differences = _differences(base, arms)
    assert differences == [], f"{len(differences)} differ:\n" + "\n\n".join(differences[:8])
    # The crawl reached real data: pages of participants, forms and the principal's own files.
    ok = sum(1 for r in base.values() if r["status"] == 200)
    assert ok > (5 if principal == "anonymous" else 40), ok


@pytest.mark.parametrize("principal", sorted(UNBLINDED_PRINCIPALS))
def test_unblinded_staff_see_no_efficacy_outcome(crawls, principal):
    """The firewall: the pharmacist's and the statistician's pages (but the DSMB's own) are the
    same whatever the NIHSS and mRS values."""
    base, other = crawls["base"][0][principal], crawls["outcomes"][0][principal]
    assert base.keys() == other.keys()

    def dsmb_page(key):
        return principal == "dsmb_statistician" and key[1].startswith(DSMB_PAGES)

    differences = _differences(base, other, skip=dsmb_page)
    assert differences == [], f"{len(differences)} differ:\n" + "\n\n".join(differences[:8])


def test_the_crawl_tells_worlds_apart_where_arms_are_shown(crawls):
    """The comparison is not blind itself: the pharmacist's preparation sheets and the
    statistician's list differ between the permuted worlds, and the blinded principals' own
    export archive was downloaded and compared."""
    pharmacist = _differences(crawls["base"][0]["pharmacist"], crawls["arms"][0]["pharmacist"])
    statistician = _differences(crawls["base"][0]["dsmb_statistician"], crawls["arms"][0]["dsmb_statistician"])
    assert any("/pharmacy/" in d for d in pharmacist)
    assert any("/api/allocation/" in d and "/list" in d for d in statistician)
    assert any(r["zip"] for r in crawls["base"][0]["data_manager"].values())
    # The blinded principals saw outcomes (the other-outcomes world differs for them).
    assert _differences(crawls["base"][0]["monitor"], crawls["outcomes"][0]["monitor"])


# ------------------------------------------------------------------ what must not appear anywhere


def _forbidden(trials):
    labels, tokens, exact = set(), set(), set()
    for trial in trials.values():
        protocol = trial.protocol
        common_volume = {
            f"{arm.dose.infusion_volume_ml_per_kg:g} ml/kg"
            for arm in protocol.arms
            if arm.dose and arm.dose.infusion_volume_ml_per_kg
        }
        for arm in protocol.arms:
            tokens.add(arm.id)
            labels.update({arm.label, arm.description})
            if arm.dose:
                for level in arm.dose.levels:
                    exact.add(level.id)
                    if level.label not in common_volume:
                        labels.add(level.label)
                if arm.dose.product:
                    labels.add(arm.dose.product.name)
        for intervention in protocol.registry.interventions:
            tokens.update({intervention.id, intervention.name})
        for cohort in protocol.randomization.cohorts:
            tokens.add(cohort.id)
            labels.add(cohort.label)
    tokens |= {label for label in labels if not re.search(r"\s", label)}
    labels = {label for label in labels if re.search(r"\s", label)}
    return labels, tokens, exact


def _consent_document_lines(trials) -> list[str]:
    lines = set()
    for trial in trials.values():
        for document in trial.protocol.consent.documents:
            for text in (document.title, document.text):
                lines.update(line.strip() for line in (text or "").splitlines() if line.strip())
    return sorted(lines, key=len, reverse=True)


def _json_leaks(value, exact, path="$"):
    if isinstance(value, dict):
        for key, item in value.items():
            if key in FORBIDDEN_JSON_KEYS:
                yield f"key {path}.{key}"
            yield from _json_leaks(item, exact, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _json_leaks(item, exact, f"{path}[{i}]")
    elif isinstance(value, str) and value.strip().lower() in exact:
        yield f"value {path} = {value!r}"


@pytest.mark.parametrize("principal", ["anonymous", *BLINDED_PRINCIPALS])
def test_no_arm_word_reaches_a_blinded_principal(crawls, principal):
    """Belt and braces over the difference test: no arm, product, dose level or cohort name in any
    body or header (the public registry pages may name the registry's arms, no participant's)."""
    facts = crawls["base"][2]
    labels, tokens, exact = _forbidden(facts["world"]["trials"])
    numbers = {
        v
        for p in facts["world"]["participants"]
        for v in (p.participant_number, p.randomization_number, p.kit_number)
        if v
    }
    consent_lines = _consent_document_lines(facts["world"]["trials"])
    leaks = []
    for (_method, url, _htmx), r in crawls["base"][0][principal].items():
        body = html.unescape(r["raw"])
        # The consent documents' own words (the same document for every person, naming the
        # products as the registry page does) are set aside; anything else on the page is checked.
        for line in consent_lines:
            body = body.replace(line, "")
        headers = "\n".join(f"{k}: {v}" for k, v in r["headers"].items())
        public = url.startswith(PUBLIC_REGISTRY_PREFIX)
        texts = [headers] if public else [body, headers]
        for text in texts:
            leaks += [f"{url}: label {s!r}" for s in labels if s.lower() in text.lower()]
            leaks += [
                f"{url}: token {t!r}"
                for t in tokens
                if re.search(r"(?<![\w-])" + re.escape(t) + r"(?![\w-])", text, re.IGNORECASE)
            ]
        if public:
            leaks += [f"{url}: participant {n}" for n in numbers if n in body]
        # The schema names its fields (an unblinded endpoint's "arm_id"); it holds no participant's data.
        if "json" in r["headers"].get("Content-Type", "") and r["status"] == 200 and url != "/api/openapi.json":
            leaks += [f"{url}: {leak}" for leak in _json_leaks(json.loads(r["raw"]), exact)]
    assert leaks == []
