"""Unblinded artefacts: access is checked again on every request (revoking a membership revokes the
report and the export its holder made), and their files are private on disk."""

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from auth_support import login_verified
from web_builders import participant

from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import Role
from trialkit.server.exports.services import create_export
from trialkit.server.jobs import runner
from trialkit.server.jobs.models import Job

pytestmark = pytest.mark.django_db

IXCELL = "NCT07197606"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def trial(trials, make_user, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    trial = trials[IXCELL]
    site = trial.sites.order_by("code").first()
    author = make_user(Role.COORDINATOR, trial, site, username="author")
    for n in range(1, 5):
        participant(trial, site, author, f"IX-P00{n}", enrolled=datetime(2025, n, 5, tzinfo=UTC))
    return trial


def _report(trial, dsmb):
    return runner.submit(
        "report", trial=trial, requested_by=dsmb, unblinded=True, requester_role="dsmb_statistician", queue=False
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_revoked_dsmb_member_loses_the_report_and_export_they_made(client, trial, make_user):
    dsmb = make_user(Role.DSMB_STATISTICIAN, trial, username="dora")
    job = runner.execute(_report(trial, dsmb).pk)
    assert job.status == Job.Status.DONE, job.message
    export = create_export(trial, dsmb, unblinded=True, now=NOW)
    login_verified(client, dsmb)
    pages = [f"/jobs/{job.pk}/", f"/jobs/{job.pk}/progress/", f"/jobs/{job.pk}/result/", f"/jobs/{job.pk}/result.pdf"]
    downloads = [f"/exports/{IXCELL}/jobs/{export.pk}/download/", f"/api/exports/{IXCELL}/jobs/{export.pk}/download"]
    assert [client.get(url).status_code for url in pages + downloads] == [200] * 6
    Membership.objects.filter(user=dsmb, trial=trial).delete()
    assert [client.get(url).status_code for url in pages] == [404] * 4
    assert [client.get(url).status_code for url in downloads] == [403] * 2  # no role left in the trial
    # Given a blinded role instead, the artefacts do not exist for them at all.
    Membership.objects.create(user=dsmb, trial=trial, role=Role.DATA_MANAGER)
    assert [client.get(url).status_code for url in pages + downloads] == [404] * 6
    assert client.get(f"/api/exports/{IXCELL}/jobs").json()["items"] == []
    assert f"/jobs/{job.pk}/" not in client.get(f"/home/?trial={IXCELL}&role=data_manager").content.decode()


def test_unblinded_files_and_the_data_directory_are_private(trial, make_user, settings):
    dsmb = make_user(Role.DSMB_STATISTICIAN, trial, username="dora")
    export = create_export(trial, dsmb, unblinded=True, now=NOW)
    job = runner.execute(_report(trial, dsmb).pk)
    data_dir = Path(settings.DATA_DIR)
    assert _mode(data_dir) == 0o700
    archive = Path(Job.objects.get(pk=export.pk).result_path)
    assert _mode(archive.parent) == 0o700 and _mode(archive) == 0o600
    report_dir = Path(job.result_path).parent
    assert _mode(report_dir) == 0o700 and _mode(report_dir.parent) == 0o700
    files = [p for p in report_dir.rglob("*") if p.is_file()]
    assert files and all(_mode(p) == 0o600 for p in files), {str(p): oct(_mode(p)) for p in files}


def test_the_sqlite_database_file_is_private(tmp_path):
    import sqlite3

    from trialkit.server.private_files import secure_sqlite

    path = tmp_path / "db" / "trialkit.sqlite3"
    path.parent.mkdir()
    sqlite3.connect(path).close()
    path.chmod(0o644)

    class Connection:
        vendor = "sqlite"
        settings_dict = {"NAME": str(path)}

    secure_sqlite(connection=Connection())
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
