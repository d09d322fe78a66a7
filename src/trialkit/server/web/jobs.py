"""Reports and other long operations as jobs: a row the page polls for progress.

A job function takes ``(job, report_progress)`` and returns the path of its result file.
``start`` queues it to run in the background (``trialkit.server.background``) after the
surrounding transaction commits; ``run`` works it (tests call it directly). Progress is written
with ``UPDATE`` so that the polling request never waits on the worker's transaction.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from trialkit.server import background
from trialkit.server.web.models import Job

log = logging.getLogger(__name__)

JOB_KINDS: dict[str, Callable] = {}


def job_kind(name: str):
    def register(function: Callable) -> Callable:
        JOB_KINDS[name] = function
        return function

    return register


class JobProblem(Exception):
    """A job that cannot produce its result; the message is shown to the user."""


def job_dir(job: Job) -> Path:
    from trialkit.server.private_files import private_dir

    private_dir(Path(settings.DATA_DIR) / "jobs")
    return private_dir(Path(settings.DATA_DIR) / "jobs" / str(job.pk))


def _update(job_id: int, **fields) -> None:
    Job.objects.filter(pk=job_id).update(**fields)


def run(job_id: int) -> Job:
    job = Job.objects.select_related("trial", "owner").get(pk=job_id)
    function = JOB_KINDS[job.kind]

    def report_progress(percent: int, step: str) -> None:
        _update(job_id, progress=max(0, min(100, int(percent))), step=step[:200], status=Job.Status.RUNNING,
                heartbeat_at=timezone.now())

    report_progress(1, "Starting")
    try:
        with background.heartbeat(Job, job_id):
            result = function(job, report_progress)
    except JobProblem as exc:
        _update(job_id, status=Job.Status.FAILED, error=str(exc), finished_at=timezone.now())
    except Exception as exc:  # a failed report must not leave the page polling forever
        log.error("job %s failed\n%s", job_id, traceback.format_exc())
        _update(job_id, status=Job.Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now())
    else:
        _update(job_id, status=Job.Status.DONE, progress=100, step="Done", result_path=str(result),
                finished_at=timezone.now())
    return Job.objects.get(pk=job_id)


def start(*, kind: str, trial, owner, params: dict | None = None) -> Job:
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    job = Job.objects.create(kind=kind, trial=trial, owner=owner, params=params or {})
    background.start_after_commit(thread_name(job.pk), lambda: run(job.pk))
    return job


def thread_name(job_id: int) -> str:
    return f"job-{job_id}"


def refresh(job: Job) -> Job:
    """The job as it stands now, marked interrupted if its worker has stopped."""
    background.interrupt_stale(Job.objects.filter(pk=job.pk), message_field="error")
    job.refresh_from_db()
    return job
