"""The DSMB report answers: arms from the protocol, "not enough data yet (n = …)" instead of a
failure, effects per visit with the direction of benefit, Grotta bars on a 0–100 % axis."""

from dataclasses import replace

import pandas as pd
import pytest

from trialkit.analysis import figures
from trialkit.analysis.report import build_report
from trialkit.analysis.trial_data import TrialData, load_trial_data, screening_counts
from trialkit.protocol import load_protocol
from trialkit.simulation.dataset import simulate_dataset

# A DSMB report (matplotlib figures and tables) is drawn per module: seconds of CPU.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ixcell(tmp_path_factory):
    protocol = load_protocol("NCT07197606")
    return protocol, load_trial_data(simulate_dataset(protocol, tmp_path_factory.mktemp("data"), seed=5))


def _one_arm_at(data: TrialData, visit: str, arm: str) -> TrialData:
    """Only ``arm``'s participants have outcomes at ``visit`` (early in a trial)."""
    others = set(data.participants.loc[data.participants["arm"] != arm, "participant_id"])
    keep = ~((data.outcomes["visit"] == visit) & data.outcomes["participant_id"].isin(others))
    return replace(data, outcomes=data.outcomes[keep])


def test_an_arm_without_data_at_a_visit_reads_not_enough_data_yet(ixcell):
    """Before: 'Not analysable: --control: arm 'placebo' not found in column 'arm' (found ['msc'])'."""
    protocol, data = ixcell
    report = build_report(protocol, _one_arm_at(data, "month3", "msc"), unblinded=True)
    text = " ".join(note for s in report.sections for note in s.notes)
    assert "not found in column" not in text
    shift = next(s for s in report.sections if s.id == "mrs-shift-month3")
    assert shift.title == "modified Rankin Scale: shift analysis at Month 3"
    at_visit = data.outcomes[(data.outcomes["visit"] == "month3") & (data.outcomes["instrument"] == "mrs")]
    n_msc = int(
        at_visit["participant_id"]
        .isin(data.participants.loc[data.participants["arm"] == "msc", "participant_id"])
        .sum()
    )
    assert (
        f"Not enough data yet for the proportional odds model (n = {n_msc}: MSCs treatment {n_msc}, Placebo 0; "
        "at least 2 per arm needed)." in shift.notes
    )
    by_visit = next(s for s in report.sections if s.id == "endpoints-by-visit")
    month1 = [r for r in by_visit.results["rows"] if r["visit"] == "month1"]
    assert month1 and all("effect" in r for r in month1)  # other visits are still estimated


def test_every_outcome_at_every_visit_has_effect_ci_p_and_direction(ixcell):
    protocol, data = ixcell
    report = build_report(protocol, data, unblinded=True)
    section = next(s for s in report.sections if s.id == "endpoints-by-visit")
    rows = section.tables[0].rows
    assert {(r[0], r[1]) for r in rows} >= {("modified Rankin Scale", "Month 3"), ("Barthel Index", "Month 12")}
    for row in rows:
        assert row[2] in ("lower is better", "higher is better")
        assert row[4].startswith(("OR ", "difference ")) and " – " in row[5] and row[6] != ""
    assert [f.name for f in section.figures] == ["forest"]
    baseline = next(s for s in report.sections if s.id == "baseline")
    assert baseline.tables[0].columns == ["Characteristic", "MSCs treatment", "Placebo"]


def test_the_blinded_report_has_no_effect_and_no_forest(ixcell):
    protocol, data = ixcell
    report = build_report(protocol, replace(data, participants=data.participants.assign(arm=pd.NA)), unblinded=False)
    section = next(s for s in report.sections if s.id == "endpoints-by-visit")
    assert section.figures == [] and section.tables[0].columns[-1] == "Mean"
    assert next(s for s in report.sections if s.id == "baseline").tables[0].columns == [
        "Characteristic",
        "All participants",
    ]


def test_grotta_bars_are_drawn_on_the_percent_scale_of_their_labels():
    ax = figures.grotta_bars({"A": [0, 1, 1, 6]})
    assert ax.get_xlim() == (0, 100)
    assert sorted(t.get_text() for t in ax.texts) == ["25", "25", "50"]
    assert sum(p.get_width() for p in ax.patches if p.get_height() > 0 and p.get_y() > -1) == pytest.approx(100)


def test_screened_and_the_screen_fail_rate_state_their_denominator():
    counts = screening_counts(["enrolled"] * 10 + ["screen_failed"] * 6 + ["in_screening"] * 8)
    assert (counts.screened, counts.decided, counts.in_screening) == (24, 16, 8)
    assert counts.screen_fail_rate == "38 % of 16 with a screening decision"


def _separated_at(data: TrialData, visit: str) -> TrialData:
    """Every MSC participant at mRS 0 and every placebo participant at mRS 6 at ``visit``: complete
    separation, where the proportional odds model has no finite odds ratio."""
    arms = data.participants.set_index("participant_id")["arm"]
    outcomes = data.outcomes.copy()
    at = (outcomes["visit"] == visit) & (outcomes["instrument"] == "mrs")
    outcomes.loc[at, "total"] = [0 if arms[p] == "msc" else 6 for p in outcomes.loc[at, "participant_id"]]
    return replace(data, outcomes=outcomes)


def test_separation_reads_no_odds_ratio_instead_of_breaking_the_report(ixcell):
    """Before: the report indexed the interval the shift analysis leaves empty under separation (TypeError)."""
    protocol, data = ixcell
    report = build_report(protocol, _separated_at(data, "month3"), unblinded=True)
    by_visit = next(s for s in report.sections if s.id == "endpoints-by-visit")
    row = next(r for r in by_visit.tables[0].rows if r[0] == "modified Rankin Scale" and r[1] == "Month 3")
    assert row[4].startswith("no odds ratio: ") and row[5] == "" and row[6] == ""
    other = next(r for r in by_visit.tables[0].rows if r[0] == "modified Rankin Scale" and r[1] != "Month 3")
    assert other[4].startswith("OR ")  # the other visits are still estimated
