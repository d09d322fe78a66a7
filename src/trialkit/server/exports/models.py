"""Data exports of a running trial: one row per requested export, updated while its files are written."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ExportJob(models.Model):
    """One export: who asked, blinded or not, how far it has come, and the file with its SHA-256."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="export_jobs")
    # None: the command-line export, run as the system.
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+")
    # The role the export was made under; only holders of that role may download it.
    requester_role = models.CharField(max_length=32)
    formats = models.JSONField(default=list)
    unblinded = models.BooleanField(default=False)
    include_drafts = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    message = models.TextField(blank=True)
    file_path = models.CharField(max_length=500, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written by the worker while it runs; see trialkit.server.background.
    heartbeat_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.trial}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def requester_name(self) -> str:
        return self.requested_by.get_username() if self.requested_by else "system (command line)"

    @property
    def file_name(self) -> str:
        return self.file_path.rsplit("/", 1)[-1] if self.file_path else ""
