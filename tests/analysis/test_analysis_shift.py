"""mRS shift, dichotomy and ANCOVA checked against statsmodels and scipy on the same data."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from numpy.testing import assert_allclose
from scipy.stats import norm
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.contingency_tables import Table2x2

from trialkit.analysis import AnalysisInputError, ancova, dichotomized_mrs, mrs_shift
from trialkit.analysis.proportional_odds import fit_two_arm_tables


def trial_frame(seed=7, n=86, shift=0.8):
    rng = np.random.default_rng(seed)
    arm = np.where(np.arange(n) % 2 == 0, "msc", "placebo")
    nihss = rng.integers(6, 21, n)
    age = rng.integers(18, 71, n)
    latent = 0.15 * nihss + 0.02 * age - shift * (arm == "msc") + rng.logistic(size=n)
    mrs = np.digitize(latent, [0.5, 1.5, 2.5, 3.2, 4.0, 5.5])
    return pd.DataFrame({"arm": arm, "mrs": mrs, "baseline_nihss": nihss, "age": age})


def ordered_model(frame, columns):
    """Reference: statsmodels OrderedModel(distr='logit'), BFGS to a tight gradient tolerance."""
    exog = pd.DataFrame({"treated": (frame["arm"] == "msc").astype(float)})
    for c in columns:
        exog[c] = frame[c].astype(float)
    return OrderedModel(frame["mrs"].to_numpy(), exog, distr="logit").fit(
        method="bfgs", disp=False, maxiter=5000, gtol=1e-9
    )


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariates", [[], ["baseline_nihss", "age"]])
def test_shift_matches_statsmodels_ordered_model(covariates):
    """OR = exp(-coef), Wald CI exp(-coef ± 1.96 se) and p-value equal OrderedModel's to 3 significant digits."""
    frame = trial_frame()
    ref = ordered_model(frame, covariates)
    beta, se, p = ref.params["treated"], ref.bse["treated"], ref.pvalues["treated"]
    result = mrs_shift(frame, "msc", "placebo", covariates=covariates)
    assert_allclose(result.common_odds_ratio, np.exp(-beta), rtol=1e-3)
    z = norm.ppf(0.975)
    assert_allclose(result.ci95, [np.exp(-beta - z * se), np.exp(-beta + z * se)], rtol=1e-3)
    assert_allclose(result.p_value, p, rtol=1e-3)
    assert result.n == 86


def test_odds_ratio_above_one_when_treatment_lowers_mrs():
    """Sign convention: treatment shifts mRS down (better) -> common OR of a better mRS > 1."""
    frame = trial_frame(shift=1.5)
    result = mrs_shift(frame, "msc", "placebo")
    assert frame.loc[frame.arm == "msc", "mrs"].mean() < frame.loc[frame.arm == "placebo", "mrs"].mean()
    assert result.common_odds_ratio > 1
    swapped = mrs_shift(frame, "placebo", "msc")
    assert_allclose(swapped.common_odds_ratio, 1 / result.common_odds_ratio, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_empty_categories_are_dropped_like_ordered_model():
    """A trial with nobody at mRS 0 or 6: the fit uses the observed levels, as OrderedModel does."""
    control = np.array([0, 3, 5, 9, 12, 10, 0])
    treatment = np.array([0, 7, 9, 11, 8, 4, 0])
    fit = fit_two_arm_tables(control, treatment)
    y = np.concatenate([np.repeat(np.arange(7), control), np.repeat(np.arange(7), treatment)])
    x = np.concatenate([np.zeros(control.sum()), np.ones(treatment.sum())])
    ref = OrderedModel(y, x[:, None], distr="logit").fit(method="bfgs", disp=False, maxiter=5000, gtol=1e-9)
    assert fit.n_categories[0] == 5
    assert_allclose(fit.coefficients[0, 0], ref.params[0], rtol=1e-4)
    assert_allclose(fit.standard_errors[0, 0], ref.bse[0], rtol=1e-3)


def test_separated_arms_are_flagged_not_reported_as_a_p_value():
    """Every treated participant better than every control: no finite MLE (Albert & Anderson 1984)."""
    frame = pd.DataFrame({"arm": ["t"] * 6 + ["c"] * 6, "mrs": [0, 0, 1, 1, 1, 2, 3, 4, 4, 5, 5, 6]})
    result = mrs_shift(frame, "t", "c")
    assert result.separated
    # A documented null, not a placeholder: no odds ratio, interval, z or p exists.
    assert (result.common_odds_ratio, result.ci95, result.p_value, result.z) == (None, None, None, None)
    assert "separation" in result.note and "permutation" in result.note


def test_proportional_odds_check_detects_crossing_effects():
    """Treatment pushes people to both extremes: cutpoint ORs differ, the LR test (df K-2) rejects."""
    control = pd.DataFrame({"arm": "c", "mrs": np.repeat(np.arange(7), [5, 10, 20, 40, 20, 10, 5])})
    treated = pd.DataFrame({"arm": "t", "mrs": np.repeat(np.arange(7), [30, 15, 5, 0, 5, 15, 30])})
    check = mrs_shift(pd.concat([control, treated]), "t", "c").proportional_odds_check
    assert check.df == 5
    assert check.p_value < 1e-6
    proportional = trial_frame(seed=3)
    assert mrs_shift(proportional, "msc", "placebo").proportional_odds_check.p_value > 0.01


def test_dichotomy_matches_statsmodels_table_and_scipy_fisher():
    """OR and Woolf CI from statsmodels Table2x2; risk difference by hand; Fisher p from scipy."""
    from scipy.stats import fisher_exact

    frame = trial_frame(shift=1.0)
    r = dichotomized_mrs(frame, "msc", "placebo")
    good = frame.mrs <= 2
    t = frame.arm == "msc"
    table = np.array([[(good & t).sum(), (~good & t).sum()], [(good & ~t).sum(), (~good & ~t).sum()]])
    ref = Table2x2(table)
    assert_allclose(r.odds_ratio, ref.oddsratio, rtol=1e-9)
    assert_allclose(r.odds_ratio_ci95, ref.oddsratio_confint(), rtol=1e-9)
    assert_allclose(r.risk_difference, table[0, 0] / table[0].sum() - table[1, 0] / table[1].sum())
    assert_allclose(r.p_value, fisher_exact(table)[1])


def test_ancova_matches_statsmodels_ols():
    """Treatment coefficient, CI and p of OLS change ~ treated + baseline (statsmodels formula API)."""
    rng = np.random.default_rng(5)
    n = 86
    frame = pd.DataFrame({"arm": np.where(np.arange(n) % 2, "msc", "placebo"), "fma0": rng.normal(30, 10, n)})
    frame["fma3"] = frame.fma0 + 5 + 3 * (frame.arm == "msc") - 0.2 * frame.fma0 + rng.normal(0, 6, n)
    r = ancova(frame, "fma3", "fma0", "msc", "placebo")
    ref = smf.ols("I(fma3 - fma0) ~ treated + fma0", data=frame.assign(treated=(frame.arm == "msc") * 1.0)).fit()
    assert_allclose(r.difference, ref.params["treated"], rtol=1e-9)
    assert_allclose(r.ci95, ref.conf_int().loc["treated"], rtol=1e-9)
    assert_allclose(r.p_value, ref.pvalues["treated"], rtol=1e-6)
    assert r.n == n


def test_unknown_arm_names_the_field():
    with pytest.raises(AnalysisInputError, match=r"--control: arm 'nope' not found .*'msc', 'placebo'"):
        mrs_shift(trial_frame(), "msc", "nope")
