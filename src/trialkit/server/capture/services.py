"""Data capture workflows. Web views and the API call these; each runs in one transaction that
also writes its audit events, takes the actor and the clock as arguments, and raises a
``CaptureError`` (or ``FormInvalid`` with one error per field) when it cannot proceed.

Rules of the trail (21 CFR 11.10(e), ICH E6(R2) 4.9.0): every create, change and soft delete of
clinical data is an audit event with before and after; a change to complete data needs a reason;
a change after signing voids the signature; a locked form changes only after the data manager
unlocks it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy, gettext_noop
from django.utils.translation import gettext as _

from trialkit.instruments import FieldError, Instrument
from trialkit.schedule import diary as diary_calendar
from trialkit.schedule import participation, plan_visits
from trialkit.server.accounts.access import Access, require
from trialkit.server.accounts.authn import ReauthenticationFailed, reauthenticate
from trialkit.server.audit.chain import normalize
from trialkit.server.audit.context import acting_as, audited_service
from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.rows import record_bulk_created
from trialkit.server.audit.service import batched, record_event
from trialkit.server.capture import signatures
from trialkit.server.capture.form_names import EFFICACY_INSTRUMENTS, instrument_for, instrument_name, is_efficacy
from trialkit.server.capture.models import (
    AdverseEvent,
    AdverseEventFollowUp,
    DiaryAccess,
    DiaryContact,
    DiaryEntry,
    FormRecord,
    Query,
    QueryMessage,
    Signature,
    Visit,
)
from trialkit.server.participants import consent as consent_rules
from trialkit.server.participants.models import ONGOING_STATUSES, Participant


class CaptureError(Exception):
    """A workflow that cannot proceed, with a sentence saying why."""


class EditConflict(CaptureError):
    """A save made from a version that is no longer the current one (someone else saved in between),
    or a create of a form that already exists. ``current`` is the record (a form, or an adverse event
    of the log) as it is now, so the caller can show the other person's values next to its own."""

    def __init__(
        self, current, expected_version: int, *, changed_by: str | None = None, changed_at: datetime | None = None
    ):
        self.current = current
        self.expected_version = expected_version
        if changed_by is None:
            changed_by = current.updated_by.get_full_name() or current.updated_by.get_username()
        self.changed_by = changed_by
        self.changed_at = changed_at or current.updated_at
        # English month names read oddly in another language: there the time is numeric.
        english = (get_language() or "en").lower().startswith("en")
        when = timezone.localtime(self.changed_at).strftime("%d %b %Y %H:%M %Z" if english else "%Y-%m-%d %H:%M %Z")
        is_form = isinstance(current, FormRecord)
        names = {"who": changed_by, "when": when, "version": current.version, "opened": expected_version}
        if expected_version == 0:
            text = (
                _(
                    "this form was already entered by %(who)s (%(when)s, version %(version)s); open it and change it instead"
                )
                if is_form
                else _(
                    "this adverse event was already entered by %(who)s (%(when)s, version %(version)s); "
                    "open it and change it instead"
                )
            ) % names
        else:
            text = (
                _(
                    "%(who)s saved this form at %(when)s (version %(version)s) after you opened version "
                    "%(opened)s; nothing of yours was saved"
                )
                if is_form
                else _(
                    "%(who)s saved this adverse event at %(when)s (version %(version)s) after you opened version "
                    "%(opened)s; nothing of yours was saved"
                )
            ) % names
        super().__init__(text)


class ConsentRequired(CaptureError):
    """A form the participant's consent does not cover now: a newer version to re-consent to, or a
    withdrawal. ``block`` says which (its ``version`` names the consent version)."""

    def __init__(self, block):
        self.block = block
        super().__init__(block.message)


class FormInvalid(CaptureError):
    """Values the instrument rejects; ``errors`` names each field, its rule and why."""

    def __init__(self, errors: list[FieldError], instrument: str = ""):
        self.errors = list(errors)
        self.instrument = instrument
        super().__init__(
            _("%(form)s: %(count)s invalid field(s): %(fields)s")
            % {"form": instrument, "count": len(self.errors), "fields": "; ".join(str(e) for e in self.errors)}
        )

    def as_list(self) -> list[dict[str, str]]:
        return [{"field": e.item, "rule": e.rule, "message": e.message} for e in self.errors]


def _today(now: datetime) -> date:
    return timezone.localtime(now).date() if timezone.is_aware(now) else now.date()


def _where(participant) -> dict[str, int]:
    return {"trial_id": participant.trial_id, "site_id": participant.site_id, "participant_id": participant.pk}


def may_read_form(access: Access, participant, instrument: str) -> bool:
    """Efficacy outcome forms only for roles granted ``capture.view_efficacy`` at the participant's site."""
    return not is_efficacy(instrument) or access.can("capture.view_efficacy", participant.site_id)


def require_form_readable(access: Access, participant, instrument: str) -> None:
    if not may_read_form(access, participant, instrument):
        raise PermissionDenied("efficacy outcome forms are not shown to unblinded staff")


def readable_forms(access: Access, participant, forms):
    """``forms`` (a FormRecord queryset) less the efficacy forms the access may not read."""
    if access.can("capture.view_efficacy", participant.site_id):
        return forms
    return forms.exclude(instrument__in=EFFICACY_INSTRUMENTS)


def hidden_form_ids(access: Access, participant) -> list[int]:
    """Primary keys of the participant's forms behind the firewall for this access (audit filtering)."""
    if access.can("capture.view_efficacy", participant.site_id):
        return []
    return list(
        FormRecord.objects.filter(participant=participant, instrument__in=EFFICACY_INSTRUMENTS).values_list(
            "pk", flat=True
        )
    )


def _require(actor, participant, permission: str) -> Access:
    return require(actor, participant.trial, permission, site_id=participant.site_id)


# --------------------------------------------------------------------------- schedule


def schedule_anchor(participant) -> tuple[date | None, bool]:
    """Day 0 of the participant's schedule and whether it is still provisional.

    Day 0 is ``Participant.anchor_date``, set by the allocation app from the real event: the
    randomization (``schedule.anchor: randomization``) or the dose administration
    (``anchor: infusion``). Between randomization and infusion an infusion-anchored schedule is
    planned from the randomization day, provisionally, so that the dosing visit's forms (the
    weight the pharmacist doses by) can be entered; the windows move to the infusion day when it
    is recorded.
    """
    if participant.anchor_date is not None:
        return participant.anchor_date, False
    if participant.randomized_at is not None and participant.trial.protocol.schedule.anchor == "infusion":
        return _today(participant.randomized_at), True
    return None, False


@transaction.atomic
def ensure_schedule(participant, actor=None, *, now: datetime | None = None) -> list[Visit]:
    """The participant's visits, created from the protocol once day 0 is known (or, provisionally,
    once an infusion-anchored participant is randomized; see ``schedule_anchor``).

    When the anchor date changes (the infusion recorded, or a corrected date) the windows move
    with it; visit dates already recorded stay.
    """
    anchor, provisional = schedule_anchor(participant)
    if anchor is None:
        return []
    existing = {v.visit_id: v for v in Visit.objects.select_for_update().filter(participant=participant)}
    planned = plan_visits(participant.trial.protocol.schedule, anchor)
    created, moved = [], []
    new_visits = []
    for order, p in enumerate(planned):
        visit = existing.get(p.visit_id)
        if visit is None:
            new_visits.append(
                Visit(
                    participant=participant,
                    visit_id=p.visit_id,
                    label=p.label,
                    kind=p.kind,
                    day=p.day,
                    order=order,
                    target=p.target,
                    earliest=p.earliest,
                    latest=p.latest,
                    forms=list(p.forms),
                )
            )
            created.append(p.visit_id)
        elif (visit.target, visit.earliest, visit.latest) != (p.target, p.earliest, p.latest):
            visit.target, visit.earliest, visit.latest = p.target, p.earliest, p.latest
            visit.save(update_fields=["target", "earliest", "latest"])
            moved.append(p.visit_id)
    if new_visits:
        # One insert for the whole schedule (and one audit append); bulk_create sends no signals.
        new_visits = Visit.objects.bulk_create(new_visits)
        record_bulk_created(new_visits)
        for visit in new_visits:
            if visit.kind == "screening":
                from trialkit.server.capture.screening_forms import carry_screening_into_visit

                carry_screening_into_visit(participant, visit, now=now or timezone.now())
    if created or moved:
        record_event(
            actor=actor,
            action="schedule_created" if created and not moved else "schedule_moved",
            object_type="participant",
            object_id=participant.pk,
            after={"anchor_date": anchor, "provisional": provisional, "created": created, "moved": moved},
            at=now,
            **_where(participant),
        )
    return list(Visit.objects.filter(participant=participant).select_related("participant").order_by("order"))


def complete_instruments_by_visit(visits) -> dict[int, set[str]]:
    """Visit pk -> the instruments with a complete, not deleted record, for many visits in one query
    (what ``Visit.required_forms_complete`` asks one visit at a time). ``visits``: a list, or a
    queryset (read as a subquery)."""
    out: dict[int, set[str]] = {}
    chosen = visits.values("pk") if isinstance(visits, QuerySet) else [v.pk for v in visits]
    rows = FormRecord.objects.filter(
        visit__in=chosen, status=FormRecord.Status.COMPLETE, deleted_at__isnull=True
    ).values_list("visit_id", "instrument")
    for visit_pk, instrument in rows:
        out.setdefault(visit_pk, set()).add(instrument)
    return out


@dataclass(frozen=True)
class RecordedWeight:
    """The body weight entered at the dosing visit, with where it came from."""

    weight_kg: float
    visit_id: str
    visit_label: str
    visit_date: date | None
    entered_by: str
    entered_at: datetime
    form_id: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "weight_kg": self.weight_kg,
            "visit_id": self.visit_id,
            "visit_label": self.visit_label,
            "visit_date": self.visit_date,
            "entered_by": self.entered_by,
            "entered_at": self.entered_at,
            "form_id": self.form_id,
        }


DOSING_VISIT_KINDS = ("treatment", "baseline")  # in order of preference


def dosing_visit_weight(participant) -> RecordedWeight | None:
    """``weight_kg`` of the complete ``vital_signs`` form at the dosing visit: the visit of kind
    ``treatment``, else the ``baseline`` visit. None when nothing is recorded there: the dose is
    then not prepared from a guess."""
    ensure_schedule(participant)
    for kind in DOSING_VISIT_KINDS:
        form = (
            FormRecord.objects.filter(
                participant=participant,
                visit__kind=kind,
                instrument="vital_signs",
                status=FormRecord.Status.COMPLETE,
                deleted_at__isnull=True,
            )
            .select_related("visit", "updated_by")
            .order_by("visit__order", "repeat")
            .first()
        )
        if form is not None and form.data.get("weight_kg") is not None:
            who = form.updated_by.get_full_name() or form.updated_by.get_username()
            return RecordedWeight(
                float(form.data["weight_kg"]),
                form.visit.visit_id,
                form.visit.label,
                form.visit.done_on,
                who,
                form.updated_at,
                form.pk,
            )
    return None


@transaction.atomic
def record_visit_date(visit: Visit, done_on: date | None, actor, now: datetime, note: str = "") -> Visit:
    """Record (or correct) the date a visit took place; a correction needs a note saying why."""
    participant = visit.participant
    _require(actor, participant, "capture.enter_data")
    if visit.done_on is not None and done_on != visit.done_on and not note.strip():
        raise CaptureError(_("changing a recorded visit date needs a reason"))
    before = {"done_on": visit.done_on, "note": visit.note}
    if done_on != visit.done_on:
        for signature in Signature.objects.select_for_update().filter(visit=visit, voided_at__isnull=True):
            signature.voided_at, signature.void_reason = now, f"visit date changed: {note.strip()}"
            signature.save(update_fields=["voided_at", "void_reason"])
            record_event(
                actor=actor,
                action="signature_void",
                object_type="signature",
                object_id=signature.pk,
                before={
                    "signed_by": signature.signer_name,
                    "signed_at": signature.signed_at,
                    "of": f"visit {visit.visit_id}",
                },
                after={"voided_at": now},
                reason=signature.void_reason,
                at=now,
                **_where(participant),
            )
    visit.done_on = done_on
    visit.note = note.strip() or visit.note
    visit.save(update_fields=["done_on", "note"])
    record_event(
        actor=actor,
        action="visit_date",
        object_type="visit",
        object_id=visit.pk,
        before=before,
        after={"done_on": visit.done_on, "note": visit.note, "visit": visit.visit_id},
        reason=note,
        at=now,
        **_where(participant),
    )
    return visit


# --------------------------------------------------------------------------- end of participation

# The rules on outcome, date and reason are the core's (trialkit.schedule.participation); this
# module checks who may, locks the row, persists and audits.
END_OUTCOMES = tuple(Participant.Status(code) for code in participation.END_OUTCOMES)


def end_of_study_visit(participant) -> tuple[Any | None, Visit | None]:
    """The protocol's end-of-study visit (the last of kind ``end_of_study``) and the participant's
    row of it, either None when the protocol has none or the schedule is not placed yet."""
    definitions = [v for v in participant.trial.protocol.schedule.visits if v.kind == "end_of_study"]
    if not definitions:
        return None, None
    definition = definitions[-1]
    return definition, Visit.objects.filter(participant=participant, visit_id=definition.id).first()


def _end_snapshot(participant) -> dict[str, Any]:
    return {"status": participant.status, "ended_on": participant.ended_on, "end_reason": participant.end_reason}


@audited_service
@transaction.atomic
def end_participation(
    participant,
    actor,
    *,
    outcome: str,
    ended_on: date | str | None,
    reason: str = "",
    now: datetime,
    check_only: bool = False,
) -> Participant:
    """Record that the participant completed the study, withdrew, was lost to follow-up or died.

    Site staff (coordinator, investigator) of the participant's site only. ``ended_on`` is neither
    in the future nor before enrollment; a reason is required for every outcome but completion;
    completion needs the end-of-study visit's date, and is not dated before it. Every problem is
    reported at once (``FormInvalid``, one error per field) and nothing is written. The status held
    before is kept, so a mistaken end can be undone by ``reopen_participation``. ``check_only`` makes
    every check and writes nothing (the page's confirmation step).
    """
    _require(actor, participant, "capture.end_participation")
    participant = Participant.objects.select_for_update().select_related("trial", "site").get(pk=participant.pk)
    if participant.has_ended or participant.ended_on is not None:
        raise CaptureError(
            _(
                "%(participant)s already ended participation (%(status)s on %(date)s); an investigator can reopen "
                "it to correct the record"
            )
            % {
                "participant": participant,
                "status": participant.get_status_display().lower(),
                "date": participant.ended_on,
            }
        )
    reason = (reason or "").strip()
    definition, visit = end_of_study_visit(participant)
    end_visit = (
        None
        if definition is None
        else participation.EndOfStudyVisit(
            definition.id, definition.label, visit.done_on if visit is not None else None
        )
    )
    day, errors = participation.end_problems(
        outcome, ended_on, reason, today=_today(now), enrolled_on=_today(participant.enrolled_at), end_visit=end_visit
    )
    if errors:
        raise FormInvalid(errors, "participation")
    if check_only:  # the confirmation step: every check made, nothing written
        return participant
    before = _end_snapshot(participant)
    participant.status_before_end = participant.status
    participant.status, participant.ended_on, participant.end_reason = outcome, day, reason
    participant.save(update_fields=["status", "status_before_end", "ended_on", "end_reason"])
    record_event(
        actor=actor,
        action="participation_end",
        object_type="participant",
        object_id=participant.pk,
        before=before,
        after={**_end_snapshot(participant), "status_before_end": participant.status_before_end},
        reason=reason,
        at=now,
        **_where(participant),
    )
    return participant


@audited_service
@transaction.atomic
def reopen_participation(participant, actor, *, reason: str, now: datetime) -> Participant:
    """Undo an end of participation recorded by mistake (investigator of the site, with a reason):
    the status held before it comes back and the end date and reason are cleared; the audit trail
    keeps both the end and its reversal."""
    _require(actor, participant, "capture.reopen_participation")
    participant = Participant.objects.select_for_update().select_related("trial", "site").get(pk=participant.pk)
    if not participant.has_ended:
        raise CaptureError(
            _("%(participant)s has not ended participation; there is nothing to reopen") % {"participant": participant}
        )
    reason = (reason or "").strip()
    if not reason:
        raise FormInvalid(
            [FieldError("reason", None, "required", _("say why the recorded end was a mistake"))], "participation"
        )
    if participant.status_before_end not in ONGOING_STATUSES:
        raise CaptureError(
            _("%(participant)s has no status recorded from before the end; it cannot be restored")
            % {"participant": participant}
        )
    before = {**_end_snapshot(participant), "status_before_end": participant.status_before_end}
    participant.status, participant.status_before_end = participant.status_before_end, ""
    participant.ended_on, participant.end_reason = None, ""
    participant.save(update_fields=["status", "status_before_end", "ended_on", "end_reason"])
    record_event(
        actor=actor,
        action="participation_reopen",
        object_type="participant",
        object_id=participant.pk,
        before=before,
        after=_end_snapshot(participant),
        reason=reason,
        at=now,
        **_where(participant),
    )
    return participant


# --------------------------------------------------------------------------- forms


def clean_values(instrument: Instrument, values: dict[str, Any], complete: bool) -> tuple[dict, dict]:
    """Cleaned values and derived scores, or FormInvalid. Drafts may leave required items empty."""
    cleaned, errors = instrument.clean(values, partial=not complete)
    if errors:
        raise FormInvalid(errors, instrument.name)
    scores: dict[str, Any] = {}
    if complete and instrument.scored:
        scored = instrument.score(cleaned)
        scores = {"total": scored.total, "subscores": scored.subscores}
    return normalize(cleaned), scores


def preview_scores(instrument: Instrument, values: dict[str, Any]) -> dict[str, Any]:
    """What the eCRF shows while typing: the total when every item is valid, else the partial sum."""
    cleaned, errors = instrument.clean(values, partial=True)
    full_errors = instrument.validate(values, partial=False)
    result: dict[str, Any] = {
        "scored": instrument.scored,
        "errors": [e.as_dict() for e in errors],
        "complete": not full_errors,
    }
    if instrument.scored:
        if not full_errors:
            scored = instrument.score(values)
            result.update(total=scored.total, subscores=scored.subscores)
        else:
            items = instrument.scored_items
            entered = [i for i in items if isinstance(cleaned.get(i.key), int)]
            result.update(
                total=None,
                partial_total=sum(cleaned[i.key] for i in entered),
                items_entered=len(entered),
                items_total=len(items),
            )
    return result


def _active_signatures(form: FormRecord):
    """Signatures that cover this form: its own, and its visit's."""
    return Signature.objects.filter(voided_at__isnull=True).filter(Q(form=form) | Q(visit=form.visit_id))


def _void_signatures(form: FormRecord, actor, reason: str, now: datetime) -> int:
    voided = 0
    for signature in _active_signatures(form).select_for_update():
        signature.voided_at = now
        signature.void_reason = reason
        signature.save(update_fields=["voided_at", "void_reason"])
        target = f"form {form.pk}" if signature.form_id else f"visit {signature.visit.visit_id}"
        record_event(
            actor=actor,
            action="signature_void",
            object_type="signature",
            object_id=signature.pk,
            before={"signed_by": signature.signer_name, "signed_at": signature.signed_at, "of": target},
            after={"voided_at": now},
            reason=reason,
            at=now,
            **_where(form.participant),
        )
        voided += 1
    return voided


@audited_service
@transaction.atomic
@batched  # the save's audit events appended in one insert at its end (the chain locked once, briefly)
def save_form(
    participant,
    visit_id: str,
    instrument: str,
    values: dict[str, Any],
    actor,
    *,
    complete: bool,
    now: datetime,
    reason: str | None = None,
    repeat: int = 1,
    awareness_at: datetime | None = None,
    expected_version: int | None = None,
) -> FormRecord:
    """Create or change one form of one visit.

    Optimistic locking: ``expected_version`` is the version the caller loaded (0: the form did not
    exist yet). The form's row is locked (``SELECT ... FOR UPDATE``; on SQLite the write transaction
    is ``BEGIN IMMEDIATE``) before its version is compared, and a create that meets a form created
    in between is caught by the unique constraint, so of many saves from one version exactly one
    succeeds and the others raise ``EditConflict`` with the current form. ``None`` skips the check.

    Drafts are checked item by item (missing items allowed); a complete form is checked in full and
    scored. A change to a complete or signed form needs ``reason``; it voids the signatures and
    clears source verification. A locked form refuses every change. A rejected save changes nothing.

    The ``adverse_event`` form of a visit is also the event's entry in the participant's AE log
    (created or updated in the same transaction, with the SAE clock started at ``awareness_at``,
    default now, when it is serious), so the visit and the log never hold two versions of one event.
    """
    _require(actor, participant, "capture.enter_data")
    reason = (reason or "").strip()
    try:
        visit = Visit.objects.get(participant=participant, visit_id=visit_id)
    except Visit.DoesNotExist:
        raise CaptureError(
            _("visit %(visit)s is not scheduled for %(participant)s")
            % {"visit": repr(visit_id), "participant": participant}
        ) from None
    names = {instrument_name(f) for f in visit.forms}
    name = instrument_name(instrument)
    if name not in names:
        raise CaptureError(
            _("form %(form)s is not assigned to visit %(visit)s (assigned: %(assigned)s)")
            % {"form": repr(instrument), "visit": repr(visit_id), "assigned": ", ".join(visit.forms)}
        )
    # The one place a form save is permitted: refused while the participant owes a re-consent to a
    # version that names this form, or has withdrawn consent (participants.consent).
    block = consent_rules.block_for_form(participant.screening, name, _today(now))
    if block is not None:
        raise ConsentRequired(block)
    definition = instrument_for(name)
    if repeat < 1 or (repeat > 1 and not definition.repeating):
        raise CaptureError(_("%(form)s is entered once per visit (repeat must be 1)") % {"form": name})
    data, scores = clean_values(definition, values, complete)
    status = FormRecord.Status.COMPLETE if complete else FormRecord.Status.DRAFT
    if expected_version is not None and expected_version < 0:
        raise FormInvalid(
            [
                FieldError(
                    "expected_version",
                    expected_version,
                    "minimum",
                    _("must be 0 (a new form) or the version you loaded"),
                )
            ],
            name,
        )
    # No join in the locking read: on PostgreSQL a row updated while we waited is re-checked with
    # its old joined rows, and a join on updated_by would then drop it as if it did not exist.
    form = FormRecord.objects.select_for_update().filter(visit=visit, instrument=name, repeat=repeat).first()
    if form is not None and expected_version is not None and form.version != expected_version:
        raise EditConflict(form, expected_version)
    if form is None:
        if expected_version:
            raise CaptureError(
                _(
                    "%(form)s at %(visit)s has not been entered yet, so there is no version %(version)s to change; "
                    "create it with version 0"
                )
                % {"form": name, "visit": visit_id, "version": expected_version}
            )
        try:
            with transaction.atomic():  # a savepoint: a create that lost a race leaves the transaction usable
                form = FormRecord.objects.create(
                    participant=participant,
                    visit=visit,
                    instrument=name,
                    repeat=repeat,
                    data=data,
                    status=status,
                    scores=scores,
                    created_by=actor,
                    created_at=now,
                    updated_by=actor,
                    updated_at=now,
                )
        except IntegrityError:
            current = FormRecord.objects.select_for_update().get(visit=visit, instrument=name, repeat=repeat)
            raise EditConflict(current, 0) from None
        record_event(
            actor=actor,
            action="form_create",
            object_type="form",
            object_id=form.pk,
            after=form.snapshot(),
            reason=reason,
            at=now,
            **_where(participant),
        )
        # A form added to a signed visit changes what the visit signature covered.
        _void_signatures(form, actor, f"form {name} added after signing" + (f": {reason}" if reason else ""), now)
    else:
        if form.locked:
            raise CaptureError(
                _("%(form)s at %(visit)s is locked by the data manager; ask for it to be unlocked")
                % {"form": name, "visit": visit_id}
            )
        if form.deleted_at is None and form.data == data and form.status == status:
            return form  # nothing changed: no new version, no event
        signed = _active_signatures(form).exists()
        if (signed or form.status == FormRecord.Status.COMPLETE or form.deleted_at) and not reason:
            if signed:
                why = _("a change to a signed form needs a reason")
            elif form.deleted_at:
                why = _("a change to a deleted form needs a reason")
            else:
                why = _("a change to a complete form needs a reason")
            raise FormInvalid([FieldError("reason", None, "required", why)], name)
        before = form.snapshot()
        if signed:
            _void_signatures(form, actor, f"form changed: {reason}", now)
        form.data, form.status, form.scores = data, status, scores
        form.version += 1
        form.updated_by, form.updated_at = actor, now
        form.verified_by, form.verified_at = None, None
        form.deleted_at, form.delete_reason = None, ""
        form.save()
        record_event(
            actor=actor,
            action="form_update",
            object_type="form",
            object_id=form.pk,
            before=before,
            after=form.snapshot(),
            reason=reason,
            at=now,
            **_where(participant),
        )
    if name == "adverse_event":
        _log_adverse_event(form, actor, now=now, reason=reason, awareness_at=awareness_at)
    if complete and visit.done_on is None:
        visit.done_on = _today(now)
        visit.save(update_fields=["done_on"])
        record_event(
            actor=actor,
            action="visit_date",
            object_type="visit",
            object_id=visit.pk,
            before={"done_on": None},
            after={"done_on": visit.done_on, "visit": visit.visit_id},
            reason="first complete form of the visit",
            at=now,
            **_where(participant),
        )
    return form


@audited_service
@transaction.atomic
def delete_form(form: FormRecord, actor, *, reason: str, now: datetime) -> FormRecord:
    """Soft delete: the record stays, marked deleted, with the reason in the audit trail."""
    _require(actor, form.participant, "capture.delete_form")
    form = FormRecord.objects.select_for_update().get(pk=form.pk)
    if not (reason or "").strip():
        raise CaptureError(_("deleting clinical data needs a reason"))
    if form.locked:
        raise CaptureError(_("a locked form cannot be deleted"))
    if form.deleted_at:
        raise CaptureError(_("this form is already deleted"))
    before = form.snapshot()
    _void_signatures(form, actor, f"form deleted: {reason}", now)
    form.deleted_at, form.delete_reason = now, reason.strip()
    form.verified_by, form.verified_at = None, None
    form.version += 1
    form.save()
    record_event(
        actor=actor,
        action="form_delete",
        object_type="form",
        object_id=form.pk,
        before=before,
        after=form.snapshot(),
        reason=reason,
        at=now,
        **_where(form.participant),
    )
    if form.instrument == "adverse_event":
        _log_adverse_event(form, actor, now=now, reason=reason)
    return form


def verify_problem(form: FormRecord) -> str | None:
    """Why this form cannot be source-verified now, or None."""
    if form.status != FormRecord.Status.COMPLETE or form.deleted_at:
        return _("only a complete form can be source-verified")
    return None


@transaction.atomic
def verify_form(form: FormRecord, actor, *, now: datetime, reason: str = "") -> FormRecord:
    """A monitor's source data verification of a complete form (cleared by any later change)."""
    _require(actor, form.participant, "capture.verify_form")
    form = FormRecord.objects.select_for_update().get(pk=form.pk)
    problem = verify_problem(form)
    if problem:
        raise CaptureError(problem)
    form.verified_by, form.verified_at = actor, now
    form.save(update_fields=["verified_by", "verified_at"])
    record_event(
        actor=actor,
        action="form_verify",
        object_type="form",
        object_id=form.pk,
        after={"verified_at": now, "version": form.version},
        reason=(reason or "").strip(),
        at=now,
        **_where(form.participant),
    )
    return form


def _reauthenticate(actor, password: str, attempted: str, participant, request) -> None:
    # Signing re-authenticates the signer (21 CFR 11.200(a)(1)): the password is asked again,
    # failures are audited and count towards the lockout (accounts.authn). Outside the signing
    # transaction, so that a refusal keeps its audit event.
    try:
        reauthenticate(actor, password, attempted=attempted, request=request, where=_where(participant))
    except ReauthenticationFailed as exc:
        raise CaptureError(_("%(why)s; the signature was not applied") % {"why": exc}) from None


def sign_form(
    form: FormRecord,
    actor,
    *,
    password: str,
    now: datetime,
    meaning: str = "I confirm the data are accurate and complete",
    request=None,
) -> Signature:
    _require(actor, form.participant, "capture.sign_form")
    _reauthenticate(
        actor,
        password,
        f"sign {form.instrument} at {form.visit.visit_id} of {form.participant.participant_number}",
        form.participant,
        request,
    )
    return _sign_form(form, actor, now=now, meaning=meaning)


@transaction.atomic
def _sign_form(form: FormRecord, actor, *, now: datetime, meaning: str) -> Signature:
    form = FormRecord.objects.select_for_update().get(pk=form.pk)
    if form.status != FormRecord.Status.COMPLETE or form.deleted_at:
        raise CaptureError(_("only a complete form can be signed"))
    if Signature.objects.filter(form=form, voided_at__isnull=True).exists():
        raise CaptureError(_("this form is already signed"))
    signature = Signature.objects.create(
        form=form,
        signer=actor,
        signer_name=actor.get_full_name() or actor.username,
        meaning=meaning,
        signed_at=now,
        form_version=form.version,
        content_hash=signatures.form_hash(form),
    )
    record_event(
        actor=actor,
        action="signature",
        object_type="form",
        object_id=form.pk,
        after={
            "signature": signature.pk,
            "signer": signature.signer_name,
            "meaning": meaning,
            "version": form.version,
            "content_hash": signature.content_hash,
        },
        at=now,
        **_where(form.participant),
    )
    return signature


def sign_visit(
    visit: Visit,
    actor,
    *,
    password: str,
    now: datetime,
    meaning: str = "I confirm the data of this visit are accurate and complete",
    request=None,
) -> Signature:
    _require(actor, visit.participant, "capture.sign_form")
    _reauthenticate(
        actor,
        password,
        f"sign visit {visit.visit_id} of {visit.participant.participant_number}",
        visit.participant,
        request,
    )
    return _sign_visit(visit, actor, now=now, meaning=meaning)


@transaction.atomic
def _sign_visit(visit: Visit, actor, *, now: datetime, meaning: str) -> Signature:
    forms = list(visit.form_records.filter(deleted_at__isnull=True).select_for_update())
    if not forms:
        raise CaptureError(_("a visit without forms cannot be signed"))
    drafts = [f.instrument for f in forms if f.status != FormRecord.Status.COMPLETE]
    if drafts:
        raise CaptureError(_("complete these forms before signing the visit: %(forms)s") % {"forms": ", ".join(drafts)})
    if Signature.objects.filter(visit=visit, voided_at__isnull=True).exists():
        raise CaptureError(_("this visit is already signed"))
    signature = Signature.objects.create(
        visit=visit,
        signer=actor,
        signer_name=actor.get_full_name() or actor.username,
        meaning=meaning,
        signed_at=now,
        content_hash=signatures.visit_hash(visit),
    )
    record_event(
        actor=actor,
        action="signature",
        object_type="visit",
        object_id=visit.pk,
        after={
            "signature": signature.pk,
            "signer": signature.signer_name,
            "meaning": meaning,
            "visit": visit.visit_id,
            "forms": {f.instrument: f.version for f in forms},
            "content_hash": signature.content_hash,
        },
        at=now,
        **_where(visit.participant),
    )
    return signature


def lock_problem(form: FormRecord) -> str | None:
    """Why this form cannot be locked now, or None."""
    if form.locked:
        return _("this form is already locked")
    return None


@audited_service
@transaction.atomic
def lock_form(form: FormRecord, actor, *, reason: str, now: datetime) -> FormRecord:
    _require(actor, form.participant, "capture.lock_form")
    if not (reason or "").strip():
        raise CaptureError(_("locking a form needs a reason"))
    form = FormRecord.objects.select_for_update().get(pk=form.pk)
    problem = lock_problem(form)
    if problem:
        raise CaptureError(problem)
    form.locked_by, form.locked_at = actor, now
    form.save(update_fields=["locked_by", "locked_at"])
    record_event(
        actor=actor,
        action="form_lock",
        object_type="form",
        object_id=form.pk,
        after={"locked_at": now},
        reason=reason,
        at=now,
        **_where(form.participant),
    )
    return form


@audited_service
@transaction.atomic
def unlock_form(form: FormRecord, actor, *, reason: str, now: datetime) -> FormRecord:
    _require(actor, form.participant, "capture.lock_form")
    if not (reason or "").strip():
        raise CaptureError(_("unlocking a form needs a reason"))
    form = FormRecord.objects.select_for_update().get(pk=form.pk)
    if not form.locked:
        raise CaptureError(_("this form is not locked"))
    before = {"locked_at": form.locked_at}
    form.locked_by, form.locked_at = None, None
    form.save(update_fields=["locked_by", "locked_at"])
    record_event(
        actor=actor,
        action="form_unlock",
        object_type="form",
        object_id=form.pk,
        before=before,
        after={"locked_at": None},
        reason=reason,
        at=now,
        **_where(form.participant),
    )
    return form


# --------------------------------------------------------------------------- queries


@transaction.atomic
def open_query(form: FormRecord, item: str, text: str, actor, *, now: datetime) -> Query:
    _require(actor, form.participant, "capture.query")
    if not text.strip():
        raise CaptureError(_("a query needs a question"))
    keys = {i.key for i in instrument_for(form.instrument).items}
    if item not in keys and item != "(form)":
        raise CaptureError(_("%(item)s is not a field of %(form)s") % {"item": repr(item), "form": form.instrument})
    query = Query.objects.create(
        form=form,
        participant=form.participant,
        site_id=form.participant.site_id,
        item=item,
        text=text.strip(),
        opened_by=actor,
        opened_at=now,
    )
    QueryMessage.objects.create(query=query, kind=QueryMessage.Kind.OPEN, author=actor, at=now, text=text.strip())
    record_event(
        actor=actor,
        action="query_open",
        object_type="query",
        object_id=query.pk,
        after={"form": form.pk, "item": item, "text": query.text},
        at=now,
        **_where(form.participant),
    )
    return query


@transaction.atomic
def answer_query(query: Query, text: str, actor, *, now: datetime, corrected: bool = False) -> Query:
    """The site's answer; ``corrected`` says the answer is a correction made through save_form."""
    _require(actor, query.participant, "capture.enter_data")
    query = Query.objects.select_for_update().get(pk=query.pk)
    if query.status == Query.Status.CLOSED:
        raise CaptureError(_("this query is closed"))
    if not text.strip():
        raise CaptureError(_("an answer needs text"))
    kind = QueryMessage.Kind.CORRECTION if corrected else QueryMessage.Kind.ANSWER
    QueryMessage.objects.create(query=query, kind=kind, author=actor, at=now, text=text.strip())
    before = query.status
    query.status = Query.Status.ANSWERED
    query.save(update_fields=["status"])
    record_event(
        actor=actor,
        action="query_answer",
        object_type="query",
        object_id=query.pk,
        before={"status": before},
        after={"status": query.status, "text": text.strip(), "kind": kind},
        at=now,
        **_where(query.participant),
    )
    return query


@transaction.atomic
def close_query(query: Query, actor, *, now: datetime, text: str = "") -> Query:
    _require(actor, query.participant, "capture.query")
    query = Query.objects.select_for_update().get(pk=query.pk)
    if query.status == Query.Status.CLOSED:
        raise CaptureError(_("this query is already closed"))
    QueryMessage.objects.create(query=query, kind=QueryMessage.Kind.CLOSE, author=actor, at=now, text=text.strip())
    before = query.status
    query.status, query.closed_by, query.closed_at = Query.Status.CLOSED, actor, now
    query.save(update_fields=["status", "closed_by", "closed_at"])
    record_event(
        actor=actor,
        action="query_close",
        object_type="query",
        object_id=query.pk,
        before={"status": before},
        after={"status": query.status, "text": text.strip()},
        at=now,
        **_where(query.participant),
    )
    return query


def open_query_counts(queryset) -> dict[int, int]:
    """Open (not closed) queries per key: pass Query.objects.values(key) ... filtered as needed."""
    rows = queryset.exclude(status=Query.Status.CLOSED).annotate(n=Count("id"))
    return {row[next(k for k in row if k != "n")]: row["n"] for row in rows}


def open_queries_by_site(trial) -> dict[int, int]:
    return open_query_counts(Query.objects.filter(participant__trial=trial).values("site_id"))


def open_queries_by_participant(trial, participant_ids: list[int] | None = None) -> dict[int, int]:
    """Participant pk -> open queries; only for ``participant_ids`` when given (a page of a list)."""
    queries = Query.objects.filter(participant__trial=trial)
    if participant_ids is not None:
        queries = queries.filter(participant_id__in=participant_ids)
    return open_query_counts(queries.values("participant_id"))


# --------------------------------------------------------------------------- adverse events


def _next_ae_number(participant) -> int:
    return (
        AdverseEvent.objects.filter(participant=participant)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
        or 0
    ) + 1


def _coding(data: dict) -> dict:
    """The verbatim term coded with the trial's dictionary (MedDRA when licensed, else the open list)."""
    from trialkit.server.capture.safety import code_term

    return code_term(str(data.get("term") or ""))


def _check_escalation(participant, now: datetime) -> None:
    """A dose-limiting toxicity or a related SAE may meet a stopping rule: evaluate it now, so the
    pause is notified when the event is entered, not at the next randomization."""
    from trialkit.server.allocation.escalation import check_stopping_rules

    check_stopping_rules(participant.trial, now)


def _log_adverse_event(
    form: FormRecord, actor, *, now: datetime, reason: str = "", awareness_at: datetime | None = None
) -> AdverseEvent:
    """Mirror a visit's adverse_event form into the AE log: create the entry, or bring it up to date
    (data, status, seriousness, soft deletion). The form's own rules (reason, locks, signatures)
    have already been applied by the caller."""
    participant = form.participant
    serious = form.data.get("serious") is True
    ae = AdverseEvent.objects.select_for_update().filter(form=form).first()
    if ae is None:
        ae = AdverseEvent.objects.create(
            participant=participant,
            form=form,
            number=_next_ae_number(participant),
            data=form.data,
            status=form.status,
            serious=serious,
            awareness_at=awareness_at or now,
            coding=_coding(form.data),
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        record_event(
            actor=actor,
            action="ae_create",
            object_type="adverse_event",
            object_id=ae.pk,
            after={**ae.snapshot(), "form_id": form.pk, "visit": form.visit.visit_id},
            reason=reason,
            at=now,
            **_where(participant),
        )
        _check_escalation(participant, now)
        return ae
    before = ae.snapshot()
    if serious and not ae.serious:
        ae.awareness_at = awareness_at or now  # the clock starts when the event became known as serious
    elif awareness_at is not None:
        ae.awareness_at = awareness_at
    if form.data.get("term") != ae.data.get("term"):
        ae.coding = _coding(form.data)
    ae.data, ae.status, ae.serious = form.data, form.status, serious
    ae.deleted_at, ae.delete_reason = form.deleted_at, form.delete_reason
    ae.version += 1
    ae.updated_at = now
    ae.save()
    record_event(
        actor=actor,
        action="ae_delete" if ae.deleted_at and not before["deleted"] else "ae_update",
        object_type="adverse_event",
        object_id=ae.pk,
        before=before,
        after={**ae.snapshot(), "form_id": form.pk},
        reason=reason,
        at=now,
        **_where(participant),
    )
    _check_escalation(participant, now)
    return ae


def _check_ae_version(ae: AdverseEvent, expected_version: int | None, form: FormRecord | None = None) -> None:
    """EditConflict when the (locked) entry is no longer at the version the caller loaded."""
    if expected_version is None or ae.version == expected_version:
        return
    if form is not None:
        who = form.updated_by.get_full_name() or form.updated_by.get_username()
    else:
        last = (
            AuditEvent.objects.filter(object_type="adverse_event", object_id=str(ae.pk))
            .order_by("-id")
            .values_list("actor", flat=True)
            .first()
        )
        who = last or "someone"
    raise EditConflict(ae, expected_version, changed_by=who, changed_at=ae.updated_at)


@audited_service
@transaction.atomic
def save_adverse_event(
    participant,
    values: dict[str, Any],
    actor,
    *,
    complete: bool,
    now: datetime,
    adverse_event: AdverseEvent | None = None,
    awareness_at: datetime | None = None,
    reason: str | None = None,
    expected_version: int | None = None,
) -> AdverseEvent:
    """Enter or follow up an adverse event with the adverse_event form.

    A serious event starts the 24-hour reporting clock at ``awareness_at`` (default: now), the time
    the site learned it was serious. ``expected_version`` is the entry's version the caller loaded:
    checked under the row lock, a stale one raises ``EditConflict`` and nothing is written.
    """
    _require(actor, participant, "capture.enter_data")
    if adverse_event is not None and adverse_event.form_id:
        # Entered at a visit: the visit's form is the record, and saving it updates this entry.
        # Rows are locked form first, then entry, the order save_form takes them in.
        form = FormRecord.objects.select_for_update().get(pk=adverse_event.form_id)
        if form.participant_id != participant.pk:
            raise CaptureError(_("this adverse event belongs to another participant"))
        _check_ae_version(AdverseEvent.objects.select_for_update().get(pk=adverse_event.pk), expected_version, form)
        save_form(
            participant,
            form.visit.visit_id,
            "adverse_event",
            values,
            actor,
            complete=complete,
            now=now,
            reason=reason,
            repeat=form.repeat,
            awareness_at=awareness_at,
        )
        return AdverseEvent.objects.get(pk=adverse_event.pk)
    definition = instrument_for("adverse_event")
    data, _scores = clean_values(definition, values, complete)
    serious = data.get("serious") is True
    status = FormRecord.Status.COMPLETE if complete else FormRecord.Status.DRAFT
    reason = (reason or "").strip()
    if adverse_event is None:
        number = _next_ae_number(participant)
        ae = AdverseEvent.objects.create(
            participant=participant,
            number=number,
            data=data,
            status=status,
            serious=serious,
            awareness_at=awareness_at or now,
            coding=_coding(data),
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        record_event(
            actor=actor,
            action="ae_create",
            object_type="adverse_event",
            object_id=ae.pk,
            after=ae.snapshot(),
            reason=reason,
            at=now,
            **_where(participant),
        )
        _check_escalation(participant, now)
        return ae
    ae = AdverseEvent.objects.select_for_update().get(pk=adverse_event.pk)
    if ae.participant_id != participant.pk:
        raise CaptureError(_("this adverse event belongs to another participant"))
    _check_ae_version(ae, expected_version)
    if ae.data == data and ae.status == status and awareness_at in (None, ae.awareness_at):
        return ae
    if ae.status == FormRecord.Status.COMPLETE and not reason:
        raise FormInvalid(
            [FieldError("reason", None, "required", _("a change to a complete form needs a reason"))], "adverse_event"
        )
    before = ae.snapshot()
    if serious and not ae.serious:
        ae.awareness_at = awareness_at or now  # the clock starts when the event became known as serious
    elif awareness_at is not None:
        ae.awareness_at = awareness_at
    if data.get("term") != ae.data.get("term"):
        ae.coding = _coding(data)
    ae.data, ae.status, ae.serious = data, status, serious
    ae.version += 1
    ae.updated_at = now
    ae.save()
    record_event(
        actor=actor,
        action="ae_update",
        object_type="adverse_event",
        object_id=ae.pk,
        before=before,
        after=ae.snapshot(),
        reason=reason,
        at=now,
        **_where(participant),
    )
    _check_escalation(participant, now)
    return ae


@transaction.atomic
def report_sae(adverse_event: AdverseEvent, actor, *, now: datetime) -> AdverseEvent:
    """Record that the serious adverse event was reported to the sponsor (stops the clock)."""

    def refusal(ae: AdverseEvent) -> str | None:
        if not ae.serious:
            return _("only a serious adverse event is reported on the 24-hour clock")
        return _("this serious adverse event is already reported") if ae.reported_at else None

    def stamp(ae: AdverseEvent) -> list[str]:
        ae.reported_at, ae.reported_by = now, actor
        return ["reported_at", "reported_by"]

    return _record_report(adverse_event, actor, now, kind="reported", action="sae_report", refusal=refusal, stamp=stamp)


@transaction.atomic
def report_susar(adverse_event: AdverseEvent, actor, *, now: datetime) -> AdverseEvent:
    """Record an expedited SUSAR report, audited: it stops every clock then waiting for one (the
    first 7 or 15 days, the 7 days from a follow-up that made the event fatal or life-threatening,
    the complete report after a 7-day report)."""
    from trialkit.server.capture.safety import susar_clocks_of

    def refusal(ae: AdverseEvent) -> str | None:
        clocks = susar_clocks_of(ae, now)
        if not clocks:
            return _("this event is not a SUSAR (serious, related and unexpected); it has no expedited clock")
        if all(c.reported_at is not None for c in clocks):
            return _("this SUSAR is already reported; no expedited report is due")
        return None

    def stamp(ae: AdverseEvent) -> list[str]:
        earlier = list(ae.susar_reports or [])
        if ae.susar_reported_at and not earlier:
            earlier = [ae.susar_reported_at.isoformat()]
        ae.susar_reports = [*earlier, now.isoformat()]
        fields = ["susar_reports"]
        if ae.susar_reported_at is None:
            ae.susar_reported_at, ae.susar_reported_by = now, actor
            fields += ["susar_reported_at", "susar_reported_by"]
        return fields

    return _record_report(
        adverse_event, actor, now, kind="susar_reported", action="susar_report", refusal=refusal, stamp=stamp
    )


def _record_report(adverse_event, actor, now, *, kind, action, refusal, stamp) -> AdverseEvent:
    """Stamp a report on the locked event (``stamp`` sets the fields and names them) unless
    ``refusal`` names why none is due, audited: the one way a reporting clock (the SAE's 24 hours,
    the SUSAR's 7, 15 or 8 days) is stopped."""
    _require(actor, adverse_event.participant, "capture.report_ae")
    ae = AdverseEvent.objects.select_for_update().get(pk=adverse_event.pk)
    problem = refusal(ae)
    if problem:
        raise CaptureError(problem)
    fields = stamp(ae)
    ae.save(update_fields=fields)
    record_event(
        actor=actor,
        action=action,
        object_type="adverse_event",
        object_id=ae.pk,
        after={f"{kind}_at": now, "awareness_at": ae.awareness_at},
        at=now,
        **_where(ae.participant),
    )
    return ae


@transaction.atomic
def add_ae_follow_up(
    adverse_event: AdverseEvent,
    actor,
    *,
    note: str,
    now: datetime,
    outcome: str = "",
    received_at: datetime | None = None,
    seriousness: str = "",
) -> AdverseEventFollowUp:
    """A follow-up report; ``received_at`` is when the site learned the new information (default now).

    ``seriousness`` (``AdverseEventFollowUp.Seriousness``; blank: unchanged) is what the follow-up
    found: the event's SUSAR assessment is revised from ``received_at`` on, and a SUSAR that
    becomes fatal or life-threatening gets a new 7-day clock from then (Regulation (EU) No 536/2014
    Art. 42(2)(c)). The first such follow-up keeps the first report's assessment, so its clock stays.
    """
    from trialkit.server.capture.safety import assessment_flags, revised_assessment

    _require(actor, adverse_event.participant, "capture.enter_data")
    if not note.strip():
        raise CaptureError(_("a follow-up needs a note"))
    if received_at is not None and received_at > now:
        raise CaptureError(_("the follow-up information cannot be received in the future"))
    seriousness = (seriousness or "").strip()
    if seriousness and seriousness not in AdverseEventFollowUp.Seriousness.values:
        choices = ", ".join(AdverseEventFollowUp.Seriousness.values)
        raise CaptureError(
            _("the seriousness %(value)s is not one of: %(choices)s") % {"value": repr(seriousness), "choices": choices}
        )
    ae = AdverseEvent.objects.select_for_update().get(pk=adverse_event.pk)
    assessment: dict = {}
    if seriousness:
        assessment = assessment_flags(revised_assessment(ae, seriousness))
        if not ae.susar_initial:
            from trialkit.safety import assess_susar

            ae.susar_initial = assessment_flags(assess_susar(ae.data or {}))
            ae.save(update_fields=["susar_initial"])
    follow_up = AdverseEventFollowUp.objects.create(
        adverse_event=ae,
        at=now,
        by=actor,
        note=note.strip(),
        outcome=outcome,
        received_at=received_at or now,
        seriousness=seriousness,
        assessment=assessment,
    )
    record_event(
        actor=actor,
        action="ae_follow_up",
        object_type="adverse_event",
        object_id=adverse_event.pk,
        after={
            "note": follow_up.note,
            "outcome": outcome,
            "received_at": follow_up.received_at,
            "seriousness": seriousness,
            "assessment": assessment,
        },
        at=now,
        **_where(adverse_event.participant),
    )
    return follow_up


@audited_service
@transaction.atomic
def delete_adverse_event(adverse_event: AdverseEvent, actor, *, reason: str, now: datetime) -> AdverseEvent:
    _require(actor, adverse_event.participant, "capture.enter_data")
    if not (reason or "").strip():
        raise CaptureError(_("deleting clinical data needs a reason"))
    if adverse_event.form_id:
        delete_form(adverse_event.form, actor, reason=reason, now=now)  # deletes this entry with it
        return AdverseEvent.objects.get(pk=adverse_event.pk)
    ae = AdverseEvent.objects.select_for_update().get(pk=adverse_event.pk)
    before = ae.snapshot()
    ae.deleted_at, ae.delete_reason = now, reason.strip()
    ae.save(update_fields=["deleted_at", "delete_reason"])
    record_event(
        actor=actor,
        action="ae_delete",
        object_type="adverse_event",
        object_id=ae.pk,
        before=before,
        after=ae.snapshot(),
        reason=reason,
        at=now,
        **_where(ae.participant),
    )
    return ae


# --------------------------------------------------------------------------- diary

# Codes avoid letters and digits read alike on a phone (0/O, 1/I/L).
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_CODE_LENGTH = 12  # 31^12 ≈ 7.9e17 codes


def _token_hash(code: str) -> str:
    # Keyed with SECRET_KEY so a copy of the table alone cannot be searched for codes.
    normalized = "".join(ch for ch in code.upper() if ch.isalnum())
    return hmac.new(settings.SECRET_KEY.encode(), normalized.encode(), hashlib.sha256).hexdigest()


def format_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


@dataclass(frozen=True)
class DiaryActor:
    """Who the audit trail names for a diary entry: the holder of one personal diary code.

    It is an identified actor (``is_authenticated``) for the trail only; it is never a Django user
    and never logs anyone in.
    """

    access: DiaryAccess
    pk = None
    is_authenticated = True

    def get_username(self) -> str:
        return f"diary:{self.access.participant.participant_number}:{self.access.who}:{self.access.hint}"


@transaction.atomic
def create_diary_access(participant, who: str, actor, *, now: datetime) -> tuple[DiaryAccess, str]:
    """A new personal code for the participant or a caregiver; the code itself is shown once."""
    _require(actor, participant, "capture.manage_diary")
    if participant.trial.protocol.diary is None:
        raise CaptureError(_("%(trial)s keeps no participant diary") % {"trial": participant.trial.short_name})
    if who not in participant.trial.protocol.diary.who:
        raise CaptureError(
            _("the diary is kept by %(keepers)s, not %(who)s")
            % {"keepers": ", ".join(participant.trial.protocol.diary.who), "who": who}
        )
    code = "".join(secrets.choice(_CODE_ALPHABET) for _i in range(_CODE_LENGTH))
    access = DiaryAccess.objects.create(
        participant=participant, token_hash=_token_hash(code), hint=code[-4:], who=who, created_by=actor, created_at=now
    )
    record_event(
        actor=actor,
        action="diary_access_grant",
        object_type="diary_access",
        object_id=access.pk,
        after={"who": who, "hint": access.hint},
        at=now,
        **_where(participant),
    )
    return access, code


@audited_service
@transaction.atomic
def revoke_diary_access(access: DiaryAccess, actor, *, now: datetime, reason: str = "") -> DiaryAccess:
    _require(actor, access.participant, "capture.manage_diary")
    access.revoked_at = now
    access.save(update_fields=["revoked_at"])
    record_event(
        actor=actor,
        action="diary_access_revoke",
        object_type="diary_access",
        object_id=access.pk,
        after={"revoked_at": now},
        reason=reason,
        at=now,
        **_where(access.participant),
    )
    return access


def diary_access_for_code(code: str) -> DiaryAccess | None:
    """The active access a code opens, or None (an unknown, malformed or revoked code)."""
    if not code or len(code) > 64:
        return None
    access = (
        DiaryAccess.objects.select_related("participant__trial")
        .filter(token_hash=_token_hash(code), revoked_at__isnull=True)
        .first()
    )
    return access


DIARY_FIELDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # section -> (key, label, kind: "yesno" | "text")
    "symptoms": (
        ("new_or_worse", gettext_noop("New or worse neurological symptoms today?"), "yesno"),
        ("details", gettext_noop("What did you notice (weakness, numbness, speech, vision, headache)?"), "text"),
    ),
    "functional_activities": (
        ("details", gettext_noop("What did you do today (walking, dressing, eating, exercises)?"), "text"),
    ),
    "rehabilitation_medicines": (
        ("taken", gettext_noop("Rehabilitation medicines taken today?"), "yesno"),
        ("details", gettext_noop("Which ones, and how much?"), "text"),
    ),
    "assistive_devices": (
        ("used", gettext_noop("Assistive devices used today?"), "yesno"),
        ("details", gettext_noop("Which (cane, walker, wheelchair, orthosis)?"), "text"),
    ),
}
DIARY_SECTION_LABELS = {
    "symptoms": gettext_noop("Neurological symptoms"),
    "functional_activities": gettext_noop("Functional activities"),
    "rehabilitation_medicines": gettext_noop("Rehabilitation medicines"),
    "assistive_devices": gettext_noop("Assistive devices"),
}
_DIARY_TEXT_LIMIT = 2000


def clean_diary(sections_wanted: list[str], raw: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    errors: list[FieldError] = []
    cleaned: dict[str, dict[str, Any]] = {}
    for section in sections_wanted:
        given = raw.get(section) or {}
        out: dict[str, Any] = {}
        for key, _label, kind in DIARY_FIELDS[section]:
            value = given.get(key)
            if value in (None, ""):
                continue
            if kind == "yesno":
                if value in (True, "yes", "true", "on"):
                    out[key] = True
                elif value in (False, "no", "false"):
                    out[key] = False
                else:
                    errors.append(FieldError(f"{section}.{key}", value, "type", str(gettext_lazy("answer yes or no"))))
            else:
                text = str(value).strip()
                if "\x00" in text:
                    errors.append(
                        FieldError(f"{section}.{key}", value, "nul", str(gettext_lazy("contains a NUL character")))
                    )
                elif len(text) > _DIARY_TEXT_LIMIT:
                    errors.append(
                        FieldError(
                            f"{section}.{key}",
                            value,
                            "length",
                            str(gettext_lazy("is too long (at most %(n)d characters)") % {"n": _DIARY_TEXT_LIMIT}),
                        )
                    )
                elif text:
                    out[key] = text
        if out:
            cleaned[section] = out
    if not cleaned and not errors:
        errors.append(FieldError("(diary)", None, "required", str(gettext_lazy("write at least one answer"))))
    if errors:
        raise FormInvalid(errors, "diary")
    return cleaned


def diary_period_of(participant) -> diary_calendar.DiaryPeriod | None:
    """The days the participant's diary is kept (protocol ``diary.start_visit`` to ``end_visit``,
    cut short on the day participation ended), or None when there is no diary or no day 0 yet."""
    config = participant.trial.protocol.diary
    if config is None:
        return None
    days = {v.id: v.day for v in participant.trial.protocol.schedule.visits}
    return diary_calendar.diary_period(
        participant.anchor_date, days[config.start_visit], days[config.end_visit], ended_on=participant.ended_on
    )


def diary_today(participant, now: datetime) -> date:
    """The participant's "today": the calendar day at their site (Site.time_zone)."""
    return diary_calendar.local_day(now, participant.site.tz)


_DIARY_DAY_MESSAGES = {
    "past": gettext_lazy(
        "an earlier day's diary can no longer be written or changed; entries are kept on their own day"
    ),
    "future": gettext_lazy("cannot be in the future"),
    "before": gettext_lazy("the diary has not started yet"),
    "after": gettext_lazy("the diary period is over"),
}


def diary_day_refusal(participant, entry_date: date, now: datetime) -> str | None:
    """Why the entry for ``entry_date`` may not be written now (a translated sentence), or None."""
    code = diary_calendar.entry_day_rule(entry_date, diary_today(participant, now), diary_period_of(participant))
    return None if code is None else str(_DIARY_DAY_MESSAGES[code])


_DIARY_REASON_LIMIT = 500


@transaction.atomic
def save_diary_entry(
    access: DiaryAccess, entry_date: date, raw: dict[str, dict[str, Any]], *, now: datetime, reason: str = ""
) -> DiaryEntry:
    """Write the day's entry of the code holder, or change it with a reason; only on its own day.

    The day is the participant's local day at their site; an earlier day's entry is refused
    whether or not it exists (schedule/diary.py says why). A change keeps the previous answers in
    the audit trail (the event's ``before``) with the reason given.
    """
    access = (
        DiaryAccess.objects.select_for_update()
        .select_related("participant__trial", "participant__site")
        .get(pk=access.pk)
    )
    if not access.active:
        raise CaptureError(str(gettext_lazy("this diary code has been withdrawn")))
    participant = access.participant
    if participant.has_ended:
        raise CaptureError(str(gettext_lazy("the diary is closed: participation in the study has ended")))
    refusal = diary_day_refusal(participant, entry_date, now)
    if refusal is not None:
        raise FormInvalid([FieldError("entry_date", entry_date, "range", refusal)], "diary")
    sections = clean_diary(list(participant.trial.protocol.diary.sections), raw)
    actor = DiaryActor(access)
    entry = (
        DiaryEntry.objects.select_for_update()
        .filter(participant=participant, entry_date=entry_date, entered_by=access.who)
        .first()
    )
    if entry is None:
        entry = DiaryEntry.objects.create(
            participant=participant,
            entry_date=entry_date,
            sections=sections,
            entered_by=access.who,
            access=access,
            created_at=now,
            updated_at=now,
        )
        record_event(
            actor=actor,
            action="diary_create",
            object_type="diary_entry",
            object_id=entry.pk,
            after={"date": entry_date, "sections": sections, "by": access.who},
            at=now,
            **_where(participant),
        )
    elif entry.sections != sections:
        reason = (reason or "").strip()
        if not reason:
            raise FormInvalid(
                [FieldError("reason", reason, "required", str(gettext_lazy("say why the answers are changed")))],
                "diary",
            )
        if len(reason) > _DIARY_REASON_LIMIT or "\x00" in reason:
            raise FormInvalid(
                [
                    FieldError(
                        "reason",
                        reason,
                        "length",
                        str(gettext_lazy("is too long (at most %(n)d characters)") % {"n": _DIARY_REASON_LIMIT}),
                    )
                ],
                "diary",
            )
        before = {"date": entry_date, "sections": entry.sections, "by": entry.entered_by}
        with acting_as(actor, reason=reason):
            entry.sections, entry.updated_at, entry.access = sections, now, access
            entry.save(update_fields=["sections", "updated_at", "access"])
        record_event(
            actor=actor,
            action="diary_update",
            object_type="diary_entry",
            object_id=entry.pk,
            before=before,
            after={"date": entry_date, "sections": sections, "by": access.who},
            reason=reason,
            at=now,
            **_where(participant),
        )
    access.last_used_at = now
    access.save(update_fields=["last_used_at"])
    return entry


def diary_status(trial, participants: list, now: datetime) -> dict[int, dict[str, Any]]:
    """Per participant id (of ``trial``, with their ``site`` loaded): ``missed`` (days of the diary
    period before today, at the participant's site, without any entry), ``last`` (the date of the
    latest entry), ``today`` (an entry made today) and ``open`` (today is a diary day).

    One query for any number of participants (the lists stay flat as the trial grows). Entries are
    written only on their own day inside the period (save_diary_entry), so the distinct days on
    or before the end of participation are the days kept.
    """
    if trial.protocol.diary is None:
        return {}
    people = [p for p in participants if p.anchor_date is not None]
    if not people:
        return {}
    rows = {
        r["participant_id"]: r
        for r in DiaryEntry.objects.filter(participant_id__in=[p.pk for p in people])
        .filter(Q(participant__ended_on__isnull=True) | Q(entry_date__lte=F("participant__ended_on")))
        .order_by()
        .values("participant_id")
        .annotate(days=Count("entry_date", distinct=True), last=Max("entry_date"))
    }
    out: dict[int, dict[str, Any]] = {}
    for p in people:
        p.trial = trial  # the caller's trial: no query per participant
        today = diary_today(p, now)
        period = diary_period_of(p)
        row = rows.get(p.pk) or {"days": 0, "last": None}
        made_today = row["last"] == today
        kept_before_today = row["days"] - (1 if made_today else 0)
        out[p.pk] = {
            "missed": diary_calendar.missed_days(period, today, kept_before_today),
            "last": row["last"],
            "today": made_today,
            "open": period is not None and today in period and not p.has_ended,
        }
    return out


# --------------------------------------------------------------------------- diary reminders: contact

_PHONE_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164 (ITU-T E.164: at most 15 digits)


@audited_service
@transaction.atomic
def set_diary_contact(participant, who: str, actor, *, channel: str, email: str, phone: str, language: str, now):
    """How the diary's keeper is reminded: by email, text message or not at all, in which language.

    Staff of the participant's site who manage the diary (``capture.manage_diary``); the row is
    audited (audit/rows.py), so a changed address keeps the previous one in the trail.
    """
    _require(actor, participant, "capture.manage_diary")
    config = participant.trial.protocol.diary
    if config is None:
        raise CaptureError(_("%(trial)s keeps no participant diary") % {"trial": participant.trial.short_name})
    errors: list[FieldError] = []
    if who not in config.who:
        errors.append(FieldError("who", who, "choice", str(gettext_lazy("choose who keeps the diary"))))
    if channel not in DiaryContact.Channel.values:
        errors.append(FieldError("channel", channel, "choice", str(gettext_lazy("choose email, text message or none"))))
    if language not in DiaryContact.Language.values:
        errors.append(
            FieldError("language", language, "choice", str(gettext_lazy("choose English or Simplified Chinese")))
        )
    email = (email or "").strip()
    phone = "".join((phone or "").split()).replace("-", "")
    for name, value, limit in (("email", email, 254), ("phone", phone, 32)):
        if "\x00" in value or len(value) > limit:
            errors.append(FieldError(name, value, "length", str(gettext_lazy("is too long or has a NUL character"))))
    if not any(e.item == "email" for e in errors) and email:
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        try:
            validate_email(email)
        except ValidationError:
            errors.append(FieldError("email", email, "format", str(gettext_lazy("is not an email address"))))
    if not any(e.item == "phone" for e in errors) and phone and not _PHONE_RE.match(phone):
        errors.append(
            FieldError(
                "phone", phone, "format", str(gettext_lazy("write the number with its country code, as +8613800000000"))
            )
        )
    if channel == "email" and not email:
        errors.append(
            FieldError("email", email, "required", str(gettext_lazy("an email reminder needs an email address")))
        )
    if channel == "sms" and not phone:
        errors.append(
            FieldError("phone", phone, "required", str(gettext_lazy("a text-message reminder needs a phone number")))
        )
    if errors:
        raise FormInvalid(errors, "diary_contact")
    contact, _created = DiaryContact.objects.update_or_create(
        participant=participant,
        who=who,
        defaults={
            "channel": channel,
            "email": email,
            "phone": phone,
            "language": language,
            "updated_by": actor,
            "updated_at": now,
        },
    )
    return contact
