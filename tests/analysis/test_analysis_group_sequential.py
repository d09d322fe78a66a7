"""Group-sequential boundaries by alpha spending, against published values and an independent
computation.

Published references:
- Two-sided α = 0.05, five equally spaced looks (Reboussin DM, DeMets DL, Kim K, Lan KKG.
  Computations for group sequential boundaries using the Lan-DeMets spending function method.
  Control Clin Trials 2000;21:190-207, the ld98 program; the same values are printed by R
  gsDesign (test.type = 2, sfLDOF / sfLDPocock, alpha = 0.025 per side) and rpact (asOF / asP)):
  O'Brien–Fleming type 4.877, 3.357, 2.680, 2.290, 2.031; Pocock type 2.438, 2.427, 2.410, 2.397, 2.386.
- One-sided α = 0.05, looks at 0.25, 0.5, 0.75, 1, O'Brien–Fleming type: Z 3.74955, 2.53993, 2.01604,
  1.72014 and α spent at the first look 8.85754e-5 (README of the Julia package SeqBounds.jl,
  github.com/PharmCat/SeqBounds.jl, computed on a coarser grid, hence the tolerance).

Independent computation: the joint distribution of (Z_1, …, Z_K) under H0 is multivariate normal
with corr(Z_i, Z_j) = √(t_i/t_j) (Jennison & Turnbull 2000, section 3.1); scipy's
``multivariate_normal.cdf`` (Genz's quasi-Monte Carlo integration, not the recursive quadrature used
by the module) gives the probability of staying inside every boundary, which must be 1 − α(t_K),
and at every intermediate look 1 − α(t_k).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from typer.testing import CliRunner

from trialkit.analysis.group_sequential import GroupSequentialError, boundaries, monitor, spent
from trialkit.cli.main import app

FIVE = [0.2, 0.4, 0.6, 0.8, 1.0]
OBF_FIVE = [4.877, 3.357, 2.680, 2.290, 2.031]
POCOCK_FIVE = [2.438, 2.427, 2.410, 2.397, 2.386]


def test_obrien_fleming_type_spending_reproduces_the_published_five_look_boundaries():
    assert_allclose(boundaries(FIVE, "obrien_fleming", 0.05, 2).z, OBF_FIVE, atol=6e-4)


def test_pocock_type_spending_reproduces_the_published_five_look_boundaries():
    assert_allclose(boundaries(FIVE, "pocock", 0.05, 2).z, POCOCK_FIVE, atol=6e-4)


def test_one_sided_obrien_fleming_type_matches_seqbounds():
    b = boundaries([0.25, 0.5, 0.75, 1.0], "obrien_fleming", 0.05, 1)
    assert_allclose(b.z, [3.74955, 2.53993, 2.01604, 1.72014], atol=1e-4)
    assert b.looks[0].alpha_spent == pytest.approx(8.85754e-5, rel=1e-5)


def test_a_single_look_is_the_fixed_sample_test():
    assert boundaries([1.0], "obrien_fleming", 0.05, 2).z[0] == pytest.approx(stats.norm.isf(0.025), abs=1e-9)
    assert boundaries([1.0], "pocock", 0.05, 1).z[0] == pytest.approx(stats.norm.isf(0.05), abs=1e-9)


def _stay_inside(fractions, z, sides):
    """P(every look inside its boundary) from the multivariate normal distribution of the Z's."""
    t = np.asarray(fractions)
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    upper = np.asarray(z)
    lower = -upper if sides == 2 else np.full_like(upper, -np.inf)
    return stats.multivariate_normal.cdf(
        upper,
        mean=np.zeros(len(t)),
        cov=corr,
        maxpts=2_000_000,
        abseps=1e-7,
        releps=1e-7,
        lower_limit=lower,
        rng=np.random.default_rng(1),
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fractions", "spending", "alpha", "sides"),
    [
        ([0.3, 0.7, 1.0], "obrien_fleming", 0.05, 2),
        ([0.25, 0.5, 0.75, 1.0], "pocock", 0.05, 2),
        ([0.1, 0.45, 0.5, 1.0], "obrien_fleming", 0.01, 2),
        ([0.33, 0.9], "pocock", 0.025, 1),
        ([0.2, 0.4, 0.6, 0.8, 1.0], "obrien_fleming", 0.05, 2),
    ],
)
def test_every_look_spends_what_the_spending_function_says_by_the_multivariate_normal(
    fractions, spending, alpha, sides
):
    b = boundaries(fractions, spending, alpha, sides)
    for k in range(1, len(fractions) + 1):
        inside = _stay_inside(fractions[:k], b.z[:k], sides)
        assert 1 - inside == pytest.approx(spent(spending, alpha, fractions[k - 1], sides), abs=2e-6), k
    assert sum(b.crossing_probabilities()) == pytest.approx(spent(spending, alpha, fractions[-1], sides), abs=1e-9)


@pytest.mark.slow
def test_crossing_probabilities_under_a_drift_agree_with_the_multivariate_normal():
    """Under a drift θ, Z_k has mean θ√t_k; power of the five-look O'Brien–Fleming design at θ = 3."""
    b = boundaries(FIVE, "obrien_fleming", 0.05, 2)
    theta = 3.0
    t = np.asarray(FIVE)
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    z = np.asarray(b.z)
    inside = stats.multivariate_normal.cdf(
        z,
        mean=theta * np.sqrt(t),
        cov=corr,
        maxpts=2_000_000,
        abseps=1e-7,
        releps=1e-7,
        lower_limit=-z,
        rng=np.random.default_rng(2),
    )
    assert sum(b.crossing_probabilities(drift=theta)) == pytest.approx(1 - inside, abs=2e-6)


def test_looks_at_unequal_fractions_and_a_trial_ending_early():
    early = boundaries([0.3, 0.6, 0.8], "obrien_fleming", 0.05, 2)
    assert early.looks[-1].alpha_spent == pytest.approx(spent("obrien_fleming", 0.05, 0.8, 2))
    assert early.looks[-1].alpha_spent < 0.05
    # Adding a look does not change the boundaries of the earlier looks (the spending function's point).
    more = boundaries([0.3, 0.45, 0.6, 0.8], "obrien_fleming", 0.05, 2)
    assert more.z[0] == pytest.approx(early.z[0], abs=1e-9)


def test_obrien_fleming_spending_is_the_lan_demets_formula():
    """Lan & DeMets 1983: 2 − 2Φ(z_{1−a/2}/√t) per tail at a = α/2; all of α spent at t = 1."""
    a = 0.025
    assert spent("obrien_fleming", 0.05, 0.5, 2) == pytest.approx(
        2 * (2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - a / 2) / math.sqrt(0.5)))
    )
    assert spent("obrien_fleming", 0.05, 1.0, 2) == pytest.approx(0.05)
    assert spent("pocock", 0.05, 0.5, 2) == pytest.approx(0.05 * math.log(1 + (math.e - 1) * 0.5))


@pytest.mark.parametrize(
    ("fractions", "kwargs", "message"),
    [
        ([], {}, "information_fractions: give at least one look"),
        ([0.5, 0.5, 1.0], {}, "information_fractions[1]: 0.5 does not increase"),
        ([0.0, 1.0], {}, "information_fractions[0]: 0.0 is not in (0, 1]"),
        ([0.5, 1.2], {}, "information_fractions[1]: 1.2 is not in (0, 1]"),
        ([0.5, 1.0], {"alpha": 1.5}, "alpha: 1.5 is not in (0, 1)"),
        ([0.5, 1.0], {"sides": 3}, "sides: 3 must be 1 or 2"),
        ([0.5, 1.0], {"spending": "haybittle"}, "spending: unknown spending function 'haybittle'"),
    ],
)
def test_bad_input_names_the_field_and_the_rule(fractions, kwargs, message):
    with pytest.raises(
        GroupSequentialError,
        match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]"),
    ):
        boundaries(fractions, **kwargs)


def test_monitor_marks_the_first_look_whose_statistic_reaches_its_boundary():
    b = boundaries(FIVE, "obrien_fleming", 0.05, 2)
    m = monitor(b, [1.0, -3.5, 2.9])
    assert m.crossed_at == 2  # |−3.5| ≥ 3.357: the lower boundary counts in a two-sided test
    rows = m.as_dict()["looks"]
    assert [r["crossed"] for r in rows] == [False, True, True, None, None]
    assert [r["observed_z"] for r in rows] == [1.0, -3.5, 2.9, None, None]
    assert monitor(b, [1.0, 2.0]).crossed_at is None
    with pytest.raises(GroupSequentialError, match="observed: 6 statistics for 5 looks"):
        monitor(b, [0.0] * 6)


runner = CliRunner()


def test_cli_prints_boundaries_and_observed_statistics_as_json():
    result = runner.invoke(
        app,
        [
            "analyze",
            "boundaries",
            "--looks",
            "0.2,0.4,0.6,0.8,1",
            "--spending",
            "pocock",
            "--observed",
            "1.2,2.5",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [round(look["z"], 3) for look in data["looks"]] == POCOCK_FIVE
    assert data["crossed_at"] == 2 and data["looks"][1]["crossed"] is True
    assert data["sides"] == 2 and data["alpha"] == 0.05


def test_cli_refuses_bad_looks_with_the_rule():
    result = runner.invoke(app, ["analyze", "boundaries", "--looks", "0.6,0.3", "--format", "json"])
    assert result.exit_code == 2
    assert "does not increase" in json.loads(result.stdout)["error"]
    result = runner.invoke(app, ["analyze", "boundaries", "--looks", "a,b"])
    assert result.exit_code == 2 and "--looks" in result.output


def test_cli_without_declared_looks_in_the_protocol_says_so():
    result = runner.invoke(app, ["analyze", "boundaries", "--protocol", "NCT07197606", "--format", "json"])
    assert result.exit_code == 2
    assert "analysis_plan.interim" in json.loads(result.stdout)["error"]
