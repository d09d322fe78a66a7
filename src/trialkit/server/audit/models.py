from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One append-only, hash-chained event: who, when, what (before and after), why.

    ``hash`` covers every other field and the previous event's hash, so editing, deleting or
    inserting an event breaks the chain at that point (see ``trialkit audit verify``). On
    PostgreSQL a trigger forbids UPDATE and DELETE on this table (migration 0002).
    """

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    trial_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    site_id = models.BigIntegerField(null=True, blank=True)
    participant_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    # Events that would reveal allocation (randomization details, dose preparation, unblinding)
    # are shown only to unblinded roles and to the one investigator who unblinded.
    restricted = models.BooleanField(default=False)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id} by {self.actor or 'system'}"


class ChainHead(models.Model):
    """The single row every writer locks to append the next event in order."""

    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
