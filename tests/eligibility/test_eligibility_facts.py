"""The screening facts record: validation naming the field, missing data never passing, cross-trial."""

from __future__ import annotations

import pytest
from eligibility_helpers import ASSIST, DELETE, IXCELL, example, merged, screen_record

from trialkit.eligibility import FactsError, facts_schema, parse_facts


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"labs.ast": {"value": 30, "unit": "kg", "uln": 40}}, "labs.ast.unit"),
        ({"labs.troponin": {"value": 1, "unit": "U/L"}}, "labs.troponin"),
        ({"nihss.1a": 7}, "nihss.1a"),
        ({"premorbid_mrs": 6}, "premorbid_mrs"),
        ({"stroke.type": "lacunar"}, "stroke.type"),
        ({"serology.hiv": "maybe"}, "serology.hiv"),
        ({"birth_date": "2026-01-01"}, ""),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_names_the_field(change, path):
    with pytest.raises(FactsError) as caught:
        parse_facts(merged(example("assist-eligible"), change))
    assert path in [p for p, _ in caught.value.errors]
    assert caught.value.record_id == "AS-01-001"
    assert "record AS-01-001" in str(caught.value)


def test_lab_aliases_and_unit_spellings_are_read():
    facts = parse_facts({"labs": {"tsb": {"value": 17.104, "unit": "μmol/L", "uln": 1.2, "uln_unit": "mg/dL"}}})
    assert list(facts.labs) == ["bilirubin"]


def test_attestation_may_be_a_bare_answer_or_signed():
    facts = parse_facts({"attestations": {"a": True, "b": {"answer": False, "by": "Dr. Li", "at": "2025-01-02"}}})
    assert facts.attestation("a").answer is True and facts.attestation("a").by is None
    assert facts.attestation("b").by == "Dr. Li"
    assert facts.attestation("c") is None


def test_facts_schema_documents_the_record():
    schema = facts_schema()
    for key in (
        "screening_date",
        "birth_date",
        "age",
        "sex",
        "stroke",
        "nihss",
        "premorbid_mrs",
        "labs",
        "serology",
        "conditions",
        "medications",
        "pregnant",
        "lactating",
        "attestations",
    ):
        assert key in schema["properties"], key
    assert "class" in schema["$defs"]["Medication"]["properties"]


@pytest.mark.parametrize("nct", [ASSIST, IXCELL])
def test_an_empty_record_leaves_every_criterion_unknown(nct):
    result = screen_record(nct, {"screening_date": "2025-03-03"})
    assert {c.status for c in result.criteria} == {"unknown"}
    assert result.verdict == "incomplete"
    assert all(c.missing for c in result.criteria)


@pytest.mark.parametrize(("nct", "name"), [(ASSIST, "assist-eligible"), (IXCELL, "ixcell-eligible")])
def test_removing_any_fact_never_makes_a_pass_out_of_nothing(nct, name):
    base = example(name)
    for key in base:
        if key in {"id", "screening_date"}:
            continue
        result = screen_record(nct, merged(base, {key: DELETE}))
        assert result.verdict in {"eligible", "incomplete"}, key
        assert "fail" not in {c.status for c in result.criteria}, key


def test_ixcell_facts_screened_against_assist():
    result = screen_record(ASSIST, example("ixcell-eligible"))
    assert result.verdict == "ineligible"
    assert [c.id for c in result.failed] == ["inc-stroke-over-6-months"]
    assert result.criterion("inc-stroke-over-6-months").reason == (
        "onset 2025-02-01, 1 month 2 days before screening, needs more than 6 months"
    )
    # What ASSIST asks that IxCell does not: labs, serology, allergies, attestations.
    assert "labs.ast" in result.missing and "serology.hiv" in result.missing and "allergies" in result.missing


def test_assist_facts_screened_against_ixcell():
    result = screen_record(IXCELL, example("assist-eligible"))
    assert result.verdict == "ineligible"
    assert [c.id for c in result.failed] == ["inc-days-since-stroke"]
    assert "day 297 after onset, needs 14–90" in result.criterion("inc-days-since-stroke").reason
    assert result.missing == ["attestations.exc-neuro-psychiatric"]
