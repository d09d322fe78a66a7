"""Append audit events in the caller's transaction, one writer per chain at a time."""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from trialkit.server.audit import keys
from trialkit.server.audit.chain import GENESIS, GLOBAL, event_mac, normalize
from trialkit.server.audit.chain import verify_chains as verify_chains_core
from trialkit.server.audit.models import AuditEvent

# One chain per trial (chain = the trial's id) and the global chain 0 for events with no trial
# (and every event written before the chains were split, see migration 0006).
GLOBAL_CHAIN = GLOBAL
MAIN_CHAIN = GLOBAL_CHAIN  # the name the first, single-chain version used
_LOCK_BASE = 0x7472_6B00  # "trk": the PostgreSQL advisory-lock namespace of the audit chains


def chain_of(trial_id: int | None) -> int:
    """The chain an event of ``trial_id`` is appended to."""
    return int(trial_id) if trial_id else GLOBAL_CHAIN


def _lock_chain(chain: int = GLOBAL_CHAIN) -> None:
    # PostgreSQL: a transaction-scoped advisory lock per chain serializes that chain's appends
    # (the application role needs no UPDATE right for it); other chains do not wait. The two-key
    # form keeps the audit's namespace apart from any other advisory lock. SQLite: every write
    # transaction is BEGIN IMMEDIATE (settings), which already holds the database's write lock.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_BASE, _lock_key(chain)])


def _lock_key(chain: int) -> int:
    # pg_advisory_xact_lock(int4, int4): fold the chain id into a signed 32-bit key.
    return ((chain + 2**31) % 2**32) - 2**31


def chain_head(chain: int = GLOBAL_CHAIN) -> tuple[int, str]:
    """(seq, MAC) of the chain's last event; (0, GENESIS) when empty."""
    last = AuditEvent.objects.filter(chain=chain).order_by("-seq").values_list("seq", "hash").first()
    return (last[0], last[1]) if last else (0, GENESIS)


def chain_heads() -> dict[int, tuple[int, str]]:
    """Every chain's (seq, MAC) head, by chain."""
    last = AuditEvent.objects.values("chain").annotate(top=Max("seq")).values_list("chain", "top")
    heads: dict[int, tuple[int, str]] = {}
    for chain, top in last:
        mac = AuditEvent.objects.filter(chain=chain, seq=top).values_list("hash", flat=True).first()
        heads[chain] = (top, mac or "")
    return heads


# ------------------------------------------------------------------ the head, once per transaction
#
# The first append to a chain in a transaction takes the chain's lock (held until the transaction
# ends) and reads its head; later appends in the same transaction use the head kept here, so a
# transaction that writes many events locks and reads each chain once. The kept head is trusted
# only while a marker registered with ``on_commit`` at the last append is still pending: Django
# drops pending callbacks when the transaction ends (commit or rollback) and when a savepoint they
# were registered in is rolled back — exactly when the kept head (or the lock, taken in a rolled
# back savepoint) may no longer be true. Then the lock is taken and the head read again.


@dataclass
class _Head:
    seq: int
    mac: str
    marker: Any
    savepoints: tuple[str, ...]


def _noop() -> None:
    return None


def _pending(marker) -> bool:
    return any(entry[1] is marker for entry in reversed(connection.run_on_commit))


def _heads() -> dict[int, _Head]:
    kept = getattr(connection, "_trialkit_audit_heads", None)
    if kept is None:
        kept = {}
        connection._trialkit_audit_heads = kept  # type: ignore[attr-defined]
    return kept


def _head_for_append(chain: int) -> _Head:
    kept = _heads()
    head = kept.get(chain)
    if head is not None and _pending(head.marker):
        return head
    _lock_chain(chain)
    seq, mac = chain_head(chain)
    head = _Head(seq, mac, None, ())
    kept[chain] = head
    return head


def _advance(chain: int, head: _Head, seq: int, mac: str) -> None:
    head.seq, head.mac = seq, mac
    savepoints = tuple(connection.savepoint_ids)
    if head.marker is None or head.savepoints != savepoints:
        marker = functools.partial(_noop)  # a new object: identity is what is checked
        transaction.on_commit(marker)
        head.marker, head.savepoints = marker, savepoints


def _resolve_actor(actor):
    from trialkit.server.audit.context import current_actor

    if actor is None or not getattr(actor, "is_authenticated", False):
        actor = current_actor()
    return actor


def _fields(
    ring,
    actor,
    *,
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
) -> dict[str, Any]:
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return {
        "chain": chain_of(trial_id),
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
        "key_id": ring.current_id,
    }


def _append(events: list[AuditEvent], ring) -> list[AuditEvent]:
    """Chain and insert events (in the caller's transaction), each chain locked once."""
    for event in events:
        head = _head_for_append(event.chain)
        event.seq, event.prev_hash = head.seq + 1, head.mac
        event.hash = event_mac({f.name: getattr(event, f.name) for f in AuditEvent._meta.fields}, ring.current)
        _advance(event.chain, head, event.seq, event.hash)
    if len(events) == 1:
        events[0].save(force_insert=True)
        return events
    return AuditEvent.objects.bulk_create(events)


# ------------------------------------------------------------------ batches
#
# ``batch()`` (or ``@batched``) inside a transaction keeps the events written in it and appends
# them in one insert when the block ends — still inside the transaction, so they commit or roll
# back with the change. The chain's lock is then taken at the end, not at the first event, and is
# held only for the insert and the commit. An event kept from a savepoint that was rolled back is
# dropped (its ``on_commit`` marker is gone with the savepoint), like the change it recorded.


@dataclass
class _Batch:
    events: list[tuple[AuditEvent, Any]]
    markers: dict[tuple[str, ...], Any]


def _batch() -> _Batch | None:
    return getattr(connection, "_trialkit_audit_batch", None)


@contextmanager
def batch():
    """Append the audit events written inside in one step at the end (call inside a transaction)."""
    if _batch() is not None or not connection.in_atomic_block:
        yield  # nested: the outer batch appends; outside a transaction: nothing to batch into
        return
    current = _Batch([], {})
    connection._trialkit_audit_batch = current  # type: ignore[attr-defined]
    try:
        yield
    finally:
        connection._trialkit_audit_batch = None  # type: ignore[attr-defined]
    kept = [event for event, marker in current.events if _pending(marker)]
    if kept:
        _append(kept, keys.keyring())


def batched(func):
    """Decorator: run ``func`` inside ``batch()``; put it under ``@transaction.atomic``."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with batch():
            return func(*args, **kwargs)

    return wrapper


def _keep(current: _Batch, event: AuditEvent) -> AuditEvent:
    savepoints = tuple(connection.savepoint_ids)
    marker = current.markers.get(savepoints)
    if marker is None or not _pending(marker):
        marker = functools.partial(_noop)
        transaction.on_commit(marker)
        current.markers[savepoints] = marker
    current.events.append((event, marker))
    return event


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
    ``system``. The event goes to its trial's chain (chain 0 without a trial).
    """
    ring = keys.keyring()  # refuses clearly before writing anything when there is no key
    fields = _fields(
        ring,
        _resolve_actor(actor),
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        reason=reason,
        trial_id=trial_id,
        site_id=site_id,
        participant_id=participant_id,
        restricted=restricted,
        at=at,
    )
    event = AuditEvent(**fields)
    current = _batch()
    if current is not None and connection.in_atomic_block:
        return _keep(current, event)  # appended (seq, MAC, id) when the batch ends
    with transaction.atomic(savepoint=False):
        return _append([event], ring)[0]


def record_events(events: list[dict[str, Any]]) -> list[AuditEvent]:
    """Write several events (each given as ``record_event``'s keyword arguments) with one insert."""
    if not events:
        return []
    ring = keys.keyring()
    rows = [
        _fields(ring, _resolve_actor(e.get("actor")), **{k: v for k, v in e.items() if k != "actor"}) for e in events
    ]
    made = [AuditEvent(**row) for row in rows]
    current = _batch()
    if current is not None and connection.in_atomic_block:
        return [_keep(current, event) for event in made]
    with transaction.atomic(savepoint=False):
        return _append(made, ring)


def event_dicts(queryset=None):
    names = [f.name for f in AuditEvent._meta.fields]
    qs = queryset if queryset is not None else AuditEvent.objects.order_by("chain", "seq")
    return (dict(zip(names, row)) for row in qs.values_list(*names).iterator(chunk_size=2000))


def verify_chains():
    """Check every chain's MACs and links; return (events checked, each broken chain's first problem)."""
    checked, problems, _heads_seen = verify_chains_core(event_dicts(), keys.keyring().keys)
    return checked, problems


def verify_chain():
    """Check every chain; return (events checked, the first problem found or None)."""
    checked, problems = verify_chains()
    return checked, (problems[0] if problems else None)
