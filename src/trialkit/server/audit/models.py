from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One append-only, MAC-chained event: who, when, what (before and after), why.

    ``hash`` is an HMAC-SHA256, under the key named by ``key_id`` (kept outside the database, see
    ``keys.py``), of every other field and the previous event's ``hash``, so editing, deleting,
    inserting or appending an event without the key breaks the chain (``trialkit audit verify``).
    Triggers forbid UPDATE and DELETE (migrations 0002, 0005); on PostgreSQL the application's
    role has no UPDATE, DELETE or TRUNCATE right on this table either (``manage audit_db_roles``).
    There is one chain per trial (``chain`` = the trial's id) and the global chain 0 (events with
    no trial, and all events written before the split); ``seq`` counts 1, 2, … within a chain.
    Each chain's head is its last event; checkpoints outside the database witness every head.
    """

    chain = models.BigIntegerField(default=0)
    seq = models.BigIntegerField()
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
    key_id = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["id"]  # insertion order; within a chain the same as seq order (verify checks)
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            # "Recent activity": a trial's last events, read newest first and stopped after a few.
            models.Index(fields=["trial_id", "-id"], name="audit_trial_recent_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq")]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action} {self.object_type}:{self.object_id} by {self.actor or 'system'}"
