"""Eligibility screening: computable criteria, a screening facts record, and the verdict.

    from trialkit.eligibility import screen
    result = screen(protocol, {"birth_date": "1960-05-01", ...}, today=date(2025, 3, 1))
    result.verdict            # "eligible" | "ineligible" | "incomplete"
    result.criteria[0].reason # "age 64 ≥ 18"
    result.missing            # facts that would resolve the unknown criteria

The rule language is in ``trialkit.eligibility.rules`` and docs/eligibility.md.
"""

from trialkit.eligibility.facts import FactsError, ScreeningFacts, facts_schema, parse_facts
from trialkit.eligibility.rules import Rule
from trialkit.eligibility.screening import CriterionResult, ScreeningResult, screen, screen_criterion
from trialkit.eligibility.vocabulary import OTHER, ConditionVocabulary, normalize_name

__all__ = [
    "OTHER",
    "ConditionVocabulary",
    "CriterionResult",
    "FactsError",
    "Rule",
    "ScreeningFacts",
    "ScreeningResult",
    "facts_schema",
    "normalize_name",
    "parse_facts",
    "screen",
    "screen_criterion",
]
