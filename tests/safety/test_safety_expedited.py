"""SUSAR assessment and the 7- and 15-day clocks (ICH E2A III.A; Regulation (EU) 536/2014 Art. 42)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from trialkit.safety import assess_susar, expedited_clock

BERLIN = ZoneInfo("Europe/Berlin")
SUSAR = {"serious": True, "sae_hospitalization": True, "relatedness": "probable", "expectedness": "unexpected"}


@pytest.mark.parametrize(
    "change, is_susar",
    [
        ({}, True),
        ({"serious": False}, False),
        ({"relatedness": "not_related"}, False),
        ({"relatedness": "unlikely"}, False),
        ({"relatedness": "possible"}, True),
        ({"expectedness": "expected"}, False),
        ({"relatedness": None}, True),  # not yet assessed: the shorter obligation is kept
    ],
)
def test_a_susar_is_serious_related_and_unexpected(change, is_susar):
    assert assess_susar({**SUSAR, **change}).is_susar is is_susar


def test_fatal_or_life_threatening_susars_run_on_7_days_others_on_15():
    assert assess_susar(SUSAR).clock_days == 15
    assert assess_susar({**SUSAR, "sae_life_threatening": True}).clock_days == 7
    assert assess_susar({**SUSAR, "sae_death": True, "outcome": "fatal", "ctcae_grade": 5}).clock_days == 7
    assert assess_susar({**SUSAR, "expectedness": "expected"}).clock_days is None


def test_the_clock_counts_calendar_days_from_awareness_not_from_saving():
    aware = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    saved_later = aware + timedelta(days=3)
    clock = expedited_clock(assess_susar(SUSAR), aware, tz=UTC, now=saved_later)
    assert clock.due_date == date(2026, 3, 17)  # day 0 = 2 March, day 15 = 17 March
    assert clock.deadline == datetime(2026, 3, 17, 23, 59, 59, 999999, tzinfo=UTC)
    assert clock.state == "running" and clock.days_left == 12
    fatal = expedited_clock(assess_susar({**SUSAR, "sae_death": True}), aware, tz=UTC, now=saved_later)
    assert fatal.due_date == date(2026, 3, 9) and fatal.days_left == 4


def test_the_calendar_day_is_the_local_one():
    """23:30 UTC on 1 March is already 2 March in Berlin: day 0 differs, and so does the due date."""
    aware = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    fatal = assess_susar({**SUSAR, "sae_life_threatening": True})
    assert expedited_clock(fatal, aware, tz=UTC, now=aware).due_date == date(2026, 3, 8)
    in_berlin = expedited_clock(fatal, aware, tz=BERLIN, now=aware)
    assert in_berlin.due_date == date(2026, 3, 9)
    assert in_berlin.deadline.utcoffset() == timedelta(hours=1)


def test_a_deadline_across_the_change_to_summer_time_is_local_midnight():
    aware = datetime(2026, 3, 25, 10, 0, tzinfo=BERLIN)  # summer time starts 29 March
    clock = expedited_clock(assess_susar({**SUSAR, "sae_death": True}), aware, tz=BERLIN, now=aware)
    assert clock.due_date == date(2026, 4, 1)
    assert clock.deadline.utcoffset() == timedelta(hours=2)
    assert clock.deadline.astimezone(UTC) == datetime(2026, 4, 1, 21, 59, 59, 999999, tzinfo=UTC)


def test_overdue_and_reported_states():
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    a = assess_susar(SUSAR)
    assert expedited_clock(a, aware, tz=UTC, now=aware + timedelta(days=16)).state == "overdue"
    on_time = expedited_clock(a, aware, tz=UTC, now=aware + timedelta(days=30), reported_at=aware + timedelta(days=15))
    assert on_time.state == "reported_on_time"
    late = expedited_clock(a, aware, tz=UTC, now=aware + timedelta(days=30), reported_at=aware + timedelta(days=16))
    assert late.state == "reported_late" and "due 2026-03-17" in late.describe()


def test_not_a_susar_has_no_expedited_clock_and_naive_times_are_refused():
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert expedited_clock(assess_susar({**SUSAR, "serious": False}), aware, tz=UTC, now=aware) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        expedited_clock(assess_susar(SUSAR), datetime(2026, 3, 2, 9, 0), tz=UTC, now=aware)
