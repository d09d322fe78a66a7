"""Statistical edge cases of the analyses: a clear error naming the column and the rule, or the documented
null result; never a placeholder interval and never a raw LinAlgError.

Each case is checked on the core function and, for the shift analysis and ANCOVA, through
``trialkit analyze`` (exit 2 and one line for an error, exit 0 with nulls for separation).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from trialkit.analysis import AnalysisInputError, ancova, dichotomized_mrs, mrs_shift
from trialkit.analysis.permutation import shift_permutation_test
from trialkit.cli.main import app


def shift_frame(n: int = 40, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "arm": np.where(np.arange(n) % 2, "msc", "placebo"),
            "mrs": rng.integers(0, 7, n),
            "age": rng.normal(60, 10, n).round(1),
        }
    )
    return frame


def ancova_frame(n: int = 30, seed: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"arm": np.where(np.arange(n) % 2, "msc", "placebo"), "base": rng.normal(30, 8, n)})
    frame["m3"] = frame["base"] + 4 + 3 * (frame["arm"] == "msc") + rng.normal(0, 5, n)
    frame["age"] = rng.normal(60, 10, n)
    return frame


# --------------------------------------------------------------------------- the outcome


def test_a_single_level_outcome_is_refused_naming_the_column():
    frame = shift_frame().assign(mrs=3)
    with pytest.raises(AnalysisInputError, match=r"column 'mrs': every participant analysed has the value 3; .*two"):
        mrs_shift(frame, "msc", "placebo")
    with pytest.raises(AnalysisInputError, match="at least two different outcomes"):
        shift_permutation_test(frame, "msc", "placebo", permutations=10, seed=1)


@pytest.mark.parametrize(
    "value, rule",
    [
        (7, "outside the scale 0–6"),
        (-1, "outside the scale 0–6"),
        (2.5, "not a whole number"),
        (np.inf, "not a whole number"),
    ],
)
def test_an_mrs_grade_outside_0_to_6_or_not_whole_is_refused_naming_the_row(value, rule):
    frame = shift_frame()
    frame["mrs"] = frame["mrs"].astype(float)
    frame.loc[7, "mrs"] = value
    with pytest.raises(AnalysisInputError, match=rf"column 'mrs': row 7 value .* {rule}"):
        mrs_shift(frame, "msc", "placebo")
    with pytest.raises(AnalysisInputError, match=rule):
        dichotomized_mrs(frame, "msc", "placebo")
    with pytest.raises(AnalysisInputError, match=rule):
        shift_permutation_test(frame, "msc", "placebo", permutations=10, seed=1)


def test_another_ordinal_scale_may_lift_the_mrs_range():
    frame = shift_frame().assign(mrs=lambda f: f["mrs"] + 10)
    assert mrs_shift(frame, "msc", "placebo", scale=None).n == 40


def test_separation_is_a_documented_null_with_no_placeholder_interval():
    """Every treated participant better than every control: no finite MLE (Albert & Anderson 1984)."""
    frame = pd.DataFrame({"arm": ["t"] * 6 + ["c"] * 6, "mrs": [0, 0, 1, 1, 1, 2, 3, 4, 4, 5, 5, 6]})
    result = mrs_shift(frame, "t", "c")
    assert result.separated and result.note.startswith("no finite estimate")
    assert (result.common_odds_ratio, result.ci95, result.p_value, result.log_odds_ratio) == (None, None, None, None)
    assert result.n == 12
    # The permutation test still answers: every re-draw is as extreme or less (Phipson & Smyth 2010).
    perm = shift_permutation_test(frame, "t", "c", permutations=199, seed=1)
    assert 0 < perm.p_value < 0.05


# --------------------------------------------------------------------------- covariates


def test_a_constant_covariate_is_refused_naming_it():
    frame = shift_frame().assign(site=1.0)
    with pytest.raises(AnalysisInputError, match=r"covariate 'site' is constant \(every analysed value is 1\)"):
        mrs_shift(frame, "msc", "placebo", covariates=["site"])
    with pytest.raises(AnalysisInputError, match="covariate 'site' is constant"):
        shift_permutation_test(frame, "msc", "placebo", covariates=["site"], permutations=10, seed=1)
    with pytest.raises(AnalysisInputError, match="covariate 'site' is constant"):
        ancova(ancova_frame().assign(site=1.0), "m3", "base", "msc", "placebo", ["site"])


def test_collinear_covariates_are_refused_naming_the_second():
    frame = shift_frame()
    frame["age_months"] = 12 * frame["age"]
    with pytest.raises(AnalysisInputError, match=r"covariate 'age_months' is collinear with arm, age"):
        mrs_shift(frame, "msc", "placebo", covariates=["age", "age_months"])
    # A covariate that repeats the arm cannot be adjusted for either.
    frame["treated"] = (frame["arm"] == "msc").astype(float)
    with pytest.raises(AnalysisInputError, match=r"covariate 'treated' is collinear with arm"):
        mrs_shift(frame, "msc", "placebo", covariates=["treated"])
    data = ancova_frame()
    data["base2"] = 2 * data["base"] + 1
    with pytest.raises(AnalysisInputError, match=r"covariate 'base2' is collinear with arm, base"):
        ancova(data, "m3", "base", "msc", "placebo", ["base2"])


def test_a_non_finite_covariate_is_refused():
    frame = shift_frame()
    frame.loc[3, "age"] = np.inf
    with pytest.raises(AnalysisInputError, match=r"covariate 'age': row 3 value inf is not a finite number"):
        mrs_shift(frame, "msc", "placebo", covariates=["age"])


def test_ancova_with_a_constant_baseline_or_an_exact_fit_is_refused():
    with pytest.raises(AnalysisInputError, match="covariate 'base' is constant"):
        ancova(ancova_frame().assign(base=20.0), "m3", "base", "msc", "placebo")
    exact = ancova_frame()
    exact["m3"] = exact["base"] + 2 + 3 * (exact["arm"] == "msc")
    with pytest.raises(AnalysisInputError, match=r"column 'm3': .*no residual variation"):
        ancova(exact, "m3", "base", "msc", "placebo")


# --------------------------------------------------------------------------- through the command line

runner = CliRunner()


def _shift_cli(path, *extra):
    return runner.invoke(
        app, ["analyze", "mrs-shift", "--input", str(path), "--treatment", "msc", "--control", "placebo", *extra]
    )


@pytest.mark.parametrize(
    "change, covariates, message",
    [
        ({"mrs": 3}, "", "every participant analysed has the value 3"),
        ({"mrs": 9}, "", "outside the scale 0–6"),
        ({"site": 1}, "site", "covariate 'site' is constant"),
        ({"age2": None}, "age,age2", "covariate 'age2' is collinear"),
    ],
)
def test_the_cli_exits_2_with_one_line_naming_the_column(tmp_path, change, covariates, message):
    frame = shift_frame()
    for column, value in change.items():
        frame[column] = 2 * frame["age"] if value is None else value
    path = tmp_path / "outcomes.csv"
    frame.to_csv(path, index=False)
    result = _shift_cli(path, *(["--covariates", covariates] if covariates else []))
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr and "Traceback" not in result.output and "LinAlgError" not in result.output


def test_the_cli_reports_separation_as_a_null_in_json_and_in_words(tmp_path):
    path = tmp_path / "separated.csv"
    pd.DataFrame({"arm": ["msc"] * 6 + ["placebo"] * 6, "mrs": [0, 0, 1, 1, 1, 2, 3, 4, 4, 5, 5, 6]}).to_csv(
        path, index=False
    )
    result = _shift_cli(path, "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["separated"] is True and out["common_odds_ratio"] is None and out["ci95"] is None
    text = _shift_cli(path)
    assert text.exit_code == 0 and "Common odds ratio: no finite estimate" in text.stdout
