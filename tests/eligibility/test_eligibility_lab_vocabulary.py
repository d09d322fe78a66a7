"""Laboratory and serology names in screening facts: canonical keys in any case, abbreviations, synonyms
and LOINC codes; unknown names refused with suggestions; a ULN implausible in its unit refused."""

from __future__ import annotations

import json

import pytest
from eligibility_helpers import ASSIST, example, merged, screen_record
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.eligibility import FactsError, parse_facts
from trialkit.eligibility.lab_vocabulary import lab_key, serology_key
from trialkit.instruments.labs import ANALYTES, uln_window_problem
from trialkit.instruments.serology import SEROLOGY_TESTS


@pytest.mark.parametrize(
    "entered, key",
    [
        ("AST", "ast"),
        ("ast", "ast"),
        ("SGOT", "ast"),
        ("1920-8", "ast"),
        ("ALT", "alt"),
        ("SGPT", "alt"),
        ("1742-6", "alt"),
        ("total bilirubin", "bilirubin"),
        ("Total Bilirubin", "bilirubin"),
        ("TSB", "bilirubin"),
        ("1975-2", "bilirubin"),
        ("ANC", "anc"),
        ("PLT", "platelets"),
        ("Hb", "hemoglobin"),
        ("HGB", "hemoglobin"),
        ("718-7", "hemoglobin"),
        ("aPTT", "ptt"),
        ("Creatinine", "creatinine"),
        ("2160-0", "creatinine"),
    ],
)
def test_analyte_names_resolve_to_their_key(entered, key):
    assert lab_key(entered) == key


@pytest.mark.parametrize(
    "entered, key",
    [
        ("HBsAg", "hbsag"),
        ("HBeAg", "hbeag"),
        ("anti-HBe", "anti_hbe"),
        ("HBeAb", "anti_hbe"),
        ("anti-HBc", "anti_hbc"),
        ("HBcAb", "anti_hbc"),
        ("anti-HCV", "hcv"),
        ("HCV", "hcv"),
        ("HIV Ag/Ab", "hiv"),
        ("HIV", "hiv"),
        ("RPR", "rpr"),
        ("5196-1", "hbsag"),
        ("13955-0", "hcv"),
        ("56888-1", "hiv"),
        ("20507-0", "rpr"),
    ],
)
def test_serology_names_resolve_to_their_key(entered, key):
    assert serology_key(entered) == key


def test_every_analyte_and_test_has_a_loinc_code_and_no_code_or_alias_is_shared():
    codes = [c for a in ANALYTES.values() for c in a.loinc] + [c for t in SEROLOGY_TESTS.values() for c in t.loinc]
    assert all(a.loinc for a in ANALYTES.values()) and all(t.loinc for t in SEROLOGY_TESTS.values())
    assert len(codes) == len(set(codes))
    # LOINC's check digit is a mod-10 (Luhn) digit over the code's digits (loinc.org, "LOINC check digit").
    for code in codes:
        digits, check = code.split("-")
        assert _luhn(digits) == int(check), code


def _luhn(digits: str) -> int:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10


def test_screen_reads_labs_and_serology_by_the_names_people_use():
    record = example("assist-eligible")
    record["labs"] = {
        "AST": record["labs"].pop("ast"),
        "SGPT": record["labs"].pop("alt"),
        "total bilirubin": record["labs"].pop("bilirubin"),
        **record["labs"],
    }
    record["serology"] = {
        "HBsAg": "negative",
        "HBeAg": "Negative",
        "anti-HBe": "negative",
        "HBcAb": "negative",
        "anti-HCV": "negative",
        "HIV Ag/Ab": "negative",
        "RPR": "negative",
    }
    result = screen_record(ASSIST, record)
    assert result.verdict == "eligible"
    facts = parse_facts(record)
    assert set(facts.labs) >= {"ast", "alt", "bilirubin"}
    assert set(facts.serology) == {"hbsag", "hbeag", "anti_hbe", "anti_hbc", "hcv", "hiv", "rpr"}


def test_a_positive_test_named_by_abbreviation_excludes():
    record = merged(example("assist-eligible"), {"serology": {"HBsAg": "positive"}})
    assert screen_record(ASSIST, record).criterion("exc-serology").status == "fail"


@pytest.mark.parametrize(
    "section, entered, path, suggestion",
    [
        ("labs", "SGTO", "labs.SGTO", "ast"),
        ("labs", "total bilirubn", "labs.total bilirubn", "bilirubin"),
        ("serology", "HBsAgg", "serology.HBsAgg", "hbsag"),
        ("serology", "anti-HCB", "serology.anti-HCB", "anti_hbc"),
    ],
)
def test_an_unknown_name_is_refused_with_a_suggestion(section, entered, path, suggestion):
    value = {"value": 30, "unit": "U/L"} if section == "labs" else "negative"
    with pytest.raises(FactsError) as info:
        parse_facts({section: {entered: value}})
    errors = dict(info.value.errors)
    assert path in errors, info.value.errors
    assert "did you mean" in errors[path] and suggestion in errors[path]


def test_the_same_analyte_under_two_names_is_refused():
    with pytest.raises(FactsError) as info:
        parse_facts({"labs": {"AST": {"value": 30, "unit": "U/L"}, "SGOT": {"value": 31, "unit": "U/L"}}})
    assert "given twice" in dict(info.value.errors)["labs.SGOT"]


def test_a_uln_in_the_wrong_unit_is_refused_naming_it():
    """AST 6 ukat/L (= 360 U/L) with a ULN of 40 meant in U/L: read in the value's unit it would be
    40 ukat/L and AST would pass at 0.15×ULN, when it is 9×ULN."""
    with pytest.raises(FactsError) as info:
        parse_facts({"labs": {"AST": {"value": 6, "unit": "µkat/L", "uln": 40}}})
    message = dict(info.value.errors)["labs.AST.uln"]
    assert "not a plausible upper limit of normal" in message and "U/L" in message
    # Given its unit, the same ULN is read right and AST fails at 9×ULN.
    record = merged(
        example("assist-eligible"), {"labs.ast": {"value": 6, "unit": "µkat/L", "uln": 40, "uln_unit": "U/L"}}
    )
    result = screen_record(ASSIST, record)
    assert result.criterion("inc-organ-function").status == "fail"
    assert "9.00×ULN" in result.criterion("inc-organ-function").reason


def test_an_empty_uln_unit_is_refused_naming_it_not_left_to_crash_the_rule():
    """A blank ULN unit is an answer missing, not the value's unit: refused at the field, so that the
    ×ULN rule never reads a unit of ''."""
    with pytest.raises(FactsError) as info:
        parse_facts({"labs": {"AST": {"value": 10, "unit": "U/L", "uln": 40, "uln_unit": ""}}})
    assert "labs.AST.uln_unit" in dict(info.value.errors)


@pytest.mark.parametrize(
    "analyte, uln, unit, plausible",
    [
        ("ast", 40, "U/L", True),
        ("ast", 0.67, "ukat/L", True),
        ("ast", 40, "ukat/L", False),
        ("bilirubin", 1.2, "mg/dL", True),
        ("bilirubin", 20.5, "umol/L", True),
        ("bilirubin", 20.5, "mg/dL", False),
        ("creatinine", 106, "umol/L", True),
        ("creatinine", 106, "mg/dL", False),
        ("creatinine", 1.2, "umol/L", False),
        ("platelets", 450, "10^9/L", True),
        ("platelets", 450, "/uL", False),
    ],
)
def test_uln_plausibility_in_its_unit(analyte, uln, unit, plausible):
    assert (uln_window_problem(analyte, uln, unit) is None) is plausible


def test_the_screen_command_accepts_names_and_refuses_unknown_ones(tmp_path):
    runner = CliRunner()
    record = example("assist-eligible")
    record["labs"]["AST"] = record["labs"].pop("ast")
    record["serology"] = {"HBsAg": "negative", **{k: v for k, v in record["serology"].items() if k != "hbsag"}}
    good = tmp_path / "good.json"
    good.write_text(json.dumps(record), encoding="utf-8")
    result = runner.invoke(app, ["screen", "-p", ASSIST, "-i", str(good), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["verdict"] == "eligible"

    record["labs"]["ASTT"] = record["labs"].pop("AST")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(record), encoding="utf-8")
    result = runner.invoke(app, ["screen", "-p", ASSIST, "-i", str(bad)])
    assert result.exit_code == 2
    assert "labs.ASTT" in result.stderr and "did you mean ast" in result.stderr
    assert "Traceback" not in result.output

    record["labs"]["AST"] = {"value": 6, "unit": "µkat/L", "uln": 40}
    del record["labs"]["ASTT"]
    bad.write_text(json.dumps(record), encoding="utf-8")
    result = runner.invoke(app, ["screen", "-p", ASSIST, "-i", str(bad)])
    assert result.exit_code == 2 and "labs.AST.uln" in result.stderr
