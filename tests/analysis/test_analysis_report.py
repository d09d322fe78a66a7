"""The report of a simulated IxCell dataset renders, with correct counts; blinded output hides arms."""

import re

import pandas as pd
import pytest

from trialkit.analysis.report import write_report
from trialkit.analysis.trial_data import load_trial_data
from trialkit.protocol import load_protocol
from trialkit.simulation.dataset import simulate_dataset

# A DSMB report (matplotlib figures and tables) is drawn per module: seconds of CPU.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ixcell(tmp_path_factory):
    protocol = load_protocol("NCT07197606")
    directory = simulate_dataset(protocol, tmp_path_factory.mktemp("ixcell-data"), seed=11)
    return protocol, directory, load_trial_data(directory)


@pytest.fixture(scope="module")
def reports(ixcell, tmp_path_factory):
    protocol, _, data = ixcell
    out = tmp_path_factory.mktemp("reports")
    return {mode: write_report(protocol, data, out, unblinded=mode) for mode in (False, True)}


def _section(report, section_id):
    return next(s for s in report.sections if s.id == section_id)


def test_files_exist_and_are_not_empty(reports):
    for written in reports.values():
        paths = [p for k, p in written.items() if k != "report"]
        assert {"html", "pdf", "consort", "enrollment", "grotta-mrs-shift-month3", "visits-fma_ue"} <= set(written)
        for path in paths:
            assert path.stat().st_size > 1000, path
        assert written["pdf"].read_bytes().startswith(b"%PDF")
        html = written["html"].read_text()
        assert html.count("data:image/png;base64,") == len(paths) - 2  # every figure embedded


def test_consort_and_safety_counts_match_the_data(ixcell, reports):
    _, directory, _ = ixcell
    participants = pd.read_csv(directory / "participants.csv")
    screening = pd.read_csv(directory / "screening.csv")
    events = pd.read_csv(directory / "adverse_events.csv")
    blinded = reports[False]["report"]
    consort = _section(blinded, "consort").results
    assert consort["randomized"] == 86 == len(participants)
    assert consort["screened"] == len(screening)
    assert consort["groups"]["All participants"]["lost"] == (participants.status == "lost").sum()
    unblinded = reports[True]["report"]
    by_arm = _section(unblinded, "consort").results["groups"]
    assert by_arm["MSCs treatment"]["randomized"] == (participants.arm == "msc").sum()
    assert by_arm["Placebo"]["randomized"] == (participants.arm == "placebo").sum()
    safety = {row["group"]: row for row in _section(unblinded, "safety").results["rows"]}
    placebo_ids = participants.participant_id[participants.arm == "placebo"]
    placebo_events = events[events.participant_id.isin(placebo_ids)]
    assert safety["Placebo"]["ae_events"] == len(placebo_events)
    assert safety["Placebo"]["with_serious_ae"] == placebo_events[placebo_events.serious].participant_id.nunique()
    assert (
        safety["Placebo"]["with_grade3_or_more"] == placebo_events[placebo_events.grade >= 3].participant_id.nunique()
    )


def test_mrs_table_counts_are_the_month3_outcomes(ixcell, reports):
    _, directory, _ = ixcell
    outcomes = pd.read_csv(directory / "outcomes.csv")
    month3 = outcomes[(outcomes.instrument == "mrs") & (outcomes.visit == "month3")]
    table = _section(reports[False]["report"], "mrs-shift-month3").tables[0]
    assert table.rows[0][1:8] == [int((month3.total == k).sum()) for k in range(7)]
    assert table.rows[0][8] == len(month3)


def test_blinded_report_names_no_arm_and_no_arm_level_result(ixcell, reports):
    protocol = ixcell[0]
    html = reports[False]["html"].read_text()
    for arm in protocol.arms:
        assert arm.label not in html
        assert not re.search(rf"\b{re.escape(arm.id)}\b", html, flags=re.IGNORECASE)
    assert "odds ratio" not in html.lower() and "Adjusted difference" not in html
    unblinded_html = reports[True]["html"].read_text()
    assert "MSCs treatment" in unblinded_html and "Common odds ratio" in unblinded_html


def test_report_cli_writes_both_files(ixcell, tmp_path):
    import json

    from typer.testing import CliRunner

    from trialkit.cli.main import app

    result = CliRunner().invoke(
        app,
        ["report", "--protocol", "NCT07197606", "--data", str(ixcell[1]), "--out", str(tmp_path), "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["unblinded"] is False
    assert (tmp_path / "NCT07197606-blinded.html").exists() and (tmp_path / "NCT07197606-blinded.pdf").exists()


def test_a_blinded_extract_without_arms_still_counts_the_randomized(tmp_path):
    """A blinded extract (arm column empty) must report everyone randomized, pooled."""
    import pandas as pd

    from trialkit.analysis.report import build_report
    from trialkit.analysis.trial_data import load_trial_data
    from trialkit.protocol import load_protocol
    from trialkit.simulation.dataset import simulate_dataset

    protocol = load_protocol("NCT07197606")
    simulate_dataset(protocol, tmp_path, seed=3)
    participants = pd.read_csv(tmp_path / "participants.csv")
    expected = len(participants)
    participants["arm"] = ""
    participants.to_csv(tmp_path / "participants.csv", index=False)
    report = build_report(protocol, load_trial_data(tmp_path), unblinded=False)
    sections = {s.id: s.results for s in report.sections}
    assert sections["enrollment"]["randomized"] == expected
    assert sections["consort"]["randomized"] == expected
