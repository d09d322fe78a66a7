"""Export pages and API: who sees what, downloads by role, progress polled until done."""

from __future__ import annotations

import hashlib
import time

import pytest
from auth_support import login_verified
from exports_checks import arm_mentions, members
from exports_world import NOW, build_world

from trialkit.server.audit.models import AuditEvent
from trialkit.server.exports import services
from trialkit.server.jobs import runner
from trialkit.server.jobs.models import Job

NCT = "NCT04590118"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["coordinator", "investigator", "blinded_assessor", "unblinded_pharmacist"])
def test_site_staff_get_403_on_every_export_page(client, world, make_user, role):
    job = services.create_export(world["trial"], world["dsmb"], now=NOW)
    login_verified(client, make_user(role, world["trial"], world["site"]))
    for url in (
        f"/exports/{NCT}/",
        f"/exports/{NCT}/jobs/{job.pk}/progress/",
        f"/exports/{NCT}/jobs/{job.pk}/download/",
        f"/api/exports/{NCT}/jobs",
        f"/api/exports/{NCT}/jobs/{job.pk}",
        f"/api/exports/{NCT}/jobs/{job.pk}/download",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/exports/{NCT}/start/", {"formats": ["csv"]}).status_code == 403
    assert client.post(f"/api/exports/{NCT}/jobs", {}, content_type="application/json").status_code == 403


@pytest.mark.django_db
def test_the_unblinded_option_is_shown_to_the_statistician_only(client, world, make_user):
    for user, shown in (
        (world["dsmb"], True),
        (make_user("data_manager", world["trial"]), False),
        (make_user("sponsor_admin", world["trial"]), False),
        (make_user("monitor", world["trial"]), False),
    ):
        login_verified(client, user)
        page = client.get(f"/exports/{NCT}/").content.decode()
        assert 'name="formats" value="sdtm"' in page
        assert ('name="unblinded"' in page) is shown


@pytest.mark.django_db
def test_a_blinded_role_can_never_download_an_unblinded_export(client, world, make_user):
    job = services.create_export(world["trial"], world["dsmb"], unblinded=True, now=NOW)
    for role in ("data_manager", "sponsor_admin", "monitor"):
        login_verified(client, make_user(role, world["trial"]))
        page = client.get(f"/exports/{NCT}/").content.decode()
        # Not listed at all: no row, no hash, no size (accounts.lookups.may_see_artefact).
        assert f"/jobs/{job.pk}/" not in page and "nblinded" not in page and job.sha256 not in page
        assert client.get(f"/exports/{NCT}/jobs/{job.pk}/download/").status_code == 404
        response = client.get(f"/api/exports/{NCT}/jobs/{job.pk}/download")
        assert response.status_code == 404 and b"PK" not in response.content[:2]
        assert client.get(f"/api/exports/{NCT}/jobs/{job.pk}").status_code == 404
        assert client.get(f"/api/exports/{NCT}/jobs").json()["items"] == []
    # A statistician may not also hold a blinded role (the combination rule); a row written around
    # the rule (bulk_create skips save()) still leaves the person blinded (accounts/access.py).
    both = make_user("dsmb_statistician", world["trial"], username="two-hats")
    from django.core.exceptions import ValidationError

    from trialkit.server.accounts.models import Membership

    with pytest.raises(ValidationError):
        Membership.objects.create(user=both, trial=world["trial"], role="data_manager")
    Membership.objects.bulk_create([Membership(user=both, trial=world["trial"], role="data_manager")])
    login_verified(client, both)
    assert client.get(f"/exports/{NCT}/jobs/{job.pk}/download/").status_code == 404
    assert not AuditEvent.objects.filter(action="export_download").exists()


@pytest.mark.django_db
def test_downloads_are_for_the_requesters_role_and_audited(client, world, make_user):
    first = make_user("data_manager", world["trial"])
    job = services.create_export(world["trial"], first, now=NOW)
    client.force_login(make_user("monitor", world["trial"]))
    assert client.get(f"/exports/{NCT}/jobs/{job.pk}/download/").status_code == 403
    colleague = make_user("data_manager", world["trial"])
    client.force_login(colleague)
    response = client.get(f"/exports/{NCT}/jobs/{job.pk}/download/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == job.sha256
    event = AuditEvent.objects.get(action="export_download")
    assert (event.actor, event.object_id, event.restricted) == (colleague.username, str(job.pk), False)


@pytest.mark.django_db
def test_a_command_line_export_is_downloaded_by_the_holders_of_its_permission(client, world, make_user):
    """A system export was made under no role: who may take it is the permission table's answer
    (``exports.blinded``, ``exports.unblinded``), not a role list of its own. Before, a blinded
    one was for data managers and the statistician only, refusing the monitor and the sponsor
    administrator the table lets download blinded exports."""
    blinded = services.create_export(world["trial"], None, now=NOW)
    unblinded = services.create_export(world["trial"], None, unblinded=True, now=NOW)
    assert blinded.requester_role == unblinded.requester_role == services.SYSTEM_ROLE
    for role in ("data_manager", "sponsor_admin", "monitor", "dsmb_statistician"):
        user = make_user(role, world["trial"])
        assert services.may_download(user, blinded), role
        assert services.may_download(user, unblinded) is (role == "dsmb_statistician"), role
        login_verified(client, user)
        assert client.get(f"/exports/{NCT}/jobs/{blinded.pk}/download/").status_code == 200, role
    for role in ("coordinator", "investigator", "blinded_assessor", "unblinded_pharmacist"):
        user = make_user(role, world["trial"], world["site"])
        assert not services.may_download(user, blinded) and not services.may_download(user, unblinded), role


@pytest.mark.django_db
def test_an_export_records_the_role_its_permission_was_held_through(world, make_user):
    job = services.create_export(world["trial"], world["dsmb"], unblinded=True, now=NOW)
    assert job.requester_role == "dsmb_statistician"
    assert services.may_download(world["dsmb"], job)
    assert services.create_export(world["trial"], make_user("monitor", world["trial"]), now=NOW).requester_role == (
        "monitor"
    )


@pytest.mark.django_db
def test_a_running_job_polls_every_second_and_a_done_job_stops(client, world, make_user):
    manager = make_user("data_manager", world["trial"])
    client.force_login(manager)
    queued = services.request_export(world["trial"], manager, formats=["csv"], now=NOW)
    fragment = client.get(f"/exports/{NCT}/jobs/{queued.pk}/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in fragment and f'hx-get="/exports/{NCT}/jobs/{queued.pk}/progress/"' in fragment
    assert 'aria-valuenow="0"' in fragment
    runner.execute(queued.pk)
    fragment = client.get(f"/exports/{NCT}/jobs/{queued.pk}/progress/").content.decode()
    assert "hx-trigger" not in fragment and f"/jobs/{queued.pk}/download/" in fragment


@pytest.mark.django_db
def test_a_bad_form_names_the_problem(client, world, make_user):
    client.force_login(make_user("data_manager", world["trial"]))
    response = client.post(f"/exports/{NCT}/start/", {})
    assert response.status_code == 400 and "choose at least one format" in response.content.decode()
    response = client.post(f"/api/exports/{NCT}/jobs", {"formats": ["pdf"]}, content_type="application/json")
    assert response.status_code == 422  # invalid input, in the API's one contract
    assert response.json()["errors"][0]["field"] == "formats"
    response = client.post(f"/api/exports/{NCT}/jobs", {"unblinded": True}, content_type="application/json")
    assert response.status_code == 403
    assert client.post(f"/exports/{NCT}/start/", {"formats": ["csv"], "unblinded": "1"}).status_code == 403
    assert Job.objects.filter(kind="export").count() == 0


def _poll(client, url, key="progress"):
    """Follow a job the way the page does, once every 20 ms, until it finishes; the progress seen."""
    seen = []
    for _ in range(1500):
        body = client.get(url).json()
        seen.append(body[key])
        if body["status"] in ("done", "failed"):
            return seen, body
        time.sleep(0.02)
    raise AssertionError(f"the export did not finish; progress seen {seen[-5:]}")


@pytest.mark.django_db(transaction=True)
def test_the_page_starts_a_background_export_that_reaches_100(client, trials, make_user):
    world = build_world(trials, make_user)
    manager = make_user("data_manager", world["trial"])
    client.force_login(manager)
    response = client.post(f"/exports/{NCT}/start/", {"formats": ["odm", "sdtm", "csv"]})
    assert response.status_code == 302 and response["Location"] == f"/exports/{NCT}/"
    job = Job.objects.get()
    seen, body = _poll(client, f"/api/exports/{NCT}/jobs/{job.pk}")
    assert services.wait_for(job.pk)
    assert body["status"] == "done" and seen[-1] == 100 and seen == sorted(seen)
    page = client.get(f"/exports/{NCT}/").content.decode()
    assert f"/exports/{NCT}/jobs/{job.pk}/download/" in page and "hx-trigger" not in page
    job.refresh_from_db()
    assert arm_mentions(members(job.result_path), world["trial"].protocol) == []


@pytest.mark.django_db(transaction=True)
def test_the_api_runs_an_unblinded_export_for_the_statistician(client, trials, make_user):
    world = build_world(trials, make_user)
    login_verified(client, world["dsmb"])
    response = client.post(
        f"/api/exports/{NCT}/jobs", {"formats": ["sdtm"], "unblinded": True}, content_type="application/json"
    )
    assert response.status_code == 202 and response.json()["unblinded"] is True
    job_id = response.json()["id"]
    _seen, body = _poll(client, f"/api/exports/{NCT}/jobs/{job_id}")
    assert services.wait_for(job_id)
    assert body["status"] == "done" and body["progress"] == 100
    download = client.get(body["download_url"])
    assert download.status_code == 200
    assert AuditEvent.objects.get(action="export_download").restricted is True


@pytest.mark.django_db
def test_labels_are_a_choice_on_the_page_and_in_the_api(client, world, make_user):
    client.force_login(make_user("data_manager", world["trial"]))
    assert 'name="labels"' in client.get(f"/exports/{NCT}/").content.decode()
    client.post(f"/exports/{NCT}/start/", {"formats": ["csv"], "labels": "1"})
    assert Job.objects.latest("id").params.get("labels") is True
    answer = client.post(
        f"/api/exports/{NCT}/jobs", {"formats": ["csv"], "labels": True}, content_type="application/json"
    )
    assert answer.status_code == 202 and answer.json()["labels"] is True
    plain = client.post(f"/api/exports/{NCT}/jobs", {"formats": ["csv"]}, content_type="application/json")
    assert plain.json()["labels"] is False and Job.objects.latest("id").params.get("labels") in (None, False)
