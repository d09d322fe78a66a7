"""Job kinds of the installation itself: the audit checkpoint and the notifications digest."""

from __future__ import annotations

import importlib
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from trialkit.server.jobs.kinds import Done, JobProblem, job_kind

log = logging.getLogger(__name__)


@job_kind("audit_checkpoint", label="audit checkpoint", max_attempts=3)
def audit_checkpoint(job, progress):
    """Write an audit checkpoint where the installation has one; until then, verify the chain."""
    progress(10, "checking the audit trail")
    try:
        checkpoint = importlib.import_module("trialkit.server.audit.checkpoint")
    except ModuleNotFoundError as exc:
        if exc.name != "trialkit.server.audit.checkpoint":
            raise
        checkpoint = None
    if checkpoint is not None and hasattr(checkpoint, "write_checkpoint"):
        written = checkpoint.write_checkpoint()
        return Done(message=f"checkpoint written: {written}"[:2000])
    from trialkit.server.audit.service import verify_chain

    checked, problem = verify_chain()
    if problem is not None:
        raise JobProblem(f"audit chain BROKEN after checking {checked} event(s): {problem}")
    return Done(message=f"audit chain intact: {checked} event(s) verified")


@job_kind("notifications", label="notifications digest", max_attempts=3)
def notifications_digest(job, progress):
    """Count the unread in-app notifications per trial and role (a digest for the operators' log)."""
    from django.db.models import Count

    from trialkit.server.allocation.models import Notification

    progress(20, "counting unread notifications")
    rows = (Notification.objects.filter(read_at__isnull=True)
            .values("trial__nct_id", "recipient_role").annotate(unread=Count("id")).order_by("trial__nct_id"))
    digest = [{"trial": r["trial__nct_id"], "role": r["recipient_role"], "unread": r["unread"]} for r in rows]
    log.info("notifications digest", extra={"digest": digest})
    return Done(manifest={"unread": digest}, message=f"{sum(r['unread'] for r in digest)} unread notification(s)")


def checkpoint_minutes() -> int:
    return int(getattr(settings, "TRIALKIT_AUDIT_CHECKPOINT_MINUTES", 60))


def schedule_due(now: datetime | None = None) -> list[int]:
    """Queue the periodic jobs whose slot has come (the audit checkpoint every N minutes).

    Every worker calls this; the slot's unique key means exactly one of them queues it.
    """
    from trialkit.server.jobs import runner

    minutes = checkpoint_minutes()
    if minutes <= 0:
        return []
    moment = now or timezone.now()
    epoch_minutes = int(moment.timestamp() // 60)
    slot = datetime.fromtimestamp((epoch_minutes - epoch_minutes % minutes) * 60, tz=moment.tzinfo)
    key = f"audit_checkpoint:{slot.isoformat(timespec='minutes')}"
    try:
        with transaction.atomic():
            job = runner.submit("audit_checkpoint", message="scheduled", dedupe_key=key, created_at=moment)
    except IntegrityError:
        return []
    log.info("scheduled audit checkpoint job %s for slot %s", job.pk, slot.isoformat(), extra={"job_id": job.pk})
    return [job.pk]


SCHEDULE_EVERY = timedelta(seconds=30)
