"""A rule that declares the items it reads (``Rule.reads``) decides on those items alone: screening a
population remembers its outcome per combination of them, so a rule that looked at another item
would be answered wrongly. Every declared rule is checked on pairs of forms that agree on its items
and differ elsewhere, and on each form cut down to its items."""

from __future__ import annotations

import random

import pytest

from trialkit.instruments import list_instruments

DECLARED = [(i, r) for i in list_instruments() for r in i.rules if r.reads is not None]


def test_some_rule_declares_its_items():
    assert any(i.name == "nihss" and r.name == "ataxia_paralysis" for i, r in DECLARED)


@pytest.mark.parametrize(("instrument", "rule"), DECLARED, ids=[f"{i.name}-{r.name}" for i, r in DECLARED])
def test_a_declared_rule_decides_on_the_items_it_reads(instrument, rule):
    rng = random.Random(22)
    scored = [item for item in instrument.items if item.allowed_values]

    def form():  # most items present (a rule across items needs them), any allowed value
        return {item.key: rng.choice(list(item.allowed_values)) for item in scored if rng.random() < 0.9}

    fired = 0
    for _ in range(5000):
        first, second = form(), form()
        for key in rule.reads:  # the second form takes the first one's read items, present or absent
            second.pop(key, None)
            if key in first:
                second[key] = first[key]
        outcome = bool(rule.check(first))
        fired += outcome
        assert outcome == bool(rule.check(second)), (first, second)
        assert outcome == bool(rule.check({k: v for k, v in first.items() if k in rule.reads})), first
    assert fired > 50  # the forms do break the rule, often
