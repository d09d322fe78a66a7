"""Log in as every blinded role and walk every page and API route the project serves: no arm,
dose level or allocation may appear in any body or header, and the pages of two participants
in different arms must be identical once their own identifiers are set aside.

Routes are discovered, not listed: the Django URLconf is walked from ``get_resolver()`` and the
API's GET operations are read from its OpenAPI schema, so pages added by other apps later are
crawled too. Path parameters are filled from the fixture (trial ids, participant, screening,
randomization and kit numbers, primary keys).
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from trialkit.server.accounts.models import Membership
from trialkit.server.allocation import services
from trialkit.server.allocation.models import AllocationSlot, Notification

from allocation_cases import NOW  # noqa: E402

pytestmark = pytest.mark.django_db

BLINDED_ROLES = ["sponsor_admin", "investigator", "coordinator", "blinded_assessor", "monitor", "data_manager"]
SITE_ROLES = {"investigator", "coordinator", "blinded_assessor"}
PASSWORD = "pw-for-tests"
# Public registry pages may show the registry's arms and interventions (public facts), never a
# participant's allocation.
PUBLIC_REGISTRY_PREFIX = "/trials/"
FORBIDDEN_JSON_KEYS = {"arm", "arm_id", "arm_label", "dose_level", "dose_label", "cohort", "preparation",
                       "vials", "product_volume_ml", "target_amount", "delivered_amount", "stratum"}


# ------------------------------------------------------------------ the world

@pytest.fixture(autouse=True)
def _exports_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the world's data exports are written under DATA_DIR/exports

def _world(trials, make_user, enroll):
    """Both trials: participants of both arms randomized, dosed and given at site 01 (the ASSIST
    pair then withdrawn alike); some only prepared, some awaiting preparation, one enrolled and
    waiting, one at another site, and one emergency-unblinded IxCell participant with the sponsor
    notified."""
    from django.contrib.auth import get_user_model

    world = {"trials": trials, "pairs": {}, "participants": []}
    User = get_user_model()
    for nct_id, trial in trials.items():
        dsmb = make_user("dsmb_statistician", trial)
        services.generate_allocation_list(trial, dsmb, now=NOW, seed=f"crawl-{nct_id}")
        site01, site02 = trial.sites.order_by("code")[:2]
        coordinator = make_user("coordinator", trial, site=site01)
        pharmacist = make_user("unblinded_pharmacist", trial, site=site01)
        by_arm = {}
        randomized = []
        for i in range(12):
            p = enroll(trial, site01.code, nihss=8, number=f"{site01.code.upper()}-{i + 1:03d}")
            services.randomize(p, coordinator, now=NOW)
            randomized.append(p)
            arm = AllocationSlot.objects.get(participant=p).arm_id
            by_arm.setdefault(arm, p)
            if len(by_arm) == 2 and len(randomized) >= 5:
                break
        assert len(by_arm) == 2, "the fixture needs both arms"
        pair = list(by_arm.values())
        for p in pair:  # identical weight and times: the pages must not differ but for identifiers
            services.prepare_dose(p, 70, pharmacist, now=NOW + timedelta(hours=1))
            services.record_administration(p, coordinator, now=NOW + timedelta(hours=2))
        if nct_id == "NCT04590118":
            # Both ASSIST participants of the pair end alike, so the end-of-participation banner,
            # the reopen form and the API's ended_on are crawled and compared across arms too.
            from trialkit.server.capture.services import end_participation

            for p in pair:
                end_participation(p, coordinator, outcome="withdrawn", ended_on=NOW.date(),
                                  reason="Withdrew consent to further visits", now=NOW + timedelta(hours=3))
        others = [p for p in randomized if p not in pair]
        services.prepare_dose(others[0], 82.4, pharmacist, now=NOW + timedelta(hours=1))  # prepared, not given
        waiting = enroll(trial, site01.code, number=f"{site01.code.upper()}-090")
        elsewhere = enroll(trial, site02.code, number=f"{site02.code.upper()}-001")
        services.randomize(elsewhere, make_user("coordinator", trial, site=site02), now=NOW)
        world["pairs"][nct_id] = pair
        world["participants"] += [*pair, others[0], others[-1], waiting, elsewhere]
        if nct_id == "NCT07197606":
            world["sponsor_notified"] = trial
            unblinder = make_user("investigator", trial, site=site01, password="unblind-pw")
            make_user("sponsor_admin", trial)
            services.emergency_unblind(others[-1], unblinder, reason="Severe reaction", password="unblind-pw",
                                       now=NOW + timedelta(hours=3))
    for p in world["participants"]:
        p.refresh_from_db()
    # One user per blinded role, holding that role in both trials (site roles at site 01).
    world["users"] = {}
    for role in BLINDED_ROLES:
        user = User.objects.create_user(f"crawl-{role}", password=PASSWORD)
        for trial in trials.values():
            site = trial.sites.order_by("code").first() if role in SITE_ROLES else None
            Membership.objects.create(user=user, trial=trial, site=site, role=role)
        world["users"][role] = user
    # Data exports: a blinded one by a data manager (downloadable by the crawling data manager, so
    # its files are scanned) and an unblinded one by the statistician (refused to every blinded role).
    from trialkit.server.exports.services import create_export

    for trial in trials.values():
        create_export(trial, make_user("data_manager", trial), now=NOW)
        create_export(trial, make_user("dsmb_statistician", trial), unblinded=True, now=NOW)
    # The sponsor administrator crawling was a member when the notice went out? Give one too.
    ixcell = trials["NCT07197606"]
    Notification.objects.create(trial=ixcell, recipient=world["users"]["sponsor_admin"], recipient_role="sponsor_admin",
                                message=Notification.objects.filter(trial=ixcell).first().message, created_at=NOW)
    return world


# ------------------------------------------------------------------ what must not appear

def _forbidden(trials):
    labels, tokens, exact = set(), set(), set()
    for trial in trials.values():
        protocol = trial.protocol
        common_volume = {f"{arm.dose.infusion_volume_ml_per_kg:g} ml/kg" for arm in protocol.arms
                         if arm.dose and arm.dose.infusion_volume_ml_per_kg}
        for arm in protocol.arms:
            tokens.add(arm.id)
            labels.update({arm.label, arm.description})
            if arm.dose:
                for level in arm.dose.levels:
                    exact.add(level.id)
                    # The placebo's 1 ml/kg is also every arm's final infusion volume, printed on
                    # the blinded label; it reveals nothing there.
                    if level.label not in common_volume:
                        labels.add(level.label)
                if arm.dose.product:
                    labels.add(arm.dose.product.name)
        for intervention in protocol.registry.interventions:
            tokens.update({intervention.id, intervention.name})
        for cohort in protocol.randomization.cohorts:
            tokens.add(cohort.id)
            labels.add(cohort.label)
    # A one-word label ("Placebo") is matched as a word, so "placebo-controlled" in a page footer
    # does not count; longer labels are matched anywhere.
    tokens |= {label for label in labels if not re.search(r"\s", label)}
    labels = {label for label in labels if re.search(r"\s", label)}
    return labels, tokens, exact


def _token_re(token):
    return re.compile(r"(?<![\w-])" + re.escape(token) + r"(?![\w-])", re.IGNORECASE)


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


def _body(response) -> bytes:
    """The response's bytes; a zip download is read member by member (compressed bytes hide words)."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if response.headers.get("Content-Type") == "application/zip" and response.status_code == 200:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return b"\n".join(archive.read(info) for info in archive.infolist())
    return content


def _leaks(url, response, forbidden, world):
    labels, tokens, exact = forbidden
    body = html.unescape(_body(response).decode("utf-8", "replace"))
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    found = []
    public = url.startswith(PUBLIC_REGISTRY_PREFIX)
    for text, where in ((body, "body"), (headers, "headers")):
        if not public or where == "headers":
            found += [f"{where}: label {s!r}" for s in labels if s.lower() in text.lower()]
            found += [f"{where}: token {t!r}" for t in tokens if _token_re(t).search(text)]
            found += [f"{where}: dose level {e!r}" for e in exact
                      if re.search(r"(>\s*|=[\"'])" + re.escape(e) + r"(\s*<|[\"'])", text, re.IGNORECASE)]
    if public:  # no participant-level information at all on the public registry pages
        for p in world["participants"]:
            for value in (p.participant_number, p.randomization_number, p.kit_number):
                if value and value in body:
                    found.append(f"public page shows {value!r}")
    if "json" in response.headers.get("Content-Type", ""):
        found += list(_json_leaks(json.loads(body), exact))
    return found


# ------------------------------------------------------------------ route discovery

PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def _walk(patterns, prefix=""):
    """Yield (route template, skipped reason or None) for every URL pattern, recursively."""
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


def _contexts(world):
    """Parameter sets: one per participant (with its trial), one per trial, one per notification."""
    contexts = []
    for p in world["participants"]:
        s = p.screening
        contexts.append({
            "nct_id": p.trial.nct_id, "participant_number": p.participant_number, "screening_number":
            s.screening_number, "randomization_number": p.randomization_number, "kit_number": p.kit_number,
            "participant_id": p.pk, "participant_pk": p.pk, "screening_id": s.pk, "screening_pk": s.pk,
            "pk": p.pk, "id": p.pk, "site_code": p.site.code, "site_id": p.site_id, "code": p.site.code,
            "_participant": p,
        })
    for trial in world["trials"].values():
        contexts.append({"nct_id": trial.nct_id, "site_code": trial.sites.first().code})
    for n in Notification.objects.all():
        contexts.append({"nct_id": n.trial.nct_id, "notification_id": n.pk})
    from trialkit.server.exports.models import ExportJob

    for job in ExportJob.objects.select_related("trial"):
        contexts.append({"nct_id": job.trial.nct_id, "job_id": job.pk})
    return contexts


def _fill(template, contexts):
    names = {m.group("name") for m in PARAM.finditer(template)}
    if not names:
        return [(template, None)]
    urls = []
    for ctx in contexts:
        if names <= ctx.keys() and (not any(n in ctx for n in ("participant_number",)) or
                                    names & {"participant_number", "screening_number", "randomization_number",
                                             "kit_number", "participant_id", "participant_pk", "screening_id",
                                             "screening_pk", "pk", "id"}):
            urls.append((PARAM.sub(lambda m: str(ctx[m.group("name")]), template), ctx.get("_participant")))
    if not urls:
        # Parameters no fixture knows (e.g. the admin's content-type shortcut): real primary keys
        # for integer-looking names, else a placeholder; the page must still leak nothing.
        ctx = next(c for c in contexts if "_participant" in c)
        fallback = {n: ctx.get(n, ctx["pk"] if n.endswith(("id", "pk")) else "x") for n in names}
        urls.append((PARAM.sub(lambda m: str(fallback[m.group("name")]), template), None))
    return list(dict.fromkeys(urls))


def _site_routes():
    routes, skipped = [], []
    for template, reason in _walk(get_resolver().url_patterns, "/"):
        if template.startswith("/api/"):
            continue  # the API is crawled from its OpenAPI schema, with its real methods
        if reason:
            skipped.append(template)
        else:
            routes.append(template)
    # Only the admin's regex routes cannot be filled; every project page must be crawled.
    assert all(t.startswith("/admin/") for t in skipped), skipped
    return routes


def _api_routes(client):
    schema = client.get("/api/openapi.json").json()
    return [re.sub(r"\{(\w+)\}", r"<\1>", path) for path, ops in schema["paths"].items() if "get" in ops]


def _normalized(body, participant):
    s = participant.screening
    if participant.kit_number:
        # The label's barcode encodes the kit number and nothing else.
        from trialkit.server.allocation.barcode import code128_svg

        body = body.replace(code128_svg(participant.kit_number), "<BARCODE OF K>")
    for value, placeholder in ((participant.participant_number, "<P>"), (participant.randomization_number, "<R>"),
                               (participant.kit_number, "<K>"), (s.screening_number, "<S>")):
        if value:
            body = body.replace(value, placeholder)
    body = re.sub(r"\b[A-Za-z0-9]{64}\b", "<CSRF>", body)  # CSRF tokens are masked afresh per response
    # Audit rows carry the chain's sequence numbers and object ids, which differ with creation order.
    body = re.sub(r'data-seq="\d+"', 'data-seq="<N>"', body)
    body = re.sub(r"<td>\d+</td>(<td>\d{1,2} [A-Z][a-z]{2} \d{4} )", r"<td><N></td>\1", body)
    body = re.sub(rf"participant {participant.pk}\b", "participant <PK>", body)
    body = re.sub(r'(visit|form) \d+</span>', r"\1 <ID></span>", body)
    # Events written while crawling (schedules made on first view) carry the wall clock.
    body = re.sub(r"<td>\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [A-Z]+</td><td>system</td>",
                  "<td><NOW></td><td>system</td>", body)
    # Row ids (visits, forms) follow creation order too.
    body = re.sub(r'"id": ?\d+', '"id": <ID>', body)
    body = re.sub(r"/\d+/", "/<ID>/", body)
    return re.sub(rf"(/|\"id\": ?){participant.pk}(/|,|}})", r"\1<PK>\2", body)


# ------------------------------------------------------------------ the crawl

@pytest.mark.parametrize("role", BLINDED_ROLES)
def test_a_blinded_role_learns_no_allocation_anywhere(client, trials, make_user, enroll, role):
    world = _world(trials, make_user, enroll)
    forbidden = _forbidden(trials)
    contexts = _contexts(world)
    client.force_login(world["users"][role])
    routes = _site_routes() + _api_routes(client)
    assert "/allocation/<nct_id>/participants/<participant_number>/" in routes
    assert "/api/allocation/<nct_id>/randomized" in routes
    assert "/capture/participants/<participant_id>/end/" in routes
    assert "/api/capture/participants/<participant_id>" in routes

    leaks, crawled, unavailable, downloads = [], 0, [], 0
    pair_numbers = {p.participant_number for pair in world["pairs"].values() for p in pair}
    by_route_and_participant = {}
    for template in routes:
        if "logout" in template:
            continue
        for url, participant in _fill(template, contexts):
            try:
                response = client.get(url)
            except ModuleNotFoundError as exc:
                # A page whose code is not in this tree yet cannot leak; it is crawled once it is.
                unavailable.append(f"{url}: {exc}")
                continue
            crawled += 1
            assert response.status_code < 500, (url, response.status_code)
            if response.status_code == 200 and response.headers.get("Content-Type") == "application/zip":
                downloads += 1
            leaks += [f"{url}: {leak}" for leak in _leaks(url, response, forbidden, world)]
            if participant is not None and participant.participant_number in pair_numbers:
                by_route_and_participant[(template, participant.participant_number)] = (response, participant)
    assert leaks == []
    assert crawled > 40
    ended = world["pairs"]["NCT04590118"][0].participant_number
    timeline_page, _ = by_route_and_participant[("/capture/participants/<participant_id>/", ended)]
    assert 'id="participation-ended"' in timeline_page.content.decode()
    # The data manager downloads the blinded exports (page and API, both trials); their files were scanned.
    assert downloads == (4 if role == "data_manager" else 0)

    # Two participants of different arms, same site, same weight and times: same pages.
    compared = 0
    for nct_id, (first, second) in world["pairs"].items():
        arms = {AllocationSlot.objects.get(participant=p).arm_id for p in (first, second)}
        assert len(arms) == 2
        for template in routes:
            a = by_route_and_participant.get((template, first.participant_number))
            b = by_route_and_participant.get((template, second.participant_number))
            if a is None or b is None:
                continue
            (ra, pa), (rb, pb) = a, b
            assert ra.status_code == rb.status_code, template
            body_a = _normalized(ra.content.decode(), pa)
            body_b = _normalized(rb.content.decode(), pb)
            if body_a != body_b:
                import difflib

                diff = "\n".join(list(difflib.unified_diff(body_a.splitlines(), body_b.splitlines(), lineterm=""))[:40])
                raise AssertionError(f"{template} {nct_id} differs between arms:\n{diff}")
            compared += 1
    assert compared >= 4


def test_blinded_roles_are_refused_the_unblinded_pages(client, trials, make_user, enroll):
    world = _world(trials, make_user, enroll)
    p = world["pairs"]["NCT07197606"][0]
    base = f"/allocation/{p.trial.nct_id}"
    for role in BLINDED_ROLES:
        client.force_login(world["users"][role])
        for url in (f"{base}/list/", f"{base}/pharmacy/", f"{base}/pharmacy/{p.participant_number}/",
                    f"/api/allocation/{p.trial.nct_id}/list", f"/api/allocation/{p.trial.nct_id}/balance"):
            assert client.get(url).status_code == 403, (role, url)


def test_the_crawl_finds_arms_where_they_are_shown(client, trials, make_user, enroll):
    """The detector is not blind itself: the pharmacist's preparation sheet and the statistician's
    list do show arms and dose levels, and the crawl's checks flag them."""
    world = _world(trials, make_user, enroll)
    forbidden = _forbidden(trials)
    trial = trials["NCT04590118"]
    p = world["pairs"]["NCT04590118"][0]
    pharmacist = make_user("unblinded_pharmacist", trial, site=p.site)
    client.force_login(pharmacist)
    url = f"/allocation/{trial.nct_id}/pharmacy/{p.participant_number}/"
    assert _leaks(url, client.get(url), forbidden, world)
    client.force_login(make_user("dsmb_statistician", trial))
    url = f"/api/allocation/{trial.nct_id}/list"
    assert any(leak.startswith("key") for leak in _leaks(url, client.get(url), forbidden, world))
    # The statistician's unblinded export: the files inside the zip are read and the arms found.
    from trialkit.server.exports.models import ExportJob

    statistician = ExportJob.objects.get(trial=trial, unblinded=True).requested_by
    client.force_login(statistician)
    job = ExportJob.objects.get(trial=trial, unblinded=True)
    url = f"/exports/{trial.nct_id}/jobs/{job.pk}/download/"
    assert any("token" in leak for leak in _leaks(url, client.get(url), forbidden, world))
