"""The public pre-screener: a person's plain answers, turned into screening facts and screened by ``screen()``.

The questions come from the protocol (``prescreen.questions``: each maps a plain question to a
screening fact), so a new trial needs a protocol section, not code. The verdict is never
"eligible": a pre-screen can only say that nothing answered rules the person out ("may be
eligible", with what the site will check) or which criterion does ("not eligible because ...").
Nothing here stores anything; the shell stores answers only when the person asks to be contacted.

    result = prescreen(protocol, {"age": "64", "stroke-type": "ischemic"}, today=date(2026, 3, 1))
    result.outcome        # "may_be_eligible" | "not_eligible"
    result.reasons        # the failed criteria (CriterionResult)
    result.site_checks    # the criteria the answers cannot decide
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from trialkit.eligibility.screening import CriterionResult, ScreeningResult, screen

if TYPE_CHECKING:
    from trialkit.protocol.schema import PrescreenQuestion, Protocol

Outcome = Literal["may_be_eligible", "not_eligible"]

MAX_ANSWER_LENGTH = 100
YES, NO = "yes", "no"


class PrescreenError(ValueError):
    """Answers that cannot be read; ``errors`` lists (question id, rule, message)."""

    def __init__(self, errors: list[tuple[str, str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{qid}: {message}" for qid, _rule, message in errors))


@dataclass(frozen=True)
class PrescreenResult:
    outcome: Outcome
    answers: dict[str, str]  # question id -> the answer as given (blank answers left out)
    facts: dict[str, Any]  # the screening facts the answers give
    screening: ScreeningResult
    reasons: list[CriterionResult] = field(default_factory=list)
    site_checks: list[CriterionResult] = field(default_factory=list)


def questions(protocol: Protocol) -> list[PrescreenQuestion]:
    return list(protocol.prescreen.questions) if protocol.prescreen else []


def read_answers(protocol: Protocol, raw: Mapping[str, Any], today: date) -> tuple[dict[str, str], dict[str, Any]]:
    """(answers kept, facts) from the submitted answers by question id; PrescreenError names each bad one.

    A blank answer is "I don't know": its fact stays absent and the criteria needing it stay unknown,
    never a default."""
    answers: dict[str, str] = {}
    facts: dict[str, Any] = {"screening_date": today}
    errors: list[tuple[str, str, str]] = []
    for question in questions(protocol):
        given = raw.get(question.id)
        if given is None:
            continue
        if not isinstance(given, str):
            errors.append((question.id, "type", "must be text"))
            continue
        text = given.strip()
        if not text:
            continue
        if "\x00" in text:
            errors.append((question.id, "null_characters", "must not contain NUL characters"))
            continue
        if len(text) > MAX_ANSWER_LENGTH:
            errors.append((question.id, "max_length", f"must be at most {MAX_ANSWER_LENGTH} characters"))
            continue
        try:
            value = _value(question, text, today)
        except ValueError as exc:
            errors.append((question.id, _rule_of(question), str(exc)))
            continue
        answers[question.id] = text
        if question.fact is not None:
            _put(facts, question.fact, value)
    if errors:
        raise PrescreenError(errors)
    return answers, facts


def prescreen(protocol: Protocol, raw: Mapping[str, Any], today: date) -> PrescreenResult:
    """Screen the answers with the trial's criteria (``screen()``, the coordinator's own core)."""
    answers, facts = read_answers(protocol, raw, today)
    result = screen(protocol, facts, today=today)
    failed = result.failed
    return PrescreenResult(
        outcome="not_eligible" if failed else "may_be_eligible",
        answers=answers,
        facts=facts,
        screening=result,
        reasons=failed,
        site_checks=result.unknown,
    )


def facts_for_record(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The facts as a screening record takes them (JSON: dates as ISO text, no screening date,
    which is the record's own)."""
    out: dict[str, Any] = {}
    for key, value in facts.items():
        if key == "screening_date":
            continue
        if isinstance(value, Mapping):
            out[key] = facts_for_record(value)
        elif isinstance(value, date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


def _rule_of(question: PrescreenQuestion) -> str:
    return {"number": "integer_range", "choice": "choice", "date": "date", "yes_no": "yes_no"}[question.kind]


def _value(question: PrescreenQuestion, text: str, today: date) -> Any:
    if question.kind == "number":
        try:
            number = int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
        low = question.min if question.min is not None else 0
        high = question.max if question.max is not None else 130
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number
    if question.kind == "choice":
        for choice in question.choices:
            if str(choice.value) == text:
                return choice.value
        raise ValueError("must be one of the choices: " + ", ".join(str(c.value) for c in question.choices))
    if question.kind == "date":
        try:
            when = date.fromisoformat(text)
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD)") from None
        if when > today:
            raise ValueError("must not be in the future")
        if when.year < 1900:
            raise ValueError("must be after 1900")
        return when
    if text not in (YES, NO):
        raise ValueError("must be yes or no")
    return text == YES


def _put(facts: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    target = facts
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value
