"""Read models of the oversight screens: the record status dashboard (participant × visit × form),
the visit calendar of a month, and the full lists of queries, source verification and signatures.

Nothing here reads the allocation tables: every row comes from participants, visits, forms,
queries and signatures, none of which holds an arm. Each builder runs a fixed number of queries
whatever the number of participants (the rows of one page are loaded with ``__in`` lookups,
counts are one grouped query).
"""

from __future__ import annotations

import calendar as calendar_module
from dataclasses import dataclass, field
from datetime import date

from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.urls import reverse

from trialkit.schedule import WINDOW_MARKS, VisitStatus, window_marks
from trialkit.server.accounts.access import Access
from trialkit.server.capture.form_names import instrument_for, instrument_name
from trialkit.server.capture.models import FormRecord, Query, Signature, Visit
from trialkit.server.participants.models import Participant

# Who may open the oversight screens: the site staff at their sites, the monitor, the data manager
# and the sponsor (read-only: the pages change nothing; the bulk forms are offered by role).
# Who may open these screens, and at which sites: accounts.permissions.
OVERSIGHT = "capture.oversight"

PAGE_SIZE = 25


def form_title(name: str) -> str:
    try:
        return instrument_for(name).title
    except KeyError:
        return name


# --------------------------------------------------------------------------- form states


@dataclass(frozen=True)
class FormState:
    code: str
    label: str
    symbol: str  # shown in the cell, so that no state is told by colour alone
    meaning: str


FORM_STATES = (
    FormState("not_started", "Not started", "–", "no data entered yet"),
    FormState("draft", "Draft", "D", "saved, not complete"),
    FormState("complete", "Complete", "C", "complete, awaiting source verification"),
    FormState("verified", "Verified", "V", "source-verified by the monitor"),
    FormState("signed", "Signed", "S", "signed by the investigator (the form or its visit)"),
    FormState("locked", "Locked", "L", "locked by the data manager"),
    FormState("not_expected", "Not expected", "N", "participation ended before this visit"),
    FormState("missed", "Missed", "M", "the visit window closed with nothing entered"),
)
STATE_BY_CODE = {s.code: s for s in FORM_STATES}


def form_state(record: FormRecord | None, signed: bool, visit_status: VisitStatus | None) -> FormState:
    """The one state a form shows: locked over signed over verified over complete over draft; a
    form never entered is missed or not expected when its visit is, else not started."""
    if record is None or record.deleted_at is not None:
        if visit_status is VisitStatus.NOT_EXPECTED:
            return STATE_BY_CODE["not_expected"]
        if visit_status is VisitStatus.MISSED:
            return STATE_BY_CODE["missed"]
        return STATE_BY_CODE["not_started"]
    if record.locked_at is not None:
        return STATE_BY_CODE["locked"]
    if signed:
        return STATE_BY_CODE["signed"]
    if record.verified_at is not None:
        return STATE_BY_CODE["verified"]
    return STATE_BY_CODE["complete" if record.status == FormRecord.Status.COMPLETE else "draft"]


# --------------------------------------------------------------------------- sites


def visible_sites(trial, access: Access) -> list:
    return [s for s in trial.sites.all() if access.can(OVERSIGHT, s.pk)]


def site_participants(trial, access: Access, site=None):
    people = Participant.objects.filter(trial=trial).select_related("site").order_by("participant_number")
    if access.sites(OVERSIGHT) is not None:
        people = people.filter(site_id__in=access.sites(OVERSIGHT))
    if site is not None:
        people = people.filter(site=site)
    return people


# --------------------------------------------------------------------------- status dashboard

# Entered forms from the most work left to the least: a cell of several records (a repeating form,
# such as the adverse events or the conditions of a visit) shows the first of these among them.
PROGRESS = ("draft", "complete", "verified", "signed", "locked")


def worst_state(states: list[FormState]) -> FormState:
    """The state of the record furthest from done (see PROGRESS)."""
    return min(states, key=lambda s: PROGRESS.index(s.code) if s.code in PROGRESS else -1)


@dataclass
class Cell:
    instrument: str
    title: str
    state: FormState  # of the one record, or the worst of several
    record: FormRecord | None  # the first record
    # Every record of a repeating form with its own state, in repeat order (one entry for most forms).
    records: list[tuple[FormRecord, FormState]] = field(default_factory=list)
    href: str = ""  # the form's page

    @property
    def repeats(self) -> bool:
        return len(self.records) > 1


@dataclass
class VisitCell:
    visit: Visit | None
    status: VisitStatus | None
    cells: list[Cell]
    review_href: str = ""  # the visit's review page


def _href_pattern(name: str, arity: int):
    """A function filling a participant's pk and ``arity - 1`` slugs into the route ``name``, which
    is reversed once with markers (a page of the grid holds hundreds of links)."""
    markers = ["987654321", *(f"zqmark{i}zq" for i in range(1, arity))]
    pattern = reverse(name, args=[int(markers[0]), *markers[1:]])

    def fill(*args) -> str:
        href = pattern
        for marker, value in zip(markers, args, strict=True):
            href = href.replace(marker, str(value), 1)
        return href

    return fill


@dataclass
class GridRow:
    participant: Participant
    visits: list[VisitCell]


@dataclass
class Grid:
    columns: list  # the protocol's visits, in order
    rows: list[GridRow]
    counts: dict[str, int] = field(default_factory=dict)  # form state -> cells on this page


def status_grid(trial, participants: list[Participant], today: date) -> Grid:
    """The record status of the given participants (one page), in four queries."""
    columns = list(trial.protocol.schedule.visits)
    ids = [p.pk for p in participants]
    visits: dict[tuple[int, str], Visit] = {}
    for visit in Visit.objects.filter(participant_id__in=ids).select_related("participant"):
        visits[(visit.participant_id, visit.visit_id)] = visit
    # Every record of each form (all repeats), not deleted, in repeat order, by visit.
    records: dict[int, dict[str, list[FormRecord]]] = {}
    for record in (
        FormRecord.objects.filter(participant_id__in=ids, deleted_at__isnull=True)
        .only("id", "visit_id", "instrument", "repeat", "status", "verified_at", "locked_at", "deleted_at")
        .order_by("visit_id", "instrument", "repeat")
    ):
        records.setdefault(record.visit_id, {}).setdefault(record.instrument, []).append(record)
    signed_forms, signed_visits = set(), set()
    for form_id, visit_id in (
        Signature.objects.filter(voided_at__isnull=True)
        .filter(Q(form__participant_id__in=ids) | Q(visit__participant_id__in=ids))
        .values_list("form_id", "visit_id")
    ):
        (signed_forms if form_id else signed_visits).add(form_id or visit_id)
    form_href = _href_pattern("capture:ecrf", 3)
    review_href = _href_pattern("capture:visit_review", 2)
    counts: dict[str, int] = {s.code: 0 for s in FORM_STATES}
    rows = []
    for participant in participants:
        row = []
        for column in columns:
            visit = visits.get((participant.pk, column.id))
            status = None
            entered_forms = records.get(visit.pk, {}) if visit is not None else {}
            if visit is not None:  # the required forms' completeness from the records read above
                complete = {
                    name
                    for name, rs in entered_forms.items()
                    if any(r.status == FormRecord.Status.COMPLETE for r in rs)
                }
                status = visit.status(
                    today, forms_complete=visit.done_on is None or visit.required_forms_complete(complete)
                )
            cells = []
            for form_name in visit.forms if visit is not None else column.forms:
                name = instrument_name(form_name)
                entered = (
                    [
                        (r, form_state(r, r.pk in signed_forms or visit.pk in signed_visits, status))
                        for r in entered_forms.get(name, [])
                    ]
                    if visit is not None
                    else []
                )
                state = worst_state([st for _, st in entered]) if entered else form_state(None, False, status)
                counts[state.code] += 1
                href = form_href(participant.pk, visit.visit_id, name) if visit is not None else ""
                cells.append(Cell(name, form_title(name), state, entered[0][0] if entered else None, entered, href))
            row.append(VisitCell(visit, status, cells, review_href(participant.pk, visit.visit_id) if visit else ""))
        rows.append(GridRow(participant, row))
    return Grid(columns, rows, counts)


# --------------------------------------------------------------------------- visit calendar


@dataclass
class CalendarEntry:
    visit: Visit
    marks: list[str]  # "window opens", "target day", "window closes"
    status: VisitStatus


@dataclass
class CalendarDay:
    day: date
    in_month: bool
    entries: list[CalendarEntry]
    # On a busy month: how many windows open, target days fall and windows close that day.
    opens: int = 0
    targets: int = 0
    closes: int = 0

    @property
    def marked(self) -> int:
        return self.opens + self.targets + self.closes


@dataclass
class MonthCalendar:
    weeks: list[list[CalendarDay]]
    visit_count: int
    detailed: bool  # every visit on its days; else counts on each day, and the chosen day's visits listed
    day: date | None = None  # the chosen day (a busy month)
    day_page: object = None  # a page of the chosen day's entries

    @property
    def day_entries(self) -> list[CalendarEntry]:
        return next((d.entries for week in self.weeks for d in week if d.in_month and d.day == self.day), [])


# A month with more visits than this shows counts on each day, and one day's visits at a time: a
# network's calendar stays a calendar (and a page of bounded size) when thousands are due.
CALENDAR_DETAIL_LIMIT = 150
CALENDAR_DAY_PAGE = 50


def month_bounds(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar_module.monthrange(year, month)[1])


def visit_calendar(
    trial, access: Access, year: int, month: int, today: date, site=None, day: date | None = None, page=None
) -> MonthCalendar:
    """Weeks (Monday first) of the month; on each day the visits whose window opens, whose target
    day falls, or whose window closes that day. Visits already done and visits of participants
    whose participation ended are left out: the calendar is of work to do.

    Two queries whatever the size: the month's visits as dates (counted per day here), then the
    visits shown — all of them on a quiet month, else one page of the chosen ``day``'s."""
    first, last = month_bounds(year, month)
    visits = Visit.objects.filter(
        participant__trial=trial,
        done_on__isnull=True,
        earliest__lte=last,
        latest__gte=first,
        participant__ended_on__isnull=True,
    )
    if access.sites(OVERSIGHT) is not None:
        visits = visits.filter(participant__site_id__in=access.sites(OVERSIGHT))
    if site is not None:
        visits = visits.filter(participant__site=site)
    rows = list(
        visits.order_by("participant__participant_number", "order").values_list("pk", "earliest", "target", "latest")
    )
    marks = {pk: window_marks(earliest, target, latest, first, last) for pk, earliest, target, latest in rows}
    marks = {pk: m for pk, m in marks.items() if m}
    detailed = len(marks) <= CALENDAR_DETAIL_LIMIT
    if day is not None and not first <= day <= last:
        day = None
    if detailed:
        shown = list(marks)
        day_page = None
    else:
        on_day = [pk for pk, m in marks.items() if day in m] if day is not None else []
        day_page = Paginator(on_day, CALENDAR_DAY_PAGE).get_page(page) if day is not None else None
        shown = list(day_page.object_list) if day_page is not None else []
    loaded = Visit.objects.select_related("participant__site").in_bulk(shown) if shown else {}
    by_day: dict[date, list[CalendarEntry]] = {}
    counts: dict[date, list[int]] = {}
    index = {mark: i for i, mark in enumerate(WINDOW_MARKS)}
    for pk, visit_marks in marks.items():
        for on, day_marks in visit_marks.items():
            tally = counts.setdefault(on, [0, 0, 0])
            for mark in day_marks:
                tally[index[mark]] += 1
            if pk in loaded and (detailed or on == day):
                visit = loaded[pk]
                by_day.setdefault(on, []).append(CalendarEntry(visit, day_marks, visit.status(today)))
    weeks = []
    for week in calendar_module.Calendar(firstweekday=0).monthdatescalendar(year, month):
        weeks.append(
            [
                CalendarDay(d, True, by_day.get(d, []), *counts.get(d, [0, 0, 0]))
                if d.month == month
                else CalendarDay(d, False, [])
                for d in week
            ]
        )
    return MonthCalendar(weeks, len(marks), detailed, day, day_page)


def shift_month(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


# --------------------------------------------------------------------------- lists


@dataclass
class ListFilters:
    site: object | None = None
    status: str = ""
    instrument: str = ""
    participant: str = ""

    def apply(self, queryset, participant_path: str = "participant"):
        if self.site is not None:
            queryset = queryset.filter(**{f"{participant_path}__site": self.site})
        if self.instrument:
            path = "form__instrument" if queryset.model is Query else "instrument"
            queryset = queryset.filter(**{path: self.instrument})
        if self.participant:
            queryset = queryset.filter(**{f"{participant_path}__participant_number__iexact": self.participant.strip()})
        return queryset


def _scoped(queryset, trial, access: Access, participant_path: str = "participant"):
    queryset = queryset.filter(**{f"{participant_path}__trial": trial})
    if access.sites(OVERSIGHT) is not None:
        queryset = queryset.filter(**{f"{participant_path}__site_id__in": access.sites(OVERSIGHT)})
    return queryset


def _counts(queryset, key: str, codes) -> dict[str, int]:
    found = {row[key]: row["n"] for row in queryset.order_by().values(key).annotate(n=Count("id"))}
    return {code: found.get(code, 0) for code in codes}


QUERY_STATUSES = [(s.value, s.label) for s in Query.Status]


def query_list(trial, access: Access, filters: ListFilters):
    """(queries, counts by status): the counts are of every status under the other filters."""
    base = filters.apply(_scoped(Query.objects.all(), trial, access))
    counts = _counts(base, "status", [code for code, _ in QUERY_STATUSES])
    rows = base.select_related("participant__site", "form__visit", "opened_by").order_by("-opened_at", "-id")
    if filters.status:
        rows = rows.filter(status=filters.status)
    return rows, counts


VERIFICATION_STATES = [("to_verify", "To verify"), ("verified", "Verified"), ("draft", "Draft (not yet verifiable)")]


def _live_forms(trial, access: Access, filters: ListFilters):
    return filters.apply(_scoped(FormRecord.objects.filter(deleted_at__isnull=True), trial, access))


def verification_list(trial, access: Access, filters: ListFilters):
    """(forms, counts) of source verification: complete forms to verify, verified forms, drafts."""
    forms = _live_forms(trial, access, filters)
    states = {
        "to_verify": Q(status=FormRecord.Status.COMPLETE, verified_at__isnull=True),
        "verified": Q(verified_at__isnull=False),
        "draft": Q(status=FormRecord.Status.DRAFT, verified_at__isnull=True),
    }
    counts = forms.order_by().aggregate(**{code: Count("id", filter=q) for code, q in states.items()})
    rows = (
        forms.filter(states[filters.status or "to_verify"])
        .select_related("participant__site", "visit", "updated_by", "verified_by")
        .order_by("participant__participant_number", "visit__order", "instrument", "repeat")
    )
    return rows, counts


SIGNATURE_STATES = [("awaiting", "Awaiting signature"), ("signed", "Signed")]


def signature_list(trial, access: Access, filters: ListFilters):
    """(forms, counts) of investigator signatures: complete forms signed (on the form or its visit)
    or awaiting signature."""
    active = Signature.objects.filter(voided_at__isnull=True)
    forms = _live_forms(trial, access, filters).filter(status=FormRecord.Status.COMPLETE)
    # Signed on the form or on its visit: two lookups in the (short) list of signatures, each read
    # once by the database, rather than two subqueries run for every form of the trial.
    signed = Q(pk__in=active.filter(form__isnull=False).values("form_id")) | Q(
        visit_id__in=active.filter(visit__isnull=False).values("visit_id")
    )
    totals = forms.order_by().aggregate(all=Count("id"), signed=Count("id", filter=signed))
    counts = {"awaiting": totals["all"] - totals["signed"], "signed": totals["signed"]}
    rows = forms.filter(signed) if filters.status == "signed" else forms.exclude(signed)
    rows = rows.select_related("participant__site", "visit", "updated_by").order_by(
        "participant__participant_number", "visit__order", "instrument", "repeat"
    )
    return rows, counts


def trial_form_choices(trial) -> list[tuple[str, str]]:
    names = []
    for visit in trial.protocol.schedule.visits:
        for form_name in visit.forms:
            name = instrument_name(form_name)
            if name not in names:
                names.append(name)
    return [(name, form_title(name)) for name in names]


def month_of(today: date, raw: str | None) -> tuple[int, int]:
    """``YYYY-MM`` from the query string, else this month; ValueError names the rule."""
    if not raw:
        return today.year, today.month
    try:
        year, month = (int(part) for part in raw.split("-"))
        date(year, month, 1)
    except (ValueError, TypeError):
        raise ValueError(f"month {raw!r} is not a month (YYYY-MM)") from None
    return year, month


def week_days() -> list[str]:
    return [calendar_module.day_abbr[i] for i in range(7)]
