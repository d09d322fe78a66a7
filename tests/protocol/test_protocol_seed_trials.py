"""Both shipped protocols load, and their key facts match the registry pages.

Reference: the registry pages in tests/protocol/seeds/ (ASSIST NCT04590118: 11 inclusion and
12 exclusion criteria, 60 estimated patients, 18+ years; IxCell NCT07197606: 5 and 5 criteria,
86 estimated patients, 18 to 70 years).
"""

from __future__ import annotations

from pathlib import Path

from trialkit.protocol import load_all, load_protocol_file
from trialkit.protocol.page import ages_label, enrollment_label, groups_summary

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"


def test_both_protocols_load() -> None:
    assert [p.id for p in load_all(PROTOCOLS)] == ["NCT04590118", "NCT07197606"]


def test_assist_key_facts() -> None:
    p = load_protocol_file(PROTOCOLS / "NCT04590118.yaml")
    assert p.registry.org_study_id == "STCMSC-CT-001"
    assert p.registry.acronym == "ASSIST"
    assert len(p.eligibility.criteria) == 23
    assert (len(p.eligibility.inclusion), len(p.eligibility.exclusion)) == (11, 12)
    assert p.registry.enrollment.count == 60 and p.registry.enrollment.type == "ESTIMATED"
    assert (p.registry.minimum_age_years, p.registry.maximum_age_years) == (18, None)
    assert ages_label(p) == "18+ years old"
    assert enrollment_label(p) == "60 estimated patients"
    assert groups_summary(p) == "60 participants in 2 patient groups, including a placebo group"
    assert p.design.masking.masking == "TRIPLE"
    assert [a.type for a in p.arms] == ["EXPERIMENTAL", "PLACEBO_COMPARATOR"]
    assert sorted(p.registry.phases) == ["PHASE1", "PHASE2"]


def test_ixcell_key_facts() -> None:
    p = load_protocol_file(PROTOCOLS / "NCT07197606.yaml")
    assert p.registry.org_study_id == "LC-MSC-IS25001"
    assert len(p.eligibility.criteria) == 10
    assert (len(p.eligibility.inclusion), len(p.eligibility.exclusion)) == (5, 5)
    assert p.registry.enrollment.count == 86
    assert (p.registry.minimum_age_years, p.registry.maximum_age_years) == (18, 70)
    assert ages_label(p) == "18 to 70 years old"
    assert groups_summary(p) == "86 participants in 2 patient groups, including a placebo group"
    assert [c.name for c in p.registry.central_contacts] == ["Ming Xiao, PHD"]
    assert p.registry.phases == ["PHASE2"]


def test_every_choice_the_registry_does_not_state_is_marked() -> None:
    """Randomization, schedule and analysis plan are never in the registry record: each says so."""
    for p in load_all(PROTOCOLS):
        paths = {path for path, _text in p.assumptions}
        assert {"randomization", "schedule", "analysis_plan", "consent", "design.masking"} <= paths
        # Sites the registry does not name are marked as assumed.
        assert all(loc.assumption for loc in p.registry.locations)
