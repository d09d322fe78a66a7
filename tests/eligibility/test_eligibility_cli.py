"""``trialkit screen``: JSON array, JSON Lines, text tables, and exit code 2 on bad input."""

from __future__ import annotations

import json

from eligibility_helpers import ASSIST, EXAMPLES, IXCELL, example
from typer.testing import CliRunner

from trialkit.cli.main import app

runner = CliRunner()


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, ["screen", *args], input=stdin)


def test_json_output_has_the_documented_shape(tmp_path):
    path = tmp_path / "records.json"
    path.write_text(json.dumps([example("ixcell-eligible"), example("assist-eligible")]), encoding="utf-8")
    result = run("--protocol", IXCELL, "--input", str(path), "--format", "json")
    assert result.exit_code == 1, result.output  # a finding: one record is ineligible
    data = json.loads(result.stdout)
    assert data["protocol"] == IXCELL
    assert [(r["id"], r["verdict"]) for r in data["results"]] == [
        ("IX-01-001", "eligible"),
        ("AS-01-001", "ineligible"),
    ]
    first = data["results"][0]["criteria"][0]
    assert set(first) == {"id", "type", "text", "status", "reason"}
    assert first["text"] == "Age ≥18 years and ≤70 years, regardless of gender."


def test_json_lines_input_from_stdin():
    lines = "\n".join(json.dumps(example(n)) for n in ("assist-eligible", "ixcell-eligible")) + "\n"
    result = run("-p", ASSIST, "-i", "-", "-f", "json", stdin=lines)
    assert result.exit_code == 1, result.output
    assert [r["verdict"] for r in json.loads(result.stdout)["results"]] == ["eligible", "ineligible"]


def test_text_output_is_a_table_per_record():
    result = run("-p", IXCELL, "-i", str(EXAMPLES / "ixcell-eligible.json"), "-f", "text")
    assert result.exit_code == 0, result.output
    assert "IX-01-001" in result.stdout and "ELIGIBLE" in result.stdout
    assert "day 30 after onset, within 14–90" in result.stdout


def test_bad_field_exits_2_naming_record_and_field(tmp_path):
    record = example("assist-eligible")
    record["labs"]["albumin"]["unit"] = "mg"
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    result = run("-p", ASSIST, "-i", str(path))
    assert result.exit_code == 2
    assert "record AS-01-001: labs.albumin.unit" in result.stderr


def test_unreadable_json_and_unknown_protocol_exit_2(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"id": "A"}\n{"id": \n', encoding="utf-8")
    result = run("-p", ASSIST, "-i", str(path))
    assert result.exit_code == 2 and "line 2: not valid JSON" in result.stderr
    missing = run("-p", "NCT00000000", "-i", str(path))
    assert missing.exit_code == 2 and "no protocol NCT00000000" in missing.stderr


def test_an_unknown_condition_name_exits_2_naming_the_field_and_suggestions(tmp_path):
    good = example("assist-eligible")
    bad = example("assist-eligible") | {"id": "AS-01-002"}
    bad["conditions"] = [{"name": "Hypertension"}, {"name": "epilepsey", "date": "2019-03-01"}]
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    result = run("-p", ASSIST, "-i", str(path))
    assert result.exit_code == 2
    assert (
        "record AS-01-002: conditions.1.name: 'epilepsey' is not in the condition vocabulary of NCT04590118; "
        "did you mean epilepsy?"
    ) in result.stderr
    result = run("-p", ASSIST, "-i", str(path), "-f", "json")
    assert result.exit_code == 2 and result.stderr == ""  # printed once: as JSON on stdout
    assert json.loads(result.stdout)["error"].endswith(
        "Enter a condition outside the list as 'other' with a description."
    )


def test_synonyms_and_other_are_screened(tmp_path):
    record = example("assist-eligible")
    record["conditions"] = [{"name": "Seizure disorder"}, {"name": "other", "description": "migraine"}]
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    result = run("-p", ASSIST, "-i", str(path), "-f", "json")
    assert result.exit_code == 1, result.output  # ineligible (epilepsy): a finding
    criteria = {c["id"]: c for c in json.loads(result.stdout)["results"][0]["criteria"]}
    assert criteria["exc-epilepsy"]["status"] == "fail" and criteria["exc-epilepsy"]["reason"] == "epilepsy recorded"
