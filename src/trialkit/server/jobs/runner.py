"""Submitting, running, watching and recovering jobs; writing their files atomically.

- ``submit`` creates the row and queues a task (``tasks.run_job``) for it. With the database
  backend the task row is written in the caller's transaction, so a job is queued exactly when
  its row commits; other backends (the immediate one in tests) get it once the row commits.
- ``execute`` is what a worker runs: it claims the row (status, attempt, worker id), beats the
  heartbeat every ``HEARTBEAT_SECONDS`` from a thread while the kind's function works, writes
  progress as it comes, and records the outcome. The outcome is written only if the row is still
  this attempt's, so a worker that was given up on can never overwrite a newer attempt.
- ``reap_stale`` is run by every worker every few seconds: a running job that has not beaten for
  ``STALE_AFTER`` lost its worker; its partial files are removed and it is queued again, or
  failed with a message once its kind's attempts are spent.
- Result files and folders are written under a temporary name in their final folder (``.tmp-job<id>-…``),
  flushed to disk and renamed into place; ``sweep_orphans`` (run when a worker starts) removes
  what a killed worker left.

Heartbeats use the wall clock: they answer "is a worker alive", not "when did this happen".
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from trialkit.server.jobs import kinds
from trialkit.server.jobs.kinds import Done, JobProblem
from trialkit.server.jobs.models import Job
from trialkit.server.private_files import DIR_MODE, private_dir, private_file

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = float(getattr(settings, "TRIALKIT_JOB_HEARTBEAT_SECONDS", 5.0))
# Six missed beats: a running job this quiet has no worker left.
STALE_AFTER = timedelta(seconds=float(getattr(settings, "TRIALKIT_JOB_STALE_SECONDS", 30.0)))
INTERRUPTED = "interrupted: the worker running this job stopped before it finished, so it has no result; start it again"
TEMP_PREFIX = ".tmp-job"
_TEMP_NAME = re.compile(r"^\.tmp-job(\d+)-")

__all__ = [
    "Done",
    "JobProblem",
    "execute",
    "reap_stale",
    "submit",
    "sweep_orphans",
    "visible_job",
    "visible_jobs",
    "wait_for",
]


# ------------------------------------------------------------------ queueing


def submit(
    kind: str,
    *,
    trial=None,
    requested_by=None,
    requester_role: str = "",
    unblinded: bool = False,
    params: dict | None = None,
    message: str = "queued",
    created_at: datetime | None = None,
    dedupe_key: str | None = None,
    queue: bool = True,
) -> Job:
    """Create a job row and queue it for a worker (``queue=False``: the caller runs it with ``execute``)."""
    kinds.get(kind)  # an unknown kind is refused before anything is written
    with transaction.atomic():
        job = Job.objects.create(
            kind=kind,
            trial=trial,
            requested_by=requested_by,
            requester_role=requester_role,
            unblinded=unblinded,
            params=params or {},
            message=message,
            created_at=created_at or timezone.now(),
            dedupe_key=dedupe_key,
        )
        if queue:
            enqueue(job.pk)
    return job


def enqueue(job_id: int) -> None:
    from trialkit.server.jobs.tasks import run_job

    if _transactional_backend():
        # The task row is part of the caller's transaction: queued if and only if the job commits.
        run_job.enqueue(job_id)
    else:
        transaction.on_commit(lambda: run_job.enqueue(job_id))


def _transactional_backend() -> bool:
    from django_tasks_db.backend import DatabaseBackend

    from trialkit.server.jobs.tasks import run_job

    return isinstance(run_job.get_backend(), DatabaseBackend)


# ------------------------------------------------------------------ running


@contextmanager
def heartbeat(job_id: int, *, every: float | None = None) -> Iterator[None]:
    """Write ``heartbeat_at`` on the row every ``every`` seconds until the block ends."""
    interval = HEARTBEAT_SECONDS if every is None else every
    if connection.in_atomic_block:
        # The caller's transaction has not committed the row; no other connection could write
        # to it (on SQLite it would wait on the caller's lock): run without a beat.
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now())
                except Exception:  # a missed beat is harmless; the next one may succeed
                    log.warning("heartbeat of job %s failed", job_id, exc_info=True)
        finally:
            connection.close()

    ticker = threading.Thread(target=beat, name=f"heartbeat-job-{job_id}", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join(timeout=max(interval, 1.0) + 5)


def execute(job_id: int, *, worker_id: str = "inline") -> Job:
    """Run one job in this process (a worker; the command line and tests call it directly)."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != Job.Status.QUEUED:
            # Already run, or being run by another worker: a duplicate delivery does nothing.
            log.info("job %s is %s; not run again", job_id, job.status if job else "gone")
            return job
        attempt = job.attempts + 1
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.RUNNING,
            attempts=attempt,
            worker_id=worker_id[:64],
            started_at=now,
            heartbeat_at=now,
            progress=1,
            message="starting",
        )
    job.refresh_from_db()
    mine = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, attempts=attempt)
    kind = kinds.get(job.kind)
    progress = progress_writer(job_id, attempt)

    log.info("job %s (%s) started, attempt %s", job_id, job.kind, attempt, extra={"job_id": job_id})
    try:
        with heartbeat(job_id):
            outcome = kind.run(job, progress)
    except JobProblem as exc:
        mine.update(status=Job.Status.FAILED, message=str(exc)[:2000], finished_at=timezone.now())
        log.info("job %s failed: %s", job_id, exc, extra={"job_id": job_id})
    except Exception as exc:  # the row must say it failed; the page shows the message
        log.error("job %s (%s) failed\n%s", job_id, job.kind, traceback.format_exc(), extra={"job_id": job_id})
        mine.update(status=Job.Status.FAILED, message=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now())
    else:
        done = outcome if isinstance(outcome, Done) else Done(path=Path(outcome) if outcome else None)
        fields = {
            "status": Job.Status.DONE,
            "progress": 100,
            "message": done.message[:2000],
            "finished_at": timezone.now(),
            "sha256": done.sha256,
            "manifest": done.manifest,
        }
        if done.path is not None:
            fields.update(
                result_path=str(done.path), size_bytes=done.path.stat().st_size if done.path.is_file() else None
            )
        with transaction.atomic():
            finished = mine.update(**fields)
            if finished and done.then is not None:
                done.then()
        if not finished:
            # This attempt was given up on (its heartbeat stopped) and another one owns the row.
            log.warning("job %s attempt %s finished after it was given up on; result discarded", job_id, attempt)
        else:
            log.info("job %s (%s) done", job_id, job.kind, extra={"job_id": job_id})
    job.refresh_from_db()
    return job


def progress_writer(job_id: int, attempt: int):
    """``progress(percent, message)`` for one attempt: an UPDATE at once, outside any transaction,
    so the page polling the job sees each step (and the heartbeat moves with it)."""
    mine = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, attempts=attempt)

    def progress(percent: int, message: str) -> None:
        mine.update(progress=max(0, min(99, int(percent))), message=message[:2000], heartbeat_at=timezone.now())

    return progress


def wait_for(job_id: int, timeout: float = 60, poll: float = 0.1) -> bool:
    """Wait until the job is done or failed (the command line, tests); True if it finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Job.objects.filter(pk=job_id, status__in=(Job.Status.DONE, Job.Status.FAILED)).exists():
            return True
        time.sleep(poll)
    return False


# ------------------------------------------------------------------ recovery (worker side)


def reap_stale(now: datetime | None = None) -> dict[str, list[int]]:
    """Queue again, or fail, the running jobs whose worker stopped beating. Returns their ids."""
    moment = now or timezone.now()
    cutoff = moment - STALE_AFTER
    outcome: dict[str, list[int]] = {"requeued": [], "failed": []}
    for job_id in list(
        Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True)
    ):
        with transaction.atomic():
            job = (
                Job.objects.select_for_update()
                .filter(pk=job_id, status=Job.Status.RUNNING, heartbeat_at__lt=cutoff)
                .first()
            )
            if job is None:  # it beat, finished or was reaped by another worker meanwhile
                continue
            remove_partial_outputs(job.pk)
            _fail_task_rows(job.worker_id, moment)
            kind = kinds.KINDS.get(job.kind)
            if kind is not None and job.attempts < kind.max_attempts:
                Job.objects.filter(pk=job.pk).update(
                    status=Job.Status.QUEUED,
                    progress=0,
                    worker_id="",
                    heartbeat_at=None,
                    message=(
                        f"the worker running this job stopped; queued again "
                        f"(attempt {job.attempts + 1} of {kind.max_attempts})"
                    ),
                )
                enqueue(job.pk)
                outcome["requeued"].append(job.pk)
            else:
                Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, message=INTERRUPTED, finished_at=moment)
                outcome["failed"].append(job.pk)
    for verdict, ids in outcome.items():
        if ids:
            log.warning("jobs whose worker stopped: %s %s", verdict, ids)
    return outcome


def _fail_task_rows(worker_id: str, moment: datetime) -> None:
    """The queue's own rows left running by a dead worker are closed as failed too."""
    if not worker_id or not _transactional_backend():
        return
    from django_tasks_db.models import DBTaskResult

    # The worker ids are a JSON list, which SQLite cannot search: the running rows are few.
    ids = [
        pk
        for pk, workers in DBTaskResult.objects.filter(status="RUNNING").values_list("pk", "worker_ids")
        if worker_id in (workers or [])
    ]
    DBTaskResult.objects.filter(pk__in=ids, status="RUNNING").update(
        status="FAILED",
        finished_at=moment,
        exception_class_path="trialkit.server.jobs.runner.WorkerStopped",
        traceback="the worker process stopped while running this task",
    )


# ------------------------------------------------------------------ files


def output_dirs() -> list[Path]:
    data = Path(settings.DATA_DIR)
    return [data / "exports", data / "jobs"]


def job_dir(job: Job) -> Path:
    return private_dir(Path(settings.DATA_DIR) / "jobs") / str(job.pk)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if item.is_file():
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())
        elif item.is_dir():
            _fsync_dir(item)


def temp_name(job_id: int, target: Path) -> Path:
    return target.parent / f"{TEMP_PREFIX}{job_id}-{secrets.token_hex(4)}-{target.name}"


@contextmanager
def atomic_output(job_id: int, target: Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is flushed and renamed to ``target``.

    Readers see either no ``target`` or the whole of it, never a partial file, whatever happens
    to the process meanwhile. A folder target is replaced whole.
    """
    private_dir(target.parent)
    temp = temp_name(job_id, target)
    if directory:
        temp.mkdir(mode=DIR_MODE)
    try:
        yield temp
        for item in [temp, *temp.rglob("*")] if temp.is_dir() else [temp]:  # trial data: private
            (private_dir if item.is_dir() else private_file)(item)
        _fsync_tree(temp)
        if directory and target.exists():
            shutil.rmtree(target)
        os.replace(temp, target)
        _fsync_dir(target.parent)
    finally:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        elif temp.exists():
            temp.unlink()


@contextmanager
def scratch_dir(job_id: int, parent: Path) -> Iterator[Path]:
    """A temporary folder of the job, removed when the block ends (or swept if the worker dies)."""
    private_dir(parent)
    path = temp_name(job_id, parent / "scratch")
    path.mkdir(mode=DIR_MODE)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_partial_outputs(job_id: int) -> list[Path]:
    """Delete the temporary files and folders of one job (its worker is gone)."""
    removed = []
    for directory in output_dirs():
        if directory.is_dir():
            for entry in directory.glob(f"{TEMP_PREFIX}{job_id}-*"):
                _remove(entry)
                removed.append(entry)
    return removed


def sweep_orphans() -> list[Path]:
    """Remove temporary outputs whose job is not running (a worker killed while writing them)."""
    removed = []
    candidates: dict[int, list[Path]] = {}
    for directory in output_dirs():
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            match = _TEMP_NAME.match(entry.name)
            if match:
                candidates.setdefault(int(match.group(1)), []).append(entry)
    if not candidates:
        return removed
    running = set(Job.objects.filter(pk__in=candidates, status=Job.Status.RUNNING).values_list("pk", flat=True))
    for job_id, entries in candidates.items():
        if job_id in running:
            continue  # another worker is writing it now
        for entry in entries:
            _remove(entry)
            removed.append(entry)
    if removed:
        log.warning("removed %d orphaned temporary output(s): %s", len(removed), [p.name for p in removed])
    return removed


# ------------------------------------------------------------------ reading


def visible_jobs(user, *, trial=None, kind: str | None = None) -> models.QuerySet:
    """The jobs ``user`` may list or open: every list and fetch of jobs for a person goes through here.

    A job of a private kind (a report) is its requester's alone. The caller has already checked
    that the user's role may use the kind at all (exports.services.export_access, for instance).
    """
    jobs = Job.objects.select_related("trial", "requested_by")
    if trial is not None:
        jobs = jobs.filter(trial=trial)
    if kind is not None:
        jobs = jobs.filter(kind=kind)
    private = [name for name, k in kinds.KINDS.items() if k.private]
    jobs = jobs.exclude(models.Q(kind__in=private) & ~models.Q(requested_by_id=getattr(user, "pk", None)))
    # Asked on every list, page, poll and download: an unblinded job exists only for a person who
    # may see allocation and holds the kind's unblinded permission now, so revoking a membership
    # revokes access at once, also for the person who made the job.
    from trialkit.server.accounts.lookups import may_see_artefact
    from trialkit.server.trials.models import Trial

    trials = [trial] if trial is not None else list(Trial.objects.filter(pk__in=jobs.values("trial_id")))
    visible = models.Q(pk__in=[])
    for each in trials:
        for name, job_kind in kinds.KINDS.items():
            if job_kind.permissions is None or (kind is not None and name != kind):
                continue
            blinded_permission, unblinded_permission = job_kind.permissions
            for unblinded in (False, True):
                if may_see_artefact(
                    user,
                    each,
                    unblinded=unblinded,
                    blinded_permission=blinded_permission,
                    unblinded_permission=unblinded_permission,
                ):
                    visible |= models.Q(trial=each, kind=name, unblinded=unblinded)
    return jobs.filter(visible)


def visible_job(user, pk: int, *, trial=None, kind: str | None = None) -> Job:
    """One job ``user`` may open, or Http404 (the same answer whether it exists or not)."""
    from django.http import Http404

    job = visible_jobs(user, trial=trial, kind=kind).filter(pk=pk).first()
    if job is None:
        raise Http404("no such job")
    return job
