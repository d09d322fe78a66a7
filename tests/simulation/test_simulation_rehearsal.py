"""Rehearsal of the seed protocols: type I error near alpha, power rising with the odds ratio."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.protocol import load_protocol
from trialkit.simulation.dataset import simulate_dataset
from trialkit.simulation.rehearsal import rehearse_trial


@pytest.mark.slow  # slow: hundreds of simulated trials for a Monte Carlo check; make test-all and CI run it
def test_ixcell_rehearsal_reports_power_and_type1_for_each_mrs_analysis():
    result = rehearse_trial(load_protocol("NCT07197606"), common_or=2.5, trials=600, seed=2)
    ids = [a.analysis_id for a in result.analyses if a.method != "ancova"]
    assert ids == ["mrs-shift-month3", "mrs-shift-month12", "mrs-good-month3"]
    shift = next(a for a in result.analyses if a.analysis_id == "mrs-shift-month3")
    assert shift.type1_ci95[0] <= 0.05 <= shift.type1_ci95[1]
    assert shift.power > 0.4
    assert result.not_rehearsed == []  # the ANCOVA analyses are rehearsed too (below)


@pytest.mark.slow  # slow: hundreds of simulated trials for a Monte Carlo check; make test-all and CI run it
def test_every_planned_test_reports_its_simulated_type1_error_with_a_verdict():
    result = rehearse_trial(load_protocol("NCT07197606"), common_or=2.0, trials=400, seed=5)
    planned = [
        a.id for a in load_protocol("NCT07197606").analysis_plan.analyses if a.method not in ("consort", "safety")
    ]
    assert [a.analysis_id for a in result.analyses] == [
        i for i in planned if i in {a.analysis_id for a in result.analyses}
    ]
    assert sorted(a.analysis_id for a in result.analyses) == sorted(planned)
    for a in result.analyses:
        low, high = a.type1_ci95
        assert low <= a.type1_error <= high
        expected = "above alpha" if low > 0.05 else "below alpha" if high < 0.05 else "consistent with alpha"
        assert a.type1_verdict == expected
    ancova = next(a for a in result.analyses if a.method == "ancova")
    assert ancova.effect.startswith("standardized difference 0.5") and ancova.power > 0.5


def test_the_batched_ancova_matches_statsmodels_ols():
    import statsmodels.api as sm

    from trialkit.simulation.rehearsal import ancova_p_values

    rng = np.random.default_rng(8)
    baseline = rng.normal(size=(3, 40))
    treated = rng.integers(0, 2, (3, 40)).astype(float)
    change = 0.4 * treated - 0.3 * baseline + rng.normal(size=(3, 40))
    observed = rng.random((3, 40)) > 0.1
    p = ancova_p_values(change, treated, baseline, observed)
    for t in range(3):
        keep = observed[t]
        x = sm.add_constant(np.column_stack([treated[t][keep], baseline[t][keep]]))
        reference = sm.OLS(change[t][keep], x).fit().pvalues[1]
        np.testing.assert_allclose(p[t], reference, rtol=1e-8)


@pytest.mark.slow
def test_assist_rehearsal_uses_three_to_one_allocation():
    result = rehearse_trial(load_protocol("NCT04590118"), common_or=1.0, trials=200, seed=3)
    assert "3:1" in result.allocation
    # At OR = 1 both scenarios are null: every rejection rate stays near alpha.
    assert all(
        a.power_ci95[0] <= 0.05 + 0.03 and a.type1_ci95[0] <= 0.05 for a in result.analyses if a.method != "ancova"
    )  # the ANCOVA power scenario has its own standardized effect


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


@pytest.mark.slow
def test_simulate_trial_cli():
    result = CliRunner().invoke(
        app, ["simulate", "trial", "--protocol", "NCT07197606", "--trials", "100", "--seed", "1", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [a["method"] for a in data["analyses"]].count("mrs_shift") == 2
    assert all("type1_verdict" in a for a in data["analyses"])
