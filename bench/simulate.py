"""Benchmark: 4000 simulated trials of 86 participants analysed by the proportional odds model.

Vectorized engine (trialkit.simulation.simulate_power) against a per-trial statsmodels OrderedModel
loop timed in the same run on a sample of trials and scaled to 4000. Also compares the power each
gives on the sampled trials (same data) and the vectorized power with Whitehead's formula.

    PYTHONPATH=src python bench/simulate.py [--sample 200]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.stats import norm
from statsmodels.miscmodels.ordinal_model import OrderedModel

from trialkit.analysis.proportional_odds import fit_two_arm_tables
from trialkit.simulation import simulate_power, treatment_distribution
from trialkit.simulation.ordinal_power import simulate_tables

CONTROL = [0.05, 0.10, 0.15, 0.25, 0.20, 0.15, 0.10]
TRIALS, N_PER_ARM, COMMON_OR, ALPHA = 4000, 43, 2.0, 0.05


def statsmodels_p_value(control_counts: np.ndarray, treatment_counts: np.ndarray) -> float:
    y = np.concatenate([np.repeat(np.arange(7), control_counts), np.repeat(np.arange(7), treatment_counts)])
    x = np.concatenate([np.zeros(control_counts.sum()), np.ones(treatment_counts.sum())])
    fit = OrderedModel(y, x[:, None], distr="logit").fit(method="bfgs", disp=False, maxiter=1000)
    return float(2 * norm.sf(abs(fit.params[0] / fit.bse[0])))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=200, help="trials fitted by the statsmodels loop")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    start = time.perf_counter()
    result = simulate_power(CONTROL, COMMON_OR, N_PER_ARM, trials=TRIALS, seed=2024)
    vectorized = time.perf_counter() - start

    rng = np.random.default_rng(99)
    treated = treatment_distribution(CONTROL, COMMON_OR)
    counts_c, counts_t = simulate_tables(rng, np.array(CONTROL), treated, N_PER_ARM, N_PER_ARM, 0.0, args.sample)
    start = time.perf_counter()
    p_loop = np.array([statsmodels_p_value(c, t) for c, t in zip(counts_c, counts_t)])
    loop = (time.perf_counter() - start) * TRIALS / args.sample
    p_vec = fit_two_arm_tables(counts_c, counts_t).wald(0)[1]

    print(f"vectorized: {TRIALS} trials x {2 * N_PER_ARM} participants in {vectorized:.2f} s")
    print(
        f"statsmodels OrderedModel loop: {args.sample} trials in {loop * args.sample / TRIALS:.2f} s "
        f"-> {loop:.1f} s for {TRIALS} (scaled)"
    )
    print(f"speed-up: {loop / vectorized:.0f}x")
    print(
        f"power (vectorized, {TRIALS} trials): {result.power:.4f} "
        f"[{result.ci95[0]:.4f}, {result.ci95[1]:.4f}]; Whitehead 1993: {result.whitehead_power:.4f}"
    )
    print(
        f"same {args.sample} trials: power statsmodels {np.mean(p_loop < ALPHA):.4f}, vectorized "
        f"{np.mean(p_vec < ALPHA):.4f}; max |p difference| {np.max(np.abs(p_loop - p_vec)):.2e}"
    )


if __name__ == "__main__":
    main()
