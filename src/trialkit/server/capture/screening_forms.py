"""The screening facts become the Screening visit's forms.

A participant's Screening visit happened when the coordinator screened them: its date is the
screening date, and what the coordinator entered there (date of birth and sex, the stroke, the
NIHSS, laboratory values, conditions and medicines) is carried into the visit's forms, attributed
to that coordinator, each with a ``form_create`` audit event naming the screening record it came
from. A form every required item of which is known is complete; the others are drafts the site
completes (items the screening form does not ask, e.g. ethnicity, stay blank rather than guessed).
Forms the screening form does not cover (vital signs, imaging, ...) are entered as usual.

The visit records which screening record its forms came from (``Visit.carried_from``). Data copied
by the system are the coordinator's only once they have looked at them: until the coordinator
confirms "I have reviewed the screening data carried into these forms" (``confirm_carried_forms``,
an audited ``carried_forms_review`` event) the visit reads "carried from screening — awaiting
review" and is not done, whatever its forms' states.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from trialkit.instruments import FieldError, Instrument
from trialkit.server.accounts.access import require
from trialkit.server.audit.service import record_event
from trialkit.server.capture.form_names import instrument_for, instrument_name
from trialkit.server.capture.models import FormRecord, Visit
from trialkit.server.capture.services import CaptureError, FormInvalid, clean_values

SEX = {"female": "F", "male": "M"}


def _demographics(facts: dict, record) -> list[dict]:
    return [{"birth_date": facts.get("birth_date"), "sex": SEX.get(str(facts.get("sex") or ""))}]


def _stroke_history(facts: dict, record) -> list[dict]:
    stroke = facts.get("stroke") or {}
    return [
        {
            "stroke_type": stroke.get("type"),
            "territory": stroke.get("territory"),
            "onset_date": stroke.get("onset_date"),
            "premorbid_mrs": facts.get("premorbid_mrs"),
        }
    ]


def _nihss(facts: dict, record) -> list[dict]:
    items = facts.get("nihss") or {}
    return [dict(items)] if isinstance(items, dict) and items else []


def _labs(facts: dict, record) -> list[dict]:
    labs = {k: v for k, v in (facts.get("labs") or {}).items() if isinstance(v, dict) and v.get("value") is not None}
    if not labs:
        return []
    values: dict[str, Any] = {"collection_date": record.screening_date.isoformat()}
    for key, lab in labs.items():
        values[key] = lab["value"]
        if lab.get("unit"):
            values[f"{key}_unit"] = lab["unit"]
    return [values]


def _medical_history(facts: dict, record) -> list[dict]:
    return [
        {"term": c.get("description") or c.get("name"), "category": c.get("name"), "start_date": c.get("date")}
        for c in facts.get("conditions") or []
        if c.get("name")
    ]


def _con_meds(facts: dict, record) -> list[dict]:
    return [
        {"name": m.get("name"), "med_class": m.get("class")} for m in facts.get("medications") or [] if m.get("name")
    ]


CARRIED = {
    "demographics": _demographics,
    "stroke_history": _stroke_history,
    "nihss": _nihss,
    "labs": _labs,
    "medical_history": _medical_history,
    "con_meds": _con_meds,
}


def _valid_part(instrument: Instrument, values: dict) -> dict:
    """``values`` without blanks and without the items the instrument refuses (a screening answer
    in another vocabulary is left for the site to enter, never coerced)."""
    values = {k: v for k, v in values.items() if v not in (None, "")}
    for _round in range(len(values) + 1):
        _cleaned, errors = instrument.clean(values, partial=True)
        bad = {e.item for e in errors if e.item in values}
        if not bad:
            return values
        values = {k: v for k, v in values.items() if k not in bad}
    return {}


def carry_screening_into_visit(participant, visit: Visit, *, now: datetime) -> list[FormRecord]:
    """Create the forms of ``visit`` (the participant's screening visit) from their screening record;
    idempotent (a form already entered is left alone). Returns the forms created."""
    record = getattr(participant, "screening", None)
    if record is None or visit.kind != "screening":
        return []
    facts, coordinator = record.facts or {}, record.created_by
    created = []
    names = {instrument_name(f) for f in visit.forms}
    for name, carry in CARRIED.items():
        if name not in names:
            continue
        instrument = instrument_for(name)
        for repeat, raw in enumerate(carry(facts, record), start=1):
            values = _valid_part(instrument, raw)
            if not values or FormRecord.objects.filter(visit=visit, instrument=name, repeat=repeat).exists():
                continue
            complete = not instrument.validate(values, partial=False)
            data, scores = clean_values(instrument, values, complete)
            form = FormRecord.objects.create(
                participant=participant,
                visit=visit,
                instrument=name,
                repeat=repeat,
                data=data,
                scores=scores,
                status=FormRecord.Status.COMPLETE if complete else FormRecord.Status.DRAFT,
                created_by=coordinator,
                created_at=now,
                updated_by=coordinator,
                updated_at=now,
            )
            record_event(
                actor=coordinator,
                action="form_create",
                object_type="form",
                object_id=form.pk,
                after=form.snapshot(),
                reason=f"carried in from screening record {record.screening_number}",
                at=now,
                trial_id=participant.trial_id,
                site_id=participant.site_id,
                participant_id=participant.pk,
            )
            created.append(form)
    if created and not visit.carried_from:
        visit.carried_from = record.screening_number
        visit.save(update_fields=["carried_from"])
    if visit.done_on is None:
        visit.done_on = record.screening_date
        visit.save(update_fields=["done_on"])
        record_event(
            actor=coordinator,
            action="visit_date",
            object_type="visit",
            object_id=visit.pk,
            before={"done_on": None},
            after={"done_on": visit.done_on, "visit": visit.visit_id},
            reason=f"screening record {record.screening_number}",
            at=now,
            trial_id=participant.trial_id,
            site_id=participant.site_id,
            participant_id=participant.pk,
        )
    return created


REVIEW_STATEMENT = "I have reviewed the screening data carried into these forms"


class ReviewRefused(CaptureError):
    """A review that cannot be recorded, with a sentence saying why."""


@transaction.atomic
def confirm_carried_forms(visit: Visit, actor, *, confirmed: bool, now: datetime) -> Visit:
    """The coordinator's sign-off of the forms carried into ``visit`` from screening: they have
    reviewed them (``confirmed``: the box "I have reviewed ..." ticked). Audited as
    ``carried_forms_review`` with the screening record and the forms reviewed (id and version)."""
    participant = visit.participant
    require(actor, participant.trial, "capture.review_carried_forms", site_id=participant.site_id)
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    if not visit.carried_from:
        raise ReviewRefused(
            _("%(visit)s: no forms were carried in from screening; there is nothing to review.")
            % {"visit": visit.label}
        )
    if visit.carried_reviewed_at is not None:
        raise ReviewRefused(_("%(visit)s: the screening data were already reviewed.") % {"visit": visit.label})
    if not confirmed:
        raise FormInvalid(
            [
                FieldError(
                    "confirm",
                    None,
                    "required",
                    _('tick "%(statement)s" to record the review') % {"statement": REVIEW_STATEMENT},
                )
            ],
            "carried forms review",
        )
    visit.carried_reviewed_by, visit.carried_reviewed_at = actor, now
    visit.save(update_fields=["carried_reviewed_by", "carried_reviewed_at"])
    forms = [
        {"id": f.pk, "instrument": f.instrument, "repeat": f.repeat, "version": f.version}
        for f in visit.form_records.filter(deleted_at__isnull=True).order_by("instrument", "repeat")
    ]
    record_event(
        actor=actor,
        action="carried_forms_review",
        object_type="visit",
        object_id=visit.pk,
        before={"carried_reviewed_at": None},
        after={
            "visit": visit.visit_id,
            "carried_from": visit.carried_from,
            "statement": REVIEW_STATEMENT,
            "carried_reviewed_at": now,
            "forms": forms,
        },
        reason=f"screening record {visit.carried_from}",
        at=now,
        trial_id=participant.trial_id,
        site_id=participant.site_id,
        participant_id=participant.pk,
    )
    return visit
