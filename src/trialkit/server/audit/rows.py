"""Row-level audit: every insert, change and deletion of an audited table is an event.

Each audited row's life is in the trail as ``row.insert`` (after = the whole row), ``row.update``
(before/after = the changed fields only) and ``row.delete`` (before = the whole row), with
``object_type`` the table and ``object_id`` the primary key, written by model signals in the
transaction that makes the change. ``trialkit audit verify`` replays these events and compares
the result with the live tables (``reconcile.py``), so a change made around the application —
raw SQL, a database console — shows up as a difference named by table, id and field.

Values are stored as the database gives them back (the row is re-read after saving), in JSON
form: datetimes as UTC ISO 8601, dates ISO, decimals as strings. Password hashes are stored only
as a SHA-256 digest (a change is visible, the hash is not); ``last_login`` and the diary code's
``last_used_at`` are bookkeeping and not audited.
"""

from __future__ import annotations

import functools
import hashlib
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import connections
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from trialkit.server.audit.chain import normalize

INSERT, UPDATE, DELETE, BASELINE = "row.insert", "row.update", "row.delete", "row.baseline"
ROW_ACTIONS = (INSERT, UPDATE, DELETE, BASELINE)


@dataclass(frozen=True)
class Audited:
    label: str  # app_label.ModelName
    restricted: bool = False  # rows that reveal allocation: shown only to unblinded roles
    exclude: frozenset[str] = field(default_factory=frozenset)
    digest: frozenset[str] = field(default_factory=frozenset)


AUDITED: tuple[Audited, ...] = (
    Audited("auth.User", exclude=frozenset({"last_login"}), digest=frozenset({"password"})),
    Audited("trials.Trial"),
    Audited("trials.Site"),
    Audited("accounts.Membership"),
    Audited("accounts.ApiToken", exclude=frozenset({"last_used_at"}), digest=frozenset({"secret_hash"})),
    Audited("participants.ScreeningRecord"),
    Audited("participants.Attestation"),
    Audited("participants.Consent"),
    Audited("participants.Participant"),
    # Personal data sent from the public pre-screener (name, phone, e-mail, answers).
    Audited("referrals.Referral"),
    Audited("allocation.AllocationList", restricted=True),
    Audited("allocation.AllocationSlot", restricted=True),
    Audited("allocation.MinimizationState", restricted=True),
    Audited("allocation.DoseRecord", restricted=True),
    Audited("allocation.UnblindingEvent", restricted=True),
    Audited("allocation.EscalationDecision", restricted=True),
    Audited("allocation.EscalationAlert", restricted=True),
    Audited("capture.Visit"),
    Audited("capture.FormRecord"),
    Audited("capture.Signature"),
    Audited("capture.Query"),
    Audited("capture.QueryMessage"),
    Audited("capture.AdverseEvent"),
    Audited("capture.AdverseEventFollowUp"),
    Audited("capture.DiaryAccess", exclude=frozenset({"last_used_at"})),
    Audited("capture.DiaryEntry"),
    Audited("capture.DiaryContact"),
    Audited("capture.DiaryReminder"),
    Audited("product.Lot", restricted=True),
    Audited("product.Kit", restricted=True),
    Audited("product.KitEvent"),
    Audited("product.TemperatureExcursion"),
    # Which kits an excursion quarantined (the many-to-many table): its "discard" review destroys them.
    Audited("product.TemperatureExcursion_kits"),
    Audited("product.Shipment"),
    Audited("product.ResupplyRequest"),
    Audited("product.InfusionRecord"),
)

# Where a row names the person who made it, in the order a change is most likely theirs.
ACTOR_FIELDS = (
    "updated_by_id",
    "locked_by_id",
    "verified_by_id",
    "closed_by_id",
    "reported_by_id",
    "administered_by_id",
    "allocated_by_id",
    "created_by_id",
    "recorded_by_id",
    "prepared_by_id",
    "opened_by_id",
    "author_id",
    "by_id",
    "investigator_id",
    "signer_id",
    "attested_by_id",
    "generated_by_id",
    "carried_reviewed_by_id",
    "decided_by_id",
    "converted_by_id",
)

# Rows that reach their participant (or screening record) through a parent row.
PARENTS = {
    "capture.Signature": (("form_id", "capture.FormRecord"), ("visit_id", "capture.Visit")),
    "capture.QueryMessage": (("query_id", "capture.Query"),),
    "capture.AdverseEventFollowUp": (("adverse_event_id", "capture.AdverseEvent"),),
    "participants.Attestation": (("screening_id", "participants.ScreeningRecord"),),
    "participants.Consent": (("screening_id", "participants.ScreeningRecord"),),
    "product.TemperatureExcursion_kits": (("temperatureexcursion_id", "product.TemperatureExcursion"),),
}


def audited_models() -> list[tuple[Any, Audited]]:
    return [(apps.get_model(spec.label), spec) for spec in AUDITED]


def spec_for(model) -> Audited | None:
    label = f"{model._meta.app_label}.{model._meta.object_name}"
    return next((s for s in AUDITED if s.label.lower() == label.lower()), None)


def value(v: Any) -> Any:
    """A field value in the JSON form the trail stores."""
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC)
        return v.isoformat(timespec="microseconds")
    if isinstance(v, (date, time)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, memoryview)):
        return bytes(v).hex()
    if isinstance(v, (dict, list, tuple)):
        return normalize(v)
    if isinstance(v, str) and type(v) is not str:  # a choices enum: the text the database holds
        return str(v)
    return v


def audited_fields(model, spec: Audited) -> list:
    """The model's columns the trail records (all but the spec's excluded ones)."""
    return [f for f in model._meta.concrete_fields if not (f.name in spec.exclude or f.attname in spec.exclude)]


def snapshot(obj, spec: Audited, fields=None) -> dict[str, Any]:
    """The row's audited state (or only ``fields``'), in the trail's JSON form."""
    state = {}
    for f in audited_fields(type(obj), spec) if fields is None else fields:
        v = value(f.value_from_object(obj))
        if f.name in spec.digest and v is not None:
            v = "sha256:" + hashlib.sha256(str(v).encode()).hexdigest()
        state[f.attname] = v
    return state


# ------------------------------------------------------------ the row as stored, without reading it again
#
# An event stores the row as the database gives it back. Reading it back costs a query per saved
# row; when every value the save wrote is of a type the database returns unchanged (checked field by
# field below), the instance already holds what was stored and the read is skipped. Anything else —
# an expression (F(), a database default), a value of another type than the field's (a string for a
# date, a naive datetime, a decimal with other decimal places, a float too large for JSON to give
# back as written) — is read back as before. ``tests/capture/test_capture_row_audit_round_trip.py``
# compares the two for every audited save of the demo.

_MAX_EXACT_JSON_FLOAT = 1e15


def _json_round_trips(v: Any) -> bool:
    if v is None or type(v) in (bool, int, str):
        return "\x00" not in v if type(v) is str else True
    if type(v) is float:
        return math.isfinite(v) and abs(v) < _MAX_EXACT_JSON_FLOAT
    if type(v) in (list, tuple):
        return all(_json_round_trips(x) for x in v)
    if type(v) is dict:
        return all(type(k) is str and _json_round_trips(x) for k, x in v.items())
    return False


def _round_trips(f, v: Any) -> bool:
    """Whether the database gives ``v`` back for field ``f`` exactly as the instance holds it."""
    if v is None:
        return f.null
    kind = f.get_internal_type()
    if kind.endswith("AutoField") or kind.endswith("IntegerField") or kind in ("ForeignKey", "OneToOneField"):
        return type(v) is int  # not a bool, not a string of digits
    if kind in ("CharField", "TextField", "SlugField", "EmailField", "URLField", "GenericIPAddressField"):
        return isinstance(v, str) and "\x00" not in v  # a choices enum is a str, stored as its value
    if kind == "BooleanField":
        return type(v) is bool
    if kind == "DateTimeField":
        return type(v) is datetime and v.tzinfo is not None
    if kind == "DateField":
        return type(v) is date
    if kind == "DecimalField":
        return type(v) is Decimal and v.is_finite() and v.as_tuple().exponent == -f.decimal_places
    if kind == "FloatField":
        return type(v) is float and math.isfinite(v)
    if kind == "UUIDField":
        return type(v) is uuid.UUID
    if kind == "JSONField":
        return _json_round_trips(v)
    return False


def _written_round_trips(instance, fields) -> bool:
    """Whether the row's written values (``fields``) come back from the database as they are."""
    return instance.pk is not None and all(_round_trips(f, getattr(instance, f.attname, None)) for f in fields)


def _stored_state(sender, instance, spec: Audited, using: str, before, update_fields) -> dict[str, Any]:
    """The row's audited state after the save: from the instance when it round-trips, else read."""
    fields = audited_fields(sender, spec)
    if update_fields is not None:  # an update of a row not read (nor locked) before it is read back
        named = [f for f in fields if f.name in update_fields or f.attname in update_fields]
        fields = named if before is not None else []
    if fields and _written_round_trips(instance, fields):
        if update_fields is None:
            return snapshot(instance, spec, fields)
        return {**before, **snapshot(instance, spec, fields)}  # only the written fields are read off it
    current = _read(sender, instance.pk, using)
    return snapshot(current if current is not None else instance, spec)


# ------------------------------------------------------------ where a row belongs, once per transaction
#
# Events name the trial, site and participant of their row; a form's trial and site are its
# participant's. Within one transaction they are looked up once per participant or screening record
# and kept on the connection with a marker in its on-commit list: Django empties that list when the
# transaction commits or rolls back (and drops a rolled-back savepoint's entries), so the kept
# placements never outlive the transaction that read them. A participant saved in the transaction
# replaces its own entry.


def _marker() -> None:
    """The on-commit entry whose presence says the kept placements belong to this transaction."""


def _pending(connection, marker) -> bool:
    """Whether ``marker`` is still in the connection's on-commit list: its transaction (and the
    savepoint it was registered in) is still open."""
    return any(entry[1] is marker for entry in connection.run_on_commit)


def _placements(using: str) -> dict | None:
    connection = connections[using]
    if not connection.in_atomic_block:
        return None
    kept = getattr(connection, "_trialkit_placements", None)
    if kept is not None and _pending(connection, kept[0]):
        return kept[1]
    marker = functools.partial(_marker)
    connection.on_commit(marker)
    connection._trialkit_placements = (marker, {})
    return connection._trialkit_placements[1]


def _remember_placement(using: str, kind: str, pk, state: dict[str, Any]) -> None:
    kept = _placements(using)
    if kept is not None and pk is not None:
        kept[(kind, pk)] = {"trial_id": state.get("trial_id"), "site_id": state.get("site_id")}


def _placement(using: str, kind: str, model_label: str, pk) -> dict | None:
    kept = _placements(using)
    if kept is not None and (kind, pk) in kept:
        return kept[(kind, pk)]
    row = apps.get_model(model_label)._base_manager.using(using).filter(pk=pk).values("trial_id", "site_id").first()
    if kept is not None and row is not None:
        kept[(kind, pk)] = row
    return row


# ------------------------------------------------------------ rows locked in the transaction
#
# A save's "before" is read from the database, locking the row, so that the trail's order is the
# order the row really changed in. A service that has already locked the row in the open transaction
# (``lock_first``) holds the same state: it is kept, and the row's next save or deletion takes it
# instead of reading the row again. Each kept state has its own marker in the connection's on-commit
# list, registered where the row was locked: a commit or rollback empties the list and a rolled-back
# savepoint (which releases its row locks) drops its entries, so a kept state is used only while its
# lock is held, and only once.


def lock_first(queryset):
    """``queryset.select_for_update().first()`` (in a transaction, as any ``select_for_update``), its
    audited state kept for the row's next save in this transaction (see above)."""
    obj = queryset.select_for_update().first()
    connection = connections[queryset.db]
    spec = spec_for(type(obj)) if obj is not None else None
    if spec is None or not connection.in_atomic_block:
        return obj
    marker = functools.partial(_marker)
    connection.on_commit(marker)
    kept = connection.__dict__.setdefault("_trialkit_locked", {})
    if kept:  # states of rows locked but never saved, their transaction over: dropped, so none pile up
        for key in [key for key, (held, _) in kept.items() if not _pending(connection, held)]:
            del kept[key]
    kept[(spec.label, obj.pk)] = (marker, snapshot(obj, spec))
    if spec.label == "participants.Participant":
        _remember_placement(queryset.db, "participant", obj.pk, {"trial_id": obj.trial_id, "site_id": obj.site_id})
    return obj


def _locked_state(spec: Audited, pk, using: str) -> dict[str, Any] | None:
    """The state ``lock_first`` kept for this row, if its lock is still held; forgotten once asked."""
    connection = connections[using]
    kept = connection.__dict__.get("_trialkit_locked")
    if not kept or pk is None:
        return None
    entry = kept.pop((spec.label, pk), None)
    if entry is None or not connection.in_atomic_block:
        return None
    marker, state = entry
    return state if _pending(connection, marker) else None


def _read(model, pk, using, lock=False):
    if pk is None:
        return None
    rows = model._base_manager.using(using).filter(pk=pk)
    if lock and connections[using].in_atomic_block:
        # Lock the row before reading its "before", so a concurrent save of the same row waits
        # and its event follows ours: the trail's order is the order the row really changed in.
        rows = rows.select_for_update()
    return rows.first()


def links(spec: Audited, pk, state: dict[str, Any], using: str = "default") -> dict[str, Any]:
    """trial_id, site_id, participant_id of a row, for the trail's per-trial and per-participant views."""
    label = spec.label
    trial_id, site_id, participant_id = state.get("trial_id"), state.get("site_id"), state.get("participant_id")
    screening_id = state.get("screening_id")
    if label == "trials.Trial":
        trial_id = pk
    if label == "participants.Participant":
        participant_id = pk
    for attname, parent_label in PARENTS.get(label, ()):
        if state.get(attname) is None:
            continue
        parent = apps.get_model(parent_label)._base_manager.using(using).filter(pk=state[attname]).values().first()
        if parent:
            participant_id = participant_id or parent.get("participant_id")
            screening_id = screening_id or parent.get("screening_id")
            trial_id = trial_id or parent.get("trial_id")
            site_id = site_id or parent.get("site_id")
            break
    if participant_id and not (trial_id and site_id):
        row = _placement(using, "participant", "participants.Participant", participant_id)
        if row:
            trial_id, site_id = trial_id or row["trial_id"], site_id or row["site_id"]
    if screening_id and not (trial_id and site_id):
        row = _placement(using, "screening", "participants.ScreeningRecord", screening_id)
        if row:
            trial_id, site_id = trial_id or row["trial_id"], site_id or row["site_id"]
    return {"trial_id": trial_id, "site_id": site_id, "participant_id": participant_id}


def _row_actor(state: dict[str, Any], changed: set[str] | None):
    """When no request or ``acting_as`` names the actor: the user the row itself names."""
    candidates = [a for a in ACTOR_FIELDS if a in state and state[a] is not None]
    if changed is not None:
        named = [a for a in candidates if a in changed]
        candidates = named or [a for a in candidates if a == "updated_by_id"]
    if not candidates:
        return None
    from django.contrib.auth import get_user_model

    return get_user_model()._base_manager.filter(pk=state[candidates[0]]).first()


def _record(spec: Audited, action: str, pk, before, after, state, changed, using, actor=None):
    from trialkit.server.audit.context import current_actor, current_reason, current_time
    from trialkit.server.audit.service import record_event

    actor = current_actor() or actor or _row_actor(state, changed)
    record_event(
        actor=actor,
        action=action,
        object_type=table_of(spec),
        object_id=str(pk),
        before=before,
        after=after,
        reason=current_reason(),
        restricted=spec.restricted,
        at=current_time(),
        **links(spec, pk, state, using),
    )


def table_of(spec: Audited) -> str:
    return apps.get_model(spec.label)._meta.db_table


def _pre_save(sender, instance, raw=False, using="default", **kwargs):
    spec = spec_for(sender)
    kept = _locked_state(spec, instance.pk, using)
    if kept is not None:
        instance._audit_before = kept
        return
    previous = _read(sender, instance.pk, using, lock=True)
    instance._audit_before = snapshot(previous, spec) if previous is not None else None


def _post_save(sender, instance, created, raw=False, using="default", update_fields=None, **kwargs):
    spec = spec_for(sender)
    before = getattr(instance, "_audit_before", None)
    instance._audit_before = None
    after = _stored_state(sender, instance, spec, using, before, update_fields)
    if spec.label == "participants.Participant":
        _remember_placement(using, "participant", instance.pk, after)
    if created or before is None:
        _record(spec, INSERT, instance.pk, None, after, after, None, using)
        return
    changed = {k for k in after if after[k] != before.get(k)}
    if not changed:
        return
    _record(
        spec,
        UPDATE,
        instance.pk,
        {k: before.get(k) for k in sorted(changed)},
        {k: after[k] for k in sorted(changed)},
        after,
        changed,
        using,
    )


def _pre_delete(sender, instance, using="default", **kwargs):
    spec = spec_for(sender)
    _locked_state(spec, instance.pk, using)  # a deleted row's kept state is never used again
    current = _read(sender, instance.pk, using)
    instance._audit_deleted = snapshot(current if current is not None else instance, spec)


def _post_delete(sender, instance, using="default", **kwargs):
    spec = spec_for(sender)
    before = getattr(instance, "_audit_deleted", None) or snapshot(instance, spec)
    _record(spec, DELETE, before.get("id", instance.pk), before, None, before, set(), using)


def _through_sides(through, instance):
    """The link table's key to ``instance``'s model and its key to the other side."""
    keys = [f for f in through._meta.concrete_fields if f.is_relation]
    own = next(f for f in keys if isinstance(instance, f.related_model))
    return own, next(f for f in keys if f is not own)


def _m2m_changed(sender, instance, action, pk_set, using="default", **kwargs):
    """Rows of an audited many-to-many table: ``add`` inserts them with ``bulk_create`` and
    ``remove``/``clear`` deletes them with one query, neither sending the row signals."""
    spec = spec_for(sender)
    own, other = _through_sides(sender, instance)
    links = sender._base_manager.using(using).filter(**{own.attname: instance.pk}).order_by("pk")
    if pk_set is not None:
        links = links.filter(**{f"{other.attname}__in": pk_set})
    # Who linked or unlinked: the request's actor, else the person the row holding the link names.
    actor = _row_actor(snapshot(instance, spec_for(type(instance)) or Audited("")), None)
    if action in ("pre_remove", "pre_clear"):
        instance._audit_links_deleted = [snapshot(row, spec) for row in links]
    elif action in ("post_remove", "post_clear"):
        for before in getattr(instance, "_audit_links_deleted", None) or []:
            _record(spec, DELETE, before["id"], before, None, before, set(), using, actor)
        instance._audit_links_deleted = None
    elif action == "post_add" and pk_set:
        for row in links:
            state = snapshot(row, spec)
            _record(spec, INSERT, row.pk, None, state, state, None, using, actor)


def record_bulk_created(objs) -> None:
    """Audit rows made with ``bulk_create`` (which sends no signals); call in the same transaction.

    The rows are re-read in one query per table and their events appended in one insert."""
    from trialkit.server.audit.context import current_actor, current_reason, current_time
    from trialkit.server.audit.service import record_events

    objs = list(objs)
    if not objs:
        return
    by_model: dict[Any, list] = {}
    for obj in objs:
        by_model.setdefault(type(obj), []).append(obj)
    # Read back only the tables whose inserted values would not come back as written.
    stored = {}
    for model, group in by_model.items():
        fields = audited_fields(model, spec_for(model))
        if not all(_written_round_trips(obj, fields) for obj in group):
            for row in model._base_manager.using("default").filter(pk__in=[o.pk for o in group]):
                stored[(model, row.pk)] = row
    actor = current_actor()
    reason, at = current_reason(), current_time()
    placed: dict[tuple, dict[str, Any]] = {}
    events = []
    for obj in objs:
        spec = spec_for(type(obj))
        current = stored.get((type(obj), obj.pk))
        state = snapshot(current if current is not None else obj, spec)
        # Rows of one bulk insert usually share their parents: look each placement up once.
        parents = (spec.label, *(state.get(a) for a in ("trial_id", "site_id", "participant_id", "screening_id")))
        parents += tuple(state.get(attname) for attname, _ in PARENTS.get(spec.label, ()))
        where = placed.get(parents) if spec.label not in ("trials.Trial", "participants.Participant") else None
        if where is None:
            where = links(spec, obj.pk, state)
            placed[parents] = where
        if spec.label == "participants.Participant":
            _remember_placement("default", "participant", obj.pk, state)
        events.append(
            dict(
                actor=actor or _row_actor(state, None),
                action=INSERT,
                object_type=table_of(spec),
                object_id=str(obj.pk),
                before=None,
                after=state,
                reason=reason,
                restricted=spec.restricted,
                at=at,
                **where,
            )
        )
    record_events(events)


def connect() -> None:
    for model, spec in audited_models():
        uid = f"trialkit-audit-{spec.label}"
        pre_save.connect(_pre_save, sender=model, dispatch_uid=uid)
        post_save.connect(_post_save, sender=model, dispatch_uid=uid)
        pre_delete.connect(_pre_delete, sender=model, dispatch_uid=uid)
        post_delete.connect(_post_delete, sender=model, dispatch_uid=uid)
        if model._meta.auto_created:  # a many-to-many table
            m2m_changed.connect(_m2m_changed, sender=model, dispatch_uid=uid)
