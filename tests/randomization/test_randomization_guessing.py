"""Predictability of permuted blocks under the convergence guessing strategy.

Reference values (two arms, fixed block size, guesser names the arm with fewer so far, ties
guessed at random): correct-guess rate per participant 3/4 (block 2), 17/24 (4), 41/60 (6),
373/560 (8) (Blackwell and Hodges 1957; as tabulated in Rosenberger and Lachin, Randomization
in Clinical Trials, 2nd ed., 2016, chapter 3).
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from trialkit.protocol.schema import Randomization
from trialkit.randomization import convergence_guess_score, exact_block_guess_rate, generate_list

REFERENCE = {2: Fraction(3, 4), 4: Fraction(17, 24), 6: Fraction(41, 60), 8: Fraction(373, 560)}


@pytest.mark.parametrize("block_size", sorted(REFERENCE))
def test_exact_enumeration_matches_the_published_guess_rate(block_size):
    assert exact_block_guess_rate({"a": 1, "b": 1}, block_size) == REFERENCE[block_size]


@pytest.mark.slow
@pytest.mark.parametrize("block_size", [2, 4, 6])
def test_generated_lists_are_guessed_at_the_published_rate(block_size):
    """2000 lists of 24 from the generator itself; the standard error of the rate is below 0.004."""
    randomization = Randomization.model_validate(
        {"method": "permuted_block", "ratio": {"a": 1, "b": 1}, "block_sizes": [block_size]}
    )
    total = Fraction(0)
    lists = 2000
    for seed in range(lists):
        arms = [s.arm_id for s in generate_list(randomization, seed, n=24, strata=["all"]).slots]
        total += convergence_guess_score(arms, {"a": 1, "b": 1})
    assert float(total / (lists * 24)) == pytest.approx(float(REFERENCE[block_size]), abs=0.012)


@pytest.mark.slow
def test_random_block_sizes_are_harder_to_guess_than_the_smallest_fixed_block():
    mixed = Randomization.model_validate(
        {"method": "permuted_block", "ratio": {"a": 1, "b": 1}, "block_sizes": [2, 4, 6]}
    )
    total = sum(
        (convergence_guess_score([s.arm_id for s in generate_list(mixed, seed, n=24, strata=["all"]).slots], {"a": 1, "b": 1})
         for seed in range(1000)),
        Fraction(0),
    )  # fmt: skip
    rate = float(total) / (1000 * 24)
    assert float(REFERENCE[6]) - 0.02 < rate < float(REFERENCE[2])
