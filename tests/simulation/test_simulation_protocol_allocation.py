"""The rehearsal allocates with the protocol's own scheme: strata, block bound, dose cohorts."""

import numpy as np
import pytest

from trialkit.protocol import load_protocol
from trialkit.simulation.allocation import protocol_allocation_matrix


def test_assist_cohorts_are_each_randomized_3_to_1():
    """ASSIST: three sequential cohorts of 20 at one site, 3:1 within each (blocks of 4 or 8 fitted to 20)."""
    protocol = load_protocol("NCT04590118")
    rng = np.random.default_rng(1)
    covariates = {"baseline_nihss": rng.integers(6, 21, (300, 60)).astype(float)}
    treated, described = protocol_allocation_matrix(protocol, covariates, rng, seed=5, treatment_arm="it-hmsc")
    assert treated.shape == (300, 60)
    per_cohort = treated.reshape(300, 3, 20).sum(axis=2)
    assert (per_cohort == 15).all()
    assert "cohort-low (20)" in described


@pytest.mark.slow
def test_ixcell_stays_within_the_block_bound_inside_each_nihss_stratum():
    """IxCell: 1:1 blocks of 2/4/6 per (site, NIHSS band); inside a stratum |treated - control| <= 3 at every prefix."""
    protocol = load_protocol("NCT07197606")
    rng = np.random.default_rng(2)
    nihss = rng.integers(6, 21, (200, 86)).astype(float)
    treated, _ = protocol_allocation_matrix(protocol, {"baseline_nihss": nihss}, rng, seed=9, treatment_arm="msc")
    worst = 0
    for t in range(200):
        for band in (nihss[t] <= 10, nihss[t] >= 11):
            arms = treated[t][band]
            diff = np.cumsum(np.where(arms == 1, 1, -1))
            worst = max(worst, int(np.abs(diff).max()) if len(diff) else 0)
    assert worst <= 3
    # and the pooled split is close to 1:1 (each stratum is at most 3 off)
    assert np.abs(treated.sum(axis=1) - 43).max() <= 6


def test_virtual_participants_are_drawn_inside_the_inclusion_rules():
    """Bands come from the computable rules (nihss_total 6-20 in both trials; age 18-70 for IxCell)."""
    from trialkit.simulation.dataset import age_range, nihss_range

    assert nihss_range(load_protocol("NCT07197606")) == (6, 20)
    assert age_range(load_protocol("NCT07197606")) == (18, 70)
    assert nihss_range(load_protocol("NCT04590118")) == (6, 20)
    assert age_range(load_protocol("NCT04590118"))[0] == 18
