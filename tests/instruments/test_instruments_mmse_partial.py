"""MMSE partial question-level entry: the domain must be reachable from the questions entered.

Reference: for every way of entering some of a domain's questions, every domain score that some
completion of the missing questions (each 0 or 1, Folstein 1975) would sum to is accepted, and
every other score in the domain's range is rejected. The completions are enumerated by brute
force, independently of the rule in the instrument.
"""

from __future__ import annotations

import itertools

import pytest

from trialkit.instruments import get_instrument

MMSE = get_instrument("mmse")
MAXIMA = {
    "orientation_time": 5,
    "orientation_place": 5,
    "registration": 3,
    "attention": 5,
    "recall": 3,
    "naming": 2,
    "repetition": 1,
    "command": 3,
    "reading": 1,
    "writing": 1,
    "copying": 1,
}
DOMAINS_WITH_QUESTIONS = ["orientation_time", "orientation_place", "naming", "command"]


def _errors_for(domain: str, entered: dict[str, int], score: int) -> list:
    form = {**MAXIMA, domain: score, **entered}
    return [e for e in MMSE.validate(form) if e.item == domain]


@pytest.mark.parametrize("domain", DOMAINS_WITH_QUESTIONS)
def test_a_domain_with_some_questions_entered_accepts_exactly_the_reachable_scores(domain):
    questions = [q.key for q in MMSE.components(domain)]
    checked = 0
    for k in range(1, len(questions)):  # partial entry: at least one question, not all
        for subset in itertools.combinations(questions, k):
            for answers in itertools.product([0, 1], repeat=k):
                entered = dict(zip(subset, answers))
                missing = [q for q in questions if q not in entered]
                reachable = {sum(answers) + sum(rest) for rest in itertools.product([0, 1], repeat=len(missing))}
                for score in range(MAXIMA[domain] + 1):
                    errors = _errors_for(domain, entered, score)
                    assert (not errors) == (score in reachable), (domain, entered, score, errors)
                    checked += 1
    assert checked > 0


def test_a_domain_below_the_entered_questions_is_rejected_with_the_bounds_named():
    errors = _errors_for("orientation_time", {"orientation_time_year": 1, "orientation_time_month": 1}, 1)
    assert [(e.item, e.value, e.rule) for e in errors] == [("orientation_time", 1, "components")]
    assert "(2)" in errors[0].message and "(5)" in errors[0].message
    assert "orientation_time_season" in errors[0].message


def test_a_domain_above_what_the_missing_questions_can_add_is_rejected():
    # Naming: the pencil scored 0, the watch not entered: the domain can be 0 or 1, never 2.
    assert _errors_for("naming", {"naming_pencil": 0}, 2)[0].rule == "components"
    assert _errors_for("naming", {"naming_pencil": 0}, 1) == []


def test_partial_entry_is_checked_in_a_draft_too():
    form = {"command": 0, "command_take": 1}
    assert [(e.item, e.rule) for e in MMSE.validate(form, partial=True)] == [("command", "components")]
