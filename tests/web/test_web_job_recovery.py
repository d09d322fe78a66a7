"""Jobs whose worker died are recovered by the workers, not by a page view; live jobs are untouched.

Reports and exports are rows of one model (trialkit.server.jobs.models.Job) run by one runner.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from web_builders import participant

from trialkit.server.accounts.roles import Role
from trialkit.server.exports import services as exports
from trialkit.server.jobs import builtin, runner
from trialkit.server.jobs.models import Job

IXCELL = "NCT07197606"
LONG_AGO = timedelta(minutes=5)


@pytest.fixture
def sponsor(trials, make_user, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return make_user(Role.SPONSOR_ADMIN, trials[IXCELL])


def _job(trial, owner, *, kind="report", status, quiet_for: timedelta, attempts=1) -> Job:
    params = {"formats": ["csv"]} if kind == "export" else {}
    job = Job.objects.create(
        kind=kind,
        trial=trial,
        requested_by=owner,
        requester_role="sponsor_admin",
        params=params,
        status=status,
        progress=40,
        message="Fitting the models",
        attempts=attempts,
        worker_id="host:1:dead",
        created_at=datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
    )
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - quiet_for)
    return job


@pytest.mark.django_db
def test_a_page_view_does_not_touch_a_stalled_job(client, trials, sponsor):
    """Recovery is the workers' business: viewing never writes the row."""
    stalled = _job(trials[IXCELL], sponsor, status=Job.Status.RUNNING, quiet_for=LONG_AGO)
    client.force_login(sponsor)
    fragment = client.get(f"/jobs/{stalled.pk}/progress/").content.decode()
    assert 'data-status="running"' in fragment
    stalled.refresh_from_db()
    assert stalled.status == Job.Status.RUNNING


@pytest.mark.django_db
def test_a_stalled_job_with_attempts_left_is_queued_again_and_its_partial_files_removed(trials, sponsor, tmp_path):
    stalled = _job(trials[IXCELL], sponsor, kind="export", status=Job.Status.RUNNING, quiet_for=LONG_AGO)
    exports_dir = tmp_path / "exports"
    exports_dir.mkdir()
    partial = runner.temp_name(stalled.pk, exports_dir / "NCT07197606-1-x-blinded.zip")
    partial.write_bytes(b"PK half an archive")
    other = runner.temp_name(stalled.pk + 1000, exports_dir / "other.zip")
    other.write_bytes(b"not this job's")
    outcome = runner.reap_stale()
    assert outcome == {"requeued": [stalled.pk], "failed": []}
    stalled.refresh_from_db()
    assert stalled.status == Job.Status.QUEUED and "queued again (attempt 2 of 2)" in stalled.message
    assert not partial.exists() and other.exists()


@pytest.mark.django_db
def test_a_stalled_job_whose_attempts_are_spent_fails_visibly(client, trials, sponsor):
    trial = trials[IXCELL]
    stalled = _job(trial, sponsor, kind="export", status=Job.Status.RUNNING, quiet_for=LONG_AGO, attempts=2)
    live = _job(trial, sponsor, kind="export", status=Job.Status.RUNNING, quiet_for=timedelta(seconds=1))
    queued = _job(trial, sponsor, kind="export", status=Job.Status.QUEUED, quiet_for=LONG_AGO)
    done = _job(trial, sponsor, kind="export", status=Job.Status.DONE, quiet_for=LONG_AGO)
    assert runner.reap_stale() == {"requeued": [], "failed": [stalled.pk]}
    assert dict(Job.objects.values_list("pk", "status")) == {
        stalled.pk: "failed",
        live.pk: "running",
        queued.pk: "queued",
        done.pk: "done",
    }
    client.force_login(sponsor)
    one = client.get(f"/api/exports/{IXCELL}/jobs/{stalled.pk}").json()
    assert one["status"] == "failed" and one["message"].startswith("interrupted:")
    assert one["download_url"] is None and one["progress"] == 40  # how far it came is kept
    assert "the worker running this job stopped" in client.get(f"/exports/{IXCELL}/").content.decode()


@pytest.mark.django_db
def test_a_given_up_attempt_cannot_overwrite_the_row(trials, sponsor, tmp_path):
    """A worker that was only slow finishes after another took the job over: its result is dropped."""
    job = runner.submit("audit_checkpoint", queue=False)
    calls = []

    def slow(job_, progress):
        # Meanwhile the job was reaped and queued again (attempt 2 owns the row now).
        Job.objects.filter(pk=job_.pk).update(status=Job.Status.QUEUED, attempts=2)
        calls.append(job_.pk)
        return runner.Done(message="late")

    from trialkit.server.jobs import kinds

    real = kinds.KINDS["audit_checkpoint"]
    kinds.KINDS["audit_checkpoint"] = kinds.JobKind(name=real.name, label=real.label, run=slow)
    try:
        result = runner.execute(job.pk)
    finally:
        kinds.KINDS["audit_checkpoint"] = real
    assert calls == [job.pk] and result.status == Job.Status.QUEUED and result.message != "late"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_long_job_alive(trials, sponsor):
    """A job quiet for longer than STALE_AFTER between progress steps keeps beating, so no worker
    takes it for dead; once it ends, the beat stops."""
    job = _job(trials[IXCELL], sponsor, status=Job.Status.RUNNING, quiet_for=LONG_AGO)
    before = Job.objects.get(pk=job.pk).heartbeat_at
    release = threading.Event()

    def long_step():
        with runner.heartbeat(job.pk, every=0.02):
            release.wait(5)

    worker = threading.Thread(target=long_step)
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while Job.objects.get(pk=job.pk).heartbeat_at == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert Job.objects.get(pk=job.pk).heartbeat_at > before
        assert runner.reap_stale() == {"requeued": [], "failed": []}
    finally:
        release.set()
        worker.join(5)
    last = Job.objects.get(pk=job.pk).heartbeat_at
    time.sleep(0.1)
    assert Job.objects.get(pk=job.pk).heartbeat_at == last


@pytest.mark.django_db
def test_orphans_are_swept_unless_their_job_is_running(trials, sponsor, tmp_path):
    running = _job(trials[IXCELL], sponsor, status=Job.Status.RUNNING, quiet_for=timedelta(seconds=1))
    failed = _job(trials[IXCELL], sponsor, status=Job.Status.FAILED, quiet_for=LONG_AGO)
    (tmp_path / "jobs").mkdir()
    keep = runner.temp_name(running.pk, tmp_path / "jobs" / str(running.pk))
    keep.mkdir()
    gone_dir = runner.temp_name(failed.pk, tmp_path / "jobs" / str(failed.pk))
    gone_dir.mkdir()
    (gone_dir / "data.csv").write_text("a,b\n")
    (tmp_path / "exports").mkdir()
    gone_file = runner.temp_name(failed.pk, tmp_path / "exports" / "x.zip")
    gone_file.write_bytes(b"PK")
    final = tmp_path / "exports" / "NCT07197606-9-blinded.zip"
    final.write_bytes(b"PK whole")
    removed = set(runner.sweep_orphans())
    assert removed == {gone_dir, gone_file}
    assert keep.exists() and final.exists()


def test_an_atomic_output_leaves_nothing_under_the_final_name_when_it_fails(tmp_path):
    target = tmp_path / "out" / "result.zip"
    with pytest.raises(RuntimeError), runner.atomic_output(7, target) as partial:
        partial.write_bytes(b"half")
        raise RuntimeError("killed half way")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with runner.atomic_output(7, target) as partial:
        partial.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and [p.name for p in target.parent.iterdir()] == ["result.zip"]


@pytest.mark.django_db
def test_the_periodic_audit_checkpoint_is_queued_once_per_slot(settings):
    settings.TRIALKIT_AUDIT_CHECKPOINT_MINUTES = 15
    settings.TRIALKIT_DIARY_REMINDER_MINUTES = 0  # tested in tests/capture/test_capture_diary_reminders.py
    moment = datetime(2026, 3, 1, 10, 7, tzinfo=UTC)
    first = builtin.schedule_due(moment)
    assert len(first) == 1
    assert builtin.schedule_due(moment + timedelta(minutes=5)) == []  # same slot, another worker
    assert len(builtin.schedule_due(moment + timedelta(minutes=8))) == 1  # 10:15, the next slot
    job = runner.execute(first[0])
    assert job.status == Job.Status.DONE and job.message.startswith(("audit chain intact", "checkpoint written"))


@pytest.mark.django_db(transaction=True)
def test_a_report_started_from_the_page_runs_to_done(client, trials, make_user, sponsor):
    trial = trials[IXCELL]
    site = trial.sites.order_by("code").first()
    author = make_user(Role.COORDINATOR, trial, site, username="author")
    for n in range(1, 4):
        participant(trial, site, author, f"IX-P00{n}", enrolled=datetime(2025, n, 5, tzinfo=UTC))
    client.force_login(sponsor)
    client.post(f"/reports/{IXCELL}/start/")
    job = Job.objects.get()
    assert runner.wait_for(job.pk, timeout=120)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.message
    assert job.heartbeat_at >= job.started_at and job.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_an_export_started_through_the_api_runs_to_done(client, trials, sponsor):
    client.force_login(sponsor)
    response = client.post(f"/api/exports/{IXCELL}/jobs", {"formats": ["csv"]}, content_type="application/json")
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert exports.wait_for(job_id, timeout=120)
    assert client.get(f"/api/exports/{IXCELL}/jobs/{job_id}").json()["status"] == "done"


@pytest.mark.django_db
def test_export_retention_removes_old_archives_and_keeps_their_record(client, trials, sponsor, settings, tmp_path):
    from trialkit.server.audit.models import AuditEvent

    settings.TRIALKIT_EXPORT_RETENTION_DAYS = 30
    trial = trials[IXCELL]
    (tmp_path / "exports").mkdir()
    old = _job(trial, sponsor, kind="export", status=Job.Status.DONE, quiet_for=LONG_AGO)
    recent = _job(trial, sponsor, kind="export", status=Job.Status.DONE, quiet_for=LONG_AGO)
    paths = {}
    for job, age in ((old, 31), (recent, 29)):
        paths[job.pk] = tmp_path / "exports" / f"{IXCELL}-{job.pk}-blinded.zip"
        paths[job.pk].write_bytes(b"PK archive")
        Job.objects.filter(pk=job.pk).update(
            result_path=str(paths[job.pk]), sha256="ab" * 32, finished_at=timezone.now() - timedelta(days=age)
        )
    queued = builtin.schedule_due()
    retention = [pk for pk in queued if Job.objects.get(pk=pk).kind == "export_retention"]
    assert len(retention) == 1 and builtin.schedule_due() == []  # once a day
    assert runner.execute(retention[0]).message == "1 export archive(s) older than 30 days removed"
    assert not paths[old.pk].exists() and paths[recent.pk].exists()
    old.refresh_from_db()
    assert old.result_path == "" and old.sha256 == "ab" * 32 and "retention" in old.message
    event = AuditEvent.objects.get(action="export_file_removed")
    assert event.object_id == str(old.pk) and event.after["sha256"] == "ab" * 32
    client.force_login(sponsor)
    assert client.get(f"/api/exports/{IXCELL}/jobs/{old.pk}/download").status_code == 409


@pytest.mark.django_db
def test_the_checkpoint_job_refuses_to_sign_a_broken_chain(trials):
    """A checkpoint vouches for the chain's head: over a rewritten event it would vouch for the
    rewrite. The job verifies first and fails, naming the break, and writes no checkpoint."""
    from audit_insider import insider_sql

    from trialkit.server.audit.checkpoint import checkpoint_file
    from trialkit.server.audit.models import AuditEvent

    healthy = runner.execute(runner.submit("audit_checkpoint", queue=False).pk)
    assert healthy.status == Job.Status.DONE and "checkpoint written" in healthy.message
    lines = checkpoint_file().read_text().splitlines()
    victim = AuditEvent.objects.order_by("seq").first()
    insider_sql("UPDATE audit_auditevent SET reason = %s WHERE seq = %s", ["rewritten", victim.seq])
    broken = runner.execute(runner.submit("audit_checkpoint", queue=False).pk)
    assert broken.status == Job.Status.FAILED and "BROKEN" in broken.message
    assert checkpoint_file().read_text().splitlines() == lines
