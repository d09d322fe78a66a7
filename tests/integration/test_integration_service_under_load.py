"""The service as it runs in production, under load, on PostgreSQL: two application servers
(gunicorn, separate processes) and two job workers against one database.

- 64 randomizations and 64 form saves sent at the same moment over HTTP (fresh connection each,
  personal API tokens, no CSRF token): every one succeeds, no connection is reset, and the allocation has
  no shared, skipped or repeated slot.
- The application servers keep their database connections: 40 more requests open at most one
  connection per server thread, not one each.
- A worker killed with SIGKILL while it writes an export: another worker notices within a minute,
  the half-written archive is removed, the export is run again to a whole, verifiable file.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import zipfile
from pathlib import Path

import pytest
from django.db import connection

from trialkit.server import loadcheck

pytestmark = pytest.mark.postgres

TESTS = Path(__file__).resolve().parents[1]
RANDOMIZATIONS = FORM_SAVES = 64


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_two_servers_and_two_workers_under_load_and_a_worker_killed_mid_export(on_postgres, tmp_path):
    from trialkit.server.capture.models import FormRecord
    from trialkit.server.jobs.models import Job

    plan = loadcheck.prepare(RANDOMIZATIONS, FORM_SAVES)
    # Started after the data are committed: the services read the same database.
    service = _start(tmp_path)
    try:
        results = loadcheck.fire(service.urls, plan)
        assert results.resets() == [], results.resets()[:3]
        assert results.errors() == [], [(o.kind, o.status, o.body) for o in results.errors()[:5]]
        assert len(results.outcomes) == RANDOMIZATIONS + FORM_SAVES
        assert loadcheck.allocation_problems() == []
        assert (
            FormRecord.objects.filter(instrument="nihss", visit__visit_id="month1", status="complete").count()
            == FORM_SAVES
        )

        _requests_reuse_connections(service)
        _kill_a_worker_mid_export(service, tmp_path / "data" / "exports", Job)
    except AssertionError:
        print(service.logs())
        raise
    finally:
        service.stop()


def _start(tmp_path):
    env = {
        "TRIALKIT_JOB_HEARTBEAT_SECONDS": "1",
        "TRIALKIT_JOB_STALE_SECONDS": "6",
        "TRIALKIT_JOB_KIND_MODULES": "slow_zip_writes",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS / "exports"), os.environ.get("PYTHONPATH")])),
    }
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return loadcheck.start_service(_database_url(), tmp_path / "data", app_servers=2, workers=2, threads=8)
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _sessions_opened() -> int:
    """Connections ever opened to the test database (PostgreSQL's statistics, flushed within a second)."""
    time.sleep(1.5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _requests_reuse_connections(service) -> None:
    before = _sessions_opened()
    for _ in range(40):
        status, body, _ = loadcheck.request(service.urls[0], "GET", "/healthz")
        assert status == 200, body
    opened = _sessions_opened() - before
    # At most one per thread of the server (8) plus the job workers' own while they poll (measured 15);
    # with a connection per request it was 59 (40 requests and the workers' polls).
    assert opened <= 20, f"{opened} connections opened for 40 requests"


def _kill_a_worker_mid_export(service, exports_dir: Path, Job) -> None:
    status, body, _ = loadcheck.request(
        service.urls[0],
        "POST",
        f"/api/exports/{loadcheck.TRIAL}/jobs",
        body={"formats": ["odm", "sdtm", "csv"]},
        user="load-datamanager",
    )
    assert status == 202, body
    job_id = json.loads(body)["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the archive is being written under its temporary name
        job = Job.objects.get(pk=job_id)
        partial = list(exports_dir.glob(f".tmp-job{job_id}-*.zip")) if exports_dir.exists() else []
        if job.status == "running" and partial:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the export never reached its archive: {job.status} {job.message}")
    victim_pid = int(job.worker_id.split(":")[1])
    victim = next(p for p in service.workers if p.pid == victim_pid)
    os.kill(victim_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    victim.wait(10)
    assert _finals(exports_dir, job_id) == [], "no archive under its final name yet"

    taken_over_at = None
    while time.monotonic() - killed_at < 90:
        job = Job.objects.get(pk=job_id)
        if taken_over_at is None and (job.attempts >= 2 or job.status == "failed"):
            taken_over_at = time.monotonic()
        if job.status in ("done", "failed"):
            break
        time.sleep(0.1)
    assert taken_over_at is not None and taken_over_at - killed_at < 60, "nobody noticed the dead worker"
    assert job.status == "done" and job.attempts == 2, (job.status, job.attempts, job.message)
    assert job.worker_id != "" and int(job.worker_id.split(":")[1]) != victim_pid

    leftovers = [p.name for p in exports_dir.iterdir() if p.name.startswith(".tmp-job")]
    assert leftovers == []
    archives = _finals(exports_dir, job_id)
    assert [str(p) for p in archives] == [job.result_path]
    content = archives[0].read_bytes()
    assert hashlib.sha256(content).hexdigest() == job.sha256 and len(content) == job.size_bytes
    with zipfile.ZipFile(archives[0]) as archive:
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["export_id"] == job_id and manifest["blinding"] == "blinded"
    from trialkit.server.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="export_done", object_id=str(job_id)).count() == 1
    health, _body, _ = loadcheck.request(service.urls[1], "GET", "/healthz")
    assert health == 200  # one worker is still alive


def _finals(exports_dir: Path, job_id: int) -> list[Path]:
    return [p for p in exports_dir.glob(f"*-{job_id}-*.zip") if not p.name.startswith(".tmp-job")]
