"""Diary reminders: sent once a day through the job system, by email (Django's mail backend) or
text message (TRIALKIT_SMS_BACKEND), only to keepers who have not written the day's entry, only
inside the diary period and while the participant is in the study, in their language, and never
saying anything about the arm or the treatment."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command

from trialkit.schedule.diary import local_midnight
from trialkit.server import sms
from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import DiaryContact, DiaryReminder
from trialkit.server.capture.services import (
    FormInvalid,
    create_diary_access,
    revoke_diary_access,
    save_diary_entry,
    set_diary_contact,
)
from trialkit.server.jobs import builtin, runner
from trialkit.server.jobs.models import Job

pytestmark = pytest.mark.django_db

SHANGHAI = "Asia/Shanghai"
DAY = date(2026, 6, 15)
EVENING = local_midnight(DAY, SHANGHAI) + timedelta(hours=19)  # 11:00 UTC
MORNING = local_midnight(DAY, SHANGHAI) + timedelta(hours=9)


@pytest.fixture(autouse=True)
def _clean_outboxes(settings):
    settings.TRIALKIT_DIARY_REMINDER_HOUR = 18
    settings.TRIALKIT_SMS_BACKEND = "trialkit.server.sms.backends.locmem.SmsBackend"
    settings.TRIALKIT_PUBLIC_URL = "https://trials.example.org"
    mail.outbox = []
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def world(site, make_participant, staff):
    """Six participants of IxCell at a Shanghai site, each a reason to remind or not."""
    site.time_zone = SHANGHAI
    site.save()
    coordinator = staff["coordinator"]
    people = {}

    def keeper(name, who, channel, *, anchor=date(2026, 6, 1), language="en", code=True):
        p = make_participant(anchor=anchor)
        people[name] = p
        if code:
            people[name + ".access"], _code = create_diary_access(p, who, coordinator, now=MORNING)
        set_diary_contact(
            p,
            who,
            coordinator,
            channel=channel,
            email=f"{name}@example.org" if channel == "email" else "",
            phone="+8613800000001" if channel == "sms" else "",
            language=language,
            now=MORNING,
        )
        return p

    keeper("email_due", "caregiver", "email")
    keeper("sms_due", "participant", "sms", language="zh-hans")
    keeper("written", "participant", "email")
    save_diary_entry(people["written.access"], DAY, {"symptoms": {"details": "fine"}}, now=MORNING)
    withdrawn = keeper("withdrawn", "participant", "email")
    withdrawn.status, withdrawn.ended_on = "withdrawn", DAY - timedelta(days=2)
    withdrawn.save()
    keeper("period_over", "participant", "email", anchor=date(2025, 5, 1))  # day 365 was 2026-05-01
    keeper("no_code", "participant", "email", code=False)
    keeper("no_reminder", "participant", "none")
    return people


def _run(now) -> Job:
    import time_machine

    with time_machine.travel(now, tick=False):
        job = runner.submit("diary_reminders", queue=False)
        return runner.execute(job.pk)


def test_reminds_exactly_those_who_have_not_written_today_and_only_once(world):
    job = _run(EVENING)
    assert job.status == Job.Status.DONE, job.message
    assert [m.to for m in mail.outbox] == [["email_due@example.org"]]
    assert [m.to for m in sms.outbox] == ["+8613800000001"]
    assert job.manifest["email"] == 1 and job.manifest["sms"] == 1
    # Twice the same day (another scheduled run, or two workers): nothing more is sent.
    _run(EVENING + timedelta(hours=2))
    assert len(mail.outbox) == 1 and len(sms.outbox) == 1
    rows = DiaryReminder.objects.order_by("channel")
    assert [(r.participant_id, r.day, r.channel) for r in rows] == [
        (world["email_due"].pk, DAY, "email"),
        (world["sms_due"].pk, DAY, "sms"),
    ]
    # What was sent is recorded (and audited) without the whole address.
    assert rows[0].address_hint == ".org" and "email_due@example.org" not in str(
        AuditEvent.objects.filter(object_type="capture_diaryreminder").values_list("after", flat=True)
    )
    # The next day is a new day.
    _run(EVENING + timedelta(days=1))
    assert len(mail.outbox) == 3  # email_due and, with no entry that day, written


def test_nothing_before_the_reminder_hour_at_the_site(world, settings):
    _run(MORNING)
    assert mail.outbox == [] and sms.outbox == []
    # At 19:00 UTC on 15 June it is 03:00 on the 16th in Shanghai: the 15th is over (no late reminder
    # for a day that can no longer be written) and the 16th's waits for the evening.
    _run(datetime(2026, 6, 15, 19, 0, tzinfo=UTC))
    assert mail.outbox == [] and sms.outbox == []
    # With the site in UTC the same instant is 19:00 on the 15th: due.
    settings.TRIALKIT_DIARY_REMINDER_HOUR = 18
    world["email_due"].site.__class__.objects.filter(pk=world["email_due"].site_id).update(time_zone="UTC")
    _run(datetime(2026, 6, 15, 19, 0, tzinfo=UTC))
    assert [m.to for m in mail.outbox] == [["email_due@example.org"]]


def test_a_withdrawn_code_stops_the_reminder(world, staff):
    revoke_diary_access(world["email_due.access"], staff["coordinator"], now=MORNING, reason="moved away")
    _run(EVENING)
    assert mail.outbox == [] and len(sms.outbox) == 1


def test_the_text_is_in_the_keepers_language_and_says_nothing_of_the_treatment(world, ixcell):
    _run(EVENING)
    email, text = mail.outbox[0], sms.outbox[0]
    assert "diary" in email.body and "https://trials.example.org/diary/" in email.body
    assert "日记" in text.body  # zh-hans
    protocol = ixcell.protocol
    forbidden = {ixcell.short_name, "placebo", "treatment", "treated", "cell", "stem", "dose", "infusion", "drug"}
    forbidden |= {a.id for a in protocol.arms} | {a.label for a in protocol.arms}
    forbidden |= {i.name for i in protocol.registry.interventions} | {"安慰剂", "治疗", "细胞", "输注", "剂量", "药"}
    for body in (email.subject, email.body, text.body):
        for word in forbidden:
            assert not re.search(re.escape(word), body, re.IGNORECASE), (word, body)
    # The same text whoever the participant is (whatever their arm): nothing of theirs but the day.
    from trialkit.server.capture.reminders import reminder_text

    assert email.body == reminder_text("en", DAY).body
    assert text.body.endswith(reminder_text("zh-hans", DAY).body)


def test_the_workers_queue_the_run_on_their_schedule(world, settings):
    settings.TRIALKIT_AUDIT_CHECKPOINT_MINUTES = 0
    settings.TRIALKIT_DIARY_REMINDER_MINUTES = 60
    queued = builtin.schedule_due(EVENING)
    assert [Job.objects.get(pk=pk).kind for pk in queued] == ["diary_reminders"]
    assert builtin.schedule_due(EVENING + timedelta(minutes=20)) == []  # the same hour's slot


def test_the_command_runs_it(world, capsys):
    import time_machine

    with time_machine.travel(EVENING, tick=False):
        call_command("diary_reminders", "--wait")
    assert "1 email and 1 text-message reminder(s) sent" in capsys.readouterr().out


def test_contact_bad_input_is_refused_naming_the_field(participant, staff):
    coordinator = staff["coordinator"]
    cases = [
        ({"channel": "email", "email": "", "phone": ""}, "email"),
        ({"channel": "email", "email": "not an address", "phone": ""}, "email"),
        ({"channel": "sms", "email": "", "phone": "12345"}, "phone"),
        ({"channel": "sms", "email": "", "phone": "+86" + "1" * 10_000}, "phone"),
        ({"channel": "pigeon", "email": "", "phone": ""}, "channel"),
    ]
    for fields, item in cases:
        with pytest.raises(FormInvalid) as caught:
            set_diary_contact(participant, "caregiver", coordinator, language="en", now=MORNING, **fields)
        assert item in {e.item for e in caught.value.errors}, fields
    assert not DiaryContact.objects.exists()


def test_contact_page_form_400_site_scoping_and_audit(client, participant, staff, make_user, ixcell, other_site):
    url = f"/capture/participants/{participant.pk}/diary-contact/"
    client.force_login(staff["coordinator"])
    page = client.get(f"/capture/participants/{participant.pk}/").content.decode()
    assert 'id="diary-reminders"' in page
    response = client.post(url, {"who": "caregiver", "channel": "email", "email": "x" * 10_000, "language": "en"})
    assert response.status_code == 400 and "email" in response.content.decode()
    response = client.post(url, {"who": "caregiver", "channel": "sms", "phone": "+86 138 0000 0001", "language": "en"})
    assert response.status_code == 400 or response.status_code == 302
    response = client.post(
        url, {"who": "caregiver", "channel": "sms", "phone": "+8613800000001", "language": "zh-hans"}
    )
    assert response.status_code == 302
    client.post(url, {"who": "caregiver", "channel": "email", "email": "care@example.org", "language": "zh-hans"})
    contact = DiaryContact.objects.get()
    assert (contact.channel, contact.email, contact.language) == ("email", "care@example.org", "zh-hans")
    # Audited: the change keeps the previous channel in the trail.
    update = AuditEvent.objects.filter(object_type="capture_diarycontact", action="row.update").latest("id")
    assert update.before["channel"] == "sms" and update.after["channel"] == "email"
    # Staff of another site, and a monitor who does not manage diaries, neither see nor change it.
    elsewhere = make_user("coordinator", ixcell, other_site, username="cora2")
    client.force_login(elsewhere)
    assert client.post(url, {"who": "caregiver", "channel": "none", "language": "en"}).status_code in (403, 404)
    client.force_login(staff["monitor"])
    assert "care@example.org" not in client.get(f"/capture/participants/{participant.pk}/").content.decode()
    assert client.post(url, {"who": "caregiver", "channel": "none", "language": "en"}).status_code == 403
    assert DiaryContact.objects.get().channel == "email"
