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


def permuted_block_matrix(
    treated_share: tuple[int, int],
    block_sizes: Sequence[int],
    n: int,
    trials: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Treatment indicators (trials, n) of permuted blocks, all trials at once.

    ``treated_share`` = (treatment weight, control weight). The sequence of block sizes is drawn once
    per call and shared by the trials (it changes only where blocks end); within each block every
    trial gets its own random permutation (argsort of uniform keys).
    """
    w_t, w_c = treated_share
    unit = w_t + w_c
    sizes = np.array([s for s in block_sizes if s % unit == 0] or [unit * 2])
    n_blocks = int(np.ceil(n / sizes.min())) + 1
    chosen = rng.choice(sizes, size=(n_blocks,))
    pieces = []
    filled = 0
    for size in chosen:
        keys = rng.random((trials, size))
        order = np.argsort(keys, axis=1)
        pieces.append(order < size * w_t // unit)
        filled += size
        if filled >= n:
            break
    return np.concatenate(pieces, axis=1)[:, :n]
