"""Permuted-block allocation used by the rehearsal and simulated datasets.

Each block is a random permutation of the protocol's ratio repeated to a block size drawn at random
from its ``block_sizes`` (R ``blockrand``: block size = a random draw from the sizes; Rosenberger &
Lachin 2016, Randomization in Clinical Trials, ch. 3). Strata are not modelled here: stratification
changes balance within strata, not the distribution of the pooled test statistic under this model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def permuted_blocks(
    ratio: Mapping[str, int],
    block_sizes: Sequence[int],
    n: int,
    rng: np.random.Generator,
) -> list[str]:
    """The first ``n`` assignments of a permuted-block list (arm ids)."""
    unit = sum(ratio.values())
    sizes = [s for s in block_sizes if s % unit == 0] or [unit * 2]
    base = [arm for arm, weight in ratio.items() for _ in range(weight)]
    sequence: list[str] = []
    while len(sequence) < n:
        size = int(rng.choice(sizes))
        block = np.array(base * (size // unit))
        sequence.extend(rng.permutation(block).tolist())
    return sequence[:n]


def protocol_allocation_matrix(
    protocol,
    covariates: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    seed: int | str | None,
    treatment_arm: str,
    pool: int = 200,
) -> tuple[np.ndarray, str]:
    """Allocate virtual participants with the protocol's own scheme: its concealed lists.

    Each virtual trial uses a list made by ``trialkit.randomization.generate_list`` (the one the
    app hands out, with the protocol's ratio, block sizes, strata and dose cohorts). Participants
    arrive in order, are spread evenly at random over the protocol's sites, fall into the stratum
    of their site and covariate band (cohorts fill in protocol order), and take the next slot of
    their stratum. Lists are drawn from a pool of ``pool`` seeds, reused at random beyond that.
    Returns (treated matrix (trials, n) of 0/1, a description of the scheme).
    """
    from trialkit.randomization import generate_list
    from trialkit.randomization.strata import all_strata, parse_stratum_key

    spec = protocol.randomization
    trials, n = next(iter(covariates.values())).shape
    keys = all_strata(protocol)
    index = {key: i for i, key in enumerate(keys)}
    sites = [loc.id for loc in protocol.registry.locations] or ["site"]

    # The level of each factor for every participant, as strings, vectorized.
    levels: dict[str, np.ndarray] = {}
    for factor in spec.stratify_by:
        if factor.source == "site" and not factor.levels:
            levels[factor.id] = np.asarray(sites, dtype=object)[rng.integers(len(sites), size=(trials, n))]
            continue
        values = covariates.get(factor.source.replace("nihss_total", "baseline_nihss"))
        if values is None:
            raise ValueError(f"stratification factor {factor.id!r} uses {factor.source!r}, which is not simulated")
        level = np.full((trials, n), None, dtype=object)
        for lvl in factor.levels:
            inside = np.ones((trials, n), dtype=bool)
            if lvl.min is not None:
                inside &= values >= lvl.min
            if lvl.max is not None:
                inside &= values <= lvl.max
            level[inside & (level == None)] = lvl.id  # noqa: E711
        if (level == None).any():  # noqa: E711
            raise ValueError(f"simulated {factor.source} falls outside every band of factor {factor.id!r}")
        levels[factor.id] = level
    cohort_of = np.full(n, None, dtype=object)
    start = 0
    for cohort in spec.cohorts:
        cohort_of[start : start + cohort.size] = cohort.id
        start += cohort.size

    stratum = np.zeros((trials, n), dtype=np.int64)
    for key, i in index.items():
        parts = parse_stratum_key(key)
        match = np.ones((trials, n), dtype=bool)
        for factor_id, level_id in parts.items():
            match &= (cohort_of[None, :] == level_id) if factor_id == "cohort" else (levels[factor_id] == level_id)
        stratum[match] = i
    onehot = stratum[..., None] == np.arange(len(keys))
    rank = (np.cumsum(onehot, axis=1) - 1)[onehot].reshape(trials, n)

    lists = min(pool, trials)
    longest = max(len(generate_list(protocol, seed=f"{seed}:0").for_stratum(k)) for k in keys)
    table = np.zeros((lists, len(keys), longest), dtype=np.int8)
    for p in range(lists):
        allocation = generate_list(protocol, seed=f"{seed}:{p}")
        for key, i in index.items():
            arms = [slot.arm_id == treatment_arm for slot in allocation.for_stratum(key)]
            table[p, i, : len(arms)] = arms
    if rank.max() >= longest:
        raise ValueError("a stratum received more participants than its allocation list holds")
    chosen = rng.integers(lists, size=trials) if trials > lists else np.arange(trials)
    treated = table[chosen[:, None], stratum, rank]
    ratio = ":".join(str(v) for v in spec.ratio.values())
    described = f"{spec.method.replace('_', ' ')} {ratio} ({', '.join(spec.ratio)}), block sizes {spec.block_sizes}"
    if spec.stratify_by:
        described += ", stratified by " + ", ".join(f.label for f in spec.stratify_by)
    if spec.cohorts:
        described += ", sequential cohorts " + ", ".join(f"{c.id} ({c.size})" for c in spec.cohorts)
    return treated.astype(float), described + "; concealed lists from trialkit.randomization"
