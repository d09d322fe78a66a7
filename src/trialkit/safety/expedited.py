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
  becoming aware of that — Regulation (EU) No 536/2014 Article 42(2)(c) (pass the follow-up's
  awareness time).

Calendar days are counted in the time zone of the reporting party (``tz``): the report is due by
the end of day 7 (or 15) after the local date of awareness. Awareness times must be timezone-aware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

RELATED = frozenset({"possible", "probable", "definite"})
FATAL_OR_LIFE_THREATENING_DAYS = 7
OTHER_SUSAR_DAYS = 15
COMPLETION_DAYS = 8  # ICH E2A III.A.1: the complete report follows within 8 more days


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
        return {
            "running": f"SUSAR {self.days}-day report due {due} ({self.days_left} days left)",
            "overdue": f"SUSAR {self.days}-day report overdue since {due}",
            "reported_on_time": f"SUSAR reported within {self.days} days",
            "reported_late": f"SUSAR reported late (due {due})",
        }[self.state]

    def as_dict(self) -> dict[str, Any]:
        return {
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
    due = aware_at.astimezone(tz).date() + timedelta(days=days)
    # The last instant of the due date in tz (the next local midnight, minus a microsecond).
    next_midnight = datetime.combine(due + timedelta(days=1), time(0), tzinfo=tz)
    deadline = next_midnight - timedelta(microseconds=1)
    return ExpeditedClock(days, aware_at, due, deadline, reported_at, now)
