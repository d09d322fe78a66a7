"""A permutation (re-randomization) test of the mRS shift analysis.

The Wald test of the proportional odds model leans on large-sample theory; at the sizes of phase 1/2
cell-therapy trials (tens per arm) and with covariates its level drifts above the nominal alpha (the
protocol rehearsal shows how far, ``trialkit simulate trial``). A randomization test needs no such
theory: under the null hypothesis of no treatment effect every participant's outcome would have been
the same whatever arm they got, so re-drawing the arm labels the way the trial drew them and
recomputing the statistic gives its exact null distribution (Fisher 1935; Rosenberger & Lachin,
*Randomization in Clinical Trials*, 2nd ed. 2016, ch. 6).

The statistic is the shift analysis' own Wald z of the treatment coefficient (with the same
covariates), so the test is the one the trial reports, with a p-value that does not depend on the
normal approximation. Labels are re-drawn by **simple permutation** of the observed labels (the arm
sizes fixed), within strata when ``strata`` names columns; permuted blocks and minimization are not
reproduced (a stratified permutation is the usual approximation to a stratified blocked design).

The p-value is estimated from ``permutations`` random re-draws as (1 + b) / (1 + B), b the re-draws at
least as extreme as the observed |z| (Phipson & Smyth 2010, Stat Appl Genet Mol Biol 9:39: never 0,
and a valid test at every B); its Monte Carlo standard error is √(p(1 − p)/B) and ``mc_ci95`` the exact
(Clopper–Pearson) interval of b/B.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from trialkit.analysis.errors import AnalysisInputError
from trialkit.analysis.ordinal_shift import (
    MRS_RANGE,
    _arm_indicator,
    _ordinal_codes,
    _two_arm_rows,
    covariate_columns,
)
from trialkit.analysis.proportional_odds import fit_cells

DEFAULT_PERMUTATIONS = 2000
# 100,000 re-draws put the Monte Carlo SE of p below 0.0007 near p = 0.05; a mistyped count would run for days.
MAX_PERMUTATIONS = 100_000
CHUNK = 250  # re-draws fitted per batch (memory: CHUNK × n × covariates)


@dataclass(frozen=True)
class PermutationResult:
    p_value: float
    mc_standard_error: float
    mc_ci95: tuple[float, float]
    permutations: int
    as_extreme: int
    statistic: float  # observed Wald z for a better (lower) mRS with treatment; ±inf under separation
    scheme: str  # "simple permutation" or "permutation within strata (...)"
    covariates: list[str] = field(default_factory=list)
    seed: int | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["statistic"] = None if not np.isfinite(self.statistic) else self.statistic
        return out


def _z_of(fit) -> np.ndarray:
    """Wald z for a better mRS with treatment; a separated fit counts as infinitely extreme in its direction."""
    coef = -fit.coefficients[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = coef / fit.standard_errors[:, 0]
    return np.where(fit.separated, np.sign(coef) * np.inf, z)


def shift_permutation_test(
    data: pd.DataFrame,
    treatment: str,
    control: str,
    outcome: str = "mrs",
    covariates: Sequence[str] = (),
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int | None = None,
    strata: Sequence[str] = (),
    scale: tuple[int, int] | None = MRS_RANGE,
) -> PermutationResult:
    """Two-sided permutation p-value of the shift analysis' Wald statistic (see the module doc)."""
    if permutations < 1:
        raise AnalysisInputError("--permutations: must be at least 1")
    if permutations > MAX_PERMUTATIONS:
        raise AnalysisInputError(f"--permutations: at most {MAX_PERMUTATIONS:,} (got {permutations:,})")
    covariates, strata = list(covariates), list(strata)
    rows = _two_arm_rows(data, treatment, control, [outcome, *covariates, *strata])
    treated = _arm_indicator(rows["arm"], treatment, control)
    if treated.sum() == 0 or treated.sum() == len(treated):
        raise AnalysisInputError("both arms need at least one participant with an outcome")
    codes = _ordinal_codes(rows[outcome], outcome, scale)
    n_levels = int(codes.max()) + 1
    extra = covariate_columns(rows, covariates, treated)
    n = len(treated)

    def fit(labels: np.ndarray):  # labels (B, n)
        design = np.stack([labels, *(np.broadcast_to(c, labels.shape) for c in extra)], axis=-1)
        return fit_cells(np.broadcast_to(codes, labels.shape), design, np.ones(labels.shape), n_levels=n_levels)

    observed = float(_z_of(fit(treated[None]))[0])
    groups = [np.arange(n)]
    if strata:
        keys = rows[strata].astype(str).agg("|".join, axis=1).to_numpy()
        groups = [np.flatnonzero(keys == key) for key in np.unique(keys)]
    rng = np.random.default_rng(seed)
    as_extreme = 0
    done = 0
    while done < permutations:
        size = min(CHUNK, permutations - done)
        labels = np.tile(treated, (size, 1))
        for index in groups:
            labels[:, index] = rng.permuted(labels[:, index], axis=1)
        z = _z_of(fit(labels))
        # Ties count as extreme; the relative tolerance keeps a re-draw equal to the observed table
        # (same statistic up to rounding) among them.
        as_extreme += int(np.sum(np.abs(z) >= abs(observed) * (1 - 1e-9)))
        done += size
    p_value = (1 + as_extreme) / (1 + permutations)
    ci = binomtest(as_extreme, permutations).proportion_ci(confidence_level=0.95, method="exact")
    scheme = "simple permutation" if not strata else f"permutation within strata ({', '.join(strata)})"
    return PermutationResult(
        p_value=float(p_value),
        mc_standard_error=float(np.sqrt(p_value * (1 - p_value) / permutations)),
        mc_ci95=(float(ci.low), float(ci.high)),
        permutations=int(permutations),
        as_extreme=as_extreme,
        statistic=observed,
        scheme=scheme,
        covariates=covariates,
        seed=seed,
    )
