"""The analyze CLI prints the documented JSON keys and exits 2 on bad input."""

import json

from typer.testing import CliRunner

from trialkit.cli.main import app

runner = CliRunner()


def test_mrs_shift_json(tmp_path):
    path = tmp_path / "mrs.csv"
    path.write_text(
        "arm,mrs\n"
        + "".join(f"t,{v}\n" for v in [0, 1, 1, 2, 2, 3, 3, 4, 5])
        + "".join(f"c,{v}\n" for v in [1, 2, 3, 3, 4, 4, 5, 5, 6])
    )
    result = runner.invoke(
        app, ["analyze", "mrs-shift", "--input", str(path), "--treatment", "t", "--control", "c", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"common_odds_ratio", "ci95", "p_value", "n"} <= set(data)
    assert data["n"] == 18 and data["common_odds_ratio"] > 1


def test_ancova_json_and_missing_column(tmp_path):
    path = tmp_path / "fma.csv"
    path.write_text(
        "arm,base,m3\n"
        + "".join(f"{'t' if i % 2 else 'c'},{20 + i},{25 + i + (i % 2) * 3 + i % 3}\n" for i in range(20))
    )
    ok = runner.invoke(
        app,
        [
            "analyze",
            "ancova",
            "--input",
            str(path),
            "--outcome",
            "m3",
            "--baseline",
            "base",
            "--treatment",
            "t",
            "--control",
            "c",
            "--format",
            "json",
        ],
    )
    assert ok.exit_code == 0
    assert {"difference", "ci95", "p_value", "n"} <= set(json.loads(ok.stdout))
    bad = runner.invoke(
        app,
        [
            "analyze",
            "ancova",
            "--input",
            str(path),
            "--outcome",
            "m6",
            "--baseline",
            "base",
            "--treatment",
            "t",
            "--control",
            "c",
        ],
    )
    assert bad.exit_code == 2
    assert "'m6'" in bad.stderr
