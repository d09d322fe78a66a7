"""Diary days: an entry is written and changed only on its own day (the participant's day at their
site), a change keeps the previous answers in the trail with who, when and why, and the days
without an entry are flagged on the coordinator's home and the participants list."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from trialkit.schedule.diary import local_midnight
from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import DiaryEntry
from trialkit.server.capture.services import (
    create_diary_access,
    diary_status,
    save_diary_entry,
)

pytestmark = pytest.mark.django_db

SHANGHAI = "Asia/Shanghai"
DAY = date(2026, 6, 15)
ENTRY = {
    "symptoms.new_or_worse": "no",
    "symptoms.details": "Tired after lunch",
    "functional_activities.details": "Walked to the park",
}


def at(day: date, hour: int, tz: str = SHANGHAI) -> datetime:
    return local_midnight(day, tz) + timedelta(hours=hour)


@pytest.fixture
def shanghai(site):
    site.time_zone = SHANGHAI
    site.save()
    return site


@pytest.fixture
def code(shanghai, participant, staff):
    _access, code = create_diary_access(participant, "participant", staff["coordinator"], now=at(DAY, 8))
    return code


def _trail():
    return list(AuditEvent.objects.order_by("id").values_list("id", flat=True))


def test_same_day_change_needs_a_reason_and_keeps_the_previous_answers(client, participant, code):
    url = f"/diary/{code}/"
    with time_machine.travel(at(DAY, 9), tick=False):
        assert client.post(url, {"entry_date": "2026-06-15", **ENTRY}).status_code == 200
    with time_machine.travel(at(DAY, 21), tick=False):
        changed = {**ENTRY, "symptoms.details": "Tired after lunch, headache at night"}
        response = client.post(url, changed)  # no entry_date: today
        assert response.status_code == 400 and "Why are you changing" in response.content.decode()
        assert DiaryEntry.objects.get().sections["symptoms"]["details"] == "Tired after lunch"
        response = client.post(url, {**changed, "reason": "headache came later"})
        assert response.status_code == 200 and b"Saved for" in response.content
    entry = DiaryEntry.objects.get()
    assert entry.sections["symptoms"]["details"] == "Tired after lunch, headache at night"
    event = AuditEvent.objects.get(action="diary_update")
    assert event.actor.startswith(f"diary:{participant.participant_number}:participant")
    assert event.reason == "headache came later"
    assert event.before["sections"]["symptoms"]["details"] == "Tired after lunch"
    assert event.after["sections"]["symptoms"]["details"].endswith("headache at night")
    row = AuditEvent.objects.filter(object_type="capture_diaryentry", action="row.update").get()
    assert row.before["sections"]["symptoms"]["details"] == "Tired after lunch" and row.reason == "headache came later"
    assert row.at == event.at == at(DAY, 21)


def test_an_earlier_day_is_refused_on_the_server_with_nothing_written(client, code):
    url = f"/diary/{code}/"
    with time_machine.travel(at(DAY, 20), tick=False):
        client.post(url, {"entry_date": "2026-06-15", **ENTRY})
    before = _trail()
    with time_machine.travel(at(DAY + timedelta(days=1), 8), tick=False):
        # The page shows yesterday read-only, with no form ...
        page = client.get(f"{url}?date=2026-06-15").content.decode()
        assert 'id="diary-readonly"' in page and 'id="diary-form"' not in page
        # ... and a POST made anyway is refused, for the day kept and for a day missed.
        for day in ("2026-06-15", "2026-06-14"):
            response = client.post(url, {"entry_date": day, **ENTRY, "symptoms.details": "changed", "reason": "x"})
            assert response.status_code == 400
            assert "can no longer be written or changed" in response.content.decode()
    assert DiaryEntry.objects.get().sections["symptoms"]["details"] == "Tired after lunch"
    assert _trail() == before


def test_the_day_is_the_sites_day(client, shanghai, code):
    url = f"/diary/{code}/"
    # 17:00 UTC on 15 June is 01:00 on 16 June in Shanghai: the 15th is over there.
    with time_machine.travel(datetime(2026, 6, 15, 17, 0, tzinfo=UTC), tick=False):
        assert client.post(url, {"entry_date": "2026-06-15", **ENTRY}).status_code == 400
        assert client.post(url, {"entry_date": "2026-06-16", **ENTRY}).status_code == 200
        assert client.post(url, {"entry_date": "2026-06-17", **ENTRY}).status_code == 400  # the future
    assert list(DiaryEntry.objects.values_list("entry_date", flat=True)) == [date(2026, 6, 16)]
    # A site in UTC: the same instant is still the 15th.
    shanghai.time_zone = "UTC"
    shanghai.save()
    with time_machine.travel(datetime(2026, 6, 15, 17, 0, tzinfo=UTC), tick=False):
        assert client.post(url, {"entry_date": "2026-06-15", **ENTRY}).status_code == 200


def test_bad_input_is_400_naming_the_field_with_nothing_written(client, code):
    url = f"/diary/{code}/"
    with time_machine.travel(at(DAY, 20), tick=False):
        before = _trail()
        response = client.post(url, {"entry_date": "2026-06-15", **ENTRY, "symptoms.details": "a\x00b"})
        assert response.status_code == 400 and "symptoms.details" in response.content.decode()
        response = client.post(url, {"entry_date": "2026-06-15", **ENTRY, "symptoms.details": "x" * 10_000})
        page = response.content.decode()
        assert response.status_code == 400 and "What did you notice" in page and "too long" in page
        response = client.post(url, {"entry_date": "2026-06-15"})
        assert response.status_code == 400 and "write at least one answer" in response.content.decode()
        response = client.post(url, {"entry_date": "not-a-day", **ENTRY})
        assert response.status_code == 400 and "not a valid date" in response.content.decode()
        response = client.post(url, {"entry_date": "2026-06-15", **ENTRY, "symptoms.new_or_worse": "maybe"})
        assert response.status_code == 400 and "answer yes or no" in response.content.decode()
        assert not DiaryEntry.objects.exists() and _trail() == before


def test_an_ended_participant_cannot_write(client, participant, code):
    participant.status, participant.ended_on = "withdrawn", DAY - timedelta(days=1)
    participant.save()
    with time_machine.travel(at(DAY, 20), tick=False):
        response = client.post(f"/diary/{code}/", {"entry_date": "2026-06-15", **ENTRY})
    assert response.status_code == 400 and not DiaryEntry.objects.exists()


# --------------------------------------------------------------------------- missed days


@pytest.fixture
def kept(shanghai, make_participant, staff):
    """Day 0 on 10 June; entries on the 10th and 12th, each written that evening in Shanghai."""
    p = make_participant(anchor=date(2026, 6, 10))
    access, _code = create_diary_access(p, "caregiver", staff["coordinator"], now=at(date(2026, 6, 10), 8))
    for day in (date(2026, 6, 10), date(2026, 6, 12)):
        save_diary_entry(access, day, {"symptoms": {"details": "ok"}}, now=at(day, 22))
    return p


def _status(p, now):
    from trialkit.server.participants.models import Participant

    p = Participant.objects.select_related("site").get(pk=p.pk)
    return diary_status(p.trial, [p], now)[p.pk]


def test_missed_days_at_the_day_boundary_of_the_site(kept, shanghai):
    # 23:00 on 14 June in Shanghai: the 10th to the 13th are over, the 11th and 13th missed.
    late = datetime(2026, 6, 14, 15, 0, tzinfo=UTC)
    assert _status(kept, late) == {"missed": 2, "last": date(2026, 6, 12), "today": False, "open": True}
    # Ninety minutes later it is 15 June there: the 14th is missed too.
    assert _status(kept, late + timedelta(minutes=90))["missed"] == 3
    # The same instants with the site in UTC are still the 14th (07:00 and 08:30).
    shanghai.time_zone = "UTC"
    shanghai.save()
    assert _status(kept, late + timedelta(minutes=90))["missed"] == 2


def test_todays_entry_is_not_missed_and_the_period_and_the_end_bound_the_count(kept, staff):
    access = kept.diary_accesses.get()
    save_diary_entry(access, date(2026, 6, 14), {"symptoms": {"details": "ok"}}, now=at(date(2026, 6, 14), 20))
    assert _status(kept, at(date(2026, 6, 14), 21)) == {
        "missed": 2,
        "last": date(2026, 6, 14),
        "today": True,
        "open": True,
    }
    # Participation ended on the 12th: only the 11th was missed, whatever the date now.
    kept.status, kept.ended_on = "withdrawn", date(2026, 6, 12)
    kept.save()
    assert _status(kept, at(date(2026, 9, 1), 12))["missed"] == 1
    # Before day 0 nothing can be missed.
    kept.status, kept.ended_on = "treated", None
    kept.save()
    assert _status(kept, at(date(2026, 6, 9), 12))["missed"] == 0


def test_flags_on_the_participants_list_and_the_coordinators_home(client, kept, staff):
    from auth_support import login_verified

    login_verified(client, staff["coordinator"])
    with time_machine.travel(datetime(2026, 6, 14, 15, 0, tzinfo=UTC), tick=False):
        listing = client.get(f"/capture/trials/{kept.trial.nct_id}/participants/").content.decode()
        home = client.get(f"/home/?trial={kept.trial.nct_id}&role=coordinator").content.decode()
    assert 'data-diary-missed="2"' in listing and "Last diary entry" in listing
    assert "Diary: days missed" in home and kept.participant_number in home and "2 days missed" in home
