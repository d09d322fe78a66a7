"""``trialkit allocation generate`` and ``trialkit allocation check``."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.protocol import load_protocol
from trialkit.randomization import generate_list

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["allocation", *args])


def test_generate_json_is_the_list_for_that_seed():
    result = run("generate", "--protocol", "NCT07197606", "--seed", "20250101", "--n", "8", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = generate_list(load_protocol("NCT07197606"), 20250101, n=8)
    assert [s["arm_id"] for s in data["slots"]] == [s.arm_id for s in expected.slots]
    assert data["slots"][0]["kit_number"] == "IX-7762"


def test_generate_csv_has_a_header_and_one_row_per_slot():
    result = run("generate", "--protocol", "NCT04590118", "--seed", "3", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 60
    assert list(rows[0]) == [
        "stratum", "sequence_no", "randomization_number", "arm_id", "dose_level", "cohort", "block_no", "block_size", "kit_number",
    ]  # fmt: skip
    assert {r["dose_level"] for r in rows if r["cohort"] == "cohort-high" and r["arm_id"] == "it-hmsc"} == {"high"}


def test_check_reports_counts_and_the_block_bound():
    result = run("check", "--protocol", "NCT04590118", "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["overall_counts"] == {"it-hmsc": 45, "placebo": 15}
    assert report["bound"] == {"it-hmsc:placebo": 6}
    assert report["within_bound"] is True
    text = run("check", "--protocol", "NCT07197606").stdout
    assert "every prefix within the block bound: yes" in text


def test_bad_input_exits_2_with_the_field_named():
    result = run("generate", "--protocol", "NCT07197606", "--seed", "1", "--n", "0", "--format", "json")
    assert result.exit_code == 2
    assert "--n must be a positive" in json.loads(result.stdout)["error"]
    result = run("check", "--protocol", "NCT00000001")
    assert result.exit_code == 2 and "no protocol NCT00000001" in result.stderr
