"""``trialkit score`` and ``trialkit instruments``: output shape and exit codes."""

import json

from typer.testing import CliRunner

from trialkit.cli.main import app

runner = CliRunner()
NIHSS = {k: 0 for k in ("1a", "1b", "1c", "2", "3", "4", "5a", "5b", "6a", "6b", "7", "8", "9", "10", "11")}


def test_score_prints_instrument_total_and_subscores_as_json(tmp_path):
    path = tmp_path / "nihss.json"
    path.write_text(json.dumps({**NIHSS, "5b": 3, "6b": 2, "9": 1, "5a": "UN"}))
    result = runner.invoke(app, ["score", "nihss", "--input", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["instrument"], data["total"], data["subscores"]) == ("nihss", 6, {})


def test_score_reads_stdin_and_reports_subscores_as_text():
    form = {
        "orientation_time": 5,
        "orientation_place": 4,
        "registration": 3,
        "attention": 2,
        "recall": 1,
        "naming": 2,
        "repetition": 1,
        "command": 3,
        "reading": 1,
        "writing": 1,
        "copying": 0,
    }
    result = runner.invoke(app, ["score", "mmse", "--input", "-", "--format", "text"], input=json.dumps(form))
    assert result.exit_code == 0, result.output
    assert "Mini-Mental State Examination: 23 (range 0-30)" in result.stdout
    assert "Orientation (time and place): 9 (range 0-10)" in result.stdout


def test_an_invalid_form_exits_2_naming_the_item_and_its_allowed_values():
    form = {
        k: 0
        for k in (
            "feeding",
            "bathing",
            "grooming",
            "dressing",
            "bowels",
            "bladder",
            "toilet_use",
            "transfers",
            "mobility",
            "stairs",
        )
    }
    form["bathing"] = 10
    result = runner.invoke(app, ["score", "barthel", "--input", "-"], input=json.dumps(form))
    assert result.exit_code == 2
    assert "bathing = 10" in result.stderr and "allowed: 0, 5" in result.stderr
    result = runner.invoke(app, ["score", "barthel", "--input", "-", "--format", "json"], input=json.dumps(form))
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"][0]["item"] == "bathing"


def test_unknown_instrument_and_bad_json_exit_2():
    assert runner.invoke(app, ["score", "nope", "--input", "-"], input="{}").exit_code == 2
    assert runner.invoke(app, ["score", "mrs", "--input", "-"], input="{not json").exit_code == 2
    assert runner.invoke(app, ["score", "mrs", "--input", "-"], input="[1]").exit_code == 2


def test_instruments_list_and_show():
    result = runner.invoke(app, ["instruments", "list", "--format", "json"])
    names = [row["name"] for row in json.loads(result.stdout)]
    assert names[:6] == ["nihss", "mrs", "barthel", "mmse", "fma_ue", "fma_le"]
    result = runner.invoke(app, ["instruments", "show", "barthel", "--format", "json"])
    data = json.loads(result.stdout)
    assert data["total_range"] == [0, 100]
    assert data["items"][1]["key"] == "bathing" and data["items"][1]["allowed"] == "allowed: 0, 5"
    text = runner.invoke(app, ["instruments", "show", "nihss"]).stdout
    assert "coma_default" in text and "allowed: 0, 1, 2, 3, 4 or UN" in text
