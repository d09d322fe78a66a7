"""Proportional odds (cumulative logit) model fitted by Newton–Raphson, batched over trials.

Model (McCullagh 1980, J R Stat Soc B 42:109): P(Y <= k | x) = expit(a_k - x·b), k = 0..K-2,
the parametrisation of statsmodels ``OrderedModel(distr="logit")``: a positive coefficient means
a *higher* outcome category. On the modified Rankin Scale a higher category is worse, so the common
odds ratio of a better (lower) mRS with treatment is ``exp(-b_treatment)``.

One engine serves both the single-trial analysis and the simulation: data are *cells*, each with a
category, a design row and a weight (a count). A 2 × K table of counts is 2K cells; individual data
are one cell per participant. Arrays carry a leading trial axis T, so thousands of simulated trials
are fitted at once with no Python loop over trials.

Empty categories: categories nobody fell into in a trial are dropped and the remaining ones renumbered
in order, as ``OrderedModel`` does with the unique values of a numeric outcome. Inactive cutpoints are
held fixed (zero gradient, unit curvature) so every trial keeps the same parameter vector length.

Separation: when the groups do not overlap the maximum-likelihood estimate does not exist (the log
odds ratio runs off to ±infinity, Albert & Anderson 1984, Biometrika 71:1). A fit is flagged
``separated`` when it fails to converge or when |coefficient| exceeds ``SEPARATION_BOUND``; its Wald
statistic is then meaningless and callers must treat it explicitly (see ``docs/analysis.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from scipy.stats import norm

# A log odds ratio beyond ±15 (odds ratio beyond ~3e6) only arises when the estimate is running off
# to infinity under separation; no stroke trial effect is anywhere near it.
SEPARATION_BOUND = 15.0
MAX_ITERATIONS = 50
TOLERANCE = 1e-10


@dataclass(frozen=True)
class BatchFit:
    """Fitted proportional odds models, one per trial (leading axis T)."""

    cutpoints: np.ndarray  # (T, Kmax-1); entries past n_categories-2 are unused
    coefficients: np.ndarray  # (T, p)
    covariance: np.ndarray  # (T, p, p) inverse observed information for the coefficients
    log_likelihood: np.ndarray  # (T,)
    n_categories: np.ndarray  # (T,) observed categories per trial
    converged: np.ndarray  # (T,) bool
    separated: np.ndarray  # (T,) bool

    @property
    def standard_errors(self) -> np.ndarray:
        return np.sqrt(np.diagonal(self.covariance, axis1=1, axis2=2))

    def wald(self, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Wald z statistic and two-sided p-value for coefficient ``index`` in every trial."""
        z = self.coefficients[:, index] / self.standard_errors[:, index]
        return z, 2.0 * norm.sf(np.abs(z))


def _renumber_observed(categories: np.ndarray, weights: np.ndarray, n_levels: int):
    """Map categories to their rank among the categories observed (weight > 0) in each trial."""
    t_count = categories.shape[0]
    present = np.zeros((t_count, n_levels), dtype=bool)
    rows = np.broadcast_to(np.arange(t_count)[:, None], categories.shape)
    positive = weights > 0
    present[rows[positive], categories[positive]] = True
    rank = np.cumsum(present, axis=1) - 1  # rank of each level among the observed ones
    n_observed = present.sum(axis=1)
    renumbered = np.take_along_axis(rank, categories, axis=1)
    # Cells of zero weight in an unobserved level get any valid rank; they carry no likelihood.
    renumbered = np.clip(renumbered, 0, np.maximum(n_observed - 1, 0)[:, None])
    return renumbered, n_observed


def _start_values(categories, weights, n_observed, k_max):
    """Cutpoints from the pooled cumulative proportions (logit), coefficients zero."""
    t_count = categories.shape[0]
    totals = np.zeros((t_count, k_max))
    np.add.at(totals, (np.broadcast_to(np.arange(t_count)[:, None], categories.shape), categories), weights)
    cumulative = np.cumsum(totals, axis=1)[:, :-1] / np.maximum(totals.sum(axis=1, keepdims=True), 1e-300)
    cumulative = np.clip(cumulative, 1e-6, 1 - 1e-6)
    cut = np.log(cumulative / (1 - cumulative))
    # Inactive cutpoints (past the top observed category) are parked at a large value.
    active = np.arange(k_max - 1)[None, :] < (n_observed - 1)[:, None]
    return np.where(active, cut, 30.0), active


def _cell_terms(theta, categories, design, weights, n_observed, k_max):
    """Log-likelihood, gradient and observed Hessian summed over cells, per trial."""
    t_count, m_count = categories.shape
    n_cut = k_max - 1
    p = design.shape[-1]
    cut = theta[:, :n_cut]
    beta = theta[:, n_cut:]
    eta = np.einsum("tmp,tp->tm", design, beta)

    has_upper = categories < (n_observed - 1)[:, None]
    has_lower = categories > 0
    upper_idx = np.minimum(categories, n_cut - 1)
    lower_idx = np.maximum(categories - 1, 0)
    a_upper = np.take_along_axis(cut, upper_idx, axis=1)
    a_lower = np.take_along_axis(cut, lower_idx, axis=1)
    u = a_upper - eta
    v = a_lower - eta
    f_u_cdf = np.where(has_upper, expit(u), 1.0)
    f_v_cdf = np.where(has_lower, expit(v), 0.0)
    dens_u = np.where(has_upper, f_u_cdf * (1 - f_u_cdf), 0.0)
    dens_v = np.where(has_lower, f_v_cdf * (1 - f_v_cdf), 0.0)
    # Derivative of the logistic density: f'(z) = f(z)(1 - 2F(z)).
    ddens_u = dens_u * (1 - 2 * f_u_cdf)
    ddens_v = dens_v * (1 - 2 * f_v_cdf)
    # P(category) computed as a difference of tails where that is more accurate.
    prob = np.where(
        has_upper & has_lower,
        f_u_cdf - f_v_cdf,
        np.where(has_upper, f_u_cdf, np.where(has_lower, expit(-v), 1.0)),
    )
    safe = np.where(weights > 0, np.maximum(prob, 1e-300), 1.0)
    loglik = np.sum(np.where(weights > 0, weights * np.log(safe), 0.0), axis=1)

    # Gradients of u and v: one-hot on their cutpoint, -x on the coefficients.
    n_par = n_cut + p
    grad_u = np.zeros((t_count, m_count, n_par))
    grad_v = np.zeros((t_count, m_count, n_par))
    t_idx, m_idx = np.meshgrid(np.arange(t_count), np.arange(m_count), indexing="ij")
    grad_u[t_idx, m_idx, upper_idx] = has_upper
    grad_v[t_idx, m_idx, lower_idx] = has_lower
    grad_u[:, :, n_cut:] = -design
    grad_v[:, :, n_cut:] = -design

    # l = log p; dl = dp/p; d2l = d2p/p - dp dp^T / p^2 with
    # dp = f(u) du - f(v) dv and d2p = f'(u) du du^T - f'(v) dv dv^T.
    w_over_p = weights / safe
    dp = dens_u[..., None] * grad_u - dens_v[..., None] * grad_v
    gradient = np.einsum("tm,tmi->ti", w_over_p, dp)
    hessian = (
        np.einsum("tm,tmi,tmj->tij", w_over_p * ddens_u, grad_u, grad_u)
        - np.einsum("tm,tmi,tmj->tij", w_over_p * ddens_v, grad_v, grad_v)
        - np.einsum("tm,tmi,tmj->tij", w_over_p / safe, dp, dp)
    )
    return loglik, gradient, hessian


def fit_cells(
    categories: np.ndarray,
    design: np.ndarray,
    weights: np.ndarray,
    n_levels: int | None = None,
) -> BatchFit:
    """Fit one proportional odds model per trial.

    categories: (T, M) integer outcome level of each cell (0 = lowest).
    design: (T, M, p) or (M, p) covariate rows (no intercept).
    weights: (T, M) counts (0 allowed).
    """
    categories = np.asarray(categories, dtype=np.int64)
    weights = np.asarray(weights, dtype=float)
    if categories.ndim == 1:
        categories, weights = categories[None], weights[None]
    design = np.asarray(design, dtype=float)
    if design.ndim == 2:
        design = np.broadcast_to(design, (categories.shape[0], *design.shape))
    if n_levels is None:
        n_levels = int(categories.max()) + 1
    categories, n_observed = _renumber_observed(categories, weights, n_levels)
    k_max = max(int(n_observed.max()), 2)
    n_cut = k_max - 1
    p = design.shape[-1]
    t_count = categories.shape[0]

    cut0, active = _start_values(categories, weights, n_observed, k_max)
    theta = np.concatenate([cut0, np.zeros((t_count, p))], axis=1)
    # Parameters that take part in the fit: active cutpoints and every coefficient.
    free = np.concatenate([active, np.ones((t_count, p), dtype=bool)], axis=1)
    fittable = n_observed >= 2
    free &= fittable[:, None]
    eye = np.eye(n_cut + p)

    loglik, gradient, hessian = _cell_terms(theta, categories, design, weights, n_observed, k_max)
    converged = ~fittable
    for _ in range(MAX_ITERATIONS):
        todo = ~converged
        if not todo.any():
            break
        g = np.where(free, gradient, 0.0)
        # Fixed parameters get unit curvature so the system stays well posed and their step is 0.
        h = np.where(free[:, :, None] & free[:, None, :], -hessian, 0.0) + eye * (~free)[:, None, :]
        try:
            step = np.linalg.solve(h, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(h[0], g[0], rcond=None)[0][None] if t_count == 1 else np.zeros_like(g)
        step = np.where(todo[:, None], step, 0.0)
        # Step halving keeps cutpoints ordered and the log-likelihood non-decreasing.
        scale = np.ones(t_count)
        for _halving in range(30):
            candidate = theta + scale[:, None] * step
            new_ll, new_g, new_h = _cell_terms(candidate, categories, design, weights, n_observed, k_max)
            diffs = np.diff(np.where(active, candidate[:, :n_cut], 1e300), axis=1)
            ordered = np.all(np.where(active[:, 1:], diffs > 0, True), axis=1)
            ok = ordered & np.isfinite(new_ll) & (new_ll >= loglik - 1e-9 * np.abs(loglik))
            if ok.all():
                break
            scale = np.where(ok, scale, scale / 2)
        accept = ok & todo
        theta = np.where(accept[:, None], candidate, theta)
        loglik = np.where(accept, new_ll, loglik)
        gradient = np.where(accept[:, None], new_g, gradient)
        hessian = np.where(accept[:, None, None], new_h, hessian)
        step_size = np.max(np.abs(scale[:, None] * step), axis=1)
        converged = converged | (step_size < TOLERANCE) | (todo & ~ok)
        runaway = np.any(np.abs(theta[:, n_cut:]) > 2 * SEPARATION_BOUND, axis=1)
        converged |= runaway

    h = np.where(free[:, :, None] & free[:, None, :], -hessian, 0.0) + eye * (~free)[:, None, :]
    with np.errstate(all="ignore"):
        try:
            inverse = np.linalg.inv(h)
        except np.linalg.LinAlgError:
            inverse = np.linalg.pinv(h)
    covariance = inverse[:, n_cut:, n_cut:]
    beta = theta[:, n_cut:]
    final_step_ok = np.max(np.abs(np.where(free, gradient, 0.0)), axis=1) < 1e-4 * np.maximum(1.0, weights.sum(axis=1))
    separated = fittable & (np.any(np.abs(beta) > SEPARATION_BOUND, axis=1) | ~final_step_ok)
    return BatchFit(
        cutpoints=theta[:, :n_cut],
        coefficients=beta,
        covariance=covariance,
        log_likelihood=loglik,
        n_categories=n_observed,
        converged=converged & final_step_ok,
        separated=separated,
    )


def fit_two_arm_tables(control_counts: np.ndarray, treatment_counts: np.ndarray) -> BatchFit:
    """Fit the model with a treatment indicator to T pairs of category counts (T, K) each.

    The coefficient is the log odds of a *higher* category with treatment.
    """
    control_counts = np.atleast_2d(np.asarray(control_counts, dtype=float))
    treatment_counts = np.atleast_2d(np.asarray(treatment_counts, dtype=float))
    t_count, k = control_counts.shape
    categories = np.broadcast_to(np.tile(np.arange(k), 2), (t_count, 2 * k))
    design = np.repeat([[0.0], [1.0]], k, axis=0)  # (2K, 1)
    weights = np.concatenate([control_counts, treatment_counts], axis=1)
    return fit_cells(categories, design, weights, n_levels=k)


def fit_individuals(outcome: np.ndarray, design: np.ndarray) -> BatchFit:
    """Fit one trial (or T trials) of individual data: outcome (n,) or (T, n), design (n, p) or (T, n, p)."""
    outcome = np.atleast_2d(np.asarray(outcome, dtype=np.int64))
    design = np.asarray(design, dtype=float)
    if design.ndim == 2:
        design = design[None]
    if design.shape[0] == 1 and outcome.shape[0] > 1:
        design = np.broadcast_to(design, (outcome.shape[0], *design.shape[1:]))
    return fit_cells(outcome, design, np.ones(outcome.shape))
