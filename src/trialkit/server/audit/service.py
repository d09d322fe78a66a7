"""Append audit events in the caller's transaction, one writer at a time."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from trialkit.server.audit import keys
from trialkit.server.audit.chain import GENESIS, event_mac, normalize, verify_events
from trialkit.server.audit.models import AuditEvent

# One chain today. The lock key and the head lookup take the chain's number so that separate
# chains (one per trial) can later append without waiting for each other.
MAIN_CHAIN = 0
_LOCK_BASE = 0x7472_6B00  # "trk": the PostgreSQL advisory-lock namespace of the audit chain


def _lock_chain(chain: int = MAIN_CHAIN) -> None:
    # PostgreSQL: a transaction-scoped advisory lock serializes appends (the application role
    # needs no UPDATE right for it). SQLite: every write transaction is BEGIN IMMEDIATE
    # (settings), which already holds the database's write lock.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_BASE + chain])


def chain_head(chain: int = MAIN_CHAIN) -> tuple[int, str]:
    """(seq, MAC) of the chain's last event; (0, GENESIS) when empty."""
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    return (last[0], last[1]) if last else (0, GENESIS)


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
    """Write one event. Call inside the transaction that makes the change, so both land or neither.

    ``actor`` None means the current request's user or ``acting_as`` user (``context.py``), else
    ``system``.
    """
    from trialkit.server.audit.context import current_actor

    ring = keys.keyring()  # refuses clearly before writing anything when there is no key
    if actor is None or not getattr(actor, "is_authenticated", False):
        actor = current_actor()
    with transaction.atomic():
        _lock_chain()
        last_seq, last_hash = chain_head()
        authenticated = actor is not None and getattr(actor, "is_authenticated", False)
        fields = {
            "seq": last_seq + 1,
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
            "prev_hash": last_hash,
            "key_id": ring.current_id,
        }
        fields["hash"] = event_mac(fields, ring.current)
        return AuditEvent.objects.create(**fields)


def event_dicts(queryset=None):
    names = [f.name for f in AuditEvent._meta.fields]
    qs = queryset if queryset is not None else AuditEvent.objects.order_by("seq")
    return (dict(zip(names, row)) for row in qs.values_list(*names).iterator(chunk_size=2000))


def verify_chain():
    """Check the whole chain's MACs and links; return (events checked, first problem or None)."""
    return verify_events(event_dicts(), keys.keyring().keys)
