"""Job kinds of the installation itself: the audit checkpoint, the notifications digest, export retention
(and the schedule that also queues the diary reminders of capture/reminders.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from trialkit.server.jobs.kinds import Done, JobProblem, job_kind

log = logging.getLogger(__name__)


@job_kind("audit_checkpoint", label="audit checkpoint", max_attempts=3)
def audit_checkpoint(job, progress):
    """Verify the audit chain, then append a signed checkpoint of its head (a broken chain is
    reported, never checkpointed)."""
    from trialkit.server.audit.checkpoint import write_checkpoint
    from trialkit.server.audit.service import verify_chain

    progress(10, "checking the audit trail")
    checked, problem = verify_chain()
    if problem is not None:
        raise JobProblem(f"audit chain BROKEN after checking {checked} event(s): {problem}")
    progress(90, "writing the checkpoint")
    written = write_checkpoint()
    return Done(message=f"audit chain intact: {checked} event(s) verified; checkpoint written: {written}"[:2000])


@job_kind("notifications", label="notifications digest", max_attempts=3)
def notifications_digest(job, progress):
    """Count the unread in-app notifications per trial and role (a digest for the operators' log)."""
    from django.db.models import Count

    from trialkit.server.allocation.models import Notification

    progress(20, "counting unread notifications")
    rows = (
        Notification.objects.filter(read_at__isnull=True)
        .values("trial__nct_id", "recipient_role")
        .annotate(unread=Count("id"))
        .order_by("trial__nct_id")
    )
    digest = [{"trial": r["trial__nct_id"], "role": r["recipient_role"], "unread": r["unread"]} for r in rows]
    log.info("notifications digest", extra={"digest": digest})
    return Done(manifest={"unread": digest}, message=f"{sum(r['unread'] for r in digest)} unread notification(s)")


@job_kind("export_retention", label="export retention", max_attempts=3)
def export_retention(job, progress):
    """Remove the archive files of exports older than TRIALKIT_EXPORT_RETENTION_DAYS.

    The job row (who, when, what, SHA-256, manifest) stays; each removal is an audit event.
    """
    from pathlib import Path

    from trialkit.server.audit.service import record_event
    from trialkit.server.jobs.models import Job

    days = retention_days()
    if days <= 0:
        return Done(message="retention is off: export archives are kept")
    now = timezone.now()
    removed = 0
    old = Job.objects.filter(kind="export", status=Job.Status.DONE, finished_at__lt=now - timedelta(days=days))
    for export in old.exclude(result_path=""):
        path = Path(export.result_path)
        with transaction.atomic():
            Job.objects.filter(pk=export.pk).update(
                result_path="", message=f"archive removed after {days} days (retention); its SHA-256 is kept"
            )
            record_event(
                actor=None,
                action="export_file_removed",
                object_type="export",
                object_id=export.pk,
                after={"file": path.name, "sha256": export.sha256, "retention_days": days},
                trial_id=export.trial_id,
                restricted=export.unblinded,
                at=now,
            )
        path.unlink(missing_ok=True)
        removed += 1
    return Done(message=f"{removed} export archive(s) older than {days} days removed")


def checkpoint_minutes() -> int:
    return int(getattr(settings, "TRIALKIT_AUDIT_CHECKPOINT_MINUTES", 60))


def retention_days() -> int:
    return int(getattr(settings, "TRIALKIT_EXPORT_RETENTION_DAYS", 0))


def diary_reminder_minutes() -> int:
    return int(getattr(settings, "TRIALKIT_DIARY_REMINDER_MINUTES", 60))


def _periodic() -> list[tuple[str, int]]:
    """(kind, every N minutes) of the jobs the workers queue on a schedule."""
    schedule = []
    if checkpoint_minutes() > 0:
        schedule.append(("audit_checkpoint", checkpoint_minutes()))
    if retention_days() > 0:
        schedule.append(("export_retention", 24 * 60))
    if diary_reminder_minutes() > 0:
        # Each run sends only the reminders due and not yet sent (capture/reminders.py).
        schedule.append(("diary_reminders", diary_reminder_minutes()))
    return schedule


def schedule_due(now: datetime | None = None) -> list[int]:
    """Queue the periodic jobs whose slot has come (the audit checkpoint every N minutes, export
    retention daily). Every worker calls this; the slot's unique key means one of them queues it."""
    from trialkit.server.jobs import runner

    moment = now or timezone.now()
    queued = []
    for kind, minutes in _periodic():
        epoch_minutes = int(moment.timestamp() // 60)
        slot = datetime.fromtimestamp((epoch_minutes - epoch_minutes % minutes) * 60, tz=moment.tzinfo)
        key = f"{kind}:{slot.isoformat(timespec='minutes')}"
        try:
            with transaction.atomic():
                job = runner.submit(kind, message="scheduled", dedupe_key=key, created_at=moment)
        except IntegrityError:
            continue
        log.info("scheduled %s job %s for slot %s", kind, job.pk, slot.isoformat(), extra={"job_id": job.pk})
        queued.append(job.pk)
    return queued


SCHEDULE_EVERY = timedelta(seconds=30)
