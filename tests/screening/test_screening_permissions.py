"""Who may do what in screening: site staff at their own site; investigators attest; readers read."""

from __future__ import annotations

import pytest
from screening_cases import SCREENING_DATE

from trialkit.server.screening import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(assist, site1, coordinator):
    return services.create_screening(assist, site1, coordinator, SCREENING_DATE)


def test_staff_of_another_site_get_403(client, assist, site2, record, make_user):
    client.force_login(make_user("coordinator", assist, site2))
    url = f"/screening/NCT04590118/{record.screening_number}/"
    assert client.get(url).status_code == 403
    assert client.post(url + "facts/", {"sex": "male"}, HTTP_HX_REQUEST="true").status_code == 403
    assert client.post(url + "enroll/").status_code == 403
    assert client.get(f"/api/screening/NCT04590118/records/{record.screening_number}").status_code == 403
    assert client.post("/screening/NCT04590118/new/", {"site": "assist-01"}).status_code == 403


def test_the_assessor_cannot_create_a_record(client, assist, site1, make_user):
    client.force_login(make_user("blinded_assessor", assist, site1))
    assert client.post("/screening/NCT04590118/new/", {"site": "assist-01"}).status_code == 403
    response = client.post("/api/screening/NCT04590118/records", {"site": "assist-01"}, content_type="application/json")
    assert response.status_code == 403
    assert client.get("/screening/NCT04590118/").status_code == 403


def test_the_coordinator_cannot_attest(client, record, coordinator):
    client.force_login(coordinator)
    response = client.post(
        f"/screening/NCT04590118/{record.screening_number}/attest/",
        {"criterion_id": "inc-imaging", "value": "true"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 403
    assert not record.attestations.exists()


def test_an_investigator_of_another_trial_cannot_attest(client, record, ixcell, make_user):
    client.force_login(make_user("investigator", ixcell, ixcell.sites.get(code="ixcell-01")))
    response = client.post(
        f"/screening/NCT04590118/{record.screening_number}/attest/", {"criterion_id": "inc-imaging", "value": "true"}
    )
    assert response.status_code == 403


def test_monitor_and_data_manager_read_the_record_but_cannot_change_it(client, assist, record, make_user):
    for role in ("monitor", "data_manager"):
        client.force_login(make_user(role, assist))
        page = client.get(f"/screening/NCT04590118/{record.screening_number}/")
        assert page.status_code == 200 and "<fieldset disabled>" in page.content.decode()
        assert (
            client.post(f"/screening/NCT04590118/{record.screening_number}/facts/", {"sex": "male"}).status_code == 403
        )
        assert "New screening" not in client.get("/screening/NCT04590118/").content.decode()


def test_the_sponsor_sees_the_log_without_patient_details(client, assist, record, make_user):
    services.update_facts(record, {"birth_date": "1958-07-14", "sex": "male"}, record.created_by)
    client.force_login(make_user("sponsor_admin", assist))
    log = client.get("/screening/NCT04590118/").content.decode()
    assert record.screening_number in log
    assert f'href="/screening/NCT04590118/{record.screening_number}/"' not in log
    assert client.get(f"/screening/NCT04590118/{record.screening_number}/").status_code == 403
    assert client.get(f"/api/screening/NCT04590118/records/{record.screening_number}").status_code == 403
    api_log = client.get("/api/screening/NCT04590118/records").json()
    assert api_log["counts"]["in_screening"] == 1 and "1958" not in str(api_log)


def test_anonymous_users_are_sent_to_log_in(client, record):
    response = client.get("/screening/NCT04590118/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get("/api/screening/NCT04590118/records").status_code == 401
