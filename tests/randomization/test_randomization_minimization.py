"""Pocock–Simon minimization: hand-computed scores, probabilities, reproducible replay, balance."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trialkit.protocol.schema import Randomization
from trialkit.randomization import Minimizer, SeededStream, StratumError, marginal_imbalance


def minimization(imbalance="range", ratio=None, probability=0.85, weights=None, factors=None) -> Randomization:
    factors = factors or [
        {
            "id": "sex",
            "label": "Sex",
            "source": "sex",
            "levels": [{"id": "f", "label": "F"}, {"id": "m", "label": "M"}],
        },
        {
            "id": "band",
            "label": "NIHSS band",
            "source": "nihss_total",
            "levels": [
                {"id": "moderate", "label": "6-10", "min": 6, "max": 10},
                {"id": "severe", "label": "11-20", "min": 11, "max": 20},
            ],
        },
    ]
    return Randomization.model_validate(
        {
            "method": "minimization",
            "ratio": ratio or {"a": 1, "b": 1},
            "stratify_by": factors,
            "minimization": {"probability": probability, "imbalance": imbalance, "weights": weights or {}},
        }
    )


# Earlier participants: female A 3, B 1; severe A 1, B 1. The new one is female and severe.
STATE = {
    "version": 1,
    "seed": 1,
    "assigned": 6,
    "counts": {"sex": {"f": {"a": 3, "b": 1}, "m": {"a": 0, "b": 2}}, "band": {"severe": {"a": 1, "b": 1}}},
}
NEW = {"sex": "f", "band": "severe"}


@pytest.mark.parametrize(
    "measure, expected",
    [
        # Given to a: f [4, 1], severe [2, 1]; given to b: f [3, 2], severe [1, 2].
        ("range", {"a": 3 + 1, "b": 1 + 1}),
        (
            "sd",
            {"a": 3 / math.sqrt(2) + 1 / math.sqrt(2), "b": 1 / math.sqrt(2) + 1 / math.sqrt(2)},
        ),  # sample SD of two values = |x−y|/√2
        ("variance", {"a": 4.5 + 0.5, "b": 0.5 + 0.5}),  # sample variance of two values = (x−y)²/2
    ],
)
def test_imbalance_scores_match_the_hand_computation(measure, expected):
    """Pocock and Simon (1975) with Minirand's measures: counts at the participant's levels,
    plus the participant in the candidate arm, spread summed over factors."""
    scores = Minimizer(minimization(measure), 1).imbalance_scores(STATE, NEW)
    assert scores == pytest.approx(expected)


def test_the_least_imbalanced_arm_gets_p_and_the_draw_decides():
    minimizer = Minimizer(minimization(probability=0.85), 1)
    low = minimizer.assign(STATE, NEW, draw=0.10)  # below P(a) = 0.15
    high = minimizer.assign(STATE, NEW, draw=0.50)
    assert low.probabilities == pytest.approx({"a": 0.15, "b": 0.85})
    assert (low.arm_id, high.arm_id) == ("a", "b")
    assert high.state["counts"]["sex"]["f"] == {"a": 3, "b": 2}
    assert high.state["counts"]["band"]["severe"] == {"a": 1, "b": 2}
    assert high.state["assigned"] == 7 and STATE["assigned"] == 6  # the input state is untouched


def test_factor_weights_change_the_preference():
    """Weight band 5 × sex: a scores 3 + 5·1 = 8, b scores 1 + 5·1 = 6, still b; with the band
    counts reversed the heavy factor wins."""
    state = json.loads(json.dumps(STATE))
    state["counts"]["band"]["severe"] = {"a": 0, "b": 3}
    scores = Minimizer(minimization(weights={"band": 5}), 1).imbalance_scores(state, NEW)
    assert scores == pytest.approx({"a": 3 + 5 * 2, "b": 1 + 5 * 4})


def test_counts_are_divided_by_the_ratio_weights():
    """2:1 with a at 4 and b at 2 on both factors is balanced: giving b the next one is better."""
    state = {
        "version": 1,
        "seed": 1,
        "assigned": 6,
        "counts": {"sex": {"f": {"a": 4, "b": 2}}, "band": {"severe": {"a": 4, "b": 2}}},
    }
    scores = Minimizer(minimization(ratio={"a": 2, "b": 1}), 1).imbalance_scores(state, NEW)
    assert scores == pytest.approx({"a": 2 * (5 / 2 - 2), "b": 2 * (3 - 2)})


def test_arms_tied_at_the_minimum_share_p_and_the_rest_share_one_minus_p():
    minimizer = Minimizer(minimization(ratio={"a": 1, "b": 1, "c": 1}, probability=0.8), 1)
    assert minimizer.probabilities({"a": 1.0, "b": 1.0, "c": 2.0}) == pytest.approx({"a": 0.4, "b": 0.4, "c": 0.2})
    assert minimizer.probabilities({"a": 1.0, "b": 2.0, "c": 3.0}) == pytest.approx({"a": 0.8, "b": 0.1, "c": 0.1})


def test_when_every_arm_ties_the_draw_follows_the_ratio():
    minimizer = Minimizer(minimization(ratio={"a": 3, "b": 1}), 1)
    assert minimizer.probabilities({"a": 0.0, "b": 0.0}) == {"a": 0.75, "b": 0.25}


def test_the_draw_of_assignment_k_comes_from_the_seed_and_k():
    minimizer = Minimizer(minimization(), 42)
    assert minimizer.draw_for(3) == SeededStream(42, "minimization|3").uniform()
    result = minimizer.assign(minimizer.empty_state(), NEW)
    assert result.draw == SeededStream(42, "minimization|1").uniform()


def random_levels(n: int, seed: int) -> list[dict[str, str]]:
    stream = SeededStream(seed, "participants")
    return [
        {"sex": "f" if stream.uniform() < 0.5 else "m", "band": "moderate" if stream.uniform() < 0.6 else "severe"}
        for _ in range(n)
    ]


def test_replay_through_a_stored_state_reproduces_every_assignment():
    """The state survives a JSON round trip (a database row) mid-sequence and gives the same arms."""
    minimizer = Minimizer(minimization(), 2024)
    levels = random_levels(40, 1)
    straight, final = minimizer.replay(levels)
    state = minimizer.empty_state()
    stepwise = []
    for participant in levels:
        state = json.loads(json.dumps(state))
        result = Minimizer(minimization(), 2024).assign(state, participant)
        stepwise.append(result.arm_id)
        state = result.state
    assert stepwise == straight and state == final
    assert straight[:10] == ["b", "a", "a", "b", "a", "b", "b", "b", "a", "b"]  # fixed seed, exact


@pytest.mark.slow
def test_minimization_balances_the_margins_far_better_than_simple_randomization():
    """200 trials of 60: total marginal range (sum over factor levels of |n_a − n_b|)."""
    minimized, simple = [], []
    for trial in range(200):
        levels = random_levels(60, trial)
        _, state = Minimizer(minimization(), trial).replay(levels)
        minimized.append(marginal_imbalance(state, {"a": 1, "b": 1}))
        coin = SeededStream(trial, "coin")
        counts: dict = {"sex": {}, "band": {}}
        for participant in levels:
            arm = "a" if coin.uniform() < 0.5 else "b"
            for factor, level in participant.items():
                counts[factor].setdefault(level, {}).setdefault(arm, 0)
                counts[factor][level][arm] += 1
        simple.append(marginal_imbalance({"counts": counts}, {"a": 1, "b": 1}))
    assert np.mean(minimized) < 0.3 * np.mean(simple)
    # With p = 0.85 a margin seldom drifts beyond ±2, but runs of unlucky draws do happen.
    assert np.percentile(minimized, 90) <= 6


def test_minimization_keeps_the_overall_ratio():
    minimizer = Minimizer(minimization(ratio={"a": 2, "b": 1}), 11)
    arms, _ = minimizer.replay(random_levels(300, 3))
    assert arms.count("a") / 300 == pytest.approx(2 / 3, abs=0.03)


def test_an_unknown_level_is_an_error_naming_the_factor():
    minimizer = Minimizer(minimization(), 1)
    with pytest.raises(StratumError, match="'band'"):
        minimizer.assign(minimizer.empty_state(), {"sex": "f", "band": "mild"})
    with pytest.raises(StratumError, match="'sex'"):
        minimizer.assign(minimizer.empty_state(), {"band": "mild"})


def test_a_state_from_another_seed_is_refused():
    state = Minimizer(minimization(), 1).empty_state()
    with pytest.raises(ValueError, match="different seed"):
        Minimizer(minimization(), 2).assign(state, NEW)
