"""Data capture API: a participant's course (its status, the end of participation), visits, forms,
queries, adverse events and diary entries.

No response includes a treatment arm or anything derived from it; blinded and unblinded roles
see the same clinical data.
"""

# No ``from __future__ import annotations`` here: django-ninja's ``paginate`` reads the views'
# parameter annotations, which must be real types, not strings.
from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponse
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StringConstraints

from trialkit.instruments import FieldError
from trialkit.safety import current_clock
from trialkit.schedule import sae_clock
from trialkit.server.accounts.lookups import participant_for, participant_row_for, trial_for, visit_for
from trialkit.server.api_contract import Code, ErrorOut, NctId, Pages, Repeat, RowId, Rows, Text, Version
from trialkit.server.capture import safety, services, signatures
from trialkit.server.capture.models import AdverseEvent, DiaryEntry, FormRecord, Query, QueryMessage, Visit
from trialkit.server.capture.services import FormInvalid
from trialkit.server.participants.models import Participant

router = Router(tags=["capture"])


class ParticipantOut(Schema):
    id: int
    participant_number: str
    trial: str
    site: str
    status: str
    enrolled_at: datetime
    randomization_number: str
    kit_number: str
    anchor_date: date | None
    ended_on: date | None
    end_reason: str


class EndIn(Schema):
    outcome: Code = Field(description="completed, withdrawn, lost_to_follow_up or died")
    # A string, so that a malformed date is answered like every other field: 422 naming ended_on.
    ended_on: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        None, description="The day participation ended (YYYY-MM-DD).", examples=["2026-05-12"]
    )
    reason: Text = Field("", description="Required unless the outcome is completed.")


class ReopenIn(Schema):
    reason: Text = ""


class VisitOut(Schema):
    id: int
    visit_id: str
    label: str
    day: int
    target: date
    earliest: date
    latest: date
    done_on: date | None
    status: str
    forms: list[str]
    carried_from: str = ""  # the screening record the forms were carried in from
    awaiting_review: bool = False  # carried forms the coordinator has not yet confirmed


class CarriedReviewIn(Schema):
    confirm: bool = False  # "I have reviewed the screening data carried into these forms"


class FormOut(Schema):
    id: int
    participant: str
    visit_id: str
    instrument: str
    repeat: int
    status: str
    data: dict[str, Any]
    scores: dict[str, Any]
    version: int
    verified: bool
    locked: bool
    signed: bool
    # Each signature of the form and of its visit: signer's name, time, meaning, and whether it still holds.
    signatures: list[dict[str, Any]] = []
    deleted: bool
    open_queries: int
    updated_at: datetime


class FormIn(Schema):
    visit_id: Code
    instrument: Code
    values: dict[str, Any]
    complete: bool = False
    repeat: Repeat = 1
    reason: Text | None = None


class FormUpdateIn(Schema):
    values: dict[str, Any]
    complete: bool = False
    reason: Text | None = None
    expected_version: Version | None = Field(
        None,
        description="The version you loaded (the form's ETag), here or as If-Match (one is required): "
        "a form changed since is not overwritten: 409 with the current version and values.",
    )


class ConflictOut(ErrorOut):
    """409: the workflow was refused. For an edit conflict ``current`` is the form as it is now."""

    current: FormOut | None = None


class QueryMessageOut(Schema):
    kind: str
    author: str
    at: datetime
    text: str


class QueryOut(Schema):
    id: int
    form_id: int
    participant: str
    site: str
    item: str
    text: str
    status: str
    opened_by: str
    opened_at: datetime
    messages: list[QueryMessageOut]


class QueryIn(Schema):
    item: Code
    text: Text


class AnswerIn(Schema):
    text: Text
    corrected: bool = False


class CloseIn(Schema):
    text: Text = ""


class AdverseEventOut(Schema):
    id: int
    number: int
    participant: str
    data: dict[str, Any]
    status: str
    serious: bool
    awareness_at: datetime
    reported_at: datetime | None
    sae_clock: dict[str, Any] | None
    # The SUSAR clock to act on first (7 or 15 days from awareness; 7 from a follow-up that made it
    # fatal or life-threatening; the complete report 8 days after a 7-day report), then all of them.
    susar_clock: dict[str, Any] | None = None
    susar_clocks: list[dict[str, Any]] = []
    follow_ups: list[dict[str, Any]] = []
    coding: dict[str, str] = {}
    likely_duplicates: list[int] = []  # numbers of this participant's events this one probably repeats
    version: int


class AdverseEventIn(Schema):
    values: dict[str, Any]
    complete: bool = False
    awareness_at: datetime | None = None
    reason: Text | None = None
    expected_version: Version | None = Field(
        None,
        description="On PUT (required, here or as If-Match): the version you loaded (the ETag); a stale "
        "one answers 409 with the current entry.",
    )


class FollowUpIn(Schema):
    note: Text
    outcome: Text = ""
    received_at: datetime | None = Field(None, description="When the site learned it (default: now).")
    seriousness: Literal["", "fatal", "life_threatening", "serious", "not_serious"] = Field(
        "",
        description="What the follow-up found (blank: unchanged). A SUSAR made fatal or life-threatening "
        "gets a new 7-day clock from received_at (Regulation (EU) No 536/2014 Art. 42(2)(c)).",
    )


class AdverseEventConflictOut(ErrorOut):
    current: AdverseEventOut | None = None


class DiaryEntryOut(Schema):
    entry_date: date
    entered_by: str
    sections: dict[str, Any]
    updated_at: datetime


class DueOut(Schema):
    participant: str
    participant_id: int
    site: str
    visit_id: str
    label: str
    earliest: date
    target: date
    latest: date
    status: str


def current_out(record) -> dict:
    """A form or adverse event as it is now, for the ``current`` of a 409 edit conflict."""
    return _form_out(record) if isinstance(record, FormRecord) else _ae_out(record, timezone.now())


def _readable_form(request, form_id: int) -> FormRecord:
    """The form, if its participant is visible and the form is not behind the efficacy firewall."""
    form, participant, access = participant_row_for(
        request.user, FormRecord.objects.select_related("visit", "participant"), form_id
    )
    services.require_form_readable(access, participant, form.instrument)
    return form


def _form_out(form: FormRecord, shown=None) -> dict:
    """``shown``: the form's and its visit's current signatures, when loaded for many forms at once
    (``signatures.current_signatures_of``); ``form.open_query_count`` likewise when annotated."""
    if shown is None:
        shown = [
            s for s in (signatures.current_signature(form=form), signatures.current_signature(visit=form.visit)) if s
        ]
    signed = any(s.valid for s in shown)
    open_queries = getattr(form, "open_query_count", None)
    if open_queries is None:
        open_queries = form.queries.exclude(status=Query.Status.CLOSED).count()
    return {
        "id": form.pk,
        "participant": form.participant.participant_number,
        "visit_id": form.visit.visit_id,
        "instrument": form.instrument,
        "repeat": form.repeat,
        "status": form.status,
        "data": form.data,
        "scores": form.scores,
        "version": form.version,
        "verified": form.verified,
        "locked": form.locked,
        "signed": signed,
        "signatures": [s.as_dict() for s in shown],
        "deleted": form.deleted_at is not None,
        "open_queries": open_queries,
        "updated_at": form.updated_at,
    }


def _query_out(query: Query) -> dict:
    return {
        "id": query.pk,
        "form_id": query.form_id,
        "participant": query.participant.participant_number,
        "site": query.site.code,
        "item": query.item,
        "text": query.text,
        "status": query.status,
        "opened_by": query.opened_by.username,
        "opened_at": query.opened_at,
        "messages": [
            {"kind": m.kind, "author": m.author.username, "at": m.at, "text": m.text} for m in query.messages.all()
        ],
    }


def _ae_out(ae: AdverseEvent, now: datetime) -> dict:
    clock = sae_clock(ae.awareness_at, ae.reported_at, now).as_dict() if ae.serious else None
    susar_clocks = safety.susar_clocks_of(ae, now)
    susar = current_clock(susar_clocks)
    return {
        "id": ae.pk,
        "number": ae.number,
        "participant": ae.participant.participant_number,
        "data": ae.data,
        "status": ae.status,
        "serious": ae.serious,
        "awareness_at": ae.awareness_at,
        "reported_at": ae.reported_at,
        "sae_clock": clock,
        "susar_clock": susar.as_dict() if susar else None,
        "susar_clocks": [c.as_dict() for c in susar_clocks],
        "follow_ups": [
            {
                "at": fu.at,
                "received_at": fu.received_at,
                "note": fu.note,
                "outcome": fu.outcome,
                "seriousness": fu.seriousness,
            }
            for fu in ae.follow_ups.all()
        ],
        "coding": ae.coding or {},
        "likely_duplicates": [o.number for o in safety.duplicates_of(ae)],
        "version": ae.version,
    }


# --------------------------------------------------------------------------- the participant


def _participant_out(p: Participant) -> dict:
    return {
        "id": p.pk,
        "participant_number": p.participant_number,
        "trial": p.trial.nct_id,
        "site": p.site.code,
        "status": p.status,
        "enrolled_at": p.enrolled_at,
        "randomization_number": p.randomization_number,
        "kit_number": p.kit_number,
        "anchor_date": p.anchor_date,
        "ended_on": p.ended_on,
        "end_reason": p.end_reason,
    }


@router.get("/participants/{participant_id}", response=ParticipantOut)
def get_participant(request, participant_id: RowId):
    """The participant's status and, once participation has ended, the date and reason."""
    return _participant_out(participant_for(request.user, participant_id)[0])


@router.post("/participants/{participant_id}/end", response={200: ParticipantOut})
def end_participation(request, participant_id: RowId, body: EndIn):
    """Record that the participant completed, withdrew, was lost to follow-up or died (site
    coordinator or investigator). Invalid input: 422 naming each field; nothing is saved. Already
    ended: 409."""
    participant = participant_for(request.user, participant_id)[0]
    participant = services.end_participation(
        participant, request.user, outcome=body.outcome, ended_on=body.ended_on, reason=body.reason, now=timezone.now()
    )
    return Status(200, _participant_out(participant))


@router.post("/participants/{participant_id}/reopen", response={200: ParticipantOut})
def reopen_participation(request, participant_id: RowId, body: ReopenIn):
    """Undo an end recorded by mistake (investigator, with a reason): the status before it returns."""
    participant = participant_for(request.user, participant_id)[0]
    participant = services.reopen_participation(participant, request.user, reason=body.reason, now=timezone.now())
    return Status(200, _participant_out(participant))


# --------------------------------------------------------------------------- visits


@router.get("/participants/{participant_id}/visits", response=list[VisitOut])
@paginate(Pages)
def list_visits(request, participant_id: RowId):
    """The participant's scheduled visits with windows and today's status."""
    participant = participant_for(request.user, participant_id)[0]
    today = timezone.localdate()
    visits = services.ensure_schedule(participant)
    complete = services.complete_instruments_by_visit(visits)
    return Rows(visits, show=lambda v: _visit_out(v, today, complete.get(v.pk, set())))


def _visit_out(v: Visit, today, complete: set[str] | None = None) -> dict:
    return {
        "id": v.pk,
        "visit_id": v.visit_id,
        "label": v.label,
        "day": v.day,
        "target": v.target,
        "earliest": v.earliest,
        "latest": v.latest,
        "done_on": v.done_on,
        "status": v.status(
            today, forms_complete=None if complete is None else v.required_forms_complete(complete)
        ).value,
        "forms": v.forms,
        "carried_from": v.carried_from,
        "awaiting_review": v.awaiting_review,
    }


@router.post("/participants/{participant_id}/visits/{visit_id}/carried-review", response={200: VisitOut})
def review_carried_forms(request, participant_id: RowId, visit_id: Code, body: CarriedReviewIn):
    """The coordinator confirms they reviewed the forms carried into the Screening visit from the
    screening record (``confirm: true``); until then the visit is not done."""
    from trialkit.server.capture.screening_forms import confirm_carried_forms

    visit = visit_for(request.user, participant_id, visit_id)[0]
    visit = confirm_carried_forms(visit, request.user, confirmed=body.confirm, now=timezone.now())
    return Status(200, _visit_out(visit, timezone.localdate()))


@router.get("/trials/{nct_id}/due", response=list[DueOut])
@paginate(Pages)
def due_this_week(request, nct_id: NctId, site: Code | None = None):
    """Visits whose window is open or opens this week (Monday to Sunday), at the sites the user covers."""
    from trialkit.server.capture.worklist import due_visits

    trial, _access = trial_for(request.user, nct_id)
    today = timezone.localdate()
    return Rows(
        due_visits(request.user, trial, today, site_code=site),
        show=lambda v: {
            "participant": v.participant.participant_number,
            "participant_id": v.participant_id,
            "site": v.participant.site.code,
            "visit_id": v.visit_id,
            "label": v.label,
            "earliest": v.earliest,
            "target": v.target,
            "latest": v.latest,
            "status": v.status(today).value,
        },
    )


# --------------------------------------------------------------------------- forms


@router.get("/participants/{participant_id}/forms", response=list[FormOut])
@paginate(Pages)
def list_forms(request, participant_id: RowId):
    """The participant's forms (those your role may read), by visit, instrument and record number."""
    participant, access = participant_for(request.user, participant_id)
    forms = (
        services.readable_forms(access, participant, FormRecord.objects.filter(participant=participant))
        .select_related("visit", "participant")
        .annotate(open_query_count=Count("queries", filter=~Q(queries__status=Query.Status.CLOSED)))
        .order_by("visit__order", "instrument", "repeat", "pk")
    )

    def page_out(page: list[FormRecord]) -> list[dict]:
        shown = signatures.current_signatures_of(page)
        return [_form_out(f, shown[f.pk]) for f in page]

    return Rows(forms, page=page_out)


def _etag(record) -> str:
    """A form's (or adverse event's) entity tag: its version, quoted (RFC 9110 8.8.3)."""
    return f'"{record.version}"'


def _if_match_version(request, body_version: int | None) -> int | None:
    """The version the client expects: ``expected_version`` in the body or an If-Match header
    (``"3"``, ``3``; ``*`` matches any existing form). Both given and different: 422. Neither: 422
    too, since a change that does not say which version it changes could overwrite someone else's
    without anyone knowing (``If-Match: *`` is the explicit "whatever is there now")."""
    header = request.headers.get("If-Match", "").strip()
    if not header and body_version is None:
        raise FormInvalid(
            [
                FieldError(
                    "expected_version",
                    None,
                    "required",
                    "send the version you loaded (the ETag), as expected_version or "
                    'If-Match: "<version>", so that no one else\'s change is overwritten',
                )
            ],
            "form",
        )
    header_version = None
    if header and header != "*":
        text = header.split(",")[0].strip().removeprefix("W/").strip('"')
        if not text.isdigit():
            raise FormInvalid(
                [FieldError("If-Match", header, "format", 'must be the form\'s ETag, a version number such as "3"')],
                "form",
            )
        header_version = int(text)
    if body_version is not None and header_version is not None and body_version != header_version:
        raise FormInvalid(
            [
                FieldError(
                    "expected_version", body_version, "mismatch", f"differs from If-Match {header}; send one version"
                )
            ],
            "form",
        )
    return body_version if body_version is not None else header_version


@router.post("/participants/{participant_id}/forms", response={201: FormOut, 409: ConflictOut})
def create_form(request, participant_id: RowId, body: FormIn, response: HttpResponse):
    """Enter a form of a visit. Invalid values: 422 naming each field, its rule and why; nothing is saved.
    The form exists already (even if entered a moment ago by someone else): 409 with the current form;
    change it with PUT. The response's ETag is the new form's version."""
    participant, access = participant_for(request.user, participant_id)
    if not access.can("capture.enter_data", participant.site_id):  # refused before anything is looked up
        raise PermissionDenied("your role does not allow entering data here")
    form = services.save_form(
        participant,
        body.visit_id,
        body.instrument,
        body.values,
        request.user,
        complete=body.complete,
        now=timezone.now(),
        reason=body.reason,
        repeat=body.repeat,
        expected_version=0,
    )
    response["ETag"] = _etag(form)
    return Status(201, _form_out(form))


@router.get("/forms/{form_id}", response=FormOut)
def get_form(request, form_id: RowId, response: HttpResponse):
    """One form; the ETag header is its version, to send back as If-Match when changing it."""
    form = _readable_form(request, form_id)
    response["ETag"] = _etag(form)
    return _form_out(form)


@router.put("/forms/{form_id}", response={200: FormOut, 409: ConflictOut})
def update_form(request, form_id: RowId, body: FormUpdateIn, response: HttpResponse):
    """Change a form. A complete or signed form needs a reason; signing is voided; locked forms refuse.

    Edit conflicts: send the version you loaded as ``expected_version`` or ``If-Match: "<version>"``.
    If someone saved the form since, nothing is saved and the answer is 409 with ``current`` (the
    form's version and values now). Without either: 422, nothing saved."""
    form, participant, _access = participant_row_for(
        request.user, FormRecord.objects.select_related("visit", "participant"), form_id
    )
    expected = _if_match_version(request, body.expected_version)
    form = services.save_form(
        participant,
        form.visit.visit_id,
        form.instrument,
        body.values,
        request.user,
        complete=body.complete,
        now=timezone.now(),
        reason=body.reason,
        repeat=form.repeat,
        expected_version=expected,
    )
    response["ETag"] = _etag(form)
    return Status(200, _form_out(form))


# --------------------------------------------------------------------------- queries


@router.get("/queries", response=list[QueryOut])
@paginate(Pages)
def list_queries(request, participant_id: RowId, status: Code | None = None):
    """The participant's queries on forms your role may read, oldest first, with their messages."""
    participant, access = participant_for(request.user, participant_id)
    forms = services.readable_forms(access, participant, FormRecord.objects.filter(participant=participant))
    queries = (
        Query.objects.filter(participant=participant, form__in=forms)
        .select_related("participant", "site", "opened_by")
        .prefetch_related(Prefetch("messages", QueryMessage.objects.select_related("author")))
        .order_by("opened_at", "id")
    )
    if status:
        queries = queries.filter(status=status)
    return Rows(queries, show=_query_out)


@router.post("/forms/{form_id}/queries", response={201: QueryOut})
def open_query(request, form_id: RowId, body: QueryIn):
    form = participant_row_for(request.user, FormRecord.objects.select_related("participant"), form_id)[0]
    query = services.open_query(form, body.item, body.text, request.user, now=timezone.now())
    return Status(201, _query_out(query))


@router.post("/queries/{query_id}/answer", response={200: QueryOut})
def answer_query(request, query_id: RowId, body: AnswerIn):
    query = participant_row_for(request.user, Query, query_id)[0]
    query = services.answer_query(query, body.text, request.user, now=timezone.now(), corrected=body.corrected)
    return Status(200, _query_out(query))


@router.post("/queries/{query_id}/close", response={200: QueryOut})
def close_query(request, query_id: RowId, body: CloseIn):
    query = participant_row_for(request.user, Query, query_id)[0]
    return Status(200, _query_out(services.close_query(query, request.user, now=timezone.now(), text=body.text)))


# --------------------------------------------------------------------------- adverse events


@router.get("/participants/{participant_id}/adverse-events", response=list[AdverseEventOut])
@paginate(Pages)
def list_adverse_events(request, participant_id: RowId):
    """The participant's adverse events, by number."""
    participant = participant_for(request.user, participant_id)[0]
    now = timezone.now()
    events = (
        participant.adverse_events.filter(deleted_at__isnull=True)
        .select_related("participant")
        .prefetch_related("follow_ups")
    )
    return Rows(events.order_by("number", "pk"), show=lambda ae: _ae_out(ae, now))


@router.post("/participants/{participant_id}/adverse-events", response={201: AdverseEventOut})
def create_adverse_event(request, participant_id: RowId, body: AdverseEventIn):
    participant = participant_for(request.user, participant_id)[0]
    now = timezone.now()
    ae = services.save_adverse_event(
        participant,
        body.values,
        request.user,
        complete=body.complete,
        now=now,
        awareness_at=body.awareness_at,
        reason=body.reason,
    )
    return Status(201, _ae_out(ae, now))


@router.put("/adverse-events/{ae_id}", response={200: AdverseEventOut, 409: AdverseEventConflictOut})
def update_adverse_event(request, ae_id: RowId, body: AdverseEventIn, response: HttpResponse):
    """Change an adverse event. Send the version you loaded as ``expected_version`` or If-Match: if
    someone saved it since, 409 with the entry as it is now (as for forms)."""
    ae, participant, _access = participant_row_for(
        request.user, AdverseEvent.objects.select_related("participant"), ae_id
    )
    now = timezone.now()
    expected = _if_match_version(request, body.expected_version)
    ae = services.save_adverse_event(
        participant,
        body.values,
        request.user,
        complete=body.complete,
        now=now,
        adverse_event=ae,
        awareness_at=body.awareness_at,
        reason=body.reason,
        expected_version=expected,
    )
    response["ETag"] = _etag(ae)
    return Status(200, _ae_out(ae, now))


@router.post("/adverse-events/{ae_id}/report", response={200: AdverseEventOut})
def report_adverse_event(request, ae_id: RowId):
    """Record that the serious adverse event was reported to the sponsor (stops its 24-hour clock)."""
    ae = participant_row_for(request.user, AdverseEvent.objects.select_related("participant"), ae_id)[0]
    now = timezone.now()
    return Status(200, _ae_out(services.report_sae(ae, request.user, now=now), now))


@router.post("/adverse-events/{ae_id}/report-susar", response={200: AdverseEventOut})
def report_susar(request, ae_id: RowId):
    """Record the expedited SUSAR report to the authorities (stops its 7- or 15-day clock); 409 if
    the event is not serious, related and unexpected."""
    ae = participant_row_for(request.user, AdverseEvent.objects.select_related("participant"), ae_id)[0]
    now = timezone.now()
    return Status(200, _ae_out(services.report_susar(ae, request.user, now=now), now))


@router.post("/adverse-events/{ae_id}/follow-ups", response={201: AdverseEventOut})
def add_follow_up(request, ae_id: RowId, body: FollowUpIn):
    """Add a follow-up report; with ``seriousness`` it revises the SUSAR assessment from
    ``received_at`` on (409 if received in the future)."""
    ae = participant_row_for(request.user, AdverseEvent.objects.select_related("participant"), ae_id)[0]
    now = timezone.now()
    services.add_ae_follow_up(
        ae,
        request.user,
        note=body.note,
        now=now,
        outcome=body.outcome,
        received_at=body.received_at,
        seriousness=body.seriousness,
    )
    return Status(201, _ae_out(AdverseEvent.objects.select_related("participant").get(pk=ae.pk), now))


@router.get("/coding", response=list[dict[str, str]])
@paginate(Pages)
def coding_search(request, q: Annotated[str, StringConstraints(max_length=200)]):
    """Candidate coded terms for a verbatim term, from the trial's dictionary (MedDRA when licensed)."""
    return [t.as_dict() for t in safety.dictionary().search(q)]


# --------------------------------------------------------------------------- diary (staff read)


@router.get("/participants/{participant_id}/diary", response=list[DiaryEntryOut])
@paginate(Pages)
def list_diary(request, participant_id: RowId):
    """The participant's diary entries."""
    participant = participant_for(request.user, participant_id)[0]
    return (
        DiaryEntry.objects.filter(participant=participant)
        .order_by("-entry_date", "entered_by")
        .values("entry_date", "entered_by", "sections", "updated_at")
    )
