"""The one job model: every long operation (report, export, audit checkpoint, notifications) is a row.

A page or an API client polls the row; a worker process (``trialkit worker``) runs it. The worker
writes progress and a heartbeat on the row; a row left ``running`` whose heartbeat stopped is
retried or failed by another worker (``trialkit.server.jobs.runner.reap_stale``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=32)  # a name in trialkit.server.jobs.kinds
    # None: a job of the whole installation (the audit checkpoint).
    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, null=True, blank=True, related_name="jobs")
    # None: started by the system (the command line, the worker's schedule).
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The role the job was requested under; an unblinded job's result is for unblinded roles only.
    requester_role = models.CharField(max_length=32, blank=True)
    unblinded = models.BooleanField(default=False)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    message = models.TextField(blank=True)  # the current step; why it failed
    result_path = models.CharField(max_length=500, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker_id = models.CharField(max_length=64, blank=True)
    # A scheduled job's slot ("audit_checkpoint:2026-11-30T08:30"): two workers never queue it twice.
    dedupe_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"]), models.Index(fields=["trial", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def requester_name(self) -> str:
        return self.requested_by.get_username() if self.requested_by else "system (command line)"

    @property
    def file_name(self) -> str:
        return self.result_path.rsplit("/", 1)[-1] if self.result_path else ""

    # Export parameters, read by the export pages and API.
    @property
    def formats(self) -> list[str]:
        return list(self.params.get("formats", []))

    @property
    def include_drafts(self) -> bool:
        return bool(self.params.get("include_drafts"))


class WorkerProcess(models.Model):
    """A running ``trialkit worker``: written every few seconds, read by /healthz and the operators."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at", "worker_id"]

    def __str__(self) -> str:
        return f"worker {self.worker_id}"
