"""The permutation test of the mRS shift analysis: valid level under the null, and in agreement with
the Wilcoxon–Mann–Whitney test (scipy.stats.mannwhitneyu) when there are no covariates.

For two groups and no covariates the score test of the proportional odds model is the
Wilcoxon–Mann–Whitney rank test (McCullagh 1980, section 4.2), so the two p-values should be close.
"""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, mannwhitneyu
from typer.testing import CliRunner

from trialkit.analysis import AnalysisInputError
from trialkit.analysis.permutation import shift_permutation_test
from trialkit.cli.main import app
from trialkit.simulation import treatment_distribution

CONTROL = [0.05, 0.10, 0.15, 0.25, 0.20, 0.15, 0.10]


def trial(rng, n_per_arm, common_or, with_age=False):
    treated = treatment_distribution(CONTROL, common_or)
    mrs = np.concatenate([rng.choice(7, n_per_arm, p=CONTROL), rng.choice(7, n_per_arm, p=treated)])
    frame = pd.DataFrame({"arm": ["placebo"] * n_per_arm + ["msc"] * n_per_arm, "mrs": mrs})
    if with_age:
        frame["age"] = rng.integers(18, 71, len(frame))
    return frame


@pytest.mark.slow
@pytest.mark.parametrize("seed, common_or", [(1, 2.0), (2, 1.5), (3, 1.0)])
def test_the_p_value_agrees_with_wilcoxon_mann_whitney_without_covariates(seed, common_or):
    data = trial(np.random.default_rng(seed), 40, common_or)
    result = shift_permutation_test(data, "msc", "placebo", permutations=4000, seed=seed)
    reference = mannwhitneyu(
        data.mrs[data.arm == "msc"], data.mrs[data.arm == "placebo"], alternative="two-sided", method="asymptotic"
    ).pvalue
    # Different statistics of the same ranks-like information, and B = 4000 re-draws (MC SE ≤ 0.008):
    # within 0.03 or 20 %, whichever is larger.
    assert abs(result.p_value - reference) <= max(0.03, 0.2 * reference), (result.p_value, reference)
    assert result.scheme == "simple permutation" and result.permutations == 4000
    assert result.mc_ci95[0] <= result.as_extreme / 4000 <= result.mc_ci95[1]


@pytest.mark.slow  # about a minute and a half on one core
def test_under_the_null_the_rejection_rate_is_alpha_within_monte_carlo_error():
    """400 null trials of 30 per arm with an age covariate, 199 re-draws each: a permutation test is
    exact, so the rejection rate at 0.05 should cover 0.05 with its 99% Clopper–Pearson interval."""
    rng = np.random.default_rng(11)
    rejected = 0
    for i in range(400):
        data = trial(rng, 30, 1.0, with_age=True)
        rejected += (
            shift_permutation_test(data, "msc", "placebo", covariates=["age"], permutations=199, seed=i).p_value <= 0.05
        )
    ci = binomtest(rejected, 400).proportion_ci(confidence_level=0.99, method="exact")
    assert ci.low <= 0.05 <= ci.high, (rejected, ci)


def test_strata_keep_the_arm_counts_within_each_stratum():
    data = trial(np.random.default_rng(4), 20, 2.0)
    data["site"] = ["a", "b"] * 20
    result = shift_permutation_test(data, "msc", "placebo", permutations=300, seed=1, strata=["site"])
    assert result.scheme == "permutation within strata (site)"
    assert 0 < result.p_value <= 1


def test_the_same_seed_gives_the_same_p_value_and_bad_input_is_named():
    data = trial(np.random.default_rng(5), 25, 1.8)
    first = shift_permutation_test(data, "msc", "placebo", permutations=500, seed=9)
    assert first == shift_permutation_test(data, "msc", "placebo", permutations=500, seed=9)
    with pytest.raises(AnalysisInputError, match="--permutations"):
        shift_permutation_test(data, "msc", "placebo", permutations=0)
    with pytest.raises(AnalysisInputError, match="'site' is missing"):
        shift_permutation_test(data, "msc", "placebo", strata=["site"])


def test_the_cli_adds_the_permutation_test_to_the_shift_analysis(tmp_path):
    path = tmp_path / "outcomes.csv"
    trial(np.random.default_rng(6), 30, 2.0).to_csv(path, index=False)
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            "mrs-shift",
            "--input",
            str(path),
            "--treatment",
            "msc",
            "--control",
            "placebo",
            "--permutations",
            "500",
            "--seed",
            "3",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["permutation_test"]["permutations"] == 500 and 0 < out["permutation_test"]["p_value"] <= 1
    bad = CliRunner().invoke(
        app,
        [
            "analyze",
            "mrs-shift",
            "--input",
            str(path),
            "--treatment",
            "msc",
            "--control",
            "placebo",
            "--strata",
            "site",
        ],
    )
    assert bad.exit_code != 0 and "--strata" in bad.output
