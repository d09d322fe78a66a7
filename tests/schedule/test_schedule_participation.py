"""The rules for ending participation, in the pure core: every problem at once, named by field and rule."""

from datetime import date

from trialkit.schedule.participation import END_OUTCOMES, EndOfStudyVisit, end_problems

TODAY, ENROLLED = date(2026, 6, 15), date(2026, 2, 20)
MONTH12 = EndOfStudyVisit("month12", "Month 12", date(2026, 6, 1))


def _rules(outcome, ended_on, reason="", end_visit=MONTH12):
    day, errors = end_problems(outcome, ended_on, reason, today=TODAY, enrolled_on=ENROLLED, end_visit=end_visit)
    return day, [(e.item, e.rule) for e in errors]


def test_the_four_outcomes_are_the_sdtm_disposition_events():
    assert list(END_OUTCOMES) == ["completed", "withdrawn", "lost_to_follow_up", "died"]


def test_a_valid_end_gives_its_date_and_no_problem():
    assert _rules("withdrawn", "2026-06-10", "Withdrew consent") == (date(2026, 6, 10), [])
    assert _rules("completed", date(2026, 6, 1)) == (date(2026, 6, 1), [])


def test_every_problem_is_named_at_once():
    assert _rules("moved_away", "2026-07-01")[1] == [("outcome", "choice"), ("ended_on", "range")]
    assert _rules("died", "", "")[1] == [("ended_on", "required"), ("reason", "required")]
    assert _rules("lost_to_follow_up", "15/06/2026", "No contact")[1] == [("ended_on", "type")]
    assert _rules("withdrawn", "2026-02-19", "Withdrew")[1] == [("ended_on", "range")]  # before enrollment


def test_completion_needs_the_end_of_study_visit_held_and_not_before_it():
    assert _rules("completed", "2026-06-10", end_visit=None)[1] == [("outcome", "end_of_study_visit")]
    not_held = EndOfStudyVisit("month12", "Month 12", None)
    assert _rules("completed", "2026-06-10", end_visit=not_held)[1] == [("outcome", "end_of_study_visit")]
    assert _rules("completed", "2026-05-31")[1] == [("ended_on", "range")]
