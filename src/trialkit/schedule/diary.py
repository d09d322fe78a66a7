"""The participant diary's calendar: its period, the local day, missed days and when a reminder is due.

Pure functions (no Django). A diary day is the participant's local calendar day, which is the
day at their site: a site in Beijing and one in London start "today" eight hours apart.

An entry is made and changed only on its own day. Diary data are source data, and ALCOA+
asks that they be contemporaneous (ICH E6(R3) §4.2.1 and Annex 1 on data integrity; FDA,
"Electronic Source Data in Clinical Investigations", 2013): an answer about yesterday written
today is recall, not a diary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# Countries with a single time zone: a site there gets it when it is created.
COUNTRY_TIME_ZONES = {"China": "Asia/Shanghai", "Hong Kong": "Asia/Hong_Kong", "Singapore": "Asia/Singapore"}


def country_time_zone(country: str) -> str:
    return COUNTRY_TIME_ZONES.get(country.strip(), "")


def valid_time_zone(name: str) -> bool:
    """An IANA time zone name this installation knows ("Asia/Shanghai", "UTC")."""
    if not name or len(name) > 64 or "\x00" in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return name in available_timezones() or name == "UTC"


def local_day(now: datetime, time_zone: str) -> date:
    """The calendar day it is at ``now`` (an aware datetime) in ``time_zone``."""
    return now.astimezone(ZoneInfo(time_zone)).date()


def local_hour(now: datetime, time_zone: str) -> int:
    return now.astimezone(ZoneInfo(time_zone)).hour


@dataclass(frozen=True)
class DiaryPeriod:
    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


def diary_period(
    anchor: date | None, start_day: int, end_day: int, *, ended_on: date | None = None
) -> DiaryPeriod | None:
    """The days the diary is kept: from the start visit's target day to the end visit's (both
    counted from the schedule's day 0), cut short on the day participation ended. None before day 0
    is known, or when participation ended before the diary began."""
    if anchor is None:
        return None
    first, last = anchor + timedelta(days=start_day), anchor + timedelta(days=end_day)
    if ended_on is not None:
        last = min(last, ended_on)
    if last < first:
        return None
    return DiaryPeriod(first, last)


def counted_days(period: DiaryPeriod | None, today: date) -> tuple[date, date] | None:
    """The days that can already have been missed: the period's days before today (today is not
    missed until it is over). None when there is none yet."""
    if period is None:
        return None
    last = min(period.last, today - timedelta(days=1))
    if last < period.first:
        return None
    return period.first, last


def missed_days(period: DiaryPeriod | None, today: date, days_with_entry: int) -> int:
    """Days of the period before today without any entry, given how many of them have one."""
    window = counted_days(period, today)
    if window is None:
        return 0
    return max(0, (window[1] - window[0]).days + 1 - days_with_entry)


def entry_day_rule(entry_date: date, today: date, period: DiaryPeriod | None) -> str | None:
    """Why an entry for ``entry_date`` may not be written today (a code), or None when it may.

    ``past``: an earlier day (entries are written and changed only on their own day);
    ``future``: a later day; ``before`` / ``after``: outside the diary period."""
    if entry_date < today:
        return "past"
    if entry_date > today:
        return "future"
    if period is None or entry_date < period.first:
        return "before"
    if entry_date > period.last:
        return "after"
    return None


def reminder_due(now: datetime, time_zone: str, hour: int) -> bool:
    """A day's reminder goes out from ``hour`` o'clock local time (so the day's entry may still be made)."""
    return local_hour(now, time_zone) >= hour


def local_midnight(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(time_zone))
