"""Benchmark: the production service under a burst of concurrent requests.

Two application servers (gunicorn) and two job workers on a fresh database; 64 randomizations
and 64 form saves sent at the same moment over HTTP (HTTP Basic, a new connection each). Prints
p50/p95 latency per kind, errors and connection resets, and checks the allocation.

    python bench/service_load.py                       # SQLite in a temporary folder
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialkit_bench python bench/service_load.py
        (the database is created, and dropped afterwards)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

N = int(os.environ.get("BENCH_REQUESTS", "64"))


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="trialkit-bench-"))
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{work / 'bench.sqlite3'}"
    from trialkit.server import loadcheck

    os.environ.update(
        {
            k: v
            for k, v in loadcheck.service_env(url, work / "data").items()
            if k
            in (
                "DATABASE_URL",
                "TRIALKIT_DATA_DIR",
                "SECRET_KEY",
                "ALLOWED_HOSTS",
                "TRIALKIT_HTTPS",
                "TRIALKIT_FAST_HASHER",
            )
        }
    )
    os.environ["TRIALKIT_LOG_FORMAT"] = "text"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
    created = _create_postgres(url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    plan = loadcheck.prepare(N, N)
    connections.close_all()
    service = loadcheck.start_service(url, work / "data", app_servers=2, workers=2, threads=8)
    try:
        results = loadcheck.fire(service.urls, plan)
    finally:
        service.stop()
    problems = loadcheck.allocation_problems()
    connections.close_all()
    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"{len(plan)} concurrent requests to 2 gunicorn servers + 2 workers on {database}")
    for kind in ("randomize", "form", None):
        label = kind or "all"
        count = sum(1 for o in results.outcomes if kind is None or o.kind == kind)
        print(
            f"  {label:<10} n={count:<4} p50 {results.percentile(50, kind) * 1000:7.0f} ms   "
            f"p95 {results.percentile(95, kind) * 1000:7.0f} ms"
        )
    print(
        f"  errors {len(results.errors())}, connection resets {len(results.resets())}, "
        f"allocation problems {len(problems)}"
    )
    if created:
        _drop_postgres(url)
    return 0 if not results.errors() and not problems else 1


def _create_postgres(url: str) -> bool:
    if not url.startswith("postgres"):
        return False
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def _drop_postgres(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
