"""Allocation pages and API through the test client."""

from datetime import UTC, datetime

import pytest
import time_machine
from auth_support import login_verified, otp_code

from trialkit.server.allocation.models import AllocationSlot, DoseRecord
from trialkit.server.participants.models import Participant

pytestmark = pytest.mark.django_db
IXCELL = "NCT07197606"


@pytest.fixture(autouse=True)
def _within_the_screening_window():
    # The views take the real clock; the enrolled participants were screened on 2025-03-01, and IxCell
    # allows at most 14 days from screening to infusion (eligibility.timing), so the pages run then.
    with time_machine.travel(datetime(2025, 3, 3, 9, tzinfo=UTC), tick=True):
        yield


def test_the_api_randomizes_and_answers_the_same_three_fields_for_every_arm(
    client, generated, trials, make_user, enroll
):
    trial = trials[IXCELL]
    client.force_login(make_user("coordinator", trial, site=trial.sites.get(code="ixcell-01")))
    bodies, arms = [], set()
    for _ in range(6):
        p = enroll(trial, "ixcell-01")
        response = client.post(f"/api/allocation/{IXCELL}/participants/{p.participant_number}/randomize")
        assert response.status_code == 200
        bodies.append(response.json())
        arms.add(AllocationSlot.objects.get(participant=p).arm_id)
    assert arms == {"msc", "placebo"}
    assert {tuple(sorted(b)) for b in bodies} == {("kit_number", "randomization_number", "randomized_at")}
    again = client.post(f"/api/allocation/{IXCELL}/participants/{p.participant_number}/randomize")
    assert again.status_code == 409 and "already randomized" in again.json()["error"]  # a refused step


def test_the_randomize_button_shows_only_the_numbers(client, generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    client.force_login(make_user("investigator", trial, site=p.site))
    url = f"/allocation/{IXCELL}/participants/{p.participant_number}/randomize/"
    # The GET is the confirmation page: it says what will happen and randomizes nothing.
    confirm = client.get(url)
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    p.refresh_from_db()
    assert p.randomization_number in ("", None)
    response = client.post(url, follow=True)
    p.refresh_from_db()
    html = response.content.decode()
    assert p.randomization_number in html and p.kit_number in html and "IX-R0001" in html


def test_the_pharmacist_sees_the_preparation_sheet_and_a_wrong_weight_is_shown_as_a_field_error(
    client, generated, trials, make_user, enroll
):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    client.force_login(make_user("coordinator", trial, site=p.site))
    client.post(f"/api/allocation/{IXCELL}/participants/{p.participant_number}/randomize")
    client.force_login(make_user("unblinded_pharmacist", trial, site=p.site))
    assert p.participant_number in client.get(f"/allocation/{IXCELL}/pharmacy/").content.decode()
    url = f"/allocation/{IXCELL}/pharmacy/{p.participant_number}/"
    bad = client.post(url, {"weight_kg": "12"})
    assert "outside the plausible range" in bad.content.decode() and not DoseRecord.objects.exists()
    # Computing shows the sheet and records nothing; the confirmation records it.
    computed = client.post(url, {"weight_kg": "64", "action": "compute"}).content.decode()
    arm = trial.protocol.arm(AllocationSlot.objects.get(participant=p).arm_id).label
    assert f"<dd>{arm}</dd>" in computed and "64.0 ml" in computed and "Record this preparation" in computed
    assert not DoseRecord.objects.exists()
    sheet = client.post(url, {"weight_kg": "64", "action": "record"}, follow=True).content.decode()
    assert DoseRecord.objects.get(participant=p).weight_kg == 64
    assert f"<dd>{arm}</dd>" in sheet and "64.0 ml" in sheet and "No weight is recorded" not in sheet
    api = client.post(
        f"/api/allocation/{IXCELL}/participants/{p.participant_number}/dose",
        {"weight_kg": None},
        content_type="application/json",
    )
    assert api.status_code == 422 and api.json()["errors"][0]["field"] == "weight_kg"


def test_the_investigator_unblinds_through_the_form_and_the_sponsor_reads_the_notice(
    client, generated, trials, make_user, enroll
):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    client.force_login(make_user("coordinator", trial, site=p.site))
    client.post(f"/api/allocation/{IXCELL}/participants/{p.participant_number}/randomize")
    sponsor = make_user("sponsor_admin", trial)
    investigator = make_user("investigator", trial, site=p.site, password="pw-inv")
    client.force_login(investigator)
    url = f"/allocation/{IXCELL}/participants/{p.participant_number}/unblind/"
    refused = client.post(url, {"reason": "Bleeding", "password": "nope", "otp_token": otp_code(investigator)})
    assert "password is not correct" in refused.content.decode()
    shown = client.post(url, {"reason": "Bleeding", "password": "pw-inv", "otp_token": otp_code(investigator)})
    label = trial.protocol.arm(AllocationSlot.objects.get(participant=p).arm_id).label
    assert label in shown.content.decode() and shown["Cache-Control"] == "no-store"
    assert "Emergency unblinded" in client.get(f"/allocation/{IXCELL}/").content.decode()
    client.force_login(sponsor)
    notes = client.get("/api/allocation/notifications").json()["items"]
    assert len(notes) == 1 and p.participant_number in notes[0]["message"]
    read = client.post(f"/api/allocation/notifications/{notes[0]['id']}/read").json()
    assert read["read_at"] is not None


def test_the_statistician_generates_the_list_on_the_page_and_sees_the_balance(client, trials, make_user):
    trial = trials[IXCELL]
    login_verified(client, make_user("dsmb_statistician", trial))
    page = client.post(f"/allocation/{IXCELL}/list/", {"seed": "my-seed"}).content.decode()
    assert "my-seed" in page and "site=ixcell-03|nihss-band=severe" in page
    assert client.get(f"/api/allocation/{IXCELL}/list").json()["count"] == 6 * 86
    assert Participant.objects.count() == 0
