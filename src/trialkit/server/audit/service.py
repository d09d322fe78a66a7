"""Append audit events in the caller's transaction, one writer at a time."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from trialkit.server.audit.chain import GENESIS, event_hash, normalize, verify_events
from trialkit.server.audit.models import AuditEvent, ChainHead


def record_event(
    *,
    actor,
    action: str,
    object_type: str,
    object_id: str = "",
    before: Any = None,
    after: Any = None,
    reason: str = "",
    trial_id: int | None = None,
    site_id: int | None = None,
    participant_id: int | None = None,
    restricted: bool = False,
    at=None,
) -> AuditEvent:
    """Write one event. Call inside the transaction that makes the change, so both land or neither."""
    with transaction.atomic():
        # The head row serializes appends: FOR UPDATE on PostgreSQL; on SQLite every write
        # transaction is BEGIN IMMEDIATE (settings), which already holds the database lock.
        head = ChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            ChainHead.objects.get_or_create(pk=1, defaults={"last_seq": 0, "last_hash": GENESIS})
            head = ChainHead.objects.select_for_update().get(pk=1)
        authenticated = actor is not None and getattr(actor, "is_authenticated", False)
        fields = {
            "seq": head.last_seq + 1,
            "at": at or timezone.now(),
            "actor_id": actor.pk if authenticated else None,
            "actor": actor.get_username() if authenticated else "system",
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "trial_id": trial_id,
            "site_id": site_id,
            "participant_id": participant_id,
            "before": normalize(before),
            "after": normalize(after),
            "reason": reason or "",
            "restricted": restricted,
            "prev_hash": head.last_hash,
        }
        fields["hash"] = event_hash(fields)
        event = AuditEvent.objects.create(**fields)
        head.last_seq = event.seq
        head.last_hash = event.hash
        head.save(update_fields=["last_seq", "last_hash"])
        return event


def verify_chain():
    """Check the whole chain; return (events checked, first problem or None)."""
    head = ChainHead.objects.filter(pk=1).first()
    events = (
        {name: getattr(e, name) for name in (*(f.name for f in AuditEvent._meta.fields),)}
        for e in AuditEvent.objects.order_by("seq").iterator()
    )
    return verify_events(events, head.last_seq if head else None)
