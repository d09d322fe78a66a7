"""Report generation as a job with polled progress; the unblinded report for the DSMB statistician only."""

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from auth_support import login_verified
from web_builders import participant, screening

from trialkit.analysis.trial_data import write_tables
from trialkit.server.accounts.roles import Role
from trialkit.server.exports.extract import iter_chunks
from trialkit.server.jobs import runner
from trialkit.server.jobs.models import Job

pytestmark = pytest.mark.django_db

IXCELL = "NCT07197606"


@pytest.fixture
def trial(trials, make_user, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    trial = trials[IXCELL]
    site = trial.sites.order_by("code").first()
    author = make_user(Role.COORDINATOR, trial, site, username="author")
    for n in range(1, 7):
        participant(trial, site, author, f"IX-P00{n}", enrolled=datetime(2025, n, 5, tzinfo=UTC))
    screening(trial, site, author, "IX-F01", outcome="screen_failed", verdict="ineligible", fail_reasons=["inc-nihss"])
    return trial


def test_the_blinded_extract_holds_no_arm(trial, tmp_path):
    counts = write_tables(iter_chunks(trial, arms=None), tmp_path / "data", trial.protocol, unblinded=False)
    # outcomes is wide: one row per randomized participant, outcome columns empty so far
    assert counts == {"participants": 6, "outcomes": 6, "adverse_events": 0, "screening": 7}
    for table in ("participants", "outcomes"):
        with open(tmp_path / "data" / f"{table}.csv") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
        assert "arm" not in reader.fieldnames and len(rows) == 6
    with open(tmp_path / "data" / "screening.csv") as handle:
        failed = [row for row in csv.DictReader(handle) if row["outcome"] == "screen_failed"]
    assert failed == [{"screening_id": "IX-F01", "outcome": "screen_failed", "reason": "inc-nihss"}]


def test_a_sponsor_gets_the_pooled_report_with_progress_to_done(client, make_user, trial):
    sponsor = make_user(Role.SPONSOR_ADMIN, trial)
    client.force_login(sponsor)
    response = client.post(f"/reports/{IXCELL}/start/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    job = Job.objects.get()
    assert job.unblinded is False and job.status == Job.Status.QUEUED
    # While queued or running the fragment asks to be polled again.
    assert f'hx-get="/jobs/{job.pk}/progress/"' in response.content.decode()
    runner.execute(job.pk)
    progress = client.get(f"/jobs/{job.pk}/progress/").content.decode()
    assert 'data-status="done"' in progress and "hx-get" not in progress
    report = b"".join(client.get(f"/jobs/{job.pk}/result/").streaming_content).decode()
    assert "Blinded — pooled results only" in report
    for arm in trial.protocol.arms:
        assert arm.label not in report
    pdf = client.get(f"/jobs/{job.pk}/result.pdf")
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")


def test_the_dsmb_statistician_gets_the_unblinded_report(client, make_user, trial):
    login_verified(client, make_user(Role.DSMB_STATISTICIAN, trial))
    client.post(f"/reports/{IXCELL}/start/", {"unblinded": "1"})
    job = runner.execute(Job.objects.get().pk)
    assert job.status == Job.Status.DONE, job.message
    report = Path(job.result_path).read_text(encoding="utf-8")
    assert "UNBLINDED" in report


@pytest.mark.parametrize("role", [Role.SPONSOR_ADMIN, Role.MONITOR, Role.DATA_MANAGER])
def test_blinded_roles_cannot_ask_for_the_unblinded_report(client, make_user, trial, role):
    login_verified(client, make_user(role, trial))
    assert client.post(f"/reports/{IXCELL}/start/", {"unblinded": "1"}).status_code == 403
    assert not Job.objects.exists()


def test_a_dsmb_statistician_who_also_holds_a_blinded_role_gets_no_unblinded_report(client, make_user, trial):
    from django.core.exceptions import ValidationError

    from trialkit.server.accounts.models import Membership

    user = make_user(Role.DSMB_STATISTICIAN, trial)
    with pytest.raises(ValidationError):  # the combination rule refuses it
        Membership.objects.create(user=user, trial=trial, role=Role.MONITOR)
    # A row written around the rule (bulk_create skips save) still leaves the person blinded.
    Membership.objects.bulk_create([Membership(user=user, trial=trial, role=Role.MONITOR)])
    login_verified(client, user)
    assert client.post(f"/reports/{IXCELL}/start/", {"unblinded": "1"}).status_code == 403


def test_site_roles_cannot_generate_reports(client, make_user, trial):
    client.force_login(make_user(Role.COORDINATOR, trial, trial.sites.first()))
    assert client.post(f"/reports/{IXCELL}/start/").status_code == 403


def test_a_job_is_visible_to_its_owner_only(client, make_user, trial):
    owner = make_user(Role.SPONSOR_ADMIN, trial)
    job = Job.objects.create(kind="report", trial=trial, requested_by=owner)
    client.force_login(make_user(Role.SPONSOR_ADMIN, trial))
    assert client.get(f"/jobs/{job.pk}/progress/").status_code == 404
    assert client.get(f"/jobs/{job.pk}/result/").status_code == 404


def test_a_report_with_nobody_randomized_fails_with_a_reason(client, make_user, trials, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    sponsor = make_user(Role.SPONSOR_ADMIN, trials["NCT04590118"])
    job = Job.objects.create(kind="report", trial=trials["NCT04590118"], requested_by=sponsor)
    job = runner.execute(job.pk)
    assert job.status == Job.Status.FAILED
    assert job.message == "no participant has been randomized yet: there is nothing to analyse"
    client.force_login(sponsor)
    assert "nothing to analyse" in client.get(f"/jobs/{job.pk}/progress/").content.decode()
