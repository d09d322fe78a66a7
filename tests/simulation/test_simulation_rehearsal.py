"""Rehearsal of the seed protocols: type I error near alpha, power rising with the odds ratio."""

import json

import pandas as pd
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.protocol import load_protocol
from trialkit.simulation.dataset import simulate_dataset
from trialkit.simulation.rehearsal import rehearse_trial


def test_ixcell_rehearsal_reports_power_and_type1_for_each_mrs_analysis():
    result = rehearse_trial(load_protocol("NCT07197606"), common_or=2.5, trials=600, seed=2)
    ids = [a.analysis_id for a in result.analyses]
    assert ids == ["mrs-shift-month3", "mrs-shift-month12", "mrs-good-month3"]
    shift = result.analyses[0]
    assert shift.type1_ci95[0] <= 0.05 <= shift.type1_ci95[1]
    assert shift.power > 0.4
    assert "fma-change-month3" in result.not_rehearsed


def test_assist_rehearsal_uses_three_to_one_allocation():
    result = rehearse_trial(load_protocol("NCT04590118"), common_or=1.0, trials=200, seed=3)
    assert "3:1" in result.allocation
    # At OR = 1 both scenarios are null: every rejection rate stays near alpha.
    assert all(a.power_ci95[0] <= 0.05 + 0.03 and a.type1_ci95[0] <= 0.05 for a in result.analyses)


def test_simulated_dataset_respects_the_protocol(tmp_path):
    protocol = load_protocol("NCT07197606")
    simulate_dataset(protocol, tmp_path, seed=1)
    participants = pd.read_csv(tmp_path / "participants.csv")
    assert len(participants) == 86
    assert participants.baseline_nihss.between(6, 20).all() and participants.age.between(18, 70).all()
    assert set(participants.arm) == {"msc", "placebo"}
    outcomes = pd.read_csv(tmp_path / "outcomes.csv")
    assert outcomes[outcomes.instrument == "mrs"].total.between(0, 6).all()
    assert (outcomes[outcomes.instrument == "barthel"].total % 5 == 0).all()


def test_simulate_trial_cli():
    result = CliRunner().invoke(app, ["simulate", "trial", "--protocol", "NCT07197606", "--trials", "100",
                                      "--seed", "1", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["analyses"][0]["method"] == "mrs_shift"
