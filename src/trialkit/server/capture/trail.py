"""The audit trail as people read it: one vocabulary of event names, participant numbers instead of
database ids, and field-level changes labelled from the instruments ("5a Motor Arm - Left: 3 → 2").

The stored events stay as they are (the chain hashes them); this module only presents them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from trialkit.server.audit import vocabulary
from trialkit.server.audit.models import AuditEvent

# One name per kind of event, whichever app wrote it (the stored action codes differ in style).
# Event names come from the one vocabulary of the trail (trialkit.server.audit.vocabulary).

# Labels of the keys that appear in before/after values outside a form's items.
FIELD_LABELS = {
    "status": "Status",
    "version": "Version",
    "deleted": "Deleted",
    "done_on": "Visit date",
    "note": "Note",
    "ended_on": "End date",
    "end_reason": "End reason",
    "emergency_unblinded": "Emergency unblinded",
    "locked_at": "Locked",
    "verified_at": "Verified",
    "serious": "Serious",
    "reported_at": "Reported",
    "awareness_at": "Awareness of seriousness",
    "text": "Text",
    "item": "Field",
    "meaning": "Meaning",
    "signer": "Signer",
    "voided_at": "Voided",
    "total": "Total score",
}
# Keys that are bookkeeping, not content: left out of the change list.
HIDDEN_KEYS = {
    "content_hash",
    "signature",
    "form_id",
    "form",
    "instrument",
    "visit",
    "repeat",
    "scores",
    "data",
    "sections",
}


def event_name(action: str, object_type: str = "") -> str:
    text = vocabulary.describe(action, object_type)
    return text[:1].upper() + text[1:]


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "—"
    return str(value)


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.label}: {self.before} → {self.after}"


@dataclass
class TrailRow:
    seq: int
    at: datetime
    actor: str
    what: str
    action: str
    subject: str
    changes: list[Change] = field(default_factory=list)
    reason: str = ""
    restricted: bool = False


def _item_labels(instrument: str) -> dict[str, str]:
    from trialkit.server.capture.form_names import instrument_for

    try:
        definition = instrument_for(instrument)
    except Exception:  # an instrument no longer in the catalogue: keys are shown as they are
        return {}
    # Short item codes (NIHSS "5a") are part of how raters name an item; long keys are not.
    return {item.key: f"{item.key} {item.label}" if len(item.key) <= 3 else item.label for item in definition.items}


def _is_row_id(key: str, *values) -> bool:
    """A database id ("consent_id": 21) tells a reader nothing; the record is named elsewhere."""
    return (key == "id" or key.endswith("_id")) and all(v is None or isinstance(v, int) for v in values)


def _diff(before: Any, after: Any, labels: dict[str, str]) -> list[Change]:
    """Field-level changes between two snapshots (dicts); a created record lists its values."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    changes: list[Change] = []
    data_before, data_after = before.get("data"), after.get("data")
    if isinstance(data_before, dict) or isinstance(data_after, dict):
        data_before, data_after = data_before or {}, data_after or {}
        for key in [*labels, *sorted(k for k in {*data_before, *data_after} if k not in labels)]:
            if (key in data_before or key in data_after) and data_before.get(key) != data_after.get(key):
                changes.append(Change(labels.get(key, key), _text(data_before.get(key)), _text(data_after.get(key))))
    total_before = (before.get("scores") or {}).get("total") if isinstance(before.get("scores"), dict) else None
    total_after = (after.get("scores") or {}).get("total") if isinstance(after.get("scores"), dict) else None
    if total_before != total_after:
        changes.append(Change("Total score", _text(total_before), _text(total_after)))
    keys = [*before, *(k for k in after if k not in before)]  # in the order the record names them
    for key in [k for k in keys if k not in HIDDEN_KEYS and not _is_row_id(k, before.get(k), after.get(k))]:
        if before.get(key) != after.get(key):
            changes.append(
                Change(
                    FIELD_LABELS.get(key, key.replace("_", " ").capitalize()),
                    _text(before.get(key)) if key in before else "—",
                    _text(after.get(key)),
                )
            )
    return changes


class _Names:
    """Looks up what ids point at, once per id: participant numbers, users' full names, forms."""

    def __init__(self):
        self._people: dict[int, str] = {}
        self._users: dict[str, str] = {}
        self._forms: dict[str, Any] = {}
        self._queries: dict[str, Any] = {}

    def participant(self, pk: int | None) -> str:
        from trialkit.server.participants.models import Participant

        if pk is None:
            return ""
        if pk not in self._people:
            self._people[pk] = (
                Participant.objects.filter(pk=pk).values_list("participant_number", flat=True).first()
                or f"participant #{pk}"
            )
        return self._people[pk]

    def actor(self, username: str) -> str:
        if username in ("", "system"):
            return "system"
        if username not in self._users:
            user = get_user_model().objects.filter(username=username).first()
            full = user.get_full_name() if user else ""
            self._users[username] = f"{full} ({username})" if full else username
        return self._users[username]

    def form(self, pk: str):
        from trialkit.server.capture.models import FormRecord

        if pk not in self._forms:
            self._forms[pk] = FormRecord.objects.filter(pk=pk).select_related("visit").first() if pk.isdigit() else None
        return self._forms[pk]

    def query(self, pk: str):
        from trialkit.server.capture.models import Query

        if pk not in self._queries:
            self._queries[pk] = (
                Query.objects.filter(pk=pk).select_related("form__visit").first() if pk.isdigit() else None
            )
        return self._queries[pk]


def _form_title(form) -> str:
    from trialkit.server.capture.form_names import instrument_for

    try:
        title = instrument_for(form.instrument).title
    except Exception:
        title = form.instrument
    repeat = f" #{form.repeat}" if form.repeat > 1 else ""
    return f"{title}{repeat} · {form.visit.label}"


def _row(event: AuditEvent, names: _Names) -> TrailRow:
    number = names.participant(event.participant_id)
    subject = number
    labels: dict[str, str] = {}
    if event.object_type == "form":
        form = names.form(event.object_id)
        if form is not None:
            labels = _item_labels(form.instrument)
            subject = f"{number} · {_form_title(form)}"
    elif event.object_type == "query":
        query = names.query(event.object_id)
        if query is not None:
            labels = _item_labels(query.form.instrument)
            item = labels.get(query.item, query.item)
            subject = f"{number} · {_form_title(query.form)} · {item}"
    elif event.object_type == "adverse_event":
        labels = _item_labels("adverse_event")
        subject = f"{number} · adverse event"
    elif event.object_type == "visit":
        visit_id = (event.after or {}).get("visit") if isinstance(event.after, dict) else None
        subject = f"{number} · visit {visit_id}" if visit_id else number
    elif not number:
        subject = f"{event.object_type} {event.object_id}".strip()
    changes = _diff(event.before, event.after, labels)
    if event.object_type == "query" and isinstance(event.after, dict) and "item" in event.after:
        changes = [c for c in changes if c.label != "Field"]
    return TrailRow(
        seq=event.seq,
        at=event.at,
        actor=names.actor(event.actor),
        what=event_name(event.action, event.object_type),
        action=event.action,
        subject=subject,
        changes=changes,
        reason=event.reason,
        restricted=event.restricted,
    )


def readable(events: Iterable[AuditEvent]) -> list[TrailRow]:
    names = _Names()
    return [_row(e, names) for e in events]


def form_events(form):
    """Every event of one form: its own, its queries', its and its visit's signatures."""
    from trialkit.server.capture.models import Query, Signature

    query_ids = [str(pk) for pk in Query.objects.filter(form=form).values_list("pk", flat=True)]
    signature_ids = [
        str(pk) for pk in Signature.objects.filter(Q(form=form) | Q(visit=form.visit_id)).values_list("pk", flat=True)
    ]
    return AuditEvent.objects.filter(
        Q(object_type="form", object_id=str(form.pk))
        | Q(object_type="query", object_id__in=query_ids)
        | Q(object_type="signature", object_id__in=signature_ids)
        | Q(object_type="visit", object_id=str(form.visit_id), action="signature")
    )
