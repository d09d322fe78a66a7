"""SUSAR assessment and the expedited reporting clocks.

A suspected unexpected serious adverse reaction (SUSAR) is an adverse event that is *serious*
(an ICH E2A seriousness criterion is met), *related* (a reasonable possibility that the study
treatment caused it: possibly, probably or definitely related) and *unexpected* (not consistent
with the reference safety information).

Clocks, from the day the sponsor first became aware (day 0):

* fatal or life-threatening SUSAR: no later than 7 calendar days, followed by a complete report
  within 8 further days — ICH E2A (1994) section III.A.1; Regulation (EU) No 536/2014 Article
  42(2)(a);
* any other SUSAR: no later than 15 calendar days — ICH E2A III.A.2; Regulation (EU) No 536/2014
  Article 42(2)(b);
* a SUSAR first thought non-fatal and non-life-threatening that turns out to be: 7 days from
  becoming aware of that — Regulation (EU) No 536/2014 Article 42(2)(c). ``susar_clocks`` reads
  the event's history (the first report and its follow-ups, each with its own awareness time) and
  starts this new clock at the follow-up's awareness; the first clock stays as it was.

Calendar days are counted in the time zone of the reporting party (``tz``): the report is due by
the end of day 7 (or 15) after the local date of awareness. Awareness times must be timezone-aware.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

RELATED = frozenset({"possible", "probable", "definite"})
FATAL_OR_LIFE_THREATENING_DAYS = 7
OTHER_SUSAR_DAYS = 15
COMPLETION_DAYS = 8  # ICH E2A III.A.1: the complete report follows within 8 more days

# What a clock is for (``ExpeditedClock.kind``).
INITIAL = "initial"  # the first expedited report: 7 or 15 days (Art. 42(2)(a), (b))
TURNED_FATAL = "turned_fatal"  # a follow-up made it fatal or life-threatening: 7 days (Art. 42(2)(c))
COMPLETE = "complete"  # the complete report after a 7-day report: 8 more days (ICH E2A III.A.1)


@dataclass(frozen=True)
class SusarAssessment:
    serious: bool
    related: bool
    unexpected: bool
    fatal_or_life_threatening: bool

    @property
    def is_susar(self) -> bool:
        return self.serious and self.related and self.unexpected

    @property
    def clock_days(self) -> int | None:
        """7 or 15 for a SUSAR; None otherwise (the 24-hour site-to-sponsor SAE clock still applies)."""
        if not self.is_susar:
            return None
        return FATAL_OR_LIFE_THREATENING_DAYS if self.fatal_or_life_threatening else OTHER_SUSAR_DAYS


def assess_susar(data: Mapping[str, Any]) -> SusarAssessment:
    """Assess an adverse event form's data (``serious``, ``relatedness``, ``expectedness``, the
    seriousness criteria and the outcome). An unanswered relatedness or expectedness counts as
    related / unexpected: until the investigator and sponsor have assessed it, the shorter
    obligation must not be missed."""
    serious = data.get("serious") is True
    relatedness = data.get("relatedness")
    expectedness = data.get("expectedness")
    related = relatedness in RELATED or relatedness in (None, "")
    unexpected = expectedness != "expected"
    fatal = (
        data.get("sae_death") is True
        or data.get("sae_life_threatening") is True
        or data.get("outcome") == "fatal"
        or data.get("ctcae_grade") == 5
    )
    return SusarAssessment(serious, related, unexpected, fatal)


@dataclass(frozen=True)
class ExpeditedClock:
    days: int
    aware_at: datetime
    due_date: date  # the last calendar day, in ``tz``
    deadline: datetime  # end of the due date in ``tz``
    reported_at: datetime | None
    now: datetime
    kind: str = INITIAL

    @property
    def state(self) -> str:
        if self.reported_at is not None:
            return "reported_on_time" if self.reported_at <= self.deadline else "reported_late"
        return "overdue" if self.now > self.deadline else "running"

    @property
    def days_left(self) -> int:
        """Whole calendar days until the due date (0 on the due date, negative once overdue)."""
        local_now = (self.reported_at or self.now).astimezone(self.deadline.tzinfo)
        return (self.due_date - local_now.date()).days

    def describe(self) -> str:
        due = self.due_date.isoformat()
        what = {
            INITIAL: f"SUSAR {self.days}-day report",
            TURNED_FATAL: f"SUSAR {self.days}-day report (now fatal or life-threatening)",
            COMPLETE: "SUSAR complete report",
        }[self.kind]
        return {
            "running": f"{what} due {due} ({self.days_left} days left)",
            "overdue": f"{what} overdue since {due}",
            "reported_on_time": f"{what} made within {self.days} days",
            "reported_late": f"{what} made late (due {due})",
        }[self.state]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "days": self.days,
            "aware_at": self.aware_at.isoformat(),
            "due_date": self.due_date.isoformat(),
            "deadline": self.deadline.isoformat(),
            "reported_at": self.reported_at.isoformat() if self.reported_at else None,
            "state": self.state,
            "text": self.describe(),
        }


def _aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")


def expedited_clock(
    assessment: SusarAssessment,
    aware_at: datetime,
    *,
    tz: tzinfo,
    now: datetime,
    reported_at: datetime | None = None,
) -> ExpeditedClock | None:
    """The 7- or 15-day clock of a SUSAR from ``aware_at`` (day 0), counted in calendar days in
    ``tz``; None when the event is not a SUSAR."""
    days = assessment.clock_days
    if days is None:
        return None
    _aware(aware_at, "the awareness time")
    _aware(now, "now")
    if reported_at is not None:
        _aware(reported_at, "the report time")
    return _clock(days, aware_at, tz=tz, now=now, reported_at=reported_at)


def _clock(
    days: int, start: datetime, *, tz: tzinfo, now: datetime, reported_at: datetime | None, kind: str = INITIAL
) -> ExpeditedClock:
    due = start.astimezone(tz).date() + timedelta(days=days)
    # The last instant of the due date in tz (the next local midnight, minus a microsecond).
    next_midnight = datetime.combine(due + timedelta(days=1), time(0), tzinfo=tz)
    deadline = next_midnight - timedelta(microseconds=1)
    return ExpeditedClock(days, start, due, deadline, reported_at, now, kind)


@dataclass(frozen=True)
class SafetyInformation:
    """What was known of an event from one report (the first one or a follow-up): when the site
    became aware of it (the clock starts there) and, if later, when it was recorded (an expedited
    report sent before that cannot have carried it)."""

    aware_at: datetime
    assessment: SusarAssessment
    recorded_at: datetime | None = None

    @property
    def known_at(self) -> datetime:
        return max(self.aware_at, self.recorded_at) if self.recorded_at else self.aware_at


def susar_clocks(
    history: Sequence[SafetyInformation],
    *,
    tz: tzinfo,
    now: datetime,
    reports: Sequence[datetime] = (),
) -> tuple[ExpeditedClock, ...]:
    """Every expedited reporting clock of one event, in the order they started.

    ``history`` is the first report and its follow-ups, each with its awareness time and the SUSAR
    assessment it gave; ``reports`` are the times the expedited reports were sent. Calendar days
    are counted in ``tz`` as in ``expedited_clock``.

    * The first entry that is a SUSAR starts the first clock: 7 days when fatal or life-threatening
      (ICH E2A III.A.1; Regulation (EU) No 536/2014 Art. 42(2)(a)), 15 otherwise (ICH E2A III.A.2;
      Art. 42(2)(b)).
    * A later entry that makes a 15-day SUSAR fatal or life-threatening starts a new 7-day clock at
      that entry's awareness time (Art. 42(2)(c): "not later than seven days after the sponsor
      became aware of the reaction being fatal or life-threatening"); the 15-day clock stays as it
      was. Once a 7-day clock has started, later entries start no other one.
    * A follow-up that finds the event not a SUSAR (not serious, not related or expected) starts
      nothing and stops nothing: a clock that has started stays, so an obligation that arose is
      never dropped silently (the report then says what the follow-up found).
    * After the report that stops a 7-day clock comes the complete report (``kind`` "complete"):
      ICH E2A III.A.1 asks for a notification "no later than 7 calendar days after first knowledge
      by the sponsor that a case qualifies, followed by as complete a report as possible within 8
      additional calendar days". We read "additional" as following that notification: the
      complete report is due by the end of the 8th calendar day after the local date the 7-day
      report was sent. Sent on time, that is never later than day 15 from awareness (the reading
      that counts from the 7-day deadline), so the earlier of the two readings is kept.

    A report stops every expedited clock whose information was known (aware and recorded) by then
    and was not yet stopped (one report carries all that was known); the complete report is the first report after the one
    that stopped its 7-day clock.
    """
    _aware(now, "now")
    for info in history:
        _aware(info.aware_at, "the awareness time")
        if info.recorded_at is not None:
            _aware(info.recorded_at, "the recording time")
    for at in reports:
        _aware(at, "the report time")
    sent = sorted(reports)

    def first_report(after: datetime, *, strictly: bool = False) -> datetime | None:
        return next((r for r in sent if (r > after if strictly else r >= after)), None)

    clocks: list[ExpeditedClock] = []
    seven_day: ExpeditedClock | None = None
    for info in sorted(history, key=lambda i: i.aware_at):
        days = info.assessment.clock_days
        if days is None:
            continue
        if not clocks:
            kind = INITIAL
        elif seven_day is None and days == FATAL_OR_LIFE_THREATENING_DAYS:
            kind = TURNED_FATAL
        else:
            continue
        clock = _clock(days, info.aware_at, tz=tz, now=now, reported_at=first_report(info.known_at), kind=kind)
        clocks.append(clock)
        if days == FATAL_OR_LIFE_THREATENING_DAYS:
            seven_day = clock
    if seven_day is not None and seven_day.reported_at is not None:
        initial_report = seven_day.reported_at
        clocks.append(
            _clock(
                COMPLETION_DAYS,
                initial_report,
                tz=tz,
                now=now,
                reported_at=first_report(initial_report, strictly=True),
                kind=COMPLETE,
            )
        )
    return tuple(clocks)


def current_clock(clocks: Sequence[ExpeditedClock]) -> ExpeditedClock | None:
    """The clock to show first: the earliest due of those still waiting for a report (on the same
    day, the one started by the newer information), else the last one."""
    waiting = [c for c in clocks if c.reported_at is None]
    if waiting:
        return min(waiting, key=lambda c: (c.deadline, -c.aware_at.timestamp()))
    return clocks[-1] if clocks else None
