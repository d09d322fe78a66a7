"""The unblinded DSMB report shows the group-sequential boundaries of the protocol's looks with the
observed statistic; the blinded report shows nothing of it."""

from __future__ import annotations

import pytest
import yaml

from trialkit.analysis.group_sequential import boundaries
from trialkit.analysis.ordinal_shift import mrs_shift
from trialkit.analysis.report import build_report, render_html
from trialkit.analysis.trial_data import analysis_frame, load_trial_data
from trialkit.protocol import parse_protocol
from trialkit.protocol.loader import default_protocol_dir
from trialkit.simulation.dataset import simulate_dataset

# A DSMB report (matplotlib figures and tables) is drawn per module: seconds of CPU.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    data = yaml.safe_load((default_protocol_dir() / "NCT07197606.yaml").read_text(encoding="utf-8"))
    data["analysis_plan"]["interim"] = {
        "analysis": "mrs-shift-month3",
        "spending": "obrien_fleming",
        "information_fractions": [0.5, 1.0],
    }
    protocol = parse_protocol(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "ixcell-interim.yaml")
    directory = simulate_dataset(protocol, tmp_path_factory.mktemp("ixcell-interim"), seed=11)
    trial_data = load_trial_data(directory)
    return protocol, trial_data, {mode: build_report(protocol, trial_data, unblinded=mode) for mode in (False, True)}


def _interim(report):
    return next((s for s in report.sections if s.id == "interim-monitoring"), None)


def test_the_blinded_report_has_no_interim_section(trial):
    _, _, reports = trial
    assert _interim(reports[False]) is None
    page = render_html(reports[False])
    assert "Interim monitoring" not in page and "Observed Z" not in page


def test_the_dsmb_report_shows_the_boundaries_and_the_observed_statistic(trial):
    protocol, data, reports = trial
    section = _interim(reports[True])
    assert section is not None
    spec = next(a for a in protocol.analysis_plan.analyses if a.id == "mrs-shift-month3")
    frame = analysis_frame(data, spec.outcome, spec.visit, covariates=spec.covariates)
    direct = mrs_shift(frame, spec.treatment_arm, spec.control_arm, spec.outcome, spec.covariates)
    results = section.results
    assert results["observed_z"] == pytest.approx(direct.z)
    assert results["n"] == direct.n
    fraction = direct.n / protocol.registry.enrollment.count
    assert results["information_fraction"] == pytest.approx(fraction)
    # The earlier planned look (0.5) is taken as done; the boundary now is at the observed fraction.
    expected = boundaries([0.5, fraction], "obrien_fleming", 0.05, 2).z[-1]
    assert results["current"]["looks"][-1]["z"] == pytest.approx(expected)
    assert results["boundary_reached"] == (abs(direct.z) >= expected)
    assert [look["z"] for look in results["planned"]["looks"]] == pytest.approx(
        boundaries([0.5, 1.0], "obrien_fleming", 0.05, 2).z
    )
    page = render_html(reports[True])
    assert "Interim monitoring: mrs-shift-month3" in page and "Boundary |Z|" in page
    assert len(section.figures) == 1
