"""Benchmark: every role's pages and every list at network scale.

Builds a synthetic network through the project's own services: the IxCell protocol file with 20
sites and a planned enrollment of the largest size (a protocol file, no code), participants
screened, consented and randomized over the past year, their visits placed and each closed visit's
NIHSS, mRS, Barthel and vital signs entered, a diary for one participant in ten, and an adverse
event for one in twenty. The network is measured at two sizes in one run (first the small one,
then grown to the large one): for each role, its home, every page and API list of the trial, the
p50 and p95 of the response time and the number of database queries. A page whose query count
grows with the network, or whose p95 at the large size exceeds the goal (300 ms), is flagged.

    python bench/scale.py                                   # SQLite in a temporary folder
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialkit_scale python bench/scale.py
    BENCH_SCALE_SIZES=500,5000 BENCH_SCALE_SITES=20 BENCH_SCALE_REPEAT=7  (the defaults)

The PostgreSQL database is created, and dropped afterwards. Exit status 1 when a goal is missed.

    BENCH_SCALE_KEEP=/some/folder   keep the built network there (and the PostgreSQL database): a later run
                                    with the same setting measures it again without building, after migrating

A kept network lets one look at a slow page's query plans, or measure a change to the pages, without
the hour it takes to build 5,000 participants through the services.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from trialkit.server.accounts.roles import SITE_ROLES, Role

SIZES = [int(n) for n in os.environ.get("BENCH_SCALE_SIZES", "500,5000").split(",")]
SITES = int(os.environ.get("BENCH_SCALE_SITES", "20"))
REPEAT = int(os.environ.get("BENCH_SCALE_REPEAT", "7"))
GOAL_P95_MS = 300
TRIAL = "NCT07197606"
FORMS = ("vital_signs", "nihss", "mrs", "barthel")
ROLES = tuple(role.value for role in Role)  # every role of accounts.roles; site roles at the first site


def _protocol_dir(work: Path, planned: int) -> Path:
    """The IxCell protocol file with SITES sites and ``planned`` participants: a third trial is a file."""
    source = Path(__file__).resolve().parents[1] / "protocols" / f"{TRIAL}.yaml"
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["registry"]["enrollment"]["count"] = planned
    data["registry"]["locations"] = [
        {"id": f"site-{i:02d}", "name": f"Scale site {i}", "city": "Shanghai", "country": "China"}
        for i in range(1, SITES + 1)
    ]
    folder = work / "protocols"
    folder.mkdir()
    (folder / f"{TRIAL}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def _configure(work: Path, kept: dict | None) -> tuple[str, bool]:
    """Settings for a new network in ``work``, or those of the network ``kept`` there."""
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{work / 'scale.sqlite3'}"
    if kept is not None:
        url = kept["url"]
    secret = kept["secret"] if kept else secrets.token_urlsafe(50)
    audit_key = kept["audit_key"] if kept else f"scale:{secrets.token_hex(32)}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="trialkit.server.settings",
        DATABASE_URL=url,
        TRIALKIT_DATA_DIR=str(work / "data"),
        SECRET_KEY=secret,
        TRIALKIT_AUDIT_KEY=audit_key,
        ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
        TRIALKIT_HTTPS="0",
        TRIALKIT_FAST_HASHER="1",
        TRIALKIT_ACCESS_LOG="0",
        TRIALKIT_AUDIT_CHECKPOINT_MINUTES="0",
        DEBUG="0",
        TRIALKIT_DEMO="0",
    )
    folder = work / "protocols" if kept else _protocol_dir(work, max(SIZES))
    os.environ["TRIALKIT_PROTOCOL_DIR"] = str(folder)
    os.environ["TRIALKIT_LOG_FORMAT"] = "text"
    if kept is None and KEEP:
        (work / "scale.json").write_text(json.dumps({"url": url, "secret": secret, "audit_key": audit_key}))
    created = False
    if kept is None and url.startswith("postgres"):
        import psycopg

        base, name = url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        created = True
    return url, created


def _drop(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------ the network


class Network:
    @classmethod
    def reopen(cls) -> Network:
        """The network a previous run kept: its trial, users and counts."""
        from django.contrib.auth import get_user_model

        from trialkit.server.capture.models import DiaryEntry, FormRecord
        from trialkit.server.participants.models import Participant
        from trialkit.server.trials.models import Trial

        network = cls.__new__(cls)
        network.trial = Trial.objects.get(nct_id=TRIAL)
        network.sites = list(network.trial.sites.order_by("code"))
        users = get_user_model().objects.in_bulk([f"scale-{role}" for role in ROLES], field_name="username")
        network.users = {role: users[f"scale-{role}"] for role in ROLES}
        network.count = Participant.objects.filter(trial=network.trial).count()
        network.forms = FormRecord.objects.filter(participant__trial=network.trial).count()
        network.diary_entries = DiaryEntry.objects.filter(participant__trial=network.trial).count()
        return network

    def __init__(self) -> None:
        from django.contrib.auth import get_user_model

        from trialkit.server.accounts.models import Membership
        from trialkit.server.allocation.services import generate_allocation_list
        from trialkit.server.trials.loading import load_protocols

        User = get_user_model()
        self.trial = next(t for t in load_protocols() if t.nct_id == TRIAL)
        self.sites = list(self.trial.sites.order_by("code"))
        self.users = {}
        for role in ROLES:
            user = User.objects.create_user(f"scale-{role}", password="unused-password")
            Membership.objects.create(
                user=user, trial=self.trial, role=role, site=self.sites[0] if role in SITE_ROLES else None
            )
            self.users[role] = user
        self.coordinators = {}
        for site in self.sites:
            user = User.objects.create_user(f"scale-coordinator-{site.code}", password="unused-password")
            Membership.objects.create(user=user, trial=self.trial, role=Role.COORDINATOR, site=site)
            self.coordinators[site.pk] = user
        self.today = datetime.now(UTC).date()
        generate_allocation_list(
            self.trial,
            self.users[Role.DSMB_STATISTICIAN.value],
            now=datetime.now(UTC) - timedelta(days=400),
            seed="scale",
        )
        self.count = 0
        self.rng = random.Random(20261130)
        self.forms = 0
        self.diary_entries = 0

    def grow(self, size: int) -> float:
        started = time.perf_counter()
        while self.count < size:
            self._one(self.count)
            self.count += 1
            if self.count % 250 == 0:
                rate = self.count / max(1e-9, time.perf_counter() - started)
                print(f"    {self.count} participants, {self.forms} forms ({rate:.0f} participants/s)", flush=True)
        return time.perf_counter() - started

    def _one(self, i: int) -> None:
        from trialkit.server.allocation.services import AllocationProblem, randomize
        from trialkit.server.capture import services as capture
        from trialkit.server.capture.demo import _scale_values, _vitals
        from trialkit.server.participants.models import Consent, Participant, ScreeningRecord

        site = self.sites[i % len(self.sites)]
        coordinator = self.coordinators[site.pk]
        rng = self.rng
        # Enrolled on a day of the past year, the older ones first.
        enrolled = self.today - timedelta(days=365 - (i * 7919) % 360)
        when = datetime.combine(enrolled, datetime.min.time(), UTC) + timedelta(hours=10)
        screening = ScreeningRecord.objects.create(
            trial=self.trial,
            site=site,
            screening_number=f"SC-{i + 1:05d}",
            screening_date=enrolled - timedelta(days=3),
            facts={"nihss_total": rng.randint(6, 20)},
            verdict=ScreeningRecord.Verdict.ELIGIBLE,
            outcome=ScreeningRecord.Outcome.ENROLLED,
            created_by=coordinator,
        )
        Consent.objects.create(
            screening=screening,
            document_version=self.trial.protocol.consent.document_version,
            consent_date=screening.screening_date,
            signed_by=Consent.Signer.PARTICIPANT,
            recorded_by=coordinator,
        )
        participant = Participant.objects.create(
            trial=self.trial, site=site, screening=screening, participant_number=f"P-{i + 1:05d}", enrolled_at=when
        )
        try:
            randomize(participant, coordinator, now=when)
        except AllocationProblem as problem:
            print(f"    not randomized: {participant.participant_number}: {problem}")
            return
        # Day 0 the day after randomization (the infusion; the pharmacy flow has its own benchmark).
        Participant.objects.filter(pk=participant.pk).update(anchor_date=enrolled + timedelta(days=1), status="treated")
        participant.refresh_from_db()
        visits = capture.ensure_schedule(participant, coordinator, now=when)
        weight = round(rng.uniform(50, 95), 1)
        for visit in visits:
            if visit.kind == "screening" or visit.latest >= self.today:
                continue
            done = datetime.combine(visit.target, datetime.min.time(), UTC) + timedelta(hours=11)
            severity = max(0.1, 0.45 - 0.03 * max(0, visit.day) ** 0.5 + rng.uniform(-0.05, 0.05))
            for name in FORMS:
                if name not in visit.forms:
                    continue
                values = _vitals(rng, weight) if name == "vital_signs" else _scale_values(name, severity, rng)
                if values:
                    capture.save_form(participant, visit.visit_id, name, values, coordinator, complete=True, now=done)
                    self.forms += 1
        if i % 20 == 7:
            capture.save_adverse_event(
                participant,
                {
                    "term": "Headache",
                    "onset_date": (enrolled + timedelta(days=3)).isoformat(),
                    "resolution_date": (enrolled + timedelta(days=5)).isoformat(),
                    "ctcae_grade": 1,
                    "serious": False,
                    "relatedness": "unlikely",
                    "expectedness": "expected",
                    "action_taken": "not_applicable",
                    "outcome": "recovered",
                },
                coordinator,
                complete=True,
                now=when + timedelta(days=6),
            )
        if i % 10 == 3:
            access, _code = capture.create_diary_access(participant, "participant", coordinator, now=when)
            for back in range(1, 8):
                day = participant.anchor_date + timedelta(days=back)
                if day > self.today:
                    break
                capture.save_diary_entry(
                    access,
                    day,
                    {
                        "symptoms": {"new_or_worse": False, "details": "No change"},
                        "functional_activities": {"details": "Walked to the shop"},
                        "rehabilitation_medicines": {"taken": True, "details": "Baclofen 10 mg"},
                        "assistive_devices": {"used": True, "details": "Quad cane"},
                    },
                    # Noon at the network's sites (Shanghai, UTC+8): an entry is written on its own day.
                    now=datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=4),
                )
                self.diary_entries += 1


# ------------------------------------------------------------------ the pages

PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
# Routes that are not pages or lists of the trial: they act, download, or belong to one object.
SKIP = re.compile(
    r"^/(admin|accounts|diary|static|jobs)/|/(start|progress|result|download|label|print)/?$|\.(pdf|csv|zip)"
)


def _routes() -> list[str]:
    """GET pages and API lists whose only parameter is the trial: the network's lists and homes."""
    from django.urls import URLPattern, URLResolver, get_resolver
    from django.urls.resolvers import RoutePattern

    from trialkit.server.api import api

    found = []

    def walk(patterns, prefix):
        for entry in patterns:
            if not isinstance(entry.pattern, RoutePattern):
                continue
            piece = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                if not piece.startswith("/api/"):
                    walk(entry.url_patterns, piece)
            elif isinstance(entry, URLPattern):
                found.append(piece)

    walk(get_resolver().url_patterns, "/")
    schema = api.get_openapi_schema()
    for path, methods in schema["paths"].items():
        if "get" in methods and not any(
            p.get("required") and p["in"] == "query" for p in methods["get"].get("parameters", [])
        ):
            found.append(re.sub(r"\{(\w+)\}", r"<\1>", path))
    routes = []
    for route in dict.fromkeys(found):
        names = set(PARAM.findall(route))
        if names <= {"nct_id"} and not SKIP.search(route) and route not in ("/api/openapi.json", "/api/docs"):
            routes.append(PARAM.sub(TRIAL, route))
    return routes


def _client(user):
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user).first() or TOTPDevice.objects.create(
        user=user, name="bench", confirmed=True
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def measure(network: Network, routes: list[str]) -> dict[tuple[str, str], dict]:
    """p50, p95, queries and size of every route for every role. The network this process built (far
    more objects than a server's worker holds) is moved out of the garbage collector's passes first,
    as the server's workers move their loaded application (``gunicorn_conf.post_worker_init``): else
    a full collection walking the bench's own objects lands in some request and is counted as its time."""
    import gc

    gc.collect()
    gc.freeze()
    try:
        return _measure(network, routes)
    finally:
        gc.unfreeze()


def _measure(network: Network, routes: list[str]) -> dict[tuple[str, str], dict]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    results = {}
    for role in ROLES:
        client = _client(network.users[role])
        for route in ["/home/", *routes]:
            times, status, queries = [], None, 0
            for n in range(REPEAT + 1):
                reset_queries()  # the connection's query log is bounded; a full log would count 0
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    response = client.get(route)
                    if response.streaming:
                        b"".join(response.streaming_content)
                    elapsed = time.perf_counter() - started
                status = response.status_code
                if status in (401, 403, 404):
                    break
                if n:  # the first request warms caches and is not counted
                    times.append(elapsed)
                queries = len(captured)
            if times:
                q = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else times * 19
                results[(role, route)] = {
                    "status": status,
                    "p50": statistics.median(times) * 1000,
                    "p95": q[18] * 1000,
                    "queries": queries,
                    "bytes": len(response.content) if not response.streaming else 0,
                }
    return results


KEEP = os.environ.get("BENCH_SCALE_KEEP")


def main() -> int:
    kept = None
    if KEEP:
        work = Path(KEEP)
        work.mkdir(parents=True, exist_ok=True)
        if (work / "scale.json").exists():
            kept = json.loads((work / "scale.json").read_text())
    else:
        work = Path(tempfile.mkdtemp(prefix="trialkit-scale-"))
    url, created = _configure(work, kept)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.test.utils import setup_test_environment

    logging.disable(logging.WARNING)  # refusals of pages a role may not see are expected here
    setup_test_environment()  # the test client's response attributes; the database stays the bench's
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # pages link the hashed static files
    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    routes = _routes()
    by_size = {}
    if kept:
        network = Network.reopen()
        sizes = [network.count]
        print(f"Network kept in {work}: {network.count} participants on {database}")
    else:
        print(f"Network: IxCell protocol file with {SITES} sites, sizes {SIZES} on {database}")
        network = Network()
        sizes = SIZES
    for size in sizes:
        took = network.grow(size)
        with connections["default"].cursor() as cursor:
            # The planner's statistics, as the server's autovacuum keeps them on a database that grew
            # over a year (here it grew in minutes, faster than autovacuum looks).
            cursor.execute("ANALYZE")
        print(
            f"  built {size} participants ({network.forms} forms, {network.diary_entries} diary entries) "
            f"in {took:.0f} s; measuring {len(routes) + 1} routes × {len(ROLES)} roles, {REPEAT} requests each"
        )
        by_size[size] = measure(network, routes)
    small, large = sizes[0], sizes[-1]
    print(f"\n{'role':<22}{'route':<52}{'queries':>15}{'p50 ms':>17}{'p95 ms':>17}{'KB':>9}")
    missed = 0
    for key in sorted(by_size[large]):
        a, b = by_size[small].get(key), by_size[large][key]
        if a is None:
            continue
        grows = a["queries"] != b["queries"]
        slow = b["p95"] > GOAL_P95_MS
        missed += grows or slow
        flag = ("  QUERIES GROW" if grows else "") + ("  SLOW" if slow else "")
        print(
            f"{key[0]:<22}{key[1][:51]:<52}{a['queries']:>7} → {b['queries']:<6}"
            f"{a['p50']:>8.0f} → {b['p50']:<6.0f}{a['p95']:>8.0f} → {b['p95']:<6.0f}{b['bytes'] / 1024:>8.0f}{flag}"
        )
    print(
        f"\n{len(by_size[large])} role × route pairs; {missed} miss a goal "
        f"(query count equal at {small} and {large} participants; p95 < {GOAL_P95_MS} ms at {large})"
    )
    connections.close_all()
    if created and not KEEP:
        _drop(url)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
