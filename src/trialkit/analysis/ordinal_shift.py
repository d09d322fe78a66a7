"""Shift analysis of the modified Rankin Scale and its dichotomy at mRS 0–2.

The mRS runs from 0 (no symptoms) to 6 (dead) (van Swieten et al. 1988, Stroke 19:604). The shift
analysis fits a proportional odds model (McCullagh 1980) with a treatment indicator and optional
covariates and reports the common odds ratio of a *better* (lower) mRS with treatment, so an odds
ratio above 1 favours treatment. Test: Wald z on the treatment coefficient, the same statistic the
simulation engine uses, so simulated power is the power of the test the trial reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2, fisher_exact, norm

from trialkit.analysis.errors import AnalysisInputError
from trialkit.analysis.proportional_odds import fit_cells, fit_individuals

Z_975 = float(norm.ppf(0.975))

# The modified Rankin Scale's grades: 0 (no symptoms) to 6 (dead) (van Swieten et al. 1988, Stroke 19:604).
MRS_RANGE = (0, 6)

SEPARATION_NOTE = (
    "no finite estimate: the outcomes of the two arms do not overlap (separation, Albert & Anderson 1984, "
    "Biometrika 71:1), so the maximum-likelihood odds ratio is infinite and no Wald interval or p-value exists; "
    "the permutation test (--permutations) gives a valid p-value"
)


@dataclass(frozen=True)
class ProportionalOddsCheck:
    """Likelihood-ratio test of proportional odds for the treatment effect.

    With a binary treatment the alternative is the unconstrained 2 × K multinomial (a separate
    treatment odds ratio at every cutpoint); the statistic has K − 2 degrees of freedom. A small
    p-value says the odds ratio differs across cutpoints. ``cutpoint_odds_ratios`` are the odds
    ratios of a result at or below each cutpoint (mRS <= k) with treatment, for inspection.
    """

    statistic: float
    df: int
    p_value: float
    cutpoint_odds_ratios: list[float | None]


@dataclass(frozen=True)
class ShiftResult:
    """The shift analysis. Under separation the estimate does not exist: ``separated`` is true, the odds
    ratio, its interval, z and p are None and ``note`` says why (never a placeholder interval)."""

    common_odds_ratio: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    n: int
    n_treatment: int
    n_control: int
    log_odds_ratio: float | None
    standard_error: float | None
    z: float | None
    covariates: list[str] = field(default_factory=list)
    separated: bool = False
    proportional_odds_check: ProportionalOddsCheck | None = None
    note: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _arm_indicator(arms: pd.Series, treatment: str, control: str) -> np.ndarray:
    labels = set(arms.astype(str).unique())
    for name, arm in (("--treatment", treatment), ("--control", control)):
        if arm not in labels:
            raise AnalysisInputError(f"{name}: arm {arm!r} not found in column 'arm' (found {sorted(labels)})")
    return (arms.astype(str) == treatment).to_numpy(dtype=float)


def _two_arm_rows(data: pd.DataFrame, treatment: str, control: str, columns: Sequence[str]) -> pd.DataFrame:
    for column in ["arm", *columns]:
        if column not in data.columns:
            raise AnalysisInputError(f"column {column!r} is missing from the input")
    _arm_indicator(data["arm"], treatment, control)  # both arms must exist in the data
    rows = data[data["arm"].astype(str).isin([treatment, control])].dropna(subset=list(columns))
    if rows.empty:
        raise AnalysisInputError("no rows with a value for every analysed column in the two arms")
    return rows


def _ordinal_values(values: pd.Series, column: str, scale: tuple[int, int] | None = MRS_RANGE) -> np.ndarray:
    """The values of an ordinal outcome, checked: whole numbers within ``scale`` (mRS 0–6 unless told)."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any():
        raise AnalysisInputError(f"column {column!r} must hold numbers (an ordinal scale such as mRS 0–6)")
    array = numeric.to_numpy(dtype=float)
    bad = ~np.isfinite(array) | (array != np.round(array))
    if bad.any():
        raise AnalysisInputError(
            f"column {column!r}: {_first(values, bad)} is not a whole number (an ordinal grade such as mRS 0–6)"
        )
    if scale is not None:
        low, high = scale
        outside = (array < low) | (array > high)
        if outside.any():
            raise AnalysisInputError(f"column {column!r}: {_first(values, outside)} is outside the scale {low}–{high}")
    return array


def _ordinal_codes(values: pd.Series, column: str, scale: tuple[int, int] | None = MRS_RANGE) -> np.ndarray:
    """Codes 0..K-1 of the observed levels of a checked ordinal outcome; at least two levels must occur."""
    array = _ordinal_values(values, column, scale)
    # Levels are the observed values in order, as statsmodels OrderedModel uses them.
    levels, codes = np.unique(array, return_inverse=True)
    if len(levels) < 2:
        raise AnalysisInputError(
            f"column {column!r}: every participant analysed has the value {levels[0]:g}; a shift "
            "analysis needs at least two different outcomes"
        )
    return codes


def _first(values: pd.Series, mask: np.ndarray) -> str:
    index = int(np.flatnonzero(mask)[0])
    value, row = values.iloc[index], values.index[index]
    value, row = (v.item() if isinstance(v, np.generic) else v for v in (value, row))
    return f"row {row!r} value {value!r}"


def covariate_columns(
    rows: pd.DataFrame,
    covariates: Sequence[str],
    treated: np.ndarray | None = None,
    fixed: Sequence[tuple[str, np.ndarray]] = (),
) -> list[np.ndarray]:
    """Numeric covariate columns, checked so that the model can be fitted: finite numbers, not constant, and
    not a linear combination of the intercept, the arm, ``fixed`` columns and the covariates before them.

    A constant or collinear covariate makes the information matrix singular: its coefficient (and the
    treatment effect's standard error) is not identified. Refused naming the covariate.
    """
    base = [("intercept", np.ones(len(rows)))]
    if treated is not None:
        base.append(("arm", np.asarray(treated, dtype=float)))
    base.extend((name, np.asarray(values, dtype=float)) for name, values in fixed)
    names = [name for name, _ in base]
    matrix = np.column_stack([values for _, values in base])
    out = []
    for name in covariates:
        values = pd.to_numeric(rows[name], errors="coerce")
        if values.isna().any():
            raise AnalysisInputError(f"covariate {name!r} must be numeric (a number in every analysed row)")
        array = values.to_numpy(dtype=float)
        if not np.isfinite(array).all():
            raise AnalysisInputError(
                f"covariate {name!r}: {_first(values, ~np.isfinite(array))} is not a finite number"
            )
        if np.ptp(array) == 0:
            raise AnalysisInputError(
                f"covariate {name!r} is constant (every analysed value is {array[0]:g}); "
                "it cannot be adjusted for: leave it out"
            )
        candidate = np.column_stack([matrix, array])
        if np.linalg.matrix_rank(candidate) < candidate.shape[1]:
            raise AnalysisInputError(
                f"covariate {name!r} is collinear with {', '.join(names[1:]) or 'the intercept'} "
                "(a linear combination of them); its effect cannot be separated: leave one out"
            )
        matrix, names = candidate, [*names, name]
        out.append(array)
    return out


def proportional_odds_check(outcome: np.ndarray, treated: np.ndarray) -> ProportionalOddsCheck:
    """LR test of the proportional odds model against the saturated 2 × K table (see class doc)."""
    levels = np.unique(outcome)
    k = len(levels)
    codes = np.searchsorted(levels, outcome)
    table = np.zeros((2, k))
    np.add.at(table, (treated.astype(int), codes), 1)
    design = np.repeat([[0.0], [1.0]], k, axis=0)
    fit = fit_cells(np.tile(np.arange(k), 2)[None], design, table.reshape(1, -1), n_levels=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        row_p = table / table.sum(axis=1, keepdims=True)
        saturated = np.nansum(np.where(table > 0, table * np.log(row_p), 0.0))
    statistic = float(max(2 * (saturated - fit.log_likelihood[0]), 0.0))
    df = max(k - 2, 0)
    p_value = float(chi2.sf(statistic, df)) if df > 0 else 1.0
    cut_ors: list[float | None] = []
    for j in range(k - 1):
        at_or_below = table[:, : j + 1].sum(axis=1)
        above = table[:, j + 1 :].sum(axis=1)
        if np.any(at_or_below == 0) or np.any(above == 0):
            cut_ors.append(None)
        else:
            cut_ors.append(float((at_or_below[1] / above[1]) / (at_or_below[0] / above[0])))
    return ProportionalOddsCheck(statistic=statistic, df=df, p_value=p_value, cutpoint_odds_ratios=cut_ors)


def mrs_shift(
    data: pd.DataFrame,
    treatment: str,
    control: str,
    outcome: str = "mrs",
    covariates: Sequence[str] = (),
    scale: tuple[int, int] | None = MRS_RANGE,
) -> ShiftResult:
    """Proportional odds shift analysis; rows need ``arm``, the outcome and every covariate.

    The outcome must hold whole numbers within ``scale`` (mRS 0–6; None for another ordinal scale) with at
    least two different values; covariates must be finite, not constant and not collinear
    (AnalysisInputError naming the column and the rule). Under separation the result is the documented
    null of ShiftResult."""
    covariates = list(covariates)
    rows = _two_arm_rows(data, treatment, control, [outcome, *covariates])
    treated = _arm_indicator(rows["arm"], treatment, control)
    if treated.sum() == 0 or treated.sum() == len(treated):
        raise AnalysisInputError("both arms need at least one participant with an outcome")
    codes = _ordinal_codes(rows[outcome], outcome, scale)
    # No intercept column in the model (the cutpoints play its part), but a constant covariate is
    # confounded with the cutpoints just the same, so the check includes one.
    design = np.column_stack([treated, *covariate_columns(rows, covariates, treated)])
    fit = fit_individuals(codes, design)
    check = proportional_odds_check(codes, treated)
    common: dict[str, Any] = dict(
        n=len(rows),
        n_treatment=int(treated.sum()),
        n_control=int(len(treated) - treated.sum()),
        covariates=covariates,
        proportional_odds_check=check,
    )
    if bool(fit.separated[0]):
        return ShiftResult(
            common_odds_ratio=None,
            ci95=None,
            p_value=None,
            log_odds_ratio=None,
            standard_error=None,
            z=None,
            separated=True,
            note=SEPARATION_NOTE,
            **common,
        )
    beta = float(fit.coefficients[0, 0])
    se = float(fit.standard_errors[0, 0])
    # exp(-beta): the coefficient is for a higher (worse) mRS; the reported OR is for a better one.
    log_or = -beta
    z_value, p = fit.wald(0)
    return ShiftResult(
        common_odds_ratio=float(np.exp(log_or)),
        ci95=(float(np.exp(log_or - Z_975 * se)), float(np.exp(log_or + Z_975 * se))),
        p_value=float(p[0]),
        log_odds_ratio=log_or,
        standard_error=se,
        z=float(-z_value[0]),
        **common,
    )


@dataclass(frozen=True)
class DichotomyResult:
    threshold: int
    responders_treatment: int
    n_treatment: int
    responders_control: int
    n_control: int
    risk_difference: float
    risk_difference_ci95: tuple[float, float]
    odds_ratio: float
    odds_ratio_ci95: tuple[float, float]
    p_value: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def dichotomized_mrs(
    data: pd.DataFrame,
    treatment: str,
    control: str,
    outcome: str = "mrs",
    threshold: int = 2,
) -> DichotomyResult:
    """Good outcome = mRS 0..threshold (default 0–2, functional independence).

    Risk difference with its Wald interval; odds ratio with Woolf's logit interval (Woolf 1955),
    adding 0.5 to every cell when one is zero (Haldane 1956); p-value from Fisher's exact test.
    """
    rows = _two_arm_rows(data, treatment, control, [outcome])
    treated = _arm_indicator(rows["arm"], treatment, control).astype(bool)
    good = _ordinal_values(rows[outcome], outcome) <= threshold
    a = int(good[treated].sum())
    n1 = int(treated.sum())
    c = int(good[~treated].sum())
    n0 = int((~treated).sum())
    if n1 == 0 or n0 == 0:
        raise AnalysisInputError("both arms need at least one participant with an outcome")
    b, d = n1 - a, n0 - c
    p1, p0 = a / n1, c / n0
    rd = p1 - p0
    se_rd = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    cells = np.array([a, b, c, d], dtype=float)
    if np.any(cells == 0):
        cells = cells + 0.5
    odds_ratio = (cells[0] * cells[3]) / (cells[1] * cells[2])
    se_log = np.sqrt(np.sum(1 / cells))
    _, p_value = fisher_exact([[a, b], [c, d]])
    return DichotomyResult(
        threshold=threshold,
        responders_treatment=a,
        n_treatment=n1,
        responders_control=c,
        n_control=n0,
        risk_difference=float(rd),
        risk_difference_ci95=(float(rd - Z_975 * se_rd), float(rd + Z_975 * se_rd)),
        odds_ratio=float(odds_ratio),
        odds_ratio_ci95=(
            float(np.exp(np.log(odds_ratio) - Z_975 * se_log)),
            float(np.exp(np.log(odds_ratio) + Z_975 * se_log)),
        ),
        p_value=float(p_value),
        n=n1 + n0,
    )


def distribution(values: Sequence[int] | np.ndarray, levels: Sequence[int] = range(7)) -> np.ndarray:
    """Counts of each level (mRS 0–6 by default)."""
    values = np.asarray(values, dtype=int)
    return np.array([(values == level).sum() for level in levels])
