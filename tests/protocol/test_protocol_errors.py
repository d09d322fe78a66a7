"""A broken protocol file is reported with the exact path, line and rule of each fault.

Each broken variant is the ASSIST protocol loaded, changed in one place, and dumped back to YAML;
the expected line is found in that dumped text, independently of the loader's line index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.protocol import ProtocolError, ProtocolIssue, parse_protocol

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
ASSIST_TEXT = (PROTOCOLS / "NCT04590118.yaml").read_text(encoding="utf-8")


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10_000)


def broken(mutate: Callable[[dict[str, Any]], None]) -> tuple[str, list[ProtocolIssue]]:
    data = yaml.safe_load(ASSIST_TEXT)
    mutate(data)
    text = dump(data)
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text, "broken.yaml")
    return text, caught.value.issues


def line_of(text: str, needle: str, after: str | None = None, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle`` (after the line with ``after``)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    seen = 0
    for i in range(start, len(lines)):
        if needle in lines[i]:
            seen += 1
            if seen == occurrence:
                return i + 1
    raise AssertionError(f"{needle!r} not in text")


def only_issue(issues: list[ProtocolIssue]) -> ProtocolIssue:
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_an_arm_without_a_label() -> None:
    text, issues = broken(lambda d: d["arms"][1].pop("label"))
    issue = only_issue(issues)
    assert issue.path == "arms[1].label"
    assert issue.message == "Field required"
    assert issue.line == line_of(text, "- id: placebo", after="arms:")
    assert str(issue) == f"broken.yaml:{issue.line}: arms[1].label: Field required"


def test_a_negative_dose_amount() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["arms"][0]["dose"]["levels"][1]["amount"] = -1000000

    text, issues = broken(mutate)
    issue = only_issue(issues)
    assert issue.path == "arms[0].dose.levels[1].amount"
    assert issue.message == "Input should be greater than 0 (got -1000000)"
    assert issue.line == line_of(text, "amount: -1000000")


def test_a_ratio_naming_an_unknown_arm() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["randomization"]["ratio"] = {"it-hmsc": 3, "sham": 1}

    text, issues = broken(mutate)
    issue = only_issue(issues)
    assert issue.path == "randomization.ratio.sham"
    assert "must name every arm exactly" in issue.message
    assert "'placebo'" in issue.message and "'sham'" in issue.message
    assert issue.line == line_of(text, "sham: 1")


def test_a_ratio_missing_an_arm_points_at_the_ratio() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["randomization"]["ratio"] = {"it-hmsc": 1}
        d["randomization"]["block_sizes"] = [2, 4]

    text, issues = broken(mutate)
    issue = only_issue(issues)
    assert issue.path == "randomization.ratio"
    assert issue.line == line_of(text, "ratio:")


def test_an_analysis_naming_an_unknown_visit() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["analysis_plan"]["analyses"][4]["visit"] = "month7"

    text, issues = broken(mutate)
    issue = only_issue(issues)
    assert issue.path == "analysis_plan.analyses[4].visit"
    assert issue.message == "analysis 'nihss-change-month6' visit 'month7' is not a visit of the schedule"
    assert issue.line == line_of(text, "visit: month7")


def test_a_criterion_with_an_unknown_type() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["eligibility"]["criteria"][2]["type"] = "inclusive"

    text, issues = broken(mutate)
    issue = only_issue(issues)
    assert issue.path == "eligibility.criteria[2].type"
    assert issue.message == "Input should be 'inclusion' or 'exclusion' (got 'inclusive')"
    assert issue.line == line_of(text, "type: inclusive")


def test_a_duplicate_criterion_id() -> None:
    def mutate(d: dict[str, Any]) -> None:
        criteria = d["eligibility"]["criteria"]
        assert criteria[11]["id"] == "exc-epilepsy"
        criteria[12]["id"] = "exc-epilepsy"

    text, issues = broken(mutate)
    issue = only_issue(issues)
    assert issue.path == "eligibility.criteria[12].id"
    assert issue.message == "criterion id 'exc-epilepsy' is used twice; ids must be unique"
    assert issue.line == line_of(text, "id: exc-epilepsy", occurrence=2)


def test_a_synonym_pointing_to_an_unknown_name() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["eligibility"]["medical_history"]["synonyms"]["fits"] = "epilepsi"

    text, issues = broken(mutate)
    issue = only_issue(issues)
    assert issue.path == "eligibility.medical_history.synonyms.fits"
    assert issue.message == (
        "synonym 'fits' points to 'epilepsi', which no rule screens on and "
        "medical_history.terms does not list; did you mean epilepsy?"
    )
    assert issue.line == line_of(text, "fits: epilepsi")


def test_a_synonym_that_is_itself_a_listed_name() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["eligibility"]["medical_history"]["synonyms"]["hypertension"] = "cancer"

    text, issues = broken(mutate)
    issue = only_issue(issues)
    assert issue.path == "eligibility.medical_history.synonyms.hypertension"
    assert "is itself a listed name" in issue.message
    assert issue.line == line_of(text, "hypertension: cancer")


@pytest.mark.slow
def test_other_is_neither_a_term_nor_a_screened_name() -> None:
    def as_term(d: dict[str, Any]) -> None:
        d["eligibility"]["medical_history"]["terms"].append("other")

    text, issues = broken(as_term)
    issue = only_issue(issues)
    assert issue.path == "eligibility.medical_history.terms[4]"
    assert "how a condition outside the list is entered" in issue.message
    assert issue.line == line_of(text, "- other")

    def in_a_rule(d: dict[str, Any]) -> None:
        assert d["eligibility"]["criteria"][12]["id"] == "exc-cancer"
        d["eligibility"]["criteria"][12]["rule"]["condition"]["names"].append("other")

    text, issues = broken(in_a_rule)
    issue = only_issue(issues)
    assert issue.path == "eligibility.criteria[12].rule.condition.names[1]"
    assert issue.message == "a rule cannot screen on 'other': it stands for any condition not listed"
    assert issue.line == line_of(text, "- other")


def test_triple_masking_with_two_roles() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["design"]["masking"]["who_masked"] = ["PARTICIPANT", "INVESTIGATOR"]

    text, issues = broken(mutate)
    issue = only_issue(issues)
    assert issue.path == "design.masking.who_masked"
    assert issue.message == "masking TRIPLE needs 3 masked roles, got 2"
    assert issue.line == line_of(text, "who_masked:")


def test_every_independent_fault_is_reported() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["arms"][1].pop("label")
        d["registry"]["enrollment"]["count"] = 0

    _text, issues = broken(mutate)
    assert {i.path for i in issues} == {"arms[1].label", "registry.enrollment.count"}


def test_invalid_yaml_names_the_line() -> None:
    text = ASSIST_TEXT.replace("  acronym: ASSIST\n", "  acronym: ASSIST: two colons\n")
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text, "broken.yaml")
    issue = only_issue(caught.value.issues)
    assert issue.message.startswith("not valid YAML")
    assert issue.line == line_of(text, "acronym: ASSIST: two colons")


def test_a_document_that_is_not_a_mapping() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_protocol("- just\n- a list\n", "list.yaml")
    assert only_issue(caught.value.issues).message == "a protocol file must be a YAML mapping"


# --------------------------------------------------------------------------- trialkit protocol validate


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["protocol", "validate", *args])


@pytest.fixture
def protocol_dir(tmp_path: Path) -> Path:
    good = tmp_path / "NCT04590118.yaml"
    good.write_text(ASSIST_TEXT, encoding="utf-8")
    data = yaml.safe_load(ASSIST_TEXT)
    data["arms"][1].pop("label")
    (tmp_path / "broken.yaml").write_text(dump(data), encoding="utf-8")
    return tmp_path


def test_validate_reports_ok_for_the_shipped_protocols(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALKIT_PROTOCOL_DIR", str(PROTOCOLS))
    result = run()
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{PROTOCOLS / 'NCT04590118.yaml'}: OK",
        f"{PROTOCOLS / 'NCT07197606.yaml'}: OK",
    ]


def test_validate_prints_each_issue_and_exits_1(protocol_dir: Path) -> None:
    broken_file = protocol_dir / "broken.yaml"
    line = line_of(broken_file.read_text(encoding="utf-8"), "- id: placebo", after="arms:")
    result = run(str(protocol_dir))
    assert result.exit_code == 1
    # Files of a directory are validated in name order ("N" sorts before "b").
    assert result.stdout.splitlines() == [
        f"{protocol_dir / 'NCT04590118.yaml'}: OK",
        f"{broken_file}:{line}: arms[1].label: Field required",
    ]


def test_validate_json(protocol_dir: Path) -> None:
    broken_file = protocol_dir / "broken.yaml"
    good_file = protocol_dir / "NCT04590118.yaml"
    line = line_of(broken_file.read_text(encoding="utf-8"), "- id: placebo", after="arms:")
    result = run(str(good_file), str(broken_file), "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "files": [
            {"file": str(good_file), "valid": True, "issues": []},
            {
                "file": str(broken_file),
                "valid": False,
                "issues": [
                    {"file": str(broken_file), "path": "arms[1].label", "line": line, "message": "Field required"}
                ],
            },
        ]
    }


def test_validate_a_missing_path_exits_2(tmp_path: Path) -> None:
    result = run(str(tmp_path / "absent.yaml"))
    assert result.exit_code == 2
    assert "absent.yaml" in result.stderr


def test_a_file_named_for_another_trial_is_reported(tmp_path: Path) -> None:
    wrong = tmp_path / "NCT07197606.yaml"
    wrong.write_text(ASSIST_TEXT, encoding="utf-8")
    result = run(str(wrong))
    assert result.exit_code == 1
    assert "registry.nct_id: file is named NCT07197606 but registry.nct_id is NCT04590118" in result.stdout


def test_list_shows_each_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALKIT_PROTOCOL_DIR", str(PROTOCOLS))
    result = CliRunner().invoke(app, ["protocol", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["invalid"] == []
    assert [(p["nct_id"], p["acronym"], p["status_label"], p["enrollment"]) for p in listed["protocols"]] == [
        ("NCT04590118", "ASSIST", "Unknown", 60),
        ("NCT07197606", "IxCell", "Not yet enrolling", 86),
    ]
    text = CliRunner().invoke(app, ["protocol", "list"]).stdout
    assert "NCT04590118  ASSIST" in text and "86 estimated patients" in text


def test_list_flags_an_invalid_file(protocol_dir: Path) -> None:
    result = CliRunner().invoke(app, ["protocol", "list", "--dir", str(protocol_dir), "--format", "json"])
    assert result.exit_code == 1
    listed = json.loads(result.stdout)
    assert [p["nct_id"] for p in listed["protocols"]] == ["NCT04590118"]
    assert listed["invalid"][0]["file"] == str(protocol_dir / "broken.yaml")
