"""Simulated power of the shift analysis against Whitehead's formula; type I error at OR = 1."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import fisher_exact
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.simulation import simulate_power, treatment_distribution, whitehead_power
from trialkit.simulation.allocation import permuted_blocks
from trialkit.simulation.rehearsal import fisher_exact_batch

CONTROL = [0.05, 0.10, 0.15, 0.25, 0.20, 0.15, 0.10]


def test_treatment_distribution_has_the_common_odds_ratio_at_every_cutpoint():
    """Proportional odds: odds(mRS <= k | treated) / odds(mRS <= k | control) = OR for k = 0..5."""
    treated = treatment_distribution(CONTROL, 2.5)
    c, t = np.cumsum(CONTROL)[:-1], np.cumsum(treated)[:-1]
    assert_allclose((t / (1 - t)) / (c / (1 - c)), 2.5)
    assert_allclose(treated.sum(), 1.0)


def test_whitehead_formula_by_hand():
    """Whitehead 1993 eq. 5 for a 1:1 trial of N = 200 with OR 1.8, computed step by step."""
    from scipy.stats import norm

    t = treatment_distribution(CONTROL, 1.8)
    p_bar = (np.array(CONTROL) + t) / 2
    var = 3 * (1 + 1) ** 2 / (1 * 200 * (1 - np.sum(p_bar**3)))
    expected = norm.cdf(np.log(1.8) / np.sqrt(var) - 1.959964) + norm.cdf(-np.log(1.8) / np.sqrt(var) - 1.959964)
    assert_allclose(whitehead_power(CONTROL, 1.8, 100, 100), expected, rtol=1e-6)


def test_power_agrees_with_whitehead_within_monte_carlo_error():
    """100 per arm, OR 1.8, 4000 trials: Whitehead's power lies in the simulation's 95% MC interval."""
    result = simulate_power(CONTROL, 1.8, 100, trials=4000, seed=20240601)
    assert result.ci95[0] <= result.whitehead_power <= result.ci95[1]
    assert_allclose(result.median_estimated_or, 1.8, rtol=0.05)


def test_type1_error_at_or_one_is_alpha_within_monte_carlo_interval():
    """OR = 1, 86 participants, 4000 trials: the exact 95% interval of the rejection rate covers 0.05."""
    result = simulate_power(CONTROL, 1.0, 43, trials=4000, seed=7)
    assert result.ci95[0] <= 0.05 <= result.ci95[1]


def test_unequal_allocation_and_dropout_follow_whitehead():
    """2:1 allocation, 10% dropout: Whitehead with the expected analysed sizes is inside the MC interval."""
    result = simulate_power(CONTROL, 2.0, 60, ratio=2, dropout=0.1, trials=4000, seed=3)
    assert result.n_treatment == 120
    assert abs(result.mean_analysed - 0.9 * 180) < 1.0
    assert result.ci95[0] - 0.01 <= result.whitehead_power <= result.ci95[1] + 0.01


def test_same_seed_same_power():
    a = simulate_power(CONTROL, 1.5, 43, trials=500, seed=1)
    b = simulate_power(CONTROL, 1.5, 43, trials=500, seed=1)
    assert a.rejections == b.rejections


def test_fisher_exact_batch_matches_scipy():
    rng = np.random.default_rng(0)
    n1 = rng.integers(5, 50, 200)
    n0 = rng.integers(5, 50, 200)
    a = rng.binomial(n1, 0.4)
    c = rng.binomial(n0, 0.6)
    expected = [fisher_exact([[a[i], n1[i] - a[i]], [c[i], n0[i] - c[i]]])[1] for i in range(200)]
    assert_allclose(fisher_exact_batch(a, n1, c, n0), expected, rtol=1e-9)


def test_permuted_blocks_are_balanced_at_every_block_end():
    rng = np.random.default_rng(1)
    sequence = permuted_blocks({"it-hmsc": 3, "placebo": 1}, [4, 8], 60, rng)
    assert sequence.count("it-hmsc") == 45 and sequence.count("placebo") == 15


@pytest.mark.slow
def test_power_cli_json_is_clean_with_progress_bar(tmp_path):
    plot = tmp_path / "curve.png"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "power",
            "--control",
            ",".join(map(str, CONTROL)),
            "--common-or",
            "2",
            "--n-per-arm",
            "43",
            "--trials",
            "300",
            "--seed",
            "1",
            "--progress",
            "--plot",
            str(plot),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"power", "ci95", "trials"} <= set(data) and data["trials"] == 300
    assert plot.stat().st_size > 1000 and len(data["curve"]) == 8


def test_power_cli_rejects_probabilities_not_summing_to_one():
    result = CliRunner().invoke(
        app, ["simulate", "power", "--control", "0.5,0.6", "--common-or", "2", "--n-per-arm", "10", "--trials", "10"]
    )
    assert result.exit_code == 2
    assert "--control" in result.stderr and "sum to 1" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("n_per_arm,common_or", [(100, 1.6), (150, 1.5), (60, 2.0)])
def test_power_matches_whitehead_with_20000_trials(n_per_arm, common_or):
    """Moderate sample sizes, 20000 trials (MC SE ~0.0035): Whitehead inside the 95% MC interval."""
    result = simulate_power(CONTROL, common_or, n_per_arm, trials=20000, seed=5)
    assert result.ci95[0] <= result.whitehead_power <= result.ci95[1]


@pytest.mark.slow
def test_type1_error_with_20000_trials():
    result = simulate_power(CONTROL, 1.0, 43, trials=20000, seed=11)
    assert result.ci95[0] <= 0.05 <= result.ci95[1]
