"""A NUL character (U+0000) in any answer, name or address is refused before a view runs, naming
the field, with nothing written: PostgreSQL cannot store it in text (a 500 there before), and on
SQLite it would be stored silently."""

import pytest
import time_machine
from capture_cases import NOW

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import FormRecord

pytestmark = pytest.mark.django_db

VITALS = {"systolic_bp": "130", "diastolic_bp": "82", "heart_rate": "71", "weight_kg": "68.5", "action": "complete"}


@time_machine.travel(NOW, tick=False)
def test_a_page_form_with_a_nul_is_refused_naming_the_field(client, participant, staff):
    client.force_login(staff["coordinator"])
    events = AuditEvent.objects.count()
    url = f"/capture/participants/{participant.pk}/visits/month3/forms/vital_signs/"
    response = client.post(url, {**VITALS, "weight_kg": "68\x00.5"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "weight_kg" in page and "NUL" in page and "Traceback" not in page
    assert not FormRecord.objects.exists() and AuditEvent.objects.count() == events


@time_machine.travel(NOW, tick=False)
def test_an_api_body_with_a_nul_gets_422_in_the_error_shape(client, participant, staff):
    client.force_login(staff["coordinator"])
    events = AuditEvent.objects.count()
    response = client.post(
        f"/api/capture/participants/{participant.pk}/forms",
        {"visit_id": "month3", "instrument": "mrs", "values": {"score": 4, "note": "a\x00b"}, "complete": True},
        content_type="application/json",
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [{"field": "values.note", "rule": "no_nul_character", "message": body["error"]}]
    assert not FormRecord.objects.exists() and AuditEvent.objects.count() == events


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    "address", ["/capture/trials/NCT04590118/due/?site=%00", "/api/capture/trials/NCT04590118/due?x=%00"]
)
def test_a_nul_in_the_query_string_is_refused(client, participant, staff, address):
    client.force_login(staff["coordinator"])
    response = client.get(address)
    assert response.status_code in (400, 422)


def test_a_nul_in_the_address_is_not_found(client, staff):
    client.force_login(staff["coordinator"])
    assert client.get("/screening/NCT0459%000118/").status_code == 404


def test_a_nul_in_the_login_form_is_refused_not_a_server_error(client):
    response = client.post("/accounts/login/", {"username": "cora\x00", "password": "x"})
    assert response.status_code == 400
