"""Window arithmetic and visit statuses, at every boundary (pure core, no database)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialkit.protocol import load_protocol
from trialkit.schedule import (
    PlannedVisit,
    VisitStatus,
    due_in_week,
    plan_visits,
    sae_clock,
    visit_status,
    week_of,
)

D = timedelta(days=1)


@pytest.fixture(scope="module")
def ixcell():
    return load_protocol("NCT07197606").schedule


def test_ixcell_visits_fall_on_the_calendar_days_of_the_protocol(ixcell):
    """Targets are anchor + day; windows [target - before, target + after] (protocol YAML, hand-counted)."""
    planned = {p.visit_id: p for p in plan_visits(ixcell, date(2026, 3, 2))}
    assert list(planned) == ["screening", "baseline", "day7", "month1", "month3", "month6", "month12"]
    # A screening window reaches day 0: screening on the day of the infusion is in window.
    assert (planned["screening"].target, planned["screening"].earliest, planned["screening"].latest) == (
        date(2026, 2, 23),
        date(2026, 2, 16),
        date(2026, 3, 2),
    )
    assert planned["baseline"].earliest == planned["baseline"].target == planned["baseline"].latest == date(2026, 3, 2)
    assert (planned["day7"].earliest, planned["day7"].target, planned["day7"].latest) == (
        date(2026, 3, 7),
        date(2026, 3, 9),
        date(2026, 3, 11),
    )
    # Day 30 from 2 March 2026 is 1 April; 2026 is not a leap year.
    assert (planned["month1"].earliest, planned["month1"].target, planned["month1"].latest) == (
        date(2026, 3, 25),
        date(2026, 4, 1),
        date(2026, 4, 8),
    )
    assert planned["month3"].target == date(2026, 5, 31)
    assert planned["month6"].target == date(2026, 8, 29)
    # Day 365 lands on the same calendar date a year later when no 29 February intervenes.
    assert (planned["month12"].earliest, planned["month12"].target, planned["month12"].latest) == (
        date(2027, 1, 31),
        date(2027, 3, 2),
        date(2027, 4, 1),
    )
    assert "fma_ue" in planned["month3"].forms


def test_day_365_across_a_leap_day_lands_one_date_earlier(ixcell):
    """2028 is a leap year: 1 March 2027 + 365 days = 29 February 2028 (366-day span to 1 March)."""
    month12 = plan_visits(ixcell, date(2027, 3, 1))[-1]
    assert month12.target == date(2028, 2, 29)


def test_a_datetime_anchor_counts_as_its_date(ixcell):
    at = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert plan_visits(ixcell, at)[1].target == date(2026, 3, 2)


def test_a_missing_anchor_is_refused(ixcell):
    with pytest.raises(TypeError, match="anchor_date"):
        plan_visits(ixcell, None)


def _visit(before=2, after=3):
    target = date(2026, 5, 10)
    return PlannedVisit("v", "V", "follow_up", 10, target, target - before * D, target + after * D, ())


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 5, 7), VisitStatus.UPCOMING),  # earliest - 1
        (date(2026, 5, 8), VisitStatus.IN_WINDOW),  # earliest: window opens
        (date(2026, 5, 10), VisitStatus.IN_WINDOW),  # target
        (date(2026, 5, 11), VisitStatus.IN_WINDOW),  # target + 1: past target, the window is still open
        (date(2026, 5, 13), VisitStatus.IN_WINDOW),  # latest: last day of the window
        (date(2026, 5, 14), VisitStatus.MISSED),  # latest + 1
    ],
)
def test_status_of_a_visit_not_done_at_each_boundary(today, expected):
    assert visit_status(_visit(), None, today) is expected


@pytest.mark.parametrize(
    ("done_on", "expected"),
    [
        (date(2026, 5, 7), VisitStatus.OUT_OF_WINDOW),
        (date(2026, 5, 8), VisitStatus.DONE),
        (date(2026, 5, 10), VisitStatus.DONE),
        (date(2026, 5, 13), VisitStatus.DONE),
        (date(2026, 5, 14), VisitStatus.OUT_OF_WINDOW),
    ],
)
def test_status_of_a_visit_done_at_each_boundary(done_on, expected):
    # Once done, the date of the visit decides; today no longer matters.
    for today in (done_on, date(2030, 1, 1)):
        assert visit_status(_visit(), done_on, today) is expected


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 5, 9), VisitStatus.INCOMPLETE),  # held, a required form missing, window open
        (date(2026, 5, 13), VisitStatus.INCOMPLETE),  # last day of the window
        (date(2026, 5, 14), VisitStatus.OVERDUE),  # the window closed with a required form missing
    ],
)
def test_a_visit_held_is_done_only_when_its_required_forms_are_complete(today, expected):
    held = date(2026, 5, 9)
    assert visit_status(_visit(), held, today, forms_complete=False) is expected
    assert visit_status(_visit(), held, today, forms_complete=True) is VisitStatus.DONE


def test_event_driven_forms_are_not_required():
    from trialkit.schedule import required_forms

    assert required_forms(["vital_signs", "nihss", "adverse_event"]) == ["vital_signs", "nihss"]


def test_a_zero_width_window_is_in_window_on_its_day_only():
    v = _visit(0, 0)
    assert visit_status(v, None, v.target - D) is VisitStatus.UPCOMING
    assert visit_status(v, None, v.target) is VisitStatus.IN_WINDOW
    assert visit_status(v, None, v.target + D) is VisitStatus.MISSED
    assert visit_status(v, v.target + D, v.target + D) is VisitStatus.OUT_OF_WINDOW


@given(
    before=st.integers(0, 60),
    after=st.integers(0, 60),
    offset=st.integers(-200, 200),
    done=st.one_of(st.none(), st.integers(-200, 200)),
)
def test_status_rules_hold_for_any_window(before, after, offset, done):
    """Property: the status follows the definitions in trialkit.schedule's docstring exactly."""
    v = _visit(before, after)
    today = v.target + offset * D
    done_on = None if done is None else v.target + done * D
    status = visit_status(v, done_on, today)
    if done_on is not None:
        assert (status is VisitStatus.DONE) == (-before <= done <= after)
        assert status in (VisitStatus.DONE, VisitStatus.OUT_OF_WINDOW)
    elif offset < -before:
        assert status is VisitStatus.UPCOMING
    elif offset <= after:
        assert status is VisitStatus.IN_WINDOW
    else:
        assert status is VisitStatus.MISSED


@pytest.mark.parametrize(
    ("ended_on", "expected"),
    [
        (date(2026, 5, 1), VisitStatus.NOT_EXPECTED),  # ended before the window opened
        (date(2026, 5, 11), VisitStatus.NOT_EXPECTED),  # ended while the window was open
        (date(2026, 5, 13), VisitStatus.NOT_EXPECTED),  # ended on its last day
        (date(2026, 5, 14), VisitStatus.MISSED),  # ended the day after it closed: it was missed
    ],
)
def test_a_visit_not_done_is_not_expected_once_participation_ended_before_its_window_closed(ended_on, expected):
    # Window 8-13 May (_visit()); looked at long after, when it would otherwise be missed.
    assert visit_status(_visit(), None, date(2026, 9, 1), ended_on=ended_on) is expected


def test_a_visit_done_stays_done_after_participation_ends():
    assert visit_status(_visit(), date(2026, 5, 10), date(2026, 9, 1), ended_on=date(2026, 5, 9)) is VisitStatus.DONE
    assert (
        visit_status(_visit(), date(2026, 5, 14), date(2026, 9, 1), ended_on=date(2026, 5, 9))
        is VisitStatus.OUT_OF_WINDOW
    )


def test_an_ended_participant_has_nothing_due_this_week():
    today = date(2026, 5, 13)  # Wednesday; week 11-17 May
    open_window = PlannedVisit("v", "V", "follow_up", 0, date(2026, 5, 10), date(2026, 5, 8), date(2026, 5, 15), ())
    assert due_in_week(open_window, None, today)
    assert not due_in_week(open_window, None, today, ended_on=date(2026, 5, 12))


def test_week_runs_monday_to_sunday():
    assert week_of(date(2026, 5, 13)) == (date(2026, 5, 11), date(2026, 5, 17))  # a Wednesday
    assert week_of(date(2026, 5, 11)) == (date(2026, 5, 11), date(2026, 5, 17))
    assert week_of(date(2026, 5, 17)) == (date(2026, 5, 11), date(2026, 5, 17))


def test_due_this_week_includes_open_windows_and_windows_opening_by_sunday():
    today = date(2026, 5, 13)  # Wednesday; week 11-17 May
    window = lambda lo, hi: PlannedVisit("v", "V", "follow_up", 0, lo, lo, hi, ())  # noqa: E731
    assert due_in_week(window(date(2026, 5, 1), date(2026, 5, 13)), None, today)  # closes today
    assert not due_in_week(window(date(2026, 5, 1), date(2026, 5, 12)), None, today)  # closed yesterday
    assert due_in_week(window(date(2026, 5, 17), date(2026, 5, 20)), None, today)  # opens Sunday
    assert not due_in_week(window(date(2026, 5, 18), date(2026, 5, 20)), None, today)  # opens next week
    assert not due_in_week(window(date(2026, 5, 1), date(2026, 5, 20)), date(2026, 5, 12), today)  # done


def test_sae_clock_runs_24_hours_from_awareness():
    aware = datetime(2026, 5, 10, 9, 30, tzinfo=UTC)
    running = sae_clock(aware, None, aware + timedelta(hours=20, minutes=15))
    assert running.deadline == datetime(2026, 5, 11, 9, 30, tzinfo=UTC)
    assert running.state == "running" and running.remaining == timedelta(hours=3, minutes=45)
    assert running.describe() == "3 h 45 min left to report"
    at_deadline = sae_clock(aware, None, aware + timedelta(hours=24))
    assert at_deadline.state == "running" and at_deadline.remaining == timedelta(0)
    late = sae_clock(aware, None, aware + timedelta(hours=26, minutes=5))
    assert late.state == "overdue" and late.describe() == "report overdue by 2 h 05 min"
    on_time = sae_clock(aware, aware + timedelta(hours=24), aware + timedelta(days=9))
    assert on_time.state == "reported_on_time" and on_time.on_time
    reported_late = sae_clock(aware, aware + timedelta(hours=25), aware + timedelta(days=9))
    assert reported_late.state == "reported_late" and reported_late.describe() == "reported 1 h 00 min late"


def test_window_marks_name_the_days_of_a_window_within_a_month():
    from trialkit.schedule import window_marks

    june = (date(2026, 6, 1), date(2026, 6, 30))
    assert window_marks(date(2026, 6, 4), date(2026, 6, 18), date(2026, 7, 2), *june) == {
        date(2026, 6, 4): ["window opens"],
        date(2026, 6, 18): ["target day"],
    }
    # A window of one day: its three marks on that day, in order; nothing outside the month.
    one = date(2026, 6, 9)
    assert window_marks(one, one, one, *june) == {one: ["window opens", "target day", "window closes"]}
    assert window_marks(date(2026, 5, 1), date(2026, 5, 9), date(2026, 5, 20), *june) == {}


def test_a_visit_is_complete_when_every_required_form_is_and_carried_forms_are_reviewed():
    from trialkit.schedule import forms_complete

    forms = ["nihss", "fma", "adverse_event"]  # "fma" is entered as "fma_ue"; events are not required
    assert forms_complete(forms, {"nihss", "fma_ue"})
    assert not forms_complete(forms, {"nihss", "fma"})
    assert not forms_complete(forms, {"nihss"})
    assert forms_complete([], set())
    assert not forms_complete(forms, {"nihss", "fma_ue"}, carried_from="S-001")
    assert forms_complete(forms, {"nihss", "fma_ue"}, carried_from="S-001", carried_reviewed_at="2025-08-02")
