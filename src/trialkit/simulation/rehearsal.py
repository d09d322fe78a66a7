"""Rehearsal of a protocol: many virtual trials run through its allocation, dropout and analysis plan.

Virtual participants are drawn inside the protocol's eligibility bands (baseline NIHSS from the NIHSS
inclusion rules' nihss_total bounds, age from its age rule or the registry), allocated with the protocol's own scheme
(its concealed lists: ratio, block sizes, strata and dose cohorts; see
``simulation.allocation.protocol_allocation_matrix``), and lose their outcome at random with probability ``dropout``
(complete-case analysis). The mRS follows a proportional odds model on a latent logistic scale:
P(mRS <= k) = expit(c_k − η), η = −log(OR)·treated + Σ γ_j (x_j − mean x_j), with cutpoints c_k from
``control`` (the distribution of a control participant with average covariates). Every mRS analysis
of the plan (shift with its covariates, dichotomy with Fisher's exact test) is applied to every trial,
batched; the rehearsal reports power at ``common_or`` and type I error at OR = 1 with Monte Carlo
intervals.

ANCOVA analyses of a change from baseline are rehearsed on a standardized normal model: baseline
~ N(0, 1), follow-up = ρ·baseline + √(1 − ρ²)·e + δ·treated, with ρ = ``ANCOVA_CORRELATION`` and δ
the standardized effect ``ancova_effect`` (power) or 0 (type I error), analysed by the same OLS t-test
as ``trialkit.analysis.ancova_model``. Under that model the t-test is exact, so its type I error is alpha up
to Monte Carlo error; the mRS shift's Wald test is not, and at phase 1/2 sizes with covariates its type
I error runs above alpha. Every analysis says which: ``type1_verdict`` is "above alpha" when the whole
Monte Carlo interval lies above alpha, "below alpha" when it lies below, otherwise "consistent with
alpha". The permutation test (``trialkit.analysis.permutation``) keeps its level at any size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import logit
from scipy.stats import hypergeom
from scipy.stats import t as student_t

from trialkit.analysis.proportional_odds import fit_cells
from trialkit.simulation.allocation import protocol_allocation_matrix
from trialkit.simulation.dataset import age_range, nihss_range, treatment_and_control
from trialkit.simulation.ordinal_power import (
    SimulationInputError,
    monte_carlo_interval,
    validate_probabilities,
    validate_trials,
)

# A subacute-stroke control mRS distribution (0..6) used when none is given; roughly the placebo arms
# of recovery-phase cell-therapy trials (e.g. MASTERS, Hess et al. Lancet Neurol 2017;16:360).
DEFAULT_CONTROL = (0.03, 0.12, 0.17, 0.25, 0.28, 0.10, 0.05)
# Log odds of a worse mRS per unit of covariate (assumptions of the rehearsal, documented in docs).
DEFAULT_COVARIATE_EFFECTS = {"baseline_nihss": 0.15, "age": 0.02}
# ANCOVA model of the rehearsal (assumptions, documented in docs/analysis.md): correlation of baseline
# and follow-up, and the standardized treatment effect at which power is reported.
ANCOVA_CORRELATION = 0.6
DEFAULT_ANCOVA_EFFECT = 0.5
REHEARSED_METHODS = ("mrs_shift", "dichotomized_mrs", "ancova")


def ancova_p_values(change: np.ndarray, treated: np.ndarray, baseline: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Two-sided p of the treatment coefficient in change ~ 1 + treated + baseline, per trial (rows),
    on the observed participants: the OLS t-test of ``trialkit.analysis.ancova_model``, batched."""
    w = observed.astype(float)
    design = np.stack([np.ones_like(change), treated.astype(float), baseline], axis=-1)  # (T, n, 3)
    xtx = np.einsum("tni,tn,tnj->tij", design, w, design)
    xty = np.einsum("tni,tn,tn->ti", design, w, change)
    n_obs = w.sum(axis=1)
    ok = (n_obs > 3) & (np.linalg.det(xtx) > 1e-9)
    xtx = np.where(ok[:, None, None], xtx, np.eye(3))
    inverse = np.linalg.inv(xtx)
    beta = np.einsum("tij,tj->ti", inverse, xty)
    residual = change - np.einsum("tni,ti->tn", design, beta)
    df = np.maximum(n_obs - 3, 1)
    sigma2 = (w * residual**2).sum(axis=1) / df
    se = np.sqrt(np.maximum(sigma2 * inverse[:, 1, 1], 1e-300))
    p = 2 * student_t.sf(np.abs(beta[:, 1] / se), df)
    return np.where(ok, p, 1.0)


def type1_verdict(ci95: tuple[float, float], alpha: float) -> str:
    if ci95[0] > alpha:
        return "above alpha"
    if ci95[1] < alpha:
        return "below alpha"
    return "consistent with alpha"


def fisher_exact_batch(a: np.ndarray, n1: np.ndarray, c: np.ndarray, n0: np.ndarray) -> np.ndarray:
    """Two-sided Fisher exact p-values for many 2×2 tables [[a, n1−a], [c, n0−c]] at once.

    Sums the hypergeometric probabilities of all tables with the same margins that are no more
    likely than the observed one, with scipy's relative tolerance 1 + 1e-7 (scipy.stats.fisher_exact).
    """
    total_good = a + c
    support = np.arange(int((n1).max()) + 1)[None, :]
    pmf = hypergeom.pmf(support, (n1 + n0)[:, None], total_good[:, None], n1[:, None])
    observed = hypergeom.pmf(a, n1 + n0, total_good, n1)
    return np.minimum(1.0, np.sum(np.where(pmf <= observed[:, None] * (1 + 1e-7), pmf, 0.0), axis=1))


@dataclass(frozen=True)
class AnalysisRehearsal:
    analysis_id: str
    method: str
    power: float
    power_ci95: tuple[float, float]
    type1_error: float
    type1_ci95: tuple[float, float]
    type1_verdict: str
    effect: str  # the effect at which power is simulated


@dataclass(frozen=True)
class RehearsalResult:
    nct_id: str
    trials: int
    n: int
    common_or: float
    dropout: float
    alpha: float
    allocation: str
    analyses: list[AnalysisRehearsal]
    not_rehearsed: list[str]
    seed: int | None

    def to_dict(self) -> dict:
        return asdict(self)


def _simulate_batch(rng, protocol, n, trials, log_or, cutpoints, dropout, effects, seed):
    treatment, _control = treatment_and_control(protocol)
    nihss_low, nihss_high = nihss_range(protocol)
    age_low, age_high = age_range(protocol)
    covariates = {
        "baseline_nihss": rng.integers(nihss_low, nihss_high + 1, (trials, n)).astype(float),
        "age": rng.integers(age_low, age_high + 1, (trials, n)).astype(float),
    }
    treated, _ = protocol_allocation_matrix(protocol, covariates, rng, seed, treatment)
    centre = {"baseline_nihss": (nihss_low + nihss_high) / 2, "age": (age_low + age_high) / 2}
    eta = -log_or * treated
    for name, gamma in effects.items():
        eta = eta + gamma * (covariates[name] - centre[name])
    latent = eta + rng.logistic(size=(trials, n))
    mrs = (latent[..., None] > cutpoints).sum(axis=-1)
    observed = rng.random((trials, n)) >= dropout
    return treated, covariates, mrs, observed


def rehearse_trial(
    protocol,
    common_or: float = 2.0,
    control: Sequence[float] = DEFAULT_CONTROL,
    dropout: float = 0.1,
    trials: int = 1000,
    seed: int | None = None,
    covariate_effects: dict[str, float] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 500,
    ancova_effect: float = DEFAULT_ANCOVA_EFFECT,
) -> RehearsalResult:
    probs = validate_probabilities(control)
    if common_or <= 0:
        raise SimulationInputError("--common-or: must be > 0")
    if not 0 <= dropout < 1:
        raise SimulationInputError("--dropout: must be in [0, 1)")
    validate_trials(trials)
    effects = dict(DEFAULT_COVARIATE_EFFECTS if covariate_effects is None else covariate_effects)
    cutpoints = logit(np.cumsum(probs)[:-1])
    alpha = protocol.analysis_plan.alpha
    n = protocol.registry.enrollment.count
    plan = [a for a in protocol.analysis_plan.analyses if a.method in REHEARSED_METHODS]
    # consort and safety are descriptive, not tests; anything else would be listed here.
    not_rehearsed = [
        a.id
        for a in protocol.analysis_plan.analyses
        if a.method not in REHEARSED_METHODS and a.method not in ("consort", "safety")
    ]
    for spec in plan:
        unknown = [c for c in spec.covariates if c not in effects]
        if unknown:
            raise SimulationInputError(
                f"analysis {spec.id}: covariate(s) {', '.join(unknown)} cannot be simulated "
                f"(known: {', '.join(effects)})"
            )
    rng = np.random.default_rng(seed)
    counts = {(spec.id, scenario): 0 for spec in plan for scenario in ("power", "type1")}
    for scenario, log_or in (("power", float(np.log(common_or))), ("type1", 0.0)):
        done = 0
        while done < trials:
            size = min(chunk, trials - done)
            treated, covariates, mrs, observed = _simulate_batch(
                rng, protocol, n, size, log_or, cutpoints, dropout, effects, f"{seed}:{scenario}:{done}"
            )
            weights = observed.astype(float)
            baseline = rng.standard_normal(mrs.shape)
            noise = rng.standard_normal(mrs.shape)
            delta = ancova_effect if scenario == "power" else 0.0
            follow_up = ANCOVA_CORRELATION * baseline + np.sqrt(1 - ANCOVA_CORRELATION**2) * noise + delta * treated
            for spec in plan:
                if spec.method == "ancova":
                    reject = ancova_p_values(follow_up - baseline, treated, baseline, observed) < alpha
                elif spec.method == "mrs_shift":
                    design = np.stack([treated, *(covariates[c] for c in spec.covariates)], axis=-1)
                    fit = fit_cells(mrs, design, weights, n_levels=len(probs))
                    _, p = fit.wald(0)
                    reject = np.where(fit.separated, True, p < alpha) & (fit.n_categories >= 2)
                else:
                    good = (mrs <= (spec.threshold if spec.threshold is not None else 2)) & observed
                    n1 = (treated * observed).sum(axis=1).astype(int)
                    n0 = ((1 - treated) * observed).sum(axis=1).astype(int)
                    a = (good & (treated == 1)).sum(axis=1)
                    c = (good & (treated == 0)).sum(axis=1)
                    reject = fisher_exact_batch(a, n1, c, n0) < alpha
                counts[(spec.id, scenario)] += int(reject.sum())
            done += size
            if progress is not None:
                progress(size)
    analyses = [
        AnalysisRehearsal(
            analysis_id=spec.id,
            method=spec.method,
            power=counts[(spec.id, "power")] / trials,
            power_ci95=monte_carlo_interval(counts[(spec.id, "power")], trials),
            type1_error=counts[(spec.id, "type1")] / trials,
            type1_ci95=monte_carlo_interval(counts[(spec.id, "type1")], trials),
            type1_verdict=type1_verdict(monte_carlo_interval(counts[(spec.id, "type1")], trials), alpha),
            effect=(
                f"standardized difference {ancova_effect:g} (normal model, baseline correlation {ANCOVA_CORRELATION:g})"
                if spec.method == "ancova"
                else f"common OR {common_or:g}"
            ),
        )
        for spec in plan
    ]
    treatment, _control = treatment_and_control(protocol)
    probe = {
        "baseline_nihss": np.full((1, n), float(nihss_range(protocol)[0])),
        "age": np.full((1, n), float(age_range(protocol)[0])),
    }
    _, allocation = protocol_allocation_matrix(protocol, probe, np.random.default_rng(0), seed, treatment, pool=1)
    return RehearsalResult(
        protocol.registry.nct_id,
        trials,
        n,
        float(common_or),
        float(dropout),
        alpha,
        allocation,
        analyses,
        not_rehearsed,
        seed,
    )
