"""Facts derived from a screening record for the steps after screening (stratification, analysis).

Screening stores what was entered: the NIHSS items and the date of birth. Stratification factors and
the analysis read ``nihss_total`` and ``age`` (protocol schema, StratificationFactor.source); both are
computed here with the eligibility core's own rules, so every step sees the same numbers.
"""

from __future__ import annotations

import contextlib
from datetime import date
from typing import Any

from trialkit.eligibility.facts import completed_years
from trialkit.eligibility.measures import nihss_partial


def derived_facts(record) -> dict[str, Any]:
    """The screening facts plus ``nihss_total`` and ``age`` (at the screening date) where they can be computed."""
    facts = dict(record.facts or {})
    items = facts.get("nihss")
    if "nihss_total" not in facts and isinstance(items, dict) and items:
        total = nihss_partial(items).total
        if total is not None:
            facts["nihss_total"] = total
    if facts.get("age") is None and facts.get("birth_date"):
        with contextlib.suppress(ValueError):  # an unreadable birth date leaves age unknown, never guessed
            facts["age"] = completed_years(date.fromisoformat(str(facts["birth_date"])), record.screening_date)
    return facts
