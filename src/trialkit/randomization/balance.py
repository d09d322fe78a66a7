"""Balance and predictability of allocation sequences.

Imbalance between two arms a, b with ratio weights w_a, w_b is measured ratio-adjusted as
``d = n_a·w_b − n_b·w_a``: zero whenever the counts are exactly in ratio (for 1:1 it is simply
n_a − n_b). Within a permuted block of size ``m·W`` (W the ratio total) the largest |d| is reached
when one arm's ``m·w_a`` assignments all come first, so every prefix of a permuted-block list
satisfies ``|d| ≤ m_max·w_a·w_b`` (the block bound; for 1:1 it is half the largest block).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from trialkit.randomization.permuted_blocks import AllocationList


def block_bound(ratio: Mapping[str, int], block_sizes: Iterable[int]) -> dict[tuple[str, str], int]:
    """For each pair of arms, the largest ratio-adjusted imbalance a permuted-block list can reach."""
    total = sum(ratio.values())
    m_max = max(block_sizes) // total
    arms = list(ratio)
    return {(a, b): m_max * ratio[a] * ratio[b] for a, b in itertools.combinations(arms, 2)}


def max_prefix_imbalance(arms: Sequence[str], ratio: Mapping[str, int]) -> dict[tuple[str, str], int]:
    """For each pair of arms, the largest |n_a·w_b − n_b·w_a| over every prefix of the sequence."""
    counts = {arm: 0 for arm in ratio}
    pairs = list(itertools.combinations(list(ratio), 2))
    worst = {pair: 0 for pair in pairs}
    for arm in arms:
        counts[arm] += 1
        for a, b in pairs:
            d = abs(counts[a] * ratio[b] - counts[b] * ratio[a])
            if d > worst[(a, b)]:
                worst[(a, b)] = d
    return worst


@dataclass(frozen=True)
class StratumBalance:
    stratum: str
    counts: dict[str, int]
    final_imbalance: dict[str, int]  # "a:b" -> n_a·w_b − n_b·w_a at the end of the list
    max_prefix_imbalance: dict[str, int]  # "a:b" -> largest |…| over every prefix
    within_bound: bool


@dataclass(frozen=True)
class BalanceReport:
    protocol_id: str | None
    seed: int | str
    ratio: dict[str, int]
    block_sizes: list[int]
    bound: dict[str, int]
    strata: list[StratumBalance]
    overall_counts: dict[str, int]
    max_imbalance: int
    within_bound: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol_id,
            "seed": self.seed,
            "ratio": self.ratio,
            "block_sizes": self.block_sizes,
            "bound": self.bound,
            "overall_counts": self.overall_counts,
            "max_imbalance": self.max_imbalance,
            "within_bound": self.within_bound,
            "strata": [s.__dict__ for s in self.strata],
        }


def _pair_name(pair: tuple[str, str]) -> str:
    return f"{pair[0]}:{pair[1]}"


def balance_report(allocation_list: AllocationList) -> BalanceReport:
    """Counts per arm, final and worst-prefix imbalance per stratum, checked against the block bound."""
    ratio = allocation_list.ratio
    bound = block_bound(ratio, allocation_list.block_sizes)
    strata = []
    overall = {arm: 0 for arm in ratio}
    worst_overall = 0
    for key, arms in allocation_list.arms_by_stratum().items():
        counts = {arm: arms.count(arm) for arm in ratio}
        for arm, c in counts.items():
            overall[arm] += c
        worst = max_prefix_imbalance(arms, ratio)
        final = {_pair_name((a, b)): counts[a] * ratio[b] - counts[b] * ratio[a] for a, b in bound}
        within = all(worst[pair] <= bound[pair] for pair in bound)
        worst_overall = max([worst_overall, *worst.values()])
        strata.append(
            StratumBalance(
                stratum=key,
                counts=counts,
                final_imbalance=final,
                max_prefix_imbalance={_pair_name(p): v for p, v in worst.items()},
                within_bound=within,
            )
        )
    return BalanceReport(
        protocol_id=allocation_list.protocol_id,
        seed=allocation_list.seed,
        ratio=dict(ratio),
        block_sizes=list(allocation_list.block_sizes),
        bound={_pair_name(p): v for p, v in bound.items()},
        strata=strata,
        overall_counts=overall,
        max_imbalance=worst_overall,
        within_bound=all(s.within_bound for s in strata),
    )


def convergence_guess_score(arms: Sequence[str], ratio: Mapping[str, int]) -> Fraction:
    """Expected correct guesses over the sequence by a guesser who knows the past assignments and
    names the arm furthest below its ratio share (Blackwell and Hodges' convergence strategy);
    ties are broken at random, so a tie among k arms scores 1/k.

    Optimal for 1:1 only: for unequal ratios it understates predictability (11/16 for 3:1 blocks of
    4, below the 3/4 of always naming the larger arm). The optimal guesser is in
    :mod:`trialkit.randomization.predictability`."""
    counts = {arm: 0 for arm in ratio}
    score = Fraction(0)
    for arm in arms:
        # Ratio-adjusted deficit: the guess is the arm with the smallest n/w.
        shares = {a: Fraction(counts[a], ratio[a]) for a in ratio}
        low = min(shares.values())
        tied = [a for a, v in shares.items() if v == low]
        if arm in tied:
            score += Fraction(1, len(tied))
        counts[arm] += 1
    return score


def exact_block_guess_rate(ratio: Mapping[str, int], block_size: int) -> Fraction:
    """Correct-guess rate per participant of the optimal guesser (the arm with the most slots left in
    the block, ties split) for a permuted block of fixed size, exactly: 3/4, 17/24, 41/60, 373/560
    for 1:1 blocks of 2, 4, 6, 8; 13/16 and 177/224 for 3:1 blocks of 4 and 8."""
    from trialkit.randomization.predictability import block_guess_rate

    return block_guess_rate(ratio, block_size).rate
