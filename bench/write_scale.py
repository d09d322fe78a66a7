"""Benchmark: audited writes against the database's own rate, on PostgreSQL, in one run.

Prints, from one fresh database:

* the raw row-lock rate: the allocation's critical section done directly (lock the trial's list
  row, bump its counter, commit) by 8 clients;
* the service's allocation rate (``allocation.services.randomize``, audit and schedule included)
  at 1, 8 and 32 clients, and its ratio to the raw rate (goal: >= 25% at 8 and 32);
* how long one randomization holds the trial's list lock (from the ``SELECT … FOR UPDATE`` of the
  list to the commit), median and 95th percentile, against one raw transaction at one client: the
  lock is what a trial's randomizations serialize on, so ``1 / hold`` is their ceiling on a machine
  with cores to spare (on a small machine the CPU of a randomization bounds the rate first);
* the client's CPU per randomization against a raw transaction's, and the rate that CPU alone allows
  on the machine's cores (the database's own CPU comes on top);
* the queries of one randomization, and the ceiling of the ORM itself: transactions of the same
  number of statements (and of 10) through the ORM that do nothing else, the list locked for the
  last 7 as a randomization locks it, at 8 clients, with their ratio to the raw rate: no service
  of that many ORM statements can allocate faster on this machine; and the same 10 statements
  written by hand in SQL, through the same connection (what an allocation outside the ORM could reach);
* the form save rate (``capture.services.save_form``, a complete NIHSS) at 1 and 8 clients, the
  clients writing to two trials.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialkit_bench python bench/write_scale.py
        (the database is dropped and created; default trialkit_bench on 127.0.0.1)

Clients are processes (as the application server's workers are), each with its own connection,
started before the clock starts.

Without a reachable PostgreSQL it says so and exits 0 (SQLite has one writer by design).
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/trialkit_bench")
RAW_SECONDS = float(os.environ.get("BENCH_RAW_SECONDS", "3"))
ALLOCATIONS = {1: 30, 8: 120, 32: 160}  # clients: allocations timed
FORM_SAVES = {1: 30, 8: 160}  # clients: form saves timed, split over two trials


def main() -> int:
    if not _create_postgres(URL):
        print("write_scale: PostgreSQL not reachable at BENCH_DATABASE_URL; skipped")
        return 0
    work = Path(tempfile.mkdtemp(prefix="trialkit-bench-"))
    os.environ.update(
        DATABASE_URL=URL,
        TRIALKIT_DATA_DIR=str(work / "data"),
        SECRET_KEY="write-scale-bench-" + "x" * 40,
        TRIALKIT_AUDIT_KEY="bench:" + "ab" * 32,
        TRIALKIT_FAST_HASHER="1",
        TRIALKIT_AUDIT_CHECKPOINTS=str(work / "checkpoints.jsonl"),
        DEBUG="0",
        TRIALKIT_DEMO="0",
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    try:
        world = _prepare()
        connections.close_all()
        raw = _raw_rate(world["list_id"], clients=8, seconds=RAW_SECONDS)
        print(f"raw row-lock transaction (8 clients, {RAW_SECONDS:.0f} s): {raw:8.0f}/s")
        raw_hold, raw_cpu = _raw_hold_ms(world["list_id"], n=200)
        cpu_before = time.process_time()
        holds = _lock_holds_ms(world, n=20)
        client_cpu = 1000 * (time.process_time() - cpu_before) / len(holds)
        p50, p95 = statistics.median(holds), sorted(holds)[int(0.95 * (len(holds) - 1))]
        print(
            f"list lock held per randomization (1 client, {len(holds)}): median {p50:.1f} ms, p95 {p95:.1f} ms;"
            f" one raw transaction {raw_hold:.2f} ms; lock-bound ceiling {1000 / p50:.0f}/s"
            f" = {100 * raw_hold / p50:.1f}% of the raw transaction's"
        )
        cores = len(os.sched_getaffinity(0))
        print(
            f"client CPU per randomization (this process, not the database's): {client_cpu:.1f} ms, against"
            f" {raw_cpu:.2f} ms per raw transaction; on this machine's {cores} core(s) the client alone caps"
            f" allocation at {1000 * cores / client_cpu:.0f}/s"
        )
        queries = _one_randomization_queries(world)
        print(f"queries in one randomization: {queries}")
        # BEGIN and COMMIT are counted among the queries.
        for label, statements, sql in (("ORM", queries - 2, False), ("ORM", 10, False), ("hand-written SQL", 10, True)):
            cpu_before = time.process_time()
            for _ in range(50):
                _ceiling_one((world["list_id"], statements, sql))
            ceiling_cpu = 1000 * (time.process_time() - cpu_before) / 50
            rate = _run(8, [(world["list_id"], statements, sql)] * 800, _ceiling_one)
            print(
                f"ceiling of {statements} {label} statements doing nothing else, 8 clients: {rate:8.1f}/s"
                f"  = {100 * rate / raw:5.1f}% of raw (client CPU {ceiling_cpu:.1f} ms each)"
            )
        for clients, n in ALLOCATIONS.items():
            rate = _run(clients, world["to_randomize"][:n], _randomize_one)
            del world["to_randomize"][:n]
            print(f"service allocation, {clients:>2} clients: {rate:8.1f}/s  = {100 * rate / raw:5.1f}% of raw")
        for clients, n in FORM_SAVES.items():
            rate = _run(clients, world["to_save"][:n], _save_one)
            del world["to_save"][:n]
            print(f"form saves over 2 trials, {clients:>2} clients: {rate:8.1f}/s")
        from trialkit.server.audit.verify import verify_all

        result = verify_all()
        print(f"audit verify after the run: {'intact' if result['ok'] else 'BROKEN'} ({result['checked']} events)")
        ok = result["ok"]
    finally:
        connections.close_all()
        _drop_postgres(URL)
    return 0 if ok else 1


def _prepare() -> dict:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from trialkit.server.accounts.models import Membership
    from trialkit.server.allocation.models import AllocationList
    from trialkit.server.allocation.services import generate_allocation_list
    from trialkit.server.capture.services import ensure_schedule
    from trialkit.server.demo import DEMO_SITES
    from trialkit.server.participants.models import Consent, Participant, ScreeningRecord
    from trialkit.server.trials.loading import load_protocols
    from trialkit.server.trials.models import Site

    User = get_user_model()
    now = timezone.now()
    today = now.date()
    trials = {t.nct_id: t for t in load_protocols()}
    coordinators: dict[int, object] = {}
    for nct_id, trial in trials.items():
        for code, name, city, country in DEMO_SITES.get(nct_id, []):
            Site.objects.get_or_create(
                trial=trial, code=code, defaults={"name": name, "city": city, "country": country}
            )
        for site in trial.sites.all():
            user = User.objects.create_user(f"bench-{site.code}", password="bench-password-1")
            Membership.objects.create(user=user, trial=trial, site=site, role="coordinator")
            coordinators[site.pk] = user
    main = trials["NCT07197606"]
    dsmb = User.objects.create_user("bench-dsmb", password="bench-password-1")
    Membership.objects.create(user=dsmb, trial=main, role="dsmb_statistician")
    generate_allocation_list(main, dsmb, now=now, seed="write-scale")
    clerk = User.objects.create_user("bench-clerk", password="bench-password-1")

    def participant(trial, site, i, *, follow_up: bool):
        number = f"B{trial.pk}-{site.code[-2:]}-{i:04d}"
        screening = ScreeningRecord.objects.create(
            trial=trial,
            site=site,
            screening_number=f"S-{number}",
            screening_date=today - timedelta(days=2),
            facts={"nihss_total": 8 if (i // 2) % 2 == 0 else 14},
            verdict=ScreeningRecord.Verdict.ELIGIBLE,
            outcome=ScreeningRecord.Outcome.ENROLLED,
            created_by=clerk,
        )
        Consent.objects.create(
            screening=screening,
            document_version="v1",
            consent_date=today - timedelta(days=2),
            signed_by=Consent.Signer.PARTICIPANT,
            recorded_by=clerk,
        )
        extra = (
            {
                "status": "treated",
                "randomization_number": f"PRE-{number}",
                "kit_number": f"KIT-{number}",
                "anchor_date": today - timedelta(days=30),
            }
            if follow_up
            else {}
        )
        return Participant.objects.create(
            trial=trial, site=site, screening=screening, participant_number=number, enrolled_at=now, **extra
        )

    sites = list(main.sites.order_by("code"))
    to_randomize = []
    for i in range(sum(ALLOCATIONS.values()) + 1):
        site = sites[i % len(sites)]
        to_randomize.append((participant(main, site, i, follow_up=False).pk, coordinators[site.pk].pk))
    to_save = []
    per_trial = sum(FORM_SAVES.values()) // 2 + 1
    for trial in trials.values():
        site = trial.sites.order_by("code").first()
        visits = [v for v in trial.protocol.schedule.visits if "nihss" in v.forms and v.kind != "screening"]
        for i in range(per_trial // len(visits) + 1):
            p = participant(trial, site, 5000 + i, follow_up=True)
            ensure_schedule(p)
            to_save += [(p.pk, coordinators[site.pk].pk, v.id) for v in visits]
    # Interleave the two trials so that concurrent clients write to both.
    by_trial: dict[int, list] = {}
    for item in to_save:
        by_trial.setdefault(Participant.objects.get(pk=item[0]).trial_id, []).append(item)
    a, b = by_trial.values()
    interleaved = [x for pair in zip(a, b, strict=False) for x in pair]
    return {
        "list_id": AllocationList.objects.get(trial=main).pk,
        "to_randomize": to_randomize,
        "to_save": interleaved,
    }


def _raw_rate(list_id: int, *, clients: int, seconds: float) -> float:
    """Lock the list row, bump its counter, commit: what one allocation must serialize on."""
    total, elapsed = _in_processes(_raw_worker, [(list_id, seconds)] * clients)
    return total / elapsed


def _raw_transaction(conn, list_id: int) -> None:
    with conn.transaction():
        conn.execute("SELECT id FROM allocation_allocationlist WHERE id = %s FOR UPDATE", [list_id])
        conn.execute("UPDATE allocation_allocationlist SET seed_sha256 = seed_sha256 WHERE id = %s", [list_id])


def _raw_worker(args) -> int:
    import psycopg

    list_id, seconds = args
    count = 0
    with psycopg.connect(URL.replace("postgres://", "postgresql://", 1)) as conn:
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            _raw_transaction(conn, list_id)
            count += 1
    return count


def _raw_hold_ms(list_id: int, *, n: int) -> tuple[float, float]:
    """Median wall time of one raw transaction, one client (the lock is held for all of it), and the
    client's CPU milliseconds per transaction."""
    import psycopg

    times = []
    with psycopg.connect(URL.replace("postgres://", "postgresql://", 1)) as conn:
        cpu = time.process_time()
        for _ in range(n):
            start = time.perf_counter()
            _raw_transaction(conn, list_id)
            times.append(1000 * (time.perf_counter() - start))
        cpu = time.process_time() - cpu
    return statistics.median(times), 1000 * cpu / n


def _lock_holds_ms(world, *, n: int) -> list[float]:
    """Milliseconds from the list's ``SELECT … FOR UPDATE`` to the commit, for ``n`` randomizations."""
    from django.db import connection, transaction

    holds: list[float] = []
    locked_at: list[float] = []  # the first lock of the list in the open transaction

    def committed() -> None:
        holds.append(1000 * (time.perf_counter() - locked_at.pop()))

    def watch(execute, sql, params, many, context):
        locks_list = "FOR UPDATE" in sql and sql.split("FROM", 1)[-1].lstrip().startswith('"allocation_allocationlist"')
        if locks_list and not locked_at:
            locked_at.append(time.perf_counter())
            transaction.on_commit(committed)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        for item in world["to_randomize"][:n]:
            _randomize_one(item)
    del world["to_randomize"][:n]
    if len(holds) != n:
        raise RuntimeError(f"measured {len(holds)} lock holds for {n} randomizations")
    return holds


def _randomize_one(item) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from trialkit.server.allocation.services import randomize
    from trialkit.server.participants.models import Participant

    participant_pk, user_pk = item
    participant = Participant.objects.select_related("trial").get(pk=participant_pk)
    randomize(participant, get_user_model().objects.get(pk=user_pk), now=timezone.now())


def _save_one(item) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from trialkit.server.capture.services import save_form
    from trialkit.server.loadcheck import NIHSS_7
    from trialkit.server.participants.models import Participant

    participant_pk, user_pk, visit_id = item
    participant = Participant.objects.select_related("trial").get(pk=participant_pk)
    user = get_user_model().objects.get(pk=user_pk)
    save_form(participant, visit_id, "nihss", NIHSS_7, user, complete=True, now=timezone.now(), expected_version=0)


def _ceiling_one(item) -> None:
    """One transaction of ``statements`` statements that change nothing: reads of the list row, then
    its lock and no-op updates for the last 7 (as many as a randomization runs under the lock); made
    through the ORM, or (``sql``) written by hand and sent through the same connection."""
    from django.db import connection, transaction
    from django.db.models import F

    from trialkit.server.allocation.models import AllocationList

    list_id, statements, sql = item
    if sql:
        read = "SELECT id, trial_id, method, seed_sha256, allocated_count FROM allocation_allocationlist WHERE id = %s"
        with transaction.atomic(), connection.cursor() as cursor:
            for _ in range(statements - 7):
                cursor.execute(read, [list_id])
                cursor.fetchall()
            cursor.execute(read + " FOR UPDATE", [list_id])
            cursor.fetchall()
            for i in range(6):
                if i % 2:
                    cursor.execute(read, [list_id])
                    cursor.fetchall()
                else:
                    cursor.execute(
                        "UPDATE allocation_allocationlist SET seed_sha256 = seed_sha256 WHERE id = %s", [list_id]
                    )
        return
    rows = AllocationList.objects.filter(pk=list_id)
    with transaction.atomic():
        for _ in range(statements - 7):
            rows.first()
        rows.select_for_update().first()
        for i in range(6):
            if i % 2:
                rows.first()
            else:
                rows.update(seed_sha256=F("seed_sha256"))


def _one_randomization_queries(world) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    item = world["to_randomize"].pop()
    with CaptureQueriesContext(connection) as captured:
        _randomize_one(item)
    return len(captured)


def _run(clients: int, items: list, fn) -> float:
    """Items per second, ``fn`` applied to ``items`` shared out among ``clients`` processes."""
    shares = [(fn, items[n::clients]) for n in range(clients)]
    done, elapsed = _in_processes(_apply_all, shares)
    if done != len(items):
        raise RuntimeError(f"{len(items) - done} item(s) not done")
    return len(items) / elapsed


def _apply_all(args) -> int:
    fn, items = args
    for item in items:
        fn(item)
    return len(items)


def _child(target, args, ready, go, results) -> None:
    from django.db import connections

    connections.close_all()  # never share the parent's socket
    try:
        ready.release()
        go.wait()
        results.put(("ok", target(args)))
    except BaseException as exc:  # reported to the parent, which fails the run
        results.put(("error", repr(exc)))
    finally:
        connections.close_all()


def _in_processes(target, args: list) -> tuple[int, float]:
    """Run ``target(a)`` for each ``a`` of ``args``, each in a forked process, all started together:
    the sum of their results and the seconds from the start signal to the last result."""
    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(target, a, ready, go, results)) for a in args]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    start = time.monotonic()
    go.set()
    outcomes = [results.get() for _ in procs]
    elapsed = time.monotonic() - start
    for p in procs:
        p.join()
    errors = [detail for status, detail in outcomes if status == "error"]
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]}")
    return sum(detail for _, detail in outcomes), elapsed


def _create_postgres(url: str) -> bool:
    try:
        import psycopg

        base, name = url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres".replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception:
        return False
    return True


def _drop_postgres(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres".replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
