"""The diary: a personal code opens one participant's diary and reaches nothing else."""

from datetime import date, timedelta

import pytest
import time_machine
from capture_cases import NOW

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import DiaryAccess, DiaryEntry
from trialkit.server.capture.services import CaptureError, create_diary_access, revoke_diary_access

pytestmark = pytest.mark.django_db

ENTRY = {
    "symptoms.new_or_worse": "yes",
    "symptoms.details": "Left hand numb in the morning",
    "functional_activities.details": "Walked 20 minutes with my cane",
    "rehabilitation_medicines.taken": "no",
    "assistive_devices.used": "yes",
    "assistive_devices.details": "cane",
}


@pytest.fixture
def code(participant, staff):
    _access, code = create_diary_access(participant, "caregiver", staff["coordinator"], now=NOW)
    return code


def test_only_a_keyed_hash_of_the_code_is_stored(code):
    access = DiaryAccess.objects.get()
    assert code not in access.token_hash and access.hint == code[-4:]
    assert len(code) == 12
    assert code not in str(AuditEvent.objects.get(action="diary_access_grant").after)


@time_machine.travel(NOW, tick=False)
def test_a_caregiver_records_a_day_through_the_link(client, participant, code):
    response = client.post(f"/diary/{code}/", {"entry_date": "2026-06-15", **ENTRY})
    assert response.status_code == 200 and b"Saved for" in response.content
    entry = DiaryEntry.objects.get()
    assert entry.participant == participant and entry.entered_by == "caregiver"
    assert entry.sections["symptoms"] == {"new_or_worse": True, "details": "Left hand numb in the morning"}
    assert entry.sections["assistive_devices"] == {"used": True, "details": "cane"}
    event = AuditEvent.objects.get(action="diary_create")
    assert event.actor.startswith(f"diary:{participant.participant_number}:caregiver")
    # The code in the URL is never sent to another site, while the diary's own form still carries
    # its origin (with "no-referrer" Chromium posts "Origin: null" and the CSRF check refuses it).
    assert response["Referrer-Policy"] == "same-origin"


@time_machine.travel(NOW, tick=False)
def test_the_code_can_be_typed_with_dashes_and_lowercase(client, code):
    typed = "-".join(code[i : i + 4] for i in (0, 4, 8)).lower()
    response = client.post("/diary/", {"code": typed})
    assert response.status_code == 302 and response["Location"] == f"/diary/{code}/"


@time_machine.travel(NOW, tick=False)
def test_future_days_and_empty_entries_are_refused_and_nothing_saved(client, code):
    response = client.post(f"/diary/{code}/", {"entry_date": "2026-06-16", **ENTRY})
    assert b"cannot be in the future" in response.content
    response = client.post(f"/diary/{code}/", {"entry_date": "2026-06-15"})
    assert b"write at least one answer" in response.content
    assert not DiaryEntry.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_diary_access_reaches_nothing_else(client, participant, make_participant, code, staff):
    from trialkit.server.capture.services import ensure_schedule

    client.get(f"/diary/{code}/")
    client.post("/diary/", {"code": code})
    # The diary holder's browser session is not a login: every staff page and API is refused.
    for url in (
        f"/capture/participants/{participant.pk}/",
        f"/capture/participants/{participant.pk}/audit/",
        "/capture/",
        "/home/",
        f"/capture/trials/{participant.trial.nct_id}/due/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    for url in (
        f"/api/capture/participants/{participant.pk}/diary",
        f"/api/capture/participants/{participant.pk}/forms",
    ):
        assert client.get(url).status_code == 401, url
        # The code is not a credential anywhere else, in a header or a query string.
        assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {code}").status_code == 401
        assert client.get(f"{url}?code={code}").status_code == 401
    # Another participant's diary cannot be reached with this code.
    other = make_participant()
    ensure_schedule(other)
    _access, other_code = create_diary_access(other, "participant", staff["coordinator"], now=NOW)
    client.post(f"/diary/{code}/", {"entry_date": "2026-06-15", **ENTRY})
    page = client.get(f"/diary/{other_code}/").content.decode()
    assert "Left hand numb" not in page
    assert DiaryEntry.objects.filter(participant=other).count() == 0
    assert "_auth_user_id" not in client.session


@time_machine.travel(NOW, tick=False)
def test_a_withdrawn_or_wrong_code_opens_nothing(client, code, staff):
    assert client.get("/diary/AAAABBBBCCCC/").status_code == 404
    revoke_diary_access(DiaryAccess.objects.get(), staff["coordinator"], now=NOW, reason="phone lost")
    assert client.get(f"/diary/{code}/").status_code == 404
    assert client.post(f"/diary/{code}/", {"entry_date": "2026-06-15", **ENTRY}).status_code == 404
    assert not DiaryEntry.objects.exists()


def test_staff_read_the_diary_on_the_timeline_and_api(client, participant, code, staff):
    from trialkit.server.capture.services import diary_access_for_code, save_diary_entry

    save_diary_entry(
        diary_access_for_code(code),
        date(2026, 6, 15),
        {"functional_activities": {"details": "Dressed without help"}},
        now=NOW,
    )
    client.force_login(staff["investigator"])
    assert "Dressed without help" in client.get(f"/capture/participants/{participant.pk}/").content.decode()
    rows = client.get(f"/api/capture/participants/{participant.pk}/diary").json()["items"]
    assert rows[0]["sections"] == {"functional_activities": {"details": "Dressed without help"}}


def test_a_trial_without_a_diary_gives_no_codes(trials, make_participant, make_user):
    assist = trials["NCT04590118"]
    site = assist.sites.first()
    p = make_participant(trial=assist, at_site=site)
    coordinator = make_user("coordinator", assist, site)
    with pytest.raises(CaptureError, match="keeps no participant diary"):
        create_diary_access(p, "participant", coordinator, now=NOW)


def test_days_before_day_0_are_refused(participant, code):
    from datetime import UTC, datetime

    from trialkit.server.capture.services import FormInvalid, diary_access_for_code, save_diary_entry

    day_before = participant.anchor_date - timedelta(days=1)
    with pytest.raises(FormInvalid, match="the diary has not started yet"):
        save_diary_entry(
            diary_access_for_code(code),
            day_before,
            {"symptoms": {"details": "x"}},
            now=datetime(day_before.year, day_before.month, day_before.day, 6, 0, tzinfo=UTC),
        )
