"""Visit windows and reporting clocks (pure core; no Django).

    from trialkit.schedule import plan_visits, visit_status
    planned = plan_visits(protocol.schedule, anchor_date=date(2026, 3, 2))
    visit_status(planned[3], done_on=None, today=date(2026, 4, 5))  # "in_window"

Day arithmetic: a visit on day ``d`` of the schedule has its target at ``anchor + d days``; its window
is ``[target - window_before, target + window_after]``, both ends inclusive. Day 0 is the anchor
(the infusion or randomization date named by the protocol's ``schedule.anchor``).

Statuses (``today`` and ``done_on`` are calendar dates; every comparison is inclusive as written):

==============  ==========================================================================
upcoming        not held, today < earliest (the window has not opened)
in_window       not held, earliest <= today <= latest (the window is open)
missed          not held, today > latest (the window has closed)
incomplete      held within the window, a required form not complete, window still open
overdue         held within the window, a required form not complete, window closed
done            held within [earliest, latest] and every required form complete
out_of_window   held before earliest or after latest (a protocol deviation to explain)
not_expected    not held, and participation ended (``ended_on``) on or before latest
==============  ==========================================================================

A visit is *held* once it has a date (``done_on``); it is *done* only when its required forms are
complete (``forms_complete``). Every form of a visit is required except the event-driven ones
(``EVENT_DRIVEN_FORMS``: an adverse event form is entered when an event happens, not at every visit).

A participant who completed, withdrew, was lost to follow-up or died is expected at no visit whose
window had not closed by the end date; a visit whose window closed before it stays missed, and a
visit done stays done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any
from typing import Protocol as TypingProtocol


class VisitStatus(str, Enum):
    UPCOMING = "upcoming"
    IN_WINDOW = "in_window"
    MISSED = "missed"
    INCOMPLETE = "incomplete"
    OVERDUE = "overdue"
    DONE = "done"
    OUT_OF_WINDOW = "out_of_window"
    NOT_EXPECTED = "not_expected"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    VisitStatus.UPCOMING: "upcoming",
    VisitStatus.IN_WINDOW: "in window",
    VisitStatus.MISSED: "missed",
    VisitStatus.INCOMPLETE: "forms incomplete",
    VisitStatus.OVERDUE: "forms overdue",
    VisitStatus.DONE: "done",
    VisitStatus.OUT_OF_WINDOW: "out of window",
    VisitStatus.NOT_EXPECTED: "not expected",
}

# Visits whose work is open: the window is open, or the visit was held and forms are missing.
OPEN_STATUSES = frozenset({VisitStatus.IN_WINDOW, VisitStatus.INCOMPLETE, VisitStatus.OVERDUE})
# Visits an investigator can sign: held, whatever the state of the forms (a signature covers what was entered).
SIGNABLE_STATUSES = frozenset(
    {VisitStatus.DONE, VisitStatus.INCOMPLETE, VisitStatus.OVERDUE, VisitStatus.OUT_OF_WINDOW}
)

# Forms entered when something happens rather than at every visit: not required for a visit to be done.
EVENT_DRIVEN_FORMS = frozenset({"adverse_event", "ae", "adverse_events"})


def required_forms(forms: Iterable[str]) -> list[str]:
    """The forms of a visit that must be complete for the visit to be done."""
    return [f for f in forms if f not in EVENT_DRIVEN_FORMS]


def forms_complete(
    forms: Iterable[str], complete_instruments: set[str], *, carried_from: str = "", carried_reviewed_at: Any = None
) -> bool:
    """Whether a visit asking for ``forms`` has every required one complete (``complete_instruments``:
    the instruments with a complete, not deleted record). Forms carried in from screening
    (``carried_from``, the screening record's number) count only once reviewed (``carried_reviewed_at``)."""
    from trialkit.instruments import instrument_name

    if carried_from and carried_reviewed_at is None:
        return False
    return all(instrument_name(f) in complete_instruments for f in required_forms(forms))


class _VisitDefinition(TypingProtocol):
    id: str
    label: str
    kind: str
    day: int
    window_before: int
    window_after: int
    forms: list[str]


class _ScheduleDefinition(TypingProtocol):
    visits: list[Any]


@dataclass(frozen=True)
class PlannedVisit:
    """One visit of one participant: its target date and window, and the forms it asks for."""

    visit_id: str
    label: str
    kind: str
    day: int
    target: date
    earliest: date
    latest: date
    forms: tuple[str, ...]

    def contains(self, day: date) -> bool:
        return self.earliest <= day <= self.latest

    def overlaps(self, start: date, end: date) -> bool:
        """True when the window shares at least one day with [start, end]."""
        return self.earliest <= end and start <= self.latest


def plan_visit(visit: _VisitDefinition, anchor_date: date) -> PlannedVisit:
    """One visit on the calendar. A screening visit's window reaches day 0 whatever its
    ``window_after``: screening on the day of randomization or infusion is within it."""
    target = anchor_date + timedelta(days=visit.day)
    latest = target + timedelta(days=visit.window_after)
    if visit.kind == "screening":
        latest = max(latest, anchor_date)
    return PlannedVisit(
        visit_id=visit.id,
        label=visit.label,
        kind=visit.kind,
        day=visit.day,
        target=target,
        earliest=target - timedelta(days=visit.window_before),
        latest=latest,
        forms=tuple(visit.forms),
    )


def plan_visits(schedule: _ScheduleDefinition, anchor_date: date) -> list[PlannedVisit]:
    """Every visit of ``schedule`` (a protocol Schedule) placed on the calendar from ``anchor_date``."""
    if isinstance(anchor_date, datetime):
        anchor_date = anchor_date.date()
    if not isinstance(anchor_date, date):
        raise TypeError(f"anchor_date must be a date, got {type(anchor_date).__name__}")
    return [plan_visit(v, anchor_date) for v in schedule.visits]


def visit_status(
    planned: PlannedVisit, done_on: date | None, today: date, ended_on: date | None = None, forms_complete: bool = True
) -> VisitStatus:
    """The status of one visit on ``today`` (see the module docstring for the exact rules);
    ``ended_on`` is the day the participant's participation ended, if it has; ``forms_complete``
    whether every required form of the visit is complete."""
    if done_on is not None:
        if not planned.contains(done_on):
            return VisitStatus.OUT_OF_WINDOW
        if forms_complete:
            return VisitStatus.DONE
        return VisitStatus.INCOMPLETE if today <= planned.latest else VisitStatus.OVERDUE
    if ended_on is not None and ended_on <= planned.latest:
        return VisitStatus.NOT_EXPECTED
    if today < planned.earliest:
        return VisitStatus.UPCOMING
    if today <= planned.latest:
        return VisitStatus.IN_WINDOW
    return VisitStatus.MISSED


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of the ISO week holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def due_in_week(planned: PlannedVisit, done_on: date | None, today: date, ended_on: date | None = None) -> bool:
    """A visit belongs on this week's work list when it is not done, still expected (see
    ``visit_status``), its window has not closed before today, and its window shares a day with the
    week (Monday to Sunday) holding ``today``."""
    if done_on is not None or visit_status(planned, done_on, today, ended_on) is VisitStatus.NOT_EXPECTED:
        return False
    monday, sunday = week_of(today)
    return planned.overlaps(max(monday, today), sunday)


# What a calendar marks on a day of a visit's window.
WINDOW_MARKS = ("window opens", "target day", "window closes")


def window_marks(earliest: date, target: date, latest: date, first: date, last: date) -> dict[date, list[str]]:
    """The days between ``first`` and ``last`` on which the window opens, its target day falls or it
    closes, each with its marks in that order (one day may carry several)."""
    marks: dict[date, list[str]] = {}
    for day, mark in zip((earliest, target, latest), WINDOW_MARKS, strict=True):
        if first <= day <= last:
            marks.setdefault(day, []).append(mark)
    return marks


# --------------------------------------------------------------------------- SAE reporting clock

# An investigator reports a serious adverse event to the sponsor immediately (ICH E6(R2) 4.11.1;
# 21 CFR 312.64(b)); trial protocols, and this one, set "immediately" as within 24 hours of the
# site becoming aware of it.
SAE_REPORTING_HOURS = 24


@dataclass(frozen=True)
class ReportingClock:
    started_at: datetime
    deadline: datetime
    reported_at: datetime | None
    now: datetime

    @property
    def reported(self) -> bool:
        return self.reported_at is not None

    @property
    def on_time(self) -> bool | None:
        """Whether the report met the deadline; None while not reported."""
        if self.reported_at is None:
            return None
        return self.reported_at <= self.deadline

    @property
    def remaining(self) -> timedelta:
        """Time left until the deadline (negative once overdue), frozen at the report time."""
        return self.deadline - (self.reported_at or self.now)

    @property
    def overdue(self) -> bool:
        return self.remaining < timedelta(0)

    @property
    def state(self) -> str:
        if self.reported_at is not None:
            return "reported_on_time" if self.on_time else "reported_late"
        return "overdue" if self.overdue else "running"

    def describe(self) -> str:
        seconds = abs(int(self.remaining.total_seconds()))
        hours, rest = divmod(seconds, 3600)
        minutes = rest // 60
        span = f"{hours} h {minutes:02d} min"
        return {
            "running": f"{span} left to report",
            "overdue": f"report overdue by {span}",
            "reported_on_time": "reported within 24 h",
            "reported_late": f"reported {span} late",
        }[self.state]

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "deadline": self.deadline.isoformat(),
            "reported_at": self.reported_at.isoformat() if self.reported_at else None,
            "state": self.state,
            "remaining_seconds": int(self.remaining.total_seconds()),
            "text": self.describe(),
        }


def sae_clock(awareness_at: datetime, reported_at: datetime | None, now: datetime) -> ReportingClock:
    """The 24-hour reporting clock of a serious adverse event, started when the site became aware."""
    return ReportingClock(awareness_at, awareness_at + timedelta(hours=SAE_REPORTING_HOURS), reported_at, now)


def statuses(planned: Iterable[PlannedVisit], done: dict[str, date | None], today: date) -> dict[str, VisitStatus]:
    return {p.visit_id: visit_status(p, done.get(p.visit_id), today) for p in planned}
