"""A dose cohort is one list shared by every site, so ASSIST's 15:5 holds in every cohort (issue 18)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from trialkit.protocol import load_protocol
from trialkit.protocol.loader import ProtocolError, load_protocol_file
from trialkit.randomization import Candidate, all_strata, allocate_next, allocation_stratum, generate_list

ASSIST = load_protocol("NCT04590118")
SITES = ["assist-01", "assist-02", "assist-03"]


@pytest.mark.slow
def test_a_simulated_three_site_assist_run_keeps_15_to_5_in_every_cohort_over_1000_lists():
    """Sixty participants arrive from three sites in a random order; each is allocated in the
    enrolling cohort's stratum from the list, as the application does. Before the fix the cohort's
    lists were per site and a cohort of 20 got 2 to 7 placebo participants."""
    arrivals = random.Random(18)
    for seed in range(1000):
        allocation_list = generate_list(ASSIST, seed, strata=all_strata(ASSIST, sites=SITES))
        used: dict[str, list[int]] = {}
        per_cohort: dict[str, Counter[str]] = {}
        sites_seen: dict[str, set[str]] = {}
        for n in range(60):
            site = arrivals.choice(SITES)
            counts = {c: sum(v.values()) for c, v in per_cohort.items()}
            stratum = allocation_stratum(ASSIST, site, {}, counts, sites=SITES)
            slot = allocate_next(allocation_list, stratum, used.get(stratum, []), Candidate(f"P{n}", True, True))
            used.setdefault(stratum, []).append(slot.sequence_no)
            per_cohort.setdefault(slot.cohort or "", Counter())[slot.arm_id] += 1
            sites_seen.setdefault(slot.cohort or "", set()).add(site)
        assert {c: (v["it-hmsc"], v["placebo"]) for c, v in per_cohort.items()} == {
            "cohort-low": (15, 5),
            "cohort-mid": (15, 5),
            "cohort-high": (15, 5),
        }, seed
        assert all(len(s) > 1 for s in sites_seen.values())  # really multi-site


def test_the_cohort_stratum_does_not_depend_on_the_site():
    assert allocation_stratum(ASSIST, "assist-01", {}, {}, sites=SITES) == "cohort=cohort-low"
    assert allocation_stratum(ASSIST, "assist-03", {}, {}, sites=SITES) == "cohort=cohort-low"


def test_a_protocol_with_cohorts_may_not_stratify_the_cohort_lists(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "protocols" / "NCT04590118.yaml").read_text(encoding="utf-8")
    text = text.replace("  cohorts:\n", "  stratify_by:\n    - {id: site, label: Site, source: site}\n  cohorts:\n", 1)
    path = tmp_path / "NCT04590118.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError, match="one list shared by all sites"):
        load_protocol_file(path)
