"""Predictability for the optimal guesser, any ratio, fixed and random block sizes, and minimization.

Independent references, all by brute force in this file (no code shared with the module):
- fixed blocks: every distinct ordering of the block's assignments, equally likely; at each position
  the guesser names the arm(s) with the most slots left and scores 1/k when the arm that came is one
  of k tied arms. Published 1:1 values 3/4, 17/24, 41/60, 373/560 (Blackwell & Hodges 1957;
  Rosenberger & Lachin 2016, ch. 3); the 3:1 values 13/16 (block 4) and 177/224 (block 8) of issue #19.
- random block sizes: every sequence of block sizes the generator can draw (uniformly, among the sizes
  that still fit near the end of the list) with every ordering of each block, with its probability;
  the guesser who knows the blocks scores as above; the guesser who sees only the past scores, at each
  position, the largest joint probability P(past, next arm) summed over the pasts.
- the real generator: generated lists are guessed at the exact rates on average.
- minimization: the expected rate (mean of the largest assignment probability) against the guesses
  actually scored on simulated trials.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from fractions import Fraction

import pytest

from trialkit.protocol.schema import Randomization
from trialkit.randomization import exact_block_guess_rate, generate_list
from trialkit.randomization.predictability import (
    block_guess_rate,
    minimization_guess_rate,
    sequence_guess_score,
)


def _pool(ratio, size):
    total = sum(ratio.values())
    return [arm for arm, w in ratio.items() for _ in range(w * size // total)]


def _score_known_block(block, ratio):
    """Correct guesses in one block by the guesser naming the arm(s) with the most slots left."""
    left = {arm: block.count(arm) for arm in ratio}
    score = Fraction(0)
    for arm in block:
        most = max(left.values())
        tied = [a for a, c in left.items() if c == most]
        if arm in tied:
            score += Fraction(1, len(tied))
        left[arm] -= 1
    return score


def _brute_force_fixed(ratio, size):
    orderings = set(itertools.permutations(_pool(ratio, size)))
    return sum((_score_known_block(o, ratio) for o in orderings), Fraction(0)) / (len(orderings) * size)


PUBLISHED = [
    ({"a": 1, "b": 1}, 2, Fraction(3, 4)),
    ({"a": 1, "b": 1}, 4, Fraction(17, 24)),
    ({"a": 1, "b": 1}, 6, Fraction(41, 60)),
    ({"a": 1, "b": 1}, 8, Fraction(373, 560)),
    ({"it": 3, "placebo": 1}, 4, Fraction(13, 16)),
    ({"it": 3, "placebo": 1}, 8, Fraction(177, 224)),
]


@pytest.mark.parametrize(("ratio", "size", "expected"), PUBLISHED)
def test_fixed_blocks_give_the_published_rates_by_brute_force_and_by_the_module(ratio, size, expected):
    assert _brute_force_fixed(ratio, size) == expected
    assert block_guess_rate(ratio, size).rate == expected
    assert exact_block_guess_rate(ratio, size) == expected


@pytest.mark.slow
@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ({"a": 2, "b": 1}, 3),
        ({"a": 2, "b": 1}, 6),
        ({"a": 2, "b": 1}, 9),
        ({"a": 3, "b": 2}, 5),
        ({"a": 3, "b": 2}, 10),
        ({"a": 1, "b": 1, "c": 1}, 6),
        ({"a": 2, "b": 1, "c": 1}, 8),
        ({"a": 1, "b": 1}, 10),
    ],
)
def test_fixed_blocks_of_any_ratio_match_brute_force(ratio, size):
    assert block_guess_rate(ratio, size).rate == _brute_force_fixed(ratio, size)


def test_the_optimal_guesser_beats_always_naming_the_larger_arm_at_3_to_1():
    """The ratio-adjusted convergence strategy gets 11/16 at 3:1 blocks of 4, below 3/4; the optimal 13/16."""
    r = block_guess_rate({"it": 3, "placebo": 1}, 4)
    assert r.baseline == Fraction(3, 4) and r.rate > r.baseline


def _lists(ratio, sizes, n):
    """Every list the generator can produce, as (arms, block of each position, probability)."""
    out = []

    def grow(arms, blocks, prob):
        if len(arms) >= n:
            out.append((arms, blocks, prob))
            return
        fitting = [b for b in sizes if b <= n - len(arms)] or sizes
        for b in fitting:
            orderings = sorted(set(itertools.permutations(_pool(ratio, b))))
            for order in orderings:
                grow(arms + list(order), blocks + [len(blocks)] * b, prob * Fraction(1, len(fitting) * len(orderings)))

    grow([], [], Fraction(1))
    return out


def _brute_force_known_blocks(ratio, sizes, n):
    total = Fraction(0)
    for arms, blocks, prob in _lists(ratio, sizes, n):
        by_block = defaultdict(list)
        for arm, block in zip(arms, blocks):
            by_block[block].append(arm)
        score = Fraction(0)
        position = 0
        for block in sorted(by_block):
            members = by_block[block]
            left = {arm: members.count(arm) for arm in ratio}
            for arm in members:
                if position < n:
                    most = max(left.values())
                    tied = [a for a, c in left.items() if c == most]
                    if arm in tied:
                        score += Fraction(1, len(tied))
                left[arm] -= 1
                position += 1
        total += prob * score
    return total / n


def _brute_force_past_only(ratio, sizes, n):
    joint = defaultdict(Fraction)  # P(first t+1 assignments) for every prefix
    for arms, _, prob in _lists(ratio, sizes, n):
        for t in range(1, n + 1):
            joint[tuple(arms[:t])] += prob
    total = Fraction(0)
    for t in range(n):
        pasts = {prefix[:t] for prefix in joint if len(prefix) == t + 1}
        for past in pasts:
            total += max(joint.get((*past, arm), Fraction(0)) for arm in ratio)
    return total / n


@pytest.mark.slow
@pytest.mark.parametrize(
    ("ratio", "sizes", "n"),
    [
        ({"a": 1, "b": 1}, [2, 4], 8),
        ({"a": 1, "b": 1}, [2, 4, 6], 7),
        ({"it": 3, "placebo": 1}, [4, 8], 12),
        ({"a": 2, "b": 1}, [3, 6], 9),
        ({"it": 3, "placebo": 1}, [4, 8], 10),
    ],
)
def test_random_block_sizes_match_brute_force_for_both_guessers(ratio, sizes, n):
    knows = block_guess_rate(ratio, sizes, n)
    assert knows.rate == _brute_force_known_blocks(ratio, sizes, n)
    past_only = block_guess_rate(ratio, sizes, n, knows_block=False)
    assert past_only.rate == _brute_force_past_only(ratio, sizes, n)
    assert past_only.rate <= knows.rate
    if len(set(ratio.values())) == 1:
        assert past_only.rate == knows.rate  # 1:1: the arm with fewer so far either way


def _spec(ratio, sizes):
    return Randomization.model_validate({"method": "permuted_block", "ratio": ratio, "block_sizes": sizes})


@pytest.mark.slow
def test_assist_lists_from_the_generator_are_guessed_at_the_exact_rates():
    """ASSIST: 3:1, blocks of 4 or 8, cohort lists of 20. 3000 generated lists; standard error < 0.002."""
    ratio, sizes, n = {"it": 3, "placebo": 1}, [4, 8], 20
    spec = _spec(ratio, sizes)
    known = Fraction(0)
    past_only = Fraction(0)
    lists = 3000
    for seed in range(lists):
        slots = generate_list(spec, seed, n=n, strata=["all"]).slots[:n]
        by_block = defaultdict(list)
        for s in slots:
            by_block[s.block_no].append(s.arm_id)
        known += sum((_score_known_block(block, ratio) for block in by_block.values()), Fraction(0))
        past_only += sequence_guess_score([s.arm_id for s in slots], ratio, sizes, n)
    assert float(known) / (lists * n) == pytest.approx(float(block_guess_rate(ratio, sizes, n).rate), abs=0.006)
    exact_past_only = float(block_guess_rate(ratio, sizes, n, knows_block=False).rate)
    assert float(past_only) / (lists * n) == pytest.approx(exact_past_only, abs=0.006)


def test_bad_block_sizes_and_lengths_are_refused():
    with pytest.raises(ValueError, match="not a positive multiple of the ratio total 4"):
        block_guess_rate({"it": 3, "placebo": 1}, 6)
    with pytest.raises(ValueError, match="n: the list length is needed"):
        block_guess_rate({"a": 1, "b": 1}, [2, 4])
    with pytest.raises(ValueError, match="impossible under this scheme"):
        sequence_guess_score(["a", "a", "a"], {"a": 1, "b": 1}, [2], 3)


def _minimization_spec():
    return Randomization.model_validate(
        {
            "method": "minimization",
            "ratio": {"active": 1, "placebo": 1},
            "stratify_by": [
                {
                    "id": "band",
                    "label": "Band",
                    "source": "nihss_total",
                    "levels": [
                        {"id": "low", "label": "low", "min": 0, "max": 9},
                        {"id": "high", "label": "high", "min": 10, "max": 42},
                    ],
                }
            ],
            "minimization": {"probability": 0.85},
        }
    )


@pytest.mark.slow
def test_minimization_rate_agrees_with_the_guesses_scored_on_simulated_trials():
    from trialkit.randomization.minimization import Minimizer
    from trialkit.randomization.stream import SeededStream

    spec = _minimization_spec()
    estimate = minimization_guess_rate(spec, seed=5, n=40, trials=150)
    # Independent estimate: the guesser names the most probable arm (ties: the first of them, which
    # in expectation is the same as splitting) and is scored against the arm actually drawn.
    hits = 0
    trials = 600
    for trial in range(trials):
        minimizer = Minimizer(spec, f"check:{trial}")
        stream = SeededStream(f"check:{trial}", "levels")
        state = minimizer.empty_state()
        for _ in range(40):
            levels = {"band": stream.choice(["low", "high"])}
            probs = minimizer.probabilities(minimizer.imbalance_scores(state, levels))
            guess = max(minimizer.arms, key=lambda arm: probs[arm])
            result = minimizer.assign(state, levels)
            hits += result.arm_id == guess
            state = result.state
    observed = hits / (trials * 40)
    assert 0.5 < estimate.rate < 0.85
    assert observed == pytest.approx(estimate.rate, abs=4 * (estimate.standard_error + 0.5 / (trials * 40) ** 0.5))
