"""The condition vocabulary: a condition name no rule would recognise is refused, never a silent pass."""

from __future__ import annotations

import re

import pytest
from eligibility_helpers import ASSIST, IXCELL, example, merged, screen_record

from trialkit.eligibility import FactsError, normalize_name, parse_facts, screen
from trialkit.eligibility.vocabulary import vocabulary_from
from trialkit.protocol import load_protocol


def history(*entries: dict) -> dict:
    return merged(example("assist-eligible"), {"conditions": list(entries)})


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("Epilepsy", "epilepsy"),
        ("  Myocardial   Infarction ", "myocardial_infarction"),
        ("brain-trauma", "brain_trauma"),
        ("Atrial fibrillation", "atrial_fibrillation"),
        ("Parkinson's disease", "parkinsons_disease"),
        ("Parkinson\u2019s Disease", "parkinsons_disease"),
        ("stem_cell__study", "stem_cell_study"),
    ],
)
def test_names_are_normalised_before_matching(typed, name):
    assert normalize_name(typed) == name


def test_a_name_typed_in_capitals_is_the_listed_name_and_excludes():
    result = screen_record(ASSIST, history({"name": "Epilepsy", "date": "2019-03-01"}))
    assert result.criterion("exc-epilepsy").status == "fail"
    assert result.criterion("exc-epilepsy").reason == "epilepsy recorded 2019-03-01"


def test_the_vocabulary_is_every_screened_name_then_the_terms():
    vocabulary = load_protocol(ASSIST).condition_vocabulary
    assert vocabulary.screened == (
        "epilepsy",
        "cancer",
        "brain_trauma",
        "brain_tumor",
        "myocardial_infarction",
        "subarachnoid_hemorrhage",
        "intracerebral_hemorrhage",
        "investigational_drug_study",
        "investigational_device_study",
        "stem_cell_study",
        "drug_abuse",
        "alcohol_abuse",
    )
    assert vocabulary.names[-4:] == ("hypertension", "hyperlipidemia", "diabetes", "atrial_fibrillation")
    assert "other" not in vocabulary.names and vocabulary.resolve("Other") == "other"


@pytest.mark.parametrize(
    ("nct", "typed", "criterion", "listed"),
    [
        (ASSIST, "seizure disorder", "exc-epilepsy", "epilepsy"),
        (ASSIST, "Heart attack", "exc-recent-mi", "myocardial_infarction"),
        (IXCELL, "Parkinson disease", "exc-neuro-psychiatric", "parkinsons_disease"),
        (IXCELL, "extradural hematoma", "exc-intracranial-hemorrhage", "epidural_hematoma"),
    ],
)
def test_a_synonym_is_read_as_the_name_it_stands_for(nct, typed, criterion, listed):
    base = example("assist-eligible" if nct == ASSIST else "ixcell-eligible")
    record = merged(base, {"conditions": [{"name": typed, "date": "2025-01-10"}]})
    parsed = parse_facts(record, load_protocol(nct).condition_vocabulary)
    assert [c.name for c in parsed.conditions] == [listed]
    assert screen_record(nct, record).criterion(criterion).status == "fail"


def test_an_unknown_name_is_refused_naming_the_field_value_and_suggestions():
    record = history({"name": "hypertension"}, {"name": "diabetes"}, {"name": "epilepsey", "date": "2019-03-01"})
    with pytest.raises(FactsError) as caught:
        screen(load_protocol(ASSIST), record)
    assert caught.value.errors == [
        (
            "conditions.2.name",
            "'epilepsey' is not in the condition vocabulary of NCT04590118; did you mean epilepsy? "
            "Enter a condition outside the list as 'other' with a description.",
        )
    ]
    assert caught.value.record_id == "AS-01-001"


def test_a_misspelt_synonym_suggests_the_name_it_stands_for():
    vocabulary = load_protocol(ASSIST).condition_vocabulary
    assert vocabulary.suggestions("siezure disorder")[0] == "epilepsy"


def test_a_name_close_to_nothing_lists_the_vocabulary():
    vocabulary = vocabulary_from(["epilepsy", "cancer"], ["hypertension"], owner="NCT00000000")
    assert vocabulary.problem("gout") == (
        "'gout' is not in the condition vocabulary of NCT00000000; no listed name is close "
        "(the list: epilepsy, cancer, hypertension). Enter a condition outside the list as 'other' with a description."
    )


def test_an_unreadable_name_gets_the_vocabulary_message_with_its_other_errors():
    record = history({"name": "epilepsy!"})
    record["labs"]["albumin"]["unit"] = "mg"
    with pytest.raises(FactsError) as caught:
        parse_facts(record, load_protocol(ASSIST).condition_vocabulary)
    errors = dict(caught.value.errors)
    assert "did you mean epilepsy?" in errors["conditions.0.name"]
    assert "labs.albumin.unit" in errors


@pytest.mark.parametrize("description", [None, "", "   "])
def test_other_needs_a_description(description):
    entry = {"name": "other"} if description is None else {"name": "other", "description": description}
    with pytest.raises(FactsError) as caught:
        parse_facts(history(entry))
    assert caught.value.errors == [("conditions.0.description", "'other' needs a description of the condition")]


def test_other_with_a_description_is_recorded_and_clears_the_listed_conditions():
    record = history({"name": "Other", "description": "migraine with aura"})
    result = screen_record(ASSIST, record)
    assert result.verdict == "eligible"
    assert result.criterion("exc-epilepsy").reason == "no epilepsy recorded"
    parsed = parse_facts(record, load_protocol(ASSIST).condition_vocabulary)
    assert parsed.conditions[0].name == "other" and parsed.conditions[0].description == "migraine with aura"


# --------------------------------------------------------------------------- facts that skipped the check


def test_an_unvalidated_unknown_name_leaves_condition_criteria_unknown():
    # parse_facts without the trial's vocabulary only normalises; screening must not read the entry as absent.
    facts = parse_facts(history({"name": "hypertension"}, {"name": "epilepsey", "date": "2019-03-01"}))
    result = screen(load_protocol(ASSIST), facts)
    epilepsy = result.criterion("exc-epilepsy")
    assert epilepsy.status == "unknown"
    assert epilepsy.reason == (
        "unrecognised medical-history entry 'epilepsey' (conditions.1): "
        "not a condition name of the protocol, so it may be epilepsy"
    )
    assert epilepsy.missing == ["conditions.1.name"]
    assert result.verdict != "eligible"
    # Every condition criterion is undecided, and none of them passes.
    for criterion_id in ("exc-cancer", "exc-recent-mi", "exc-substance-abuse"):
        assert result.criterion(criterion_id).status == "unknown"
    # Criteria that read no condition are untouched.
    assert result.criterion("inc-nihss").status == "pass"


def test_an_unvalidated_unknown_name_cannot_undo_a_recorded_exclusion():
    facts = parse_facts(history({"name": "cancer", "date": "2010-01-01"}, {"name": "canser"}))
    result = screen(load_protocol(ASSIST), facts)
    assert result.criterion("exc-cancer").status == "fail"
    assert result.criterion("exc-epilepsy").status == "unknown"


def test_an_unvalidated_synonym_is_still_read_as_its_name():
    facts = parse_facts(history({"name": "seizure disorder"}))
    assert facts.conditions[0].name == "seizure_disorder"
    assert screen(load_protocol(ASSIST), facts).criterion("exc-epilepsy").status == "fail"


def test_the_docs_list_the_names_each_trial_screens_on():
    from eligibility_helpers import ROOT

    doc = (ROOT / "docs" / "eligibility.md").read_text(encoding="utf-8")
    paragraph = doc[doc.index("Names the rules of the shipped trials screen on:") :].split("\n\n")[0]
    assist_part, ixcell_part = paragraph.split("; IxCell")
    for nct, part in ((ASSIST, assist_part), (IXCELL, ixcell_part)):
        listed = re.findall(r"`([a-z_]+)`", part)
        assert tuple(listed) == load_protocol(nct).condition_vocabulary.screened, nct
