"""Eligibility that changes with the calendar: re-checked on the day of randomization and of infusion.

Screening judges a patient on the screening date. Some criteria are about time, so the same facts can
pass on that day and fail a week later: a 70-year-old turns 71, "14 to 90 days after stroke" runs
out on day 91, an event "within 12 months" recedes. ``recheck`` evaluates only those criteria again,
from the stored facts, on a new date (the other criteria read facts that the calendar does not
change), and the protocol's ``eligibility.timing.max_days_screening_to_infusion`` bounds how old the
screening itself, with its laboratory values and scores, may be when the dose is given.

    from trialkit.eligibility.timing import recheck
    result = recheck(protocol, facts, screening_date=date(2025, 3, 1), on=date(2025, 3, 9), step="infusion")
    result.ok                    # False
    result.refusal()             # "not eligible on 2025-03-09 (infusion): inc-days-since-stroke ..."

Time-dependent rule kinds: ``age``, ``days_since``, ``months_since`` and ``condition`` with
``within_months``; a criterion is re-checked when its rule contains one of them anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from trialkit.eligibility.facts import ScreeningFacts, completed_years, parse_facts
from trialkit.eligibility.rules import Rule
from trialkit.eligibility.screening import CriterionResult, screen_criterion

if TYPE_CHECKING:  # the protocol schema imports the rule language, not the other way round
    from trialkit.protocol import Criterion, Protocol

Step = Literal["randomization", "infusion"]

# The id a refusal gives the screening-age bound, which is the protocol's, not a criterion's.
SCREENING_WINDOW = "screening-to-infusion"


def is_time_dependent(rule: Rule | None) -> bool:
    """Whether the rule's truth can change with the date alone (the facts unchanged)."""
    if rule is None:
        return False
    kind = rule.kind
    if kind in ("age", "days_since", "months_since"):
        return True
    if kind == "condition":
        return rule.condition is not None and rule.condition.within_months is not None
    if kind in ("all_of", "any_of"):
        return any(is_time_dependent(part) for part in getattr(rule, kind) or [])
    if kind == "unless":
        return is_time_dependent(rule.unless) or is_time_dependent(rule.then)
    return False


def time_dependent_criteria(protocol: Protocol) -> list[Criterion]:
    return [c for c in protocol.eligibility.criteria if is_time_dependent(c.rule)]


@dataclass(frozen=True)
class Problem:
    """One reason the patient may not go on: a criterion (or the screening window) and why."""

    criterion_id: str
    status: str  # "fail" or "unknown"
    reason: str

    def text(self) -> str:
        verb = "fails" if self.status == "fail" else "cannot be confirmed"
        return f"{self.criterion_id} {verb}: {self.reason}"


@dataclass(frozen=True)
class RecheckResult:
    on: date
    step: Step
    screening_date: date
    criteria: list[CriterionResult] = field(default_factory=list)  # the time-dependent ones, on ``on``
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def refusal(self) -> str:
        """The message a person reads, naming each criterion at fault; empty when ``ok``."""
        if self.ok:
            return ""
        listed = "; ".join(p.text() for p in self.problems)
        return (
            f"not eligible on {self.on.isoformat()} ({self.step}; screened {self.screening_date.isoformat()}): {listed}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat(),
            "step": self.step,
            "screening_date": self.screening_date.isoformat(),
            "ok": self.ok,
            "criteria": [c.as_dict() for c in self.criteria],
            "problems": [{"criterion": p.criterion_id, "status": p.status, "reason": p.reason} for p in self.problems],
        }


def recheck(
    protocol: Protocol, facts: dict[str, Any] | ScreeningFacts, *, screening_date: date, on: date, step: Step
) -> RecheckResult:
    """Re-evaluate the time-dependent criteria of ``protocol`` on ``on`` from the screening facts.

    ``screening_date`` is the day the facts describe (the record's; a ``screening_date`` inside the
    facts must agree). A criterion that fails on ``on``, or passed on the screening day and can no
    longer be confirmed on ``on``, is a problem, and so is a screening older than the protocol's ``max_days_screening_to_infusion`` (at
    randomization too: the infusion cannot come earlier than randomization, so a screening too old
    on the day of randomization is too old for the infusion).
    """
    # Stored facts were checked against the vocabulary when entered; parsed without it here, a name
    # the protocol no longer lists leaves its condition criteria unknown (never a pass), not a crash.
    parsed = (
        facts
        if isinstance(facts, ScreeningFacts)
        else parse_facts({k: v for k, v in facts.items() if k not in ("nihss_total", "age")} | _age_only(facts))
    )
    if parsed.screening_date is not None and parsed.screening_date != screening_date:
        raise ValueError(f"facts say screening_date {parsed.screening_date}, the record {screening_date}")
    if on < screening_date:
        raise ValueError(f"{step} on {on} is before the screening on {screening_date}")
    problems: list[Problem] = []
    timing = protocol.eligibility.timing
    elapsed = (on - screening_date).days
    if timing is not None and timing.max_days_screening_to_infusion is not None:
        limit = timing.max_days_screening_to_infusion
        if elapsed > limit:
            problems.append(
                Problem(
                    SCREENING_WINDOW,
                    "fail",
                    (
                        f"screened {elapsed} days before, the protocol allows at most {limit} days from screening to "
                        "infusion; screen the patient again"
                    ),
                )
            )
    results = []
    for criterion in time_dependent_criteria(protocol):
        now = _recheck_criterion(protocol, criterion, parsed, screening_date, on)
        results.append(now)
        if now.status == "fail":
            problems.append(Problem(now.id, now.status, now.reason))
        elif now.status == "unknown":
            # Unknown now but passed on the screening day: the date made it undecidable (an age
            # without a birth date). Unknown on both days is a criterion the stored facts never
            # decided; screening's own verdict (eligible only when every criterion passes) governs
            # that, not this re-check.
            then = screen_criterion(criterion, parsed, screening_date, protocol.condition_vocabulary)
            if then.status == "pass":
                problems.append(Problem(now.id, now.status, now.reason))
    return RecheckResult(on=on, step=step, screening_date=screening_date, criteria=results, problems=problems)


def _age_only(facts: dict[str, Any]) -> dict[str, Any]:
    # ``age`` is kept only when no birth date is recorded: the shell derives ``age`` from the birth
    # date at the screening date, which must not stand for the age on a later day.
    if facts.get("birth_date") is None and facts.get("age") is not None:
        return {"age": facts["age"]}
    return {}


def _recheck_criterion(
    protocol: Protocol, criterion: Criterion, facts: ScreeningFacts, screening_date: date, on: date
) -> CriterionResult:
    vocabulary = protocol.condition_vocabulary
    if facts.birth_date is not None or facts.age is None or on == screening_date:
        return screen_criterion(criterion, facts, on, vocabulary)
    # Only the age in completed years at screening is known: on ``on`` the patient is that age plus
    # the whole years since screening, or one more if a birthday fell in between. Both are tried; if
    # they disagree the criterion is unknown (needs the birth date), never a pass.
    years = completed_years(screening_date, on)
    low = screen_criterion(criterion, facts.model_copy(update={"age": facts.age + years}), on, vocabulary)
    high = screen_criterion(criterion, facts.model_copy(update={"age": facts.age + years + 1}), on, vocabulary)
    if low.status == high.status:
        return low
    return low.model_copy(
        update={
            "status": "unknown",
            "reason": (
                f"age {facts.age} at screening on {screening_date.isoformat()} with no birth date: on "
                f"{on.isoformat()} the patient is {facts.age + years} or {facts.age + years + 1}, which "
                f"decide differently ({low.reason} / {high.reason}); record the birth date"
            ),
            "missing": ["birth_date"],
        }
    )
