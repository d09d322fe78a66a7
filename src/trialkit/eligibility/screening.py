"""Screen one candidate against a protocol's criteria: pass, fail or unknown for each, and a verdict.

For every criterion, ``pass`` means the criterion does not stand in the patient's way: an inclusion
criterion is met, an exclusion criterion does not apply. So the verdict reads the same for both kinds:
``ineligible`` if any criterion fails, ``eligible`` if all pass, otherwise ``incomplete``.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from trialkit.eligibility.evaluate import Context, Truth, evaluate, signature
from trialkit.eligibility.facts import ScreeningFacts, parse_facts
from trialkit.eligibility.vocabulary import ConditionVocabulary

if TYPE_CHECKING:  # the protocol schema imports the rule language, not the other way round
    from trialkit.protocol import Criterion, Protocol

Status = Literal["pass", "fail", "unknown"]
Verdict = Literal["eligible", "ineligible", "incomplete"]


class CriterionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    type: Literal["inclusion", "exclusion"]
    text: str
    status: Status
    reason: str
    basis: Literal["rule", "attestation"]
    missing: list[str] = []  # facts that would resolve an unknown status

    def as_dict(self) -> dict[str, Any]:
        """The criterion as the CLI prints it."""
        return {"id": self.id, "type": self.type, "text": self.text, "status": self.status, "reason": self.reason}


class ScreeningResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    protocol: str
    record_id: str | None
    screening_date: date
    verdict: Verdict
    criteria: list[CriterionResult]
    missing: list[str]  # every fact that would resolve an unknown criterion, in criterion order

    @property
    def failed(self) -> list[CriterionResult]:
        return [c for c in self.criteria if c.status == "fail"]

    @property
    def unknown(self) -> list[CriterionResult]:
        return [c for c in self.criteria if c.status == "unknown"]

    def criterion(self, criterion_id: str) -> CriterionResult:
        for result in self.criteria:
            if result.id == criterion_id:
                return result
        raise KeyError(criterion_id)

    def as_dict(self) -> dict[str, Any]:
        """One entry of the CLI's ``results`` list."""
        return {
            "id": self.record_id,
            "verdict": self.verdict,
            "criteria": [c.as_dict() for c in self.criteria],
            "missing": self.missing,
        }


def screen(protocol: Protocol, facts: dict[str, Any] | ScreeningFacts, today: date | None = None) -> ScreeningResult:
    """Screen a facts record (a dict is validated first, against the trial's condition vocabulary
    too; FactsError names a bad field).

    The record's ``screening_date`` is the day the rules count from; ``today`` (default: the system
    date) stands in when the record has none.
    """
    vocabulary = protocol.condition_vocabulary
    # A dict is checked against the trial's condition vocabulary (an unknown name is refused); parsed
    # facts are taken as they are, and a condition name outside the vocabulary leaves the condition
    # criteria unknown.
    parsed = facts if isinstance(facts, ScreeningFacts) else parse_facts(facts, vocabulary)
    on = parsed.screening_date or today or date.today()
    cache: dict[str, Any] = {}  # one record's: the NIHSS is scored once, whatever the number of criteria
    results = [
        screen_criterion(criterion, parsed, on, vocabulary, cache) for criterion in protocol.eligibility.criteria
    ]
    return ScreeningResult(
        protocol=protocol.id,
        record_id=parsed.id,
        screening_date=on,
        verdict=verdict_of([r.status for r in results]),
        criteria=results,
        missing=_unique(m for r in results if r.status == "unknown" for m in r.missing),
    )


def verdict_of(statuses: list[Status]) -> Verdict:
    if "fail" in statuses:
        return "ineligible"
    if all(status == "pass" for status in statuses):
        return "eligible"
    return "incomplete"


def screen_criterion(
    criterion: Criterion,
    facts: ScreeningFacts,
    on: date,
    vocabulary: ConditionVocabulary | None = None,
    cache: dict[str, Any] | None = None,
) -> CriterionResult:
    ctx = Context(
        facts=facts, on=on, criterion_id=criterion.id, vocabulary=vocabulary, cache={} if cache is None else cache
    )
    if criterion.rule is None:
        truth = _attestation_only(criterion, ctx)
        basis: Literal["rule", "attestation"] = "attestation"
    else:
        truth = evaluate(criterion.rule, ctx)
        basis = "rule"
    return CriterionResult(
        id=criterion.id,
        type=criterion.type,
        text=criterion.text,
        status=status_of(criterion.type, truth.holds),
        reason=truth.reason,
        basis=basis,
        missing=list(truth.missing) if truth.holds is None else [],
    )


def status_of(criterion_type: str, holds: bool | None) -> Status:
    """A rule states the criterion as written, so an exclusion that holds is a fail."""
    if holds is None:
        return "unknown"
    if criterion_type == "inclusion":
        return "pass" if holds else "fail"
    return "fail" if holds else "pass"


def _attestation_only(criterion: Criterion, ctx: Context) -> Truth:
    # The attestation answers the criterion as written, on the checklist convention: inclusion
    # criteria are answered "yes" (met), exclusion criteria "no" (does not apply).
    answer = ctx.facts.attestation(criterion.id)
    if answer is None:
        ask = (
            "true if the patient meets it"
            if criterion.type == "inclusion"
            else "true if it applies to the patient, which excludes; false if not"
        )
        return Truth(None, f"needs investigator attestation ({ask})", (f"attestations.{criterion.id}",))
    if criterion.type == "inclusion":
        said = "criterion met" if answer.answer else "criterion not met"
    else:
        said = "applies, so excluded" if answer.answer else "does not apply"
    return Truth(answer.answer, f"investigator attests {said}{signature(answer)}")


def _unique(items: Any) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
