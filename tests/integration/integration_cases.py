"""Constants and screening facts shared by the integration tests (its own module name: conftest names collide)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
THIRD = "NCT09999999"
SCREENED_ON = date(2026, 3, 2)
NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def acute_facts(sex="female", nihss_total=9, **change):
    """A candidate meeting every computable criterion of the third trial (stroke the day before screening,
    so the "within 7 days of onset" criterion still holds when the test randomizes on the following days:
    it is re-checked on the day of randomization)."""
    items = {
        "1a": 0,
        "1b": 0,
        "1c": 0,
        "2": 0,
        "3": 0,
        "4": 0,
        "5a": 0,
        "5b": 0,
        "6a": 0,
        "6b": 0,
        "7": 0,
        "8": 0,
        "9": 0,
        "10": 0,
        "11": 0,
    }
    remaining = nihss_total
    for item, room in (("5a", 4), ("6a", 4), ("4", 3), ("9", 3), ("3", 3), ("10", 2), ("8", 2), ("11", 2)):
        add = min(room, remaining)
        items[item] = add
        remaining -= add
    assert remaining == 0
    facts = {
        "birth_date": "1961-05-20",
        "sex": sex,
        "stroke": {
            "type": "ischemic",
            "territory": "anterior",
            "onset_date": (SCREENED_ON - timedelta(days=1)).isoformat(),
        },
        "nihss": items,
        "premorbid_mrs": 1,
        "labs": {"platelets": {"value": 212, "unit": "10^9/L"}},
        "conditions": [{"name": "hypertension"}],
    }
    if sex == "female":
        facts["pregnant"] = False
    facts.update(change)
    return facts
