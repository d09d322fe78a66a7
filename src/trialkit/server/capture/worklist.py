"""Read models for pages and the API: the weekly work list of a site and a participant's timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.exceptions import PermissionDenied
from django.db.models import F, Q

from trialkit.schedule import SIGNABLE_STATUSES, VisitStatus, required_forms, sae_clock, week_of
from trialkit.server.accounts.access import access_for
from trialkit.server.capture.models import AdverseEvent, DiaryEntry, FormRecord, Query, Signature, Visit
from trialkit.server.capture.services import ensure_schedule
from trialkit.server.capture.signatures import SignatureView, describe


@dataclass
class DueRow:
    visit: Visit
    status: VisitStatus


def due_visits(user, trial, today: date, site_code: str | None = None):
    """Visits not done whose window is open today or opens by Sunday, at the sites the user covers:
    a queryset (counted and cut to a page in the database), ``schedule.due_in_week`` as a filter,
    ordered by the day the window opens. ``DueRow(visit, visit.status(today))`` shows one."""
    access = access_for(user, trial)
    if not access.roles:
        raise PermissionDenied("you hold no role in this trial")
    _monday, sunday = week_of(today)
    visits = (
        Visit.objects.filter(participant__trial=trial, done_on__isnull=True, latest__gte=today, earliest__lte=sunday)
        # Still expected: not ended, or ended after the window closes (``visit_status``'s NOT_EXPECTED).
        .filter(Q(participant__ended_on__isnull=True) | Q(participant__ended_on__gt=F("latest")))
        .select_related("participant__site")
        .order_by("earliest", "participant__participant_number", "order")
    )
    if access.site_ids is not None:
        visits = visits.filter(participant__site_id__in=access.site_ids)
    if site_code:
        visits = visits.filter(participant__site__code=site_code)
    return visits


@dataclass
class VisitCard:
    visit: Visit
    status: VisitStatus
    forms: list[tuple[str, FormRecord | None]]  # (instrument, record) in the protocol's order
    extra_forms: list[FormRecord] = field(default_factory=list)  # further records of repeating forms
    signature: SignatureView | None = None
    note: str = ""  # why a visit is not expected
    complete_count: int = 0  # required forms complete
    required_count: int = 0
    optional: frozenset[str] = frozenset()  # event-driven forms, entered only when needed

    @property
    def signable(self) -> bool:
        """An investigator signs a visit that was held (not one upcoming, in window or missed)."""
        return self.status in SIGNABLE_STATUSES


# How the timeline words each end of participation.
ENDED_AS = {
    "completed": "completed the study",
    "withdrawn": "withdrew",
    "lost_to_follow_up": "was lost to follow-up",
    "died": "died",
}


def ended_note(participant) -> str:
    """'participant withdrew on 12 May 2026', or '' while participation goes on."""
    if participant.ended_on is None:
        return ""
    day = participant.ended_on
    return f"participant {ENDED_AS.get(participant.status, participant.status)} on {day.day} {day:%b %Y}"


@dataclass
class Timeline:
    visits: list[VisitCard]
    adverse_events: list[tuple[AdverseEvent, object]]
    diary: list[DiaryEntry]
    open_queries: list[Query]
    flags: list[str]


def timeline(participant, today: date, now: datetime) -> Timeline:
    from trialkit.server.capture.form_names import instrument_name

    visits = ensure_schedule(participant)
    records = {}
    extras: dict[int, list[FormRecord]] = {}
    form_signatures: dict[int, Signature] = {}
    for s in Signature.objects.filter(form__participant=participant).select_related("form").order_by("signed_at", "id"):
        form_signatures[s.form_id] = s
    for form in FormRecord.objects.filter(participant=participant).select_related("visit"):
        # Shown in the form's row: signer, time (UTC), meaning, and whether it still holds.
        form.signature_view = describe(form_signatures[form.pk]) if form.pk in form_signatures else None
        if form.repeat == 1:
            records[(form.visit_id, form.instrument)] = form
        else:
            extras.setdefault(form.visit_id, []).append(form)
    # The latest signature of each visit, valid or not, shown with name, time and meaning.
    latest: dict[int, Signature] = {}
    for s in (
        Signature.objects.filter(visit__participant=participant).select_related("visit").order_by("signed_at", "id")
    ):
        latest[s.visit_id] = s
    signatures = {visit_pk: describe(s) for visit_pk, s in latest.items()}
    cards = []
    for visit in visits:
        forms = [(instrument_name(n), records.get((visit.pk, instrument_name(n)))) for n in visit.forms]
        complete = {
            name
            for name, form in forms
            if form is not None and form.status == FormRecord.Status.COMPLETE and form.deleted_at is None
        }
        status = visit.status(today, forms_complete=visit.required_forms_complete(complete))
        note = f"not expected: {ended_note(visit.participant)}" if status is VisitStatus.NOT_EXPECTED else ""
        required = [instrument_name(f) for f in required_forms(visit.forms)]
        cards.append(
            VisitCard(
                visit,
                status,
                forms,
                extras.get(visit.pk, []),
                signatures.get(visit.pk),
                note,
                complete_count=sum(1 for f in required if f in complete),
                required_count=len(required),
                optional=frozenset(instrument_name(f) for f in visit.forms) - set(required),
            )
        )
    aes = [
        (ae, sae_clock(ae.awareness_at, ae.reported_at, now) if ae.serious else None)
        for ae in participant.adverse_events.filter(deleted_at__isnull=True)
    ]
    queries = list(
        Query.objects.filter(participant=participant).exclude(status=Query.Status.CLOSED).select_related("form__visit")
    )
    flags = []
    if participant.anchor_date is None:
        flags.append("No anchor date yet: the schedule starts when the infusion is recorded.")
    missed = [c.visit.label for c in cards if c.status is VisitStatus.MISSED]
    if missed:
        flags.append(f"Missed visits: {', '.join(missed)}")
    outside = [c.visit.label for c in cards if c.status is VisitStatus.OUT_OF_WINDOW]
    if outside:
        flags.append(f"Visits out of window (protocol deviation): {', '.join(outside)}")
    late = [ae for ae, clock in aes if clock is not None and clock.state in ("overdue", "reported_late")]
    if late:
        flags.append(f"SAE reporting late: {', '.join(f'AE{ae.number}' for ae in late)}")
    diary = list(DiaryEntry.objects.filter(participant=participant)[:60])
    for entry in diary:
        entry.labelled = diary_labelled(entry)
    return Timeline(cards, aes, diary, queries, flags)


def diary_labelled(entry: DiaryEntry) -> list[dict]:
    """A diary entry in the words of its questions: [{"label", "answers": [(question, answer)]}]."""
    from trialkit.server.capture.services import DIARY_FIELDS, DIARY_SECTION_LABELS

    out = []
    for section, answers in (entry.sections or {}).items():
        questions = {key: label for key, label, _kind in DIARY_FIELDS.get(section, ())}
        shown = [
            (questions.get(k, k.replace("_", " ")), {True: "yes", False: "no"}.get(v, v))
            for k, v in answers.items()
            if v not in (None, "")
        ]
        out.append({"label": DIARY_SECTION_LABELS.get(section, section.replace("_", " ")), "answers": shown})
    return out
