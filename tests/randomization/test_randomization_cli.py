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


def test_check_reports_the_optimal_guessers_predictability():
    """ASSIST: 3:1 in blocks of 4 or 8, cohort lists of 20. The rates are the exact ones of
    ``block_guess_rate`` (checked against brute force in test_randomization_predictability.py),
    both above the 3/4 of always naming it-hMSC."""
    from fractions import Fraction

    from trialkit.randomization.predictability import block_guess_rate

    report = json.loads(run("check", "--protocol", "NCT04590118", "--format", "json").stdout)
    p = report["predictability"]
    ratio = {"it-hmsc": 3, "placebo": 1}
    assert p["n"] == 20 and p["baseline"] == 0.75
    assert Fraction(p["knows_block"]["rate_fraction"]) == block_guess_rate(ratio, [4, 8], 20).rate
    assert Fraction(p["past_only"]["rate_fraction"]) == block_guess_rate(ratio, [4, 8], 20, knows_block=False).rate
    assert p["past_only"]["rate"] > 0.75
    text = run("check", "--protocol", "NCT04590118").stdout
    assert "always naming the largest arm:                 0.7500" in text
