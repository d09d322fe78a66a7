"""The rule language: checked when a protocol loads, with the path of a bad rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from eligibility_helpers import ASSIST, IXCELL, ROOT

from trialkit.eligibility import Rule
from trialkit.protocol import ProtocolError, load_protocol, parse_protocol

SEEDS = Path("/work/shared/seeds")


def test_both_protocols_load_with_rules_where_facts_decide():
    assist, ixcell = load_protocol(ASSIST), load_protocol(IXCELL)
    attested = {c.id for c in assist.eligibility.criteria if c.rule is None}
    assert attested == {
        "inc-imaging",
        "inc-severe-impairment",
        "inc-no-improvement",
        "inc-life-expectancy",
        "inc-secondary-prevention",
        "inc-consent",
        "inc-follow-up",
        "exc-other-safety-risk",
    }
    assert [c.id for c in ixcell.eligibility.criteria if c.rule is None] == ["inc-consent"]
    assert len(assist.eligibility.criteria) == 23 and len(ixcell.eligibility.criteria) == 10


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seed registry pages not present")
@pytest.mark.parametrize(("nct", "page"), [(ASSIST, "NCT04590118-ASSIST.txt"), (IXCELL, "NCT07197606-IxCell.txt")])
def test_criterion_texts_stay_verbatim(nct, page):
    text = (SEEDS / page).read_text(encoding="utf-8")
    for criterion in load_protocol(nct).eligibility.criteria:
        assert criterion.text in text, criterion.id


def _with_rule(rule_yaml: str) -> str:
    data = yaml.safe_load((ROOT / "protocols" / f"{IXCELL}.yaml").read_text(encoding="utf-8"))
    data["eligibility"]["criteria"][3]["rule"] = yaml.safe_load(rule_yaml)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ("{nihss_totl: {min: 6}}", "eligibility.criteria[3].rule.nihss_totl", "Extra inputs are not permitted"),
        ("{nihss_item: {item: 12, max: 1}}", "eligibility.criteria[3].rule.nihss_item", "unknown NIHSS item '12'"),
        (
            "{all_of: [{lab: {analyte: albumin, min: 3.0, unit: mg}}]}",
            "eligibility.criteria[3].rule.all_of[0].lab",
            "unknown unit 'mg'",
        ),
        ("{lab: {analyte: troponin, max_uln: 1}}", "eligibility.criteria[3].rule.lab", "unknown analyte 'troponin'"),
        ("{age: {min: 80, max: 70}}", "eligibility.criteria[3].rule.age", "no value can satisfy"),
        (
            "{fact: {path: stroke.side, in: [left]}}",
            "eligibility.criteria[3].rule.fact.path",
            "stroke has no fact 'side'",
        ),
        ("{age: {min: 18}, fact: {path: sex, in: [male]}}", "eligibility.criteria[3].rule", "exactly one of"),
        ("{unless: {medication_class: antithrombotic}}", "eligibility.criteria[3].rule", "go together"),
    ],
)
def test_a_bad_rule_is_reported_with_its_path(rule, path, message):
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(_with_rule(rule), "ixcell.yaml")
    issues = [(i.path, i.message) for i in caught.value.issues]
    assert any(p == path and message in m for p, m in issues), issues


def test_no_rule_text_is_executed():
    # A Python expression is just an unknown key or a wrong type, never evaluated.
    with pytest.raises(ProtocolError):
        parse_protocol(_with_rule("{fact: {path: \"__import__('os').system('true')\", in: [1]}}"))


def test_rule_language_in_the_docs_parses():
    """Every YAML rule example in docs/eligibility.md is a valid rule."""
    doc = (ROOT / "docs" / "eligibility.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)
    checked = 0
    for block in blocks:
        data = yaml.safe_load(block)
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict) and "rule" in item and item["rule"] is not None:
                Rule.model_validate(item["rule"])
                checked += 1
    assert checked >= 5


def test_the_docs_show_the_protocols_rules():
    """The trial examples in docs/eligibility.md are the rules the protocol files carry."""
    doc = (ROOT / "docs" / "eligibility.md").read_text(encoding="utf-8")
    shown = {}
    for block in re.findall(r"```yaml\n(.*?)```", doc, flags=re.S):
        section = doc[: doc.index(block)].rsplit("## ", 1)[-1]
        nct = ASSIST if section.startswith("ASSIST") else IXCELL
        for item in yaml.safe_load(block):
            shown[(nct, item["id"])] = item["rule"]
    for (nct, criterion_id), rule in shown.items():
        criterion = next(c for c in load_protocol(nct).eligibility.criteria if c.id == criterion_id)
        expected = None if criterion.rule is None else criterion.rule.model_dump(exclude_none=True, by_alias=True)
        given = None if rule is None else Rule.model_validate(rule).model_dump(exclude_none=True, by_alias=True)
        assert given == expected, criterion_id


def test_every_rule_kind_has_an_evaluator_and_a_field():
    """A rule kind added to the language without an evaluator (or a field on Rule) fails here, not at screening."""
    from trialkit.eligibility import evaluate
    from trialkit.eligibility.rules import RULE_KINDS

    assert set(evaluate._EVALUATORS) == set(RULE_KINDS)
    assert all(callable(evaluator) for evaluator in evaluate._EVALUATORS.values())
    # Every field of Rule is a kind, except 'then', which belongs to 'unless'.
    assert set(Rule.model_fields) - {"then"} == set(RULE_KINDS)
