"""SUSAR assessment and the 7- and 15-day clocks (ICH E2A III.A; Regulation (EU) 536/2014 Art. 42)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from trialkit.safety import SafetyInformation, assess_susar, current_clock, expedited_clock, susar_clocks

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


# --------------------------------------------------------------------------- the event's history

NON_FATAL = assess_susar(SUSAR)
FATAL = assess_susar({**SUSAR, "sae_death": True, "outcome": "fatal"})
LIFE_THREATENING = assess_susar({**SUSAR, "sae_life_threatening": True})
NOT_SERIOUS = assess_susar({**SUSAR, "serious": False, "sae_hospitalization": False})


def _kinds(clocks):
    return [(c.kind, c.days, c.due_date.isoformat(), c.state) for c in clocks]


def test_a_follow_up_that_makes_it_fatal_starts_a_new_7_day_clock_from_its_own_awareness():
    """Regulation (EU) No 536/2014 Art. 42(2)(c): 7 days from awareness of the follow-up, not of the event."""
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    follow_up = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    history = [SafetyInformation(aware, NON_FATAL), SafetyInformation(follow_up, FATAL)]
    clocks = susar_clocks(history, tz=UTC, now=follow_up + timedelta(hours=1))
    assert _kinds(clocks) == [
        ("initial", 15, "2026-03-17", "running"),  # the first clock stays as it was
        ("turned_fatal", 7, "2026-03-17", "running"),  # day 0 = 10 March, not 2 March (due 9 March)
    ]
    assert current_clock(clocks) is clocks[1]  # same due date: the newer information is shown
    assert "now fatal or life-threatening" in clocks[1].describe()


def test_the_new_clock_runs_even_when_the_first_was_reported_and_the_first_keeps_its_report():
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    reported = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    follow_up = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
    history = [SafetyInformation(aware, NON_FATAL), SafetyInformation(follow_up, LIFE_THREATENING)]
    clocks = susar_clocks(history, tz=UTC, now=datetime(2026, 3, 28, 1, 0, tzinfo=UTC), reports=[reported])
    assert _kinds(clocks) == [
        ("initial", 15, "2026-03-17", "reported_on_time"),
        ("turned_fatal", 7, "2026-03-27", "overdue"),  # the report before the follow-up does not count
    ]
    assert current_clock(clocks) is clocks[1]


def test_a_follow_up_aware_at_23_59_local_counts_that_local_day_as_day_0():
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN)
    follow_up = datetime(2026, 3, 10, 23, 59, tzinfo=BERLIN)  # 22:59 UTC: still 10 March in Berlin
    history = [SafetyInformation(aware, NON_FATAL), SafetyInformation(follow_up, FATAL)]
    new = susar_clocks(history, tz=BERLIN, now=follow_up)[1]
    assert new.due_date == date(2026, 3, 17)
    assert new.deadline == datetime(2026, 3, 17, 23, 59, 59, 999999, tzinfo=BERLIN)
    one_minute_later = SafetyInformation(follow_up + timedelta(minutes=1), FATAL)  # 11 March
    assert susar_clocks([history[0], one_minute_later], tz=BERLIN, now=follow_up)[1].due_date == date(2026, 3, 18)


def test_a_new_clock_across_the_change_to_summer_time_ends_at_local_midnight():
    aware = datetime(2026, 3, 20, 10, 0, tzinfo=BERLIN)
    follow_up = datetime(2026, 3, 27, 23, 30, tzinfo=BERLIN)  # summer time starts 29 March
    history = [SafetyInformation(aware, NON_FATAL), SafetyInformation(follow_up, LIFE_THREATENING)]
    new = susar_clocks(history, tz=BERLIN, now=follow_up)[1]
    assert new.due_date == date(2026, 4, 3)
    assert new.deadline.astimezone(UTC) == datetime(2026, 4, 3, 21, 59, 59, 999999, tzinfo=UTC)
    assert new.state == "running"
    assert susar_clocks(history, tz=BERLIN, now=datetime(2026, 4, 3, 22, 0, tzinfo=UTC))[1].state == "overdue"


def test_a_follow_up_that_makes_it_not_serious_starts_nothing_and_drops_nothing():
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    later = aware + timedelta(days=3)
    history = [SafetyInformation(aware, NON_FATAL), SafetyInformation(later, NOT_SERIOUS)]
    assert _kinds(susar_clocks(history, tz=UTC, now=later)) == [("initial", 15, "2026-03-17", "running")]
    # never a SUSAR in the first report, a SUSAR only after a follow-up: the clock starts there
    late_susar = [SafetyInformation(aware, NOT_SERIOUS), SafetyInformation(later, FATAL)]
    assert _kinds(susar_clocks(late_susar, tz=UTC, now=later)) == [("initial", 7, "2026-03-12", "running")]
    assert susar_clocks([SafetyInformation(aware, NOT_SERIOUS)], tz=UTC, now=later) == ()


def test_two_follow_ups_start_one_new_clock_at_the_first_that_makes_it_fatal():
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    still_not_fatal = SafetyInformation(datetime(2026, 3, 4, 9, 0, tzinfo=UTC), NON_FATAL)
    life_threatening = SafetyInformation(datetime(2026, 3, 6, 9, 0, tzinfo=UTC), LIFE_THREATENING)
    died = SafetyInformation(datetime(2026, 3, 8, 9, 0, tzinfo=UTC), FATAL)
    history = [SafetyInformation(aware, NON_FATAL), still_not_fatal, died, life_threatening]  # any order
    clocks = susar_clocks(history, tz=UTC, now=datetime(2026, 3, 9, tzinfo=UTC))
    assert _kinds(clocks) == [
        ("initial", 15, "2026-03-17", "running"),
        ("turned_fatal", 7, "2026-03-13", "running"),  # from 6 March; the death on 8 March adds none
    ]


def test_fatal_from_the_start_has_one_7_day_clock_then_the_complete_report_within_8_days():
    """ICH E2A III.A.1: 7 days, "followed by as complete a report as possible within 8 additional
    calendar days" — counted from the local date the 7-day report was sent."""
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    follow_up = SafetyInformation(aware + timedelta(days=1), FATAL)  # still fatal: no new clock
    history = [SafetyInformation(aware, FATAL), follow_up]
    running = susar_clocks(history, tz=UTC, now=aware + timedelta(days=1))
    assert _kinds(running) == [("initial", 7, "2026-03-09", "running")]  # no complete-report clock yet
    first = datetime(2026, 3, 4, 22, 0, tzinfo=UTC)
    clocks = susar_clocks(history, tz=UTC, now=datetime(2026, 3, 10, tzinfo=UTC), reports=[first])
    assert _kinds(clocks) == [
        ("initial", 7, "2026-03-09", "reported_on_time"),
        ("complete", 8, "2026-03-12", "running"),  # 4 March + 8
    ]
    assert current_clock(clocks).kind == "complete"
    assert "complete report due 2026-03-12" in clocks[1].describe()
    # In Berlin the 7-day report was sent on 4 March 23:00 local: still day 4, due 12 March local.
    in_berlin = susar_clocks(history, tz=BERLIN, now=first, reports=[first])[1]
    assert in_berlin.due_date == date(2026, 3, 12)
    done = susar_clocks(
        history, tz=UTC, now=datetime(2026, 3, 20, tzinfo=UTC), reports=[first, first + timedelta(days=8)]
    )
    assert _kinds(done)[1] == ("complete", 8, "2026-03-12", "reported_on_time")
    assert current_clock(done) is done[1]


def test_the_complete_report_follows_the_new_7_day_clock_and_one_report_can_stop_two_clocks():
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    history = [SafetyInformation(aware, NON_FATAL), SafetyInformation(aware + timedelta(days=4), FATAL)]
    one_report = aware + timedelta(days=5)  # sent after the follow-up: carries both
    clocks = susar_clocks(history, tz=UTC, now=one_report, reports=[one_report])
    assert _kinds(clocks) == [
        ("initial", 15, "2026-03-17", "reported_on_time"),
        ("turned_fatal", 7, "2026-03-13", "reported_on_time"),
        ("complete", 8, "2026-03-15", "running"),
    ]
    with pytest.raises(ValueError, match="timezone-aware"):
        susar_clocks([SafetyInformation(datetime(2026, 3, 2), FATAL)], tz=UTC, now=aware)


def test_a_report_sent_before_the_follow_up_was_recorded_does_not_stop_its_clock():
    """The site knew on 6 March, the follow-up was entered on 8 March: a report of 7 March could not carry it."""
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    follow_up = SafetyInformation(datetime(2026, 3, 6, 9, 0, tzinfo=UTC), FATAL, datetime(2026, 3, 8, 9, 0, tzinfo=UTC))
    report = datetime(2026, 3, 7, 9, 0, tzinfo=UTC)
    clocks = susar_clocks([SafetyInformation(aware, NON_FATAL), follow_up], tz=UTC, now=report, reports=[report])
    assert _kinds(clocks) == [
        ("initial", 15, "2026-03-17", "reported_on_time"),
        ("turned_fatal", 7, "2026-03-13", "running"),  # from the awareness of 6 March, still waiting
    ]
