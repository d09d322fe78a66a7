"""Home panels over visit capture: visits due, queries, signatures, verification, locks, SAE clocks.

Read-only selectors over the capture app's models; the capture app owns every workflow.
Nothing here reads allocation: these panels appear on blinded homes.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Q
from django.utils.translation import gettext as _

from trialkit.instruments import OUTCOME_INSTRUMENTS
from trialkit.schedule import OPEN_STATUSES, PlannedVisit, VisitStatus, forms_complete, sae_clock, visit_status
from trialkit.server.capture.form_names import form_label, item_label
from trialkit.server.capture.models import AdverseEvent, FormRecord, Query, Signature, Visit
from trialkit.server.capture.safety import susar_clock
from trialkit.server.capture.services import complete_instruments_by_visit
from trialkit.server.web.dates import format_date, format_datetime
from trialkit.server.web.homes import HOME_LIST_LIMIT, HomeContext, Item, Panel, list_url, unblinded_note, url
from trialkit.server.web.status_words import BADGES, query_status_label, visit_status_label


def _visits(ctx: HomeContext):
    return ctx.at_my_sites(Visit.objects.filter(participant__trial=ctx.trial), "participant__site_id").select_related(
        "participant__site"
    )


def visit_link(ctx: HomeContext, visit: Visit) -> str | None:
    href = url("capture:participant", visit.participant_id)
    return f"{href}#visit-{visit.visit_id}" if href else None


def form_link(ctx: HomeContext, form: FormRecord) -> str | None:
    return url("capture:ecrf", form.participant_id, form.visit.visit_id, form.instrument)


# What the homes read of every candidate visit to tell its status (plain values: a home may weigh
# a thousand held visits at its sites, and model instances cost several times more than tuples).
_STATUS_VALUES = (
    "pk",
    "visit_id",
    "label",
    "kind",
    "day",
    "target",
    "earliest",
    "latest",
    "forms",
    "done_on",
    "carried_from",
    "carried_reviewed_at",
    "participant__ended_on",
)


@dataclass(frozen=True)
class OpenVisits:
    """The open visits at the home's sites, soonest deadline first: (visit pk, status) of each; the
    outcome scales still to do at each of them; and the visits the panels show, loaded."""

    rows: list[tuple[int, VisitStatus]]
    scales_due: dict[int, list[str]]
    shown: dict[int, Visit]


def _open_visits(ctx: HomeContext) -> OpenVisits:
    """Visits whose window is open, or that were held with a required form still missing. The
    database keeps only visits that can be open today (not done and in window, or held within the
    window); the complete forms of all of them are read in one query, and only the visits a panel
    shows (the first of the visits due and of the assessments due) are loaded as models. Read once
    per home, whichever panels ask."""
    if "open_visits" in ctx.shared:
        return ctx.shared["open_visits"]
    candidates = (
        ctx.at_my_sites(Visit.objects.filter(participant__trial=ctx.trial), "participant__site_id")
        .filter(earliest__lte=ctx.today)
        .filter(
            Q(done_on__isnull=True, latest__gte=ctx.today)
            | Q(done_on__isnull=False, done_on__gte=F("earliest"), done_on__lte=F("latest"))
        )
        .order_by("latest", "participant__participant_number", "order")
    )
    found = complete_instruments_by_visit(candidates)
    rows, scales_due = [], {}
    for v in candidates.values_list(*_STATUS_VALUES, named=True):
        done = found.get(v.pk, set())
        planned = PlannedVisit(v.visit_id, v.label, v.kind, v.day, v.target, v.earliest, v.latest, tuple(v.forms))
        complete = v.done_on is None or forms_complete(
            v.forms, done, carried_from=v.carried_from, carried_reviewed_at=v.carried_reviewed_at
        )
        status = visit_status(planned, v.done_on, ctx.today, v.participant__ended_on, complete)
        if status in OPEN_STATUSES:
            rows.append((v.pk, status))
            scales = [f for f in v.forms if f in OUTCOME_INSTRUMENTS and f not in done]
            if scales:
                scales_due[v.pk] = scales
    wanted = [pk for pk, _status in rows[:HOME_LIST_LIMIT]] + list(scales_due)[:HOME_LIST_LIMIT]
    shown = Visit.objects.select_related("participant").in_bulk(wanted) if wanted else {}
    ctx.shared["open_visits"] = result = OpenVisits(rows, scales_due, shown)
    return result


def visits_due(ctx: HomeContext) -> Panel:
    found = _open_visits(ctx)
    items = []
    for pk, status in found.rows[:HOME_LIST_LIMIT]:
        visit = found.shown[pk]
        items.append(
            Item(
                f"{visit.participant.participant_number} · {visit.label}",
                visit_link(ctx, visit),
                detail=_("window %(start)s – %(end)s")
                % {"start": format_date(visit.earliest), "end": format_date(visit.latest)}
                + unblinded_note(visit.participant),
                badge=BADGES["review_screening"] if visit.awaiting_review else visit_status_label(status),
                tone="bad" if status == VisitStatus.OVERDUE else "warn",
            )
        )
    actions = [(_("This week's work list"), href)] if (href := url("capture:due", ctx.trial.nct_id)) else []
    return Panel(
        _("Visits in window and forms to finish"),
        items,
        empty=_("No visit is due."),
        key="visits",
        actions=actions,
        total=len(found.rows),
    )


def assessments_due(ctx: HomeContext) -> Panel:
    found = _open_visits(ctx)
    statuses = dict(found.rows)
    # Every due visit is counted; only those shown are worded (dates, links, labels).
    items = []
    for pk in list(found.scales_due)[:HOME_LIST_LIMIT]:
        visit, status, scales = found.shown[pk], statuses[pk], found.scales_due[pk]
        items.append(
            Item(
                f"{visit.participant.participant_number} · {visit.label}",
                visit_link(ctx, visit),
                detail=", ".join(form_label(s) for s in scales)
                + " · "
                + _("by %(date)s") % {"date": format_date(visit.latest)}
                + unblinded_note(visit.participant),
                badge=visit_status_label(status),
                tone="bad" if status == VisitStatus.OVERDUE else "warn",
            )
        )
    return Panel(
        _("Assessments due"),
        items,
        empty=_("No outcome assessment is due."),
        key="assessments",
        total=len(found.scales_due),
    )


def _queries(ctx: HomeContext):
    return ctx.at_my_sites(Query.objects.filter(participant__trial=ctx.trial)).select_related(
        "participant", "form__visit", "form__participant"
    )


def open_queries(ctx: HomeContext) -> Panel:
    items = []
    pending = _queries(ctx).exclude(status=Query.Status.CLOSED)
    for q in pending.order_by("opened_at", "id")[:HOME_LIST_LIMIT]:
        # The site answers open queries; the monitor closes answered ones.
        items.append(
            Item(
                f"{q.participant.participant_number} · {form_label(q.form.instrument)} · "
                f"{item_label(q.form.instrument, q.item)}",
                form_link(ctx, q.form),
                detail=q.text[:120] + unblinded_note(q.participant),
                badge=query_status_label(q.status),
                tone="bad" if q.status == Query.Status.OPEN else "warn",
            )
        )
    return Panel(
        _("Open queries"),
        items,
        empty=_("No open query."),
        key="queries",
        total=pending.count(),
        more_href=list_url("capture:queries", ctx.trial),
    )


def _forms(ctx: HomeContext):
    return ctx.at_my_sites(
        FormRecord.objects.filter(participant__trial=ctx.trial, deleted_at__isnull=True), "participant__site_id"
    ).select_related("participant", "visit")


def to_sign(ctx: HomeContext) -> Panel:
    """Visits held, with complete forms and no active visit signature."""
    items = []
    visits = (
        _visits(ctx)
        .filter(
            done_on__isnull=False,
            form_records__status=FormRecord.Status.COMPLETE,
            form_records__deleted_at__isnull=True,
        )
        .distinct()
        .exclude(signatures__in=Signature.objects.filter(voided_at__isnull=True))
    )
    for visit in visits.order_by("target", "participant__participant_number", "order")[:HOME_LIST_LIMIT]:
        items.append(
            Item(
                f"{visit.participant.participant_number} · {visit.label}",
                visit_link(ctx, visit),
                detail=_("held %(date)s") % {"date": format_date(visit.done_on)} + unblinded_note(visit.participant),
                badge=BADGES["sign"],
                tone="warn",
            )
        )
    return Panel(
        _("Visits to sign"),
        items,
        empty=_("Nothing waits for your signature."),
        key="sign",
        total=visits.count(),
        more_href=list_url("capture:signatures", ctx.trial),
    )


def sae_clocks(ctx: HomeContext) -> Panel:
    now = ctx.now
    items = []
    events = ctx.at_my_sites(
        AdverseEvent.objects.filter(participant__trial=ctx.trial, serious=True, deleted_at__isnull=True),
        "participant__site_id",
    )
    shown = events.select_related("participant").prefetch_related("follow_ups")  # the follow-ups re-clock SUSARs
    for ae in shown.order_by("reported_at", "-awareness_at", "id")[:HOME_LIST_LIMIT]:
        clock = sae_clock(ae.awareness_at, ae.reported_at, now)
        tone = {"running": "warn", "overdue": "bad", "reported_on_time": "ok", "reported_late": "bad"}[clock.state]
        susar = susar_clock(ae, now)  # the one to act on first: a new 7-day clock shows here
        susar_note = f" · {susar.describe()}" if susar else ""
        if susar and susar.state == "overdue":
            tone = "bad"
        items.append(
            Item(
                f"{ae.participant.participant_number} · SAE {ae.number} · " + (ae.term or _("term not entered")),
                url("capture:adverse_event", ae.participant_id, ae.pk),
                detail=_("aware %(when)s") % {"when": format_datetime(ae.awareness_at)}
                + susar_note
                + unblinded_note(ae.participant),
                badge=clock.describe(),
                tone=tone,
            )
        )
    return Panel(
        _("Serious adverse event clocks"), items, empty=_("No serious adverse event."), key="sae", total=events.count()
    )


def to_verify(ctx: HomeContext) -> Panel:
    forms = _forms(ctx).filter(status=FormRecord.Status.COMPLETE, verified_at__isnull=True).order_by("updated_at", "id")
    items = [
        Item(
            f"{f.participant.participant_number} · {f.visit.label} · {form_label(f.instrument)}",
            form_link(ctx, f),
            detail=_("complete since %(date)s") % {"date": format_date(f.updated_at)} + unblinded_note(f.participant),
            badge=BADGES["verify"],
            tone="warn",
        )
        for f in forms[:HOME_LIST_LIMIT]
    ]
    return Panel(
        _("Source data to verify"),
        items,
        empty=_("Every complete form is verified."),
        key="verify",
        total=forms.count(),
        more_href=list_url("capture:verification", ctx.trial),
    )


def locks(ctx: HomeContext) -> Panel:
    forms = _forms(ctx).filter(status=FormRecord.Status.COMPLETE)
    ready = (
        forms.filter(locked_at__isnull=True, verified_at__isnull=False)
        .exclude(queries__status__in=[Query.Status.OPEN, Query.Status.ANSWERED])
        .distinct()
        .order_by("verified_at", "id")
    )
    items = [
        Item(
            f"{f.participant.participant_number} · {f.visit.label} · {form_label(f.instrument)}",
            form_link(ctx, f),
            detail=_("verified, no open query") + unblinded_note(f.participant),
            badge=BADGES["lock"],
            tone="ok",
        )
        for f in ready[:HOME_LIST_LIMIT]
    ]
    locked = forms.filter(locked_at__isnull=False).count()
    return Panel(
        _("Forms ready to lock"),
        items,
        empty=_("No verified form waits for its lock."),
        key="locks",
        total=ready.count(),
        data={"note": f"{locked} form{'s' if locked != 1 else ''} locked so far."},
    )
