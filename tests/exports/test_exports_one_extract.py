"""The one extract: the report built in the app equals `trialkit report` run on the exported files,
and the exported outcomes table is what `trialkit analyze` reads."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from exports_world import NIHSS_5, NIHSS_9, NOW
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.server.exports import services
from trialkit.server.jobs import runner
from trialkit.server.jobs.models import Job

pytestmark = pytest.mark.django_db

IMAGES = re.compile(r"<img [^>]*>")


@pytest.fixture
def followed(world):
    """The world with a day-7 NIHSS for every participant, so the report has an effect to show."""
    from trialkit.server.capture import services as capture

    later = NOW + timedelta(days=8)
    for p, values in zip(world["participants"][1:], (NIHSS_9, NIHSS_5, {**NIHSS_9, "3": 0})):
        capture.save_form(p, "day7", "nihss", values, world["coordinator"], complete=True, now=later)
    # baselines that differ, so that the ANCOVA's baseline term is estimable
    for p, values in zip(world["participants"][2:], ({**NIHSS_9, "5a": 1}, {**NIHSS_9, "6a": 0, "3": 0})):
        capture.save_form(
            p,
            "baseline",
            "nihss",
            values,
            world["coordinator"],
            complete=True,
            now=later,
            reason="corrected from the source document",
        )
    return world


def _exported_data(world, tmp_path, *, unblinded: bool):
    job = services.create_export(world["trial"], world["dsmb"], formats=["csv"], unblinded=unblinded, now=NOW)
    assert job.status == "done", job.message
    target = tmp_path / ("unblinded" if unblinded else "blinded")
    with zipfile.ZipFile(job.result_path) as archive:
        archive.extractall(target)
    return target / "data"


def _without_images(html: str) -> str:
    return IMAGES.sub("<img>", html)


@pytest.mark.parametrize("unblinded", [True, False])
def test_the_report_built_in_the_app_equals_trialkit_report_on_the_export(followed, tmp_path, unblinded):
    from trialkit.server.web.reports import request_report

    job = runner.execute(request_report(followed["trial"], followed["dsmb"], unblinded=unblinded).pk)
    assert job.status == Job.Status.DONE, job.message
    in_app = Path(job.result_path).read_text(encoding="utf-8")

    data = _exported_data(followed, tmp_path, unblinded=unblinded)
    args = ["report", "--protocol", "NCT04590118", "--data", str(data), "--out", str(tmp_path / "cli"), "-f", "json"]
    result = CliRunner().invoke(app, args + (["--unblinded"] if unblinded else []))
    assert result.exit_code == 0, result.output
    from_files = Path(json.loads(result.stdout)["html"]).read_text(encoding="utf-8")

    assert _without_images(in_app) == _without_images(from_files)
    # ... and the report answers: headings people read, the baseline table, the by-visit analysis.
    assert "NIH Stroke Scale, Day 7" not in in_app  # the row label is split into scale and visit columns
    for heading in ("Baseline characteristics", "Outcomes at every visit", "lower is better"):
        assert heading in in_app
    assert "mrs-shift-month6</h2>" not in in_app  # no internal id as a heading
    arms = [a.label for a in followed["trial"].protocol.arms]
    assert all(label in in_app for label in arms) == unblinded


def test_the_exported_outcomes_table_is_what_trialkit_analyze_reads(followed, tmp_path):
    """`trialkit analyze ancova --input outcomes.csv` on the unblinded export: exit 0 and the same
    difference the in-app extract gives (statsmodels OLS as the independent reference)."""
    import statsmodels.formula.api as smf

    data = _exported_data(followed, tmp_path, unblinded=True)
    outcomes = pd.read_csv(data / "outcomes.csv", dtype={"participant_id": str})
    assert {"arm", "nihss_baseline", "nihss_day7", "baseline_nihss", "age"} <= set(outcomes.columns)
    treatment, control = "it-hmsc", "placebo"
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            "ancova",
            "--input",
            str(data / "outcomes.csv"),
            "--outcome",
            "nihss_day7",
            "--baseline",
            "nihss_baseline",
            "--treatment",
            treatment,
            "--control",
            control,
            "-f",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    difference = json.loads(result.stdout)["difference"]
    frame = outcomes.dropna(subset=["nihss_day7"]).assign(
        change=lambda f: f.nihss_day7 - f.nihss_baseline, treated=lambda f: (f.arm == treatment).astype(float)
    )
    reference = smf.ols("change ~ treated + nihss_baseline", data=frame).fit().params["treated"]
    assert difference == pytest.approx(reference, rel=1e-9)


def test_a_blinded_export_has_no_arm_column_and_analyze_says_so(followed, tmp_path):
    data = _exported_data(followed, tmp_path, unblinded=False)
    for table in ("participants", "outcomes"):
        assert "arm" not in pd.read_csv(data / f"{table}.csv").columns
    dictionary = pd.read_csv(data / "dictionary.csv")
    assert "arm" not in set(dictionary["column"])
    assert {"nihss_day7", "mrs_month6"} <= set(dictionary["column"])
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            "ancova",
            "--input",
            str(data / "outcomes.csv"),
            "--outcome",
            "nihss_day7",
            "--baseline",
            "nihss_baseline",
            "--treatment",
            "it-hmsc",
            "--control",
            "placebo",
        ],
    )
    assert result.exit_code != 0 and "arm" in result.output


def test_labels_instead_of_codes_on_request(followed, tmp_path):
    job = services.create_export(
        followed["trial"], followed["dsmb"], formats=["csv"], unblinded=True, now=NOW, labels=True
    )
    with zipfile.ZipFile(job.result_path) as archive:
        participants = pd.read_csv(archive.open("data/participants.csv"))
    assert set(participants["arm"]) <= {a.label for a in followed["trial"].protocol.arms}
    assert set(participants["sex"]) == {"Female", "Male"}
