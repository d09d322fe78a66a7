"""``analysis_plan.interim``: the DSMB's looks at the primary analysis, checked when the protocol loads."""

from __future__ import annotations

import pytest
import yaml

from trialkit.protocol import ProtocolError, parse_protocol
from trialkit.protocol.loader import default_protocol_dir


def _with_interim(interim: dict) -> str:
    data = yaml.safe_load((default_protocol_dir() / "NCT07197606.yaml").read_text(encoding="utf-8"))
    data["analysis_plan"]["interim"] = interim
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_a_protocol_may_declare_looks_at_its_primary_analysis():
    protocol = parse_protocol(
        _with_interim({"analysis": "mrs-shift-month3", "spending": "pocock", "information_fractions": [0.5, 1.0]}),
        "x.yaml",
    )
    interim = protocol.analysis_plan.interim
    assert interim.information_fractions == [0.5, 1.0] and interim.spending == "pocock" and interim.sides == 2


def test_the_shipped_protocols_declare_no_looks():
    """Neither registry record names an interim analysis."""
    from trialkit.protocol import load_protocol

    assert load_protocol("NCT07197606").analysis_plan.interim is None
    assert load_protocol("NCT04590118").analysis_plan.interim is None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("interim", "path", "message"),
    [
        (
            {"analysis": "mrs-shift-month3", "information_fractions": [0.6, 0.4, 1.0]},
            "analysis_plan.interim.information_fractions",
            "does not increase",
        ),
        (
            {"analysis": "mrs-shift-month3", "information_fractions": [0.5, 0.9]},
            "analysis_plan.interim.information_fractions",
            "must be 1",
        ),
        (
            {"analysis": "mrs-shift-month3", "information_fractions": [0, 1.0]},
            "analysis_plan.interim.information_fractions",
            "is not in (0, 1]",
        ),
        (
            {"analysis": "mrs-shift-month3", "information_fractions": [1.0]},
            "analysis_plan.interim.information_fractions",
            "at least 2",
        ),
        (
            {"analysis": "mrs-shift-month3", "information_fractions": [0.5, 1.0], "spending": "peto"},
            "analysis_plan.interim.spending",
            "obrien_fleming",
        ),
        (
            {"analysis": "safety", "information_fractions": [0.5, 1.0]},
            "analysis_plan.interim.analysis",
            "must be the id of an analysis",
        ),
        (
            {"analysis": "nonesuch", "information_fractions": [0.5, 1.0]},
            "analysis_plan.interim.analysis",
            "must be the id of an analysis",
        ),
    ],
)
def test_bad_looks_are_reported_with_their_path(interim, path, message):
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(_with_interim(interim), "x.yaml")
    issues = [(i.path, i.message) for i in caught.value.issues]
    assert any(p == path and message in m for p, m in issues), issues
