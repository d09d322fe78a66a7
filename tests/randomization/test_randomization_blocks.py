"""Permuted-block lists: reproducibility, the block bound, ratios, cohorts, kits and allocation rules."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from trialkit.protocol import load_protocol
from trialkit.protocol.schema import Randomization
from trialkit.randomization import (
    AllocationError,
    Candidate,
    SeededStream,
    allocate_next,
    balance_report,
    block_bound,
    generate_list,
    max_prefix_imbalance,
)

ASSIST = load_protocol("NCT04590118")
IXCELL = load_protocol("NCT07197606")


def spec(ratio: dict[str, int], block_sizes: list[int]) -> Randomization:
    return Randomization.model_validate({"method": "permuted_block", "ratio": ratio, "block_sizes": block_sizes})


def arm_matrix(randomization: Randomization, seeds: range, n: int) -> np.ndarray:
    """One row per generated list: 1 for the first arm of the ratio, 0 otherwise."""
    first = next(iter(randomization.ratio))
    return np.array(
        [
            [s.arm_id == first for s in generate_list(randomization, seed, n=n, strata=["all"]).slots[:n]]
            for seed in seeds
        ],
        dtype=np.int64,
    )


# --------------------------------------------------------------------------- reproducibility


def test_the_stream_is_sha256_in_counter_mode():
    """Reference: hashlib directly, so the list does not depend on numpy's or Python's generator."""
    digest = hashlib.sha256(b"7:blocks|all:0").digest()
    stream = SeededStream(7, "blocks|all")
    assert [stream.bits64() for _ in range(4)] == [int.from_bytes(digest[i : i + 8], "big") for i in (0, 8, 16, 24)]


def test_a_fixed_seed_gives_exactly_this_ixcell_list():
    """Exact expected allocations for seed 20250101, n = 8 per stratum (regenerating must never change them)."""
    slots = generate_list(IXCELL, 20250101, n=8).slots
    assert [(s.arm_id, s.block_size, s.kit_number) for s in slots] == [
        ("msc", 4, "IX-7762"), ("msc", 4, "IX-6677"), ("placebo", 4, "IX-6797"), ("placebo", 4, "IX-4073"),
        ("msc", 2, "IX-9485"), ("placebo", 2, "IX-0500"), ("msc", 2, "IX-8695"), ("placebo", 2, "IX-2850"),
        ("msc", 6, "IX-4130"), ("placebo", 6, "IX-4698"), ("msc", 6, "IX-1797"), ("placebo", 6, "IX-7061"),
        ("msc", 6, "IX-1972"), ("placebo", 6, "IX-4383"), ("placebo", 2, "IX-4580"), ("msc", 2, "IX-4289"),
    ]  # fmt: skip
    assert [s.stratum for s in slots] == ["site=ixcell-01|nihss-band=moderate"] * 8 + [
        "site=ixcell-01|nihss-band=severe"
    ] * 8
    assert slots[8].randomization_number == "R02-001"


def test_a_fixed_seed_gives_exactly_this_assist_list():
    """One list per cohort, shared by sites (strata ``cohort=…``): each cohort's stream is keyed by its
    stratum, so these values changed once, when cohort lists stopped being split by site (issue 18)."""
    slots = generate_list(ASSIST, 20250101, n=8).slots
    assert [s.arm_id == "placebo" for s in slots] == [
        True, False, False, False, True, False, False, False,
        False, False, True, False, False, False, False, True,
        True, False, False, False, False, True, False, False,
    ]  # fmt: skip
    assert [s.kit_number for s in slots[:3]] == ["AS-8459", "AS-3636", "AS-8020"]


def test_the_same_seed_reproduces_the_list_and_another_seed_does_not():
    a, b, c = (generate_list(IXCELL, seed).slots for seed in (11, 11, 12))
    assert a == b
    assert [s.arm_id for s in a] != [s.arm_id for s in c]


def test_adding_a_stratum_leaves_the_other_strata_unchanged():
    one = generate_list(IXCELL, 5, strata=["site=ixcell-01|nihss-band=severe"])
    both = generate_list(IXCELL, 5)
    assert [s.arm_id for s in one.slots] == [s.arm_id for s in both.for_stratum("site=ixcell-01|nihss-band=severe")]


def test_the_list_is_json_serializable():
    data = json.loads(json.dumps(generate_list(ASSIST, 3).as_dict()))
    assert len(data["slots"]) == 60 and data["method"] == "permuted_block"


# --------------------------------------------------------------------------- balance


@pytest.mark.slow
@pytest.mark.parametrize(
    "ratio, block_sizes",
    [({"msc": 1, "placebo": 1}, [2, 4, 6]), ({"it-hmsc": 3, "placebo": 1}, [4, 8])],
)
def test_every_prefix_of_10000_lists_stays_within_the_block_bound(ratio, block_sizes):
    """Bound: within a block of m·W the worst prefix puts one arm's m·w_a first, so
    |n_a·w_b − n_b·w_a| ≤ m_max·w_a·w_b (1:1 with blocks ≤ 6: |n_a − n_b| ≤ 3)."""
    randomization = spec(ratio, block_sizes)
    (wa, wb) = ratio.values()
    n = 24
    first = arm_matrix(randomization, range(10_000), n)
    n_a = np.cumsum(first, axis=1)
    n_b = np.arange(1, n + 1) - n_a
    d = n_a * wb - n_b * wa
    bound = next(iter(block_bound(ratio, block_sizes).values()))
    assert np.abs(d).max() <= bound
    assert np.abs(d).max() == bound  # the bound is reached: it is the bound, not a loose one
    assert (d[:, -1] == 0).all()  # 24 is a whole number of blocks here: every list ends in ratio


@pytest.mark.slow
@pytest.mark.parametrize(
    "ratio, block_sizes, share",
    [({"a": 1, "b": 1}, [2, 4], 1 / 2), ({"a": 2, "b": 1}, [3, 6], 2 / 3), ({"a": 3, "b": 1}, [4, 8], 3 / 4)],
)
def test_each_position_gets_the_first_arm_with_the_ratio_share(ratio, block_sizes, share):
    """Every slot is a random draw with P(first arm) = w_a/W; a binomial test per position
    (scipy.stats.binomtest) should not reject at 0.001 in any of 12 positions over 3000 lists."""
    first = arm_matrix(spec(ratio, block_sizes), range(3000), 12)
    for position in range(12):
        assert stats.binomtest(int(first[:, position].sum()), 3000, share).pvalue > 0.001
    assert first.mean() == pytest.approx(share)  # 12 is a whole number of blocks: exact overall


@settings(max_examples=60, deadline=None)
@given(
    weights=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    multipliers=st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True),
    seed=st.integers(0, 10**9),
    n=st.integers(1, 60),
)
def test_any_ratio_and_block_sizes_keep_every_prefix_within_the_bound(weights, multipliers, seed, n):
    ratio = {"a": weights[0], "b": weights[1]}
    sizes = [m * sum(weights) for m in multipliers]
    allocation_list = generate_list(spec(ratio, sizes), seed, n=n, strata=["all"])
    arms = [s.arm_id for s in allocation_list.slots]
    assert len(arms) >= n
    assert max_prefix_imbalance(arms, ratio)[("a", "b")] <= block_bound(ratio, sizes)[("a", "b")]
    # At the end of each block the counts are exactly in ratio.
    slots = allocation_list.slots
    for position, slot in enumerate(slots, start=1):
        if position == len(slots) or slots[position].block_no != slot.block_no:
            n_a = arms[:position].count("a")
            assert n_a * weights[1] == (position - n_a) * weights[0]


def test_the_balance_report_of_the_seed_trials_is_within_the_bound():
    for protocol in (ASSIST, IXCELL):
        report = balance_report(generate_list(protocol, 2024))
        assert report.within_bound
        assert report.max_imbalance <= max(report.bound.values())


# --------------------------------------------------------------------------- cohorts


def test_assist_cohort_lists_carry_the_cohort_dose_for_it_hmsc_only():
    allocation_list = generate_list(ASSIST, 9)
    for slot in allocation_list.slots:
        expected = {"cohort-low": "low", "cohort-mid": "mid", "cohort-high": "high"}[slot.cohort]
        assert slot.dose_level == (expected if slot.arm_id == "it-hmsc" else "placebo")
        assert slot.stratum == f"cohort={slot.cohort}"  # one list per cohort, shared by sites


def test_a_cohort_of_20_is_exactly_15_to_5_for_every_seed():
    """Blocks of 4 and 8 are fitted to the cohort size, so 20 slots end on a block boundary."""
    for seed in range(300):
        for key, arms in generate_list(ASSIST, seed).arms_by_stratum().items():
            assert len(arms) == 20, key
            assert arms.count("it-hmsc") == 15


# --------------------------------------------------------------------------- kits


def test_kit_numbers_are_unique_within_a_list():
    for seed in range(50):
        kits = [s.kit_number for s in generate_list(IXCELL, seed).slots]
        assert len(set(kits)) == len(kits)
        assert all(k.startswith("IX-") and len(k) == 8 for k in kits)  # 172 slots -> 5 digits


@pytest.mark.slow
def test_kit_numbers_reveal_nothing_about_the_arm_or_the_order():
    """Over 400 ASSIST lists: the arm is independent of the kit number's decile (chi-square,
    scipy.stats.chi2_contingency) and kit numbers do not follow the list order (Spearman)."""
    table = np.zeros((2, 10))
    rhos = []
    for seed in range(400):
        slots = generate_list(ASSIST, seed).slots
        kits = [int(s.kit_number.split("-")[1]) for s in slots]
        for slot, kit in zip(slots, kits):
            table[int(slot.arm_id == "placebo"), kit * 10 // 10_000] += 1
        rhos.append(stats.spearmanr(range(len(kits)), kits).statistic)
    assert stats.chi2_contingency(table).pvalue > 0.001
    assert abs(np.mean(rhos)) < 0.02


def test_blinded_staff_see_only_the_randomization_and_kit_numbers():
    slot = generate_list(ASSIST, 1).slots[0]
    seen = slot.blinded().__dict__
    assert set(seen) == {"randomization_number", "kit_number"}
    assert slot.arm_id not in json.dumps(seen) and "low" not in json.dumps(seen)


# --------------------------------------------------------------------------- allocation


def test_the_next_unused_slot_is_allocated_in_list_order():
    allocation_list = generate_list(IXCELL, 4)
    key = "site=ixcell-01|nihss-band=moderate"
    ok = Candidate("P-001", eligible=True, consented=True)
    assert allocate_next(allocation_list, key, [], ok).sequence_no == 1
    assert allocate_next(allocation_list, key, {1, 2}, ok).sequence_no == 3


@pytest.mark.parametrize(
    "candidate, words",
    [
        (Candidate("P-9", eligible=False, consented=True), "not eligible"),
        (Candidate("P-9", eligible=True, consented=False), "not consented"),
        (Candidate("P-9", eligible=True, consented=True, already_allocated=True), "once"),
    ],
)
def test_only_an_enrolled_participant_is_allocated_and_only_once(candidate, words):
    allocation_list = generate_list(IXCELL, 4, n=2)
    with pytest.raises(AllocationError, match=words):
        allocate_next(allocation_list, "site=ixcell-01|nihss-band=moderate", [], candidate)


def test_a_used_up_list_is_an_error_not_a_wraparound():
    allocation_list = generate_list(IXCELL, 4, n=2)
    with pytest.raises(AllocationError, match="used up"):
        allocate_next(allocation_list, "site=ixcell-01|nihss-band=severe", [1, 2], Candidate("P", True, True))


def test_minimization_protocols_have_no_list():
    minimization = Randomization.model_validate(
        {"method": "minimization", "ratio": {"a": 1, "b": 1}, "minimization": {}, "stratify_by": []}
    )
    with pytest.raises(ValueError, match="Minimizer"):
        generate_list(minimization, 1, n=4)
