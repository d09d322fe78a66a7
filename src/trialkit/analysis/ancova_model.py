"""ANCOVA of a change from baseline, adjusted for the baseline value.

Model: (follow-up − baseline) = b0 + b1·treatment + b2·baseline + e, fitted by ordinary least
squares; the treatment effect b1 is the adjusted difference in mean change, with a t interval on
n − 3 (− covariates) degrees of freedom. Adjusting for baseline gives the same b1 whether the outcome
is the change or the follow-up value, and is more efficient than either unadjusted analysis
(Vickers & Altman 2001, BMJ 323:1123; EMA Guideline on adjustment for baseline covariates, 2015).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from trialkit.analysis.errors import AnalysisInputError
from trialkit.analysis.ordinal_shift import _arm_indicator, _two_arm_rows, covariate_columns


@dataclass(frozen=True)
class AncovaResult:
    difference: float
    ci95: tuple[float, float]
    p_value: float
    n: int
    standard_error: float
    df: int
    mean_change_treatment: float
    mean_change_control: float
    covariates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def ancova(
    data: pd.DataFrame,
    outcome: str,
    baseline: str,
    treatment: str,
    control: str,
    covariates: Sequence[str] = (),
) -> AncovaResult:
    """Rows need ``arm``, the follow-up ``outcome`` column and the ``baseline`` column."""
    covariates = list(covariates)
    rows = _two_arm_rows(data, treatment, control, [outcome, baseline, *covariates])
    treated = _arm_indicator(rows["arm"], treatment, control)
    values = {}
    for name in [outcome, baseline]:
        column = pd.to_numeric(rows[name], errors="coerce")
        if column.isna().any():
            raise AnalysisInputError(f"column {name!r} must be numeric")
        values[name] = column.to_numpy(dtype=float)
        if not np.isfinite(values[name]).all():
            raise AnalysisInputError(f"column {name!r} must hold finite numbers")
    n, p = len(rows), 3 + len(covariates)
    if n <= p or treated.sum() == 0 or treated.sum() == n:
        raise AnalysisInputError(f"ANCOVA needs more than {p} participants with both arms represented (n = {n})")
    # The baseline is checked like a covariate: constant or collinear, it has no estimable coefficient.
    extra = covariate_columns(rows, [baseline, *covariates], treated)
    change = values[outcome] - values[baseline]
    design = np.column_stack([np.ones(n), treated, *extra])
    coef, *_ = np.linalg.lstsq(design, change, rcond=None)
    residual = change - design @ coef
    df = n - p
    sigma2 = residual @ residual / df
    if sigma2 <= 1e-12 * max(1.0, float(change @ change) / n):
        raise AnalysisInputError(
            f"column {outcome!r}: the change from baseline is explained exactly by arm and "
            "baseline (no residual variation), so no interval or p-value exists"
        )
    covariance = sigma2 * np.linalg.inv(design.T @ design)
    se = float(np.sqrt(covariance[1, 1]))
    t_value = coef[1] / se
    quantile = student_t.ppf(0.975, df)
    return AncovaResult(
        difference=float(coef[1]),
        ci95=(float(coef[1] - quantile * se), float(coef[1] + quantile * se)),
        p_value=float(2 * student_t.sf(abs(t_value), df)),
        n=int(n),
        standard_error=se,
        df=int(df),
        mean_change_treatment=float(change[treated == 1].mean()),
        mean_change_control=float(change[treated == 0].mean()),
        covariates=covariates,
    )
