"""Jobs whose server stopped: shown as interrupted, never as running forever; live jobs untouched.

Reports (web.Job) and exports (exports.ExportJob) share one runner, trialkit.server.background.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from datetime import timezone as tz

import pytest
from django.utils import timezone
from web_builders import participant

from trialkit.server import background
from trialkit.server.accounts.roles import Role
from trialkit.server.exports import services as exports
from trialkit.server.exports.models import ExportJob
from trialkit.server.web import jobs
from trialkit.server.web.models import Job

IXCELL = "NCT07197606"
LONG_AGO = timedelta(minutes=5)


@pytest.fixture
def sponsor(trials, make_user, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return make_user(Role.SPONSOR_ADMIN, trials[IXCELL])


def _report(trial, owner, *, status, quiet_for: timedelta) -> Job:
    job = Job.objects.create(kind="report", trial=trial, owner=owner, status=status, progress=40,
                             step="Fitting the models")
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - quiet_for)
    return job


def _export(trial, owner, *, status, quiet_for: timedelta) -> ExportJob:
    job = ExportJob.objects.create(trial=trial, requested_by=owner, requester_role="sponsor_admin",
                                   formats=["csv"], status=status, progress=35, message="ODM 1.3.2 written",
                                   created_at=datetime(2025, 3, 10, 9, 0, tzinfo=tz.utc))
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - quiet_for)
    return job


@pytest.mark.django_db
def test_a_report_whose_worker_stopped_is_shown_as_interrupted(client, trials, sponsor):
    trial = trials[IXCELL]
    stalled = _report(trial, sponsor, status=Job.Status.RUNNING, quiet_for=LONG_AGO)
    client.force_login(sponsor)
    fragment = client.get(f"/jobs/{stalled.pk}/progress/").content.decode()
    assert 'data-status="failed"' in fragment and "hx-get" not in fragment  # the page stops polling
    assert "the server stopped before this job finished" in fragment
    stalled.refresh_from_db()
    assert stalled.status == Job.Status.FAILED and stalled.finished_at is not None
    assert stalled.progress == 40  # how far it came is kept


@pytest.mark.django_db
def test_live_queued_and_finished_reports_are_left_alone(client, trials, sponsor):
    trial = trials[IXCELL]
    live = _report(trial, sponsor, status=Job.Status.RUNNING, quiet_for=timedelta(seconds=5))
    queued = _report(trial, sponsor, status=Job.Status.QUEUED, quiet_for=timedelta(seconds=5))
    done = _report(trial, sponsor, status=Job.Status.DONE, quiet_for=LONG_AGO)
    client.force_login(sponsor)
    assert 'data-status="running"' in client.get(f"/jobs/{live.pk}/progress/").content.decode()
    assert 'data-status="queued"' in client.get(f"/jobs/{queued.pk}/progress/").content.decode()
    assert 'data-status="done"' in client.get(f"/jobs/{done.pk}/progress/").content.decode()
    assert dict(Job.objects.values_list("pk", "status")) == {
        live.pk: "running", queued.pk: "queued", done.pk: "done"}


@pytest.mark.django_db
def test_a_queued_job_that_never_started_is_interrupted_on_the_home_page(client, trials, sponsor):
    stalled = _report(trials[IXCELL], sponsor, status=Job.Status.QUEUED, quiet_for=LONG_AGO)
    client.force_login(sponsor)
    assert client.get(f"/home/?trial={IXCELL}").status_code == 200
    stalled.refresh_from_db()
    assert stalled.status == Job.Status.FAILED and "start it again" in stalled.error


@pytest.mark.django_db
def test_an_export_whose_worker_stopped_is_interrupted_in_the_api_and_the_page(client, trials, sponsor):
    trial = trials[IXCELL]
    stalled = _export(trial, sponsor, status=ExportJob.Status.RUNNING, quiet_for=LONG_AGO)
    live = _export(trial, sponsor, status=ExportJob.Status.RUNNING, quiet_for=timedelta(seconds=1))
    client.force_login(sponsor)
    one = client.get(f"/api/exports/{IXCELL}/jobs/{stalled.pk}").json()
    assert one["status"] == "failed" and one["message"].startswith("interrupted:")
    assert one["download_url"] is None
    listed = {row["id"]: row["status"] for row in client.get(f"/api/exports/{IXCELL}/jobs").json()}
    assert listed == {stalled.pk: "failed", live.pk: "running"}
    page = client.get(f"/exports/{IXCELL}/").content.decode()
    assert "the server stopped before this job finished" in page


def test_interrupting_is_one_guarded_update():
    """The WHERE clause carries the status and the heartbeat, so a job that beats or finishes
    between the read and the write is not marked."""
    queryset = Job.objects.all()
    sql = str(queryset.filter(status__in=background.ACTIVE,
                              heartbeat_at__lt=timezone.now() - background.STALE_AFTER).query)
    assert '"status" IN' in sql and '"heartbeat_at" <' in sql


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_long_job_alive(trials, sponsor):
    """A job quiet for longer than STALE_AFTER between progress steps keeps beating, so it is
    never taken for interrupted; once it ends, the beat stops."""
    trial = trials[IXCELL]
    job = _report(trial, sponsor, status=Job.Status.RUNNING, quiet_for=LONG_AGO)
    before = Job.objects.get(pk=job.pk).heartbeat_at
    release = threading.Event()

    def long_step():
        with background.heartbeat(Job, job.pk, every=0.02):
            release.wait(5)

    worker = threading.Thread(target=long_step)
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while Job.objects.get(pk=job.pk).heartbeat_at == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert Job.objects.get(pk=job.pk).heartbeat_at > before
        assert background.interrupt_stale(Job.objects.all(), message_field="error") == 0
    finally:
        release.set()
        worker.join(5)
    last = Job.objects.get(pk=job.pk).heartbeat_at
    time.sleep(0.1)
    assert Job.objects.get(pk=job.pk).heartbeat_at == last


@pytest.mark.django_db(transaction=True)
def test_a_report_started_from_the_page_runs_in_the_background_to_done(client, trials, make_user, sponsor):
    trial = trials[IXCELL]
    site = trial.sites.order_by("code").first()
    author = make_user(Role.COORDINATOR, trial, site, username="author")
    for n in range(1, 4):
        participant(trial, site, author, f"IX-P00{n}", enrolled=datetime(2025, n, 5, tzinfo=tz.utc))
    client.force_login(sponsor)
    client.post(f"/reports/{IXCELL}/start/")
    job = Job.objects.get()
    assert background.wait_for(jobs.thread_name(job.pk), timeout=120)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.error
    assert job.heartbeat_at >= job.created_at


@pytest.mark.django_db(transaction=True)
def test_an_export_started_through_the_api_runs_in_the_background_to_done(client, trials, sponsor):
    client.force_login(sponsor)
    response = client.post(f"/api/exports/{IXCELL}/jobs", {"formats": ["csv"]}, content_type="application/json")
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert exports.wait_for(job_id, timeout=120)
    assert client.get(f"/api/exports/{IXCELL}/jobs/{job_id}").json()["status"] == "done"
