"""Daily diary reminders: a job kind of the one job system (server/jobs).

The workers queue a ``diary_reminders`` run every TRIALKIT_DIARY_REMINDER_MINUTES (jobs/builtin.py
``_periodic``); ``trialkit manage diary_reminders`` queues one by hand. A run reminds each diary
keeper with a contact (DiaryContact: email or text message) whose participant

- is still in the study (not withdrawn, lost, died or completed, no end date recorded),
- is inside the diary period on their site's today (Site.time_zone),
- holds an active diary code for that keeper, and
- has no entry for that day yet (from the participant or the caregiver),

once it is TRIALKIT_DIARY_REMINDER_HOUR o'clock or later at the site. Each reminder sent is a
DiaryReminder row, unique per (participant, keeper, day, channel) and written in the transaction
that sends it: a second run the same day (or two workers at once) sends nothing again.

The text is the same for everyone in a language: no trial or product name, no arm, dose or
treatment, nothing from the participant's record but the day. (The trial's short name can be the
product's name: IxCell.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import formats, translation
from django.utils.translation import gettext

from trialkit.schedule import diary as diary_calendar
from trialkit.server import sms
from trialkit.server.capture.models import DiaryAccess, DiaryContact, DiaryEntry, DiaryReminder
from trialkit.server.capture.services import diary_period_of, diary_today
from trialkit.server.jobs.kinds import Done, job_kind
from trialkit.server.participants.models import ONGOING_STATUSES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReminderText:
    subject: str
    body: str


def reminder_text(language: str, day: date) -> ReminderText:
    """The reminder in ``language`` ("en" or "zh-hans"): the day and the diary's address, nothing else."""
    link = settings.TRIALKIT_PUBLIC_URL.rstrip("/")
    with translation.override(language):
        when = formats.date_format(day, "DATE_FORMAT")
        subject = gettext("A reminder to write today's diary")
        body = gettext(
            "Hello. Today's diary (%(day)s) has not been written yet. "
            "It takes a few minutes: open the diary with your personal code and answer the day's questions."
        ) % {"day": when}
        if link:
            body += " " + gettext("The diary is at %(link)s") % {"link": f"{link}/diary/"}
        body += " " + gettext("If it is already done, thank you, and please ignore this message. Your study team")
    return ReminderText(subject=subject, body=body)


def _hint(address: str) -> str:
    return address[-4:] if address else ""


def _due(now: datetime) -> list[tuple[DiaryContact, date]]:
    """(contact, the keeper's today) of everyone to remind now, in a fixed number of queries."""
    hour = int(settings.TRIALKIT_DIARY_REMINDER_HOUR)
    contacts = list(
        DiaryContact.objects.exclude(channel=DiaryContact.Channel.NONE)
        .filter(participant__status__in=ONGOING_STATUSES, participant__ended_on__isnull=True)
        .select_related("participant__trial", "participant__site")
        .order_by("participant_id", "who")
    )
    candidates: list[tuple[DiaryContact, date]] = []
    for contact in contacts:
        p = contact.participant
        if p.trial.protocol.diary is None or contact.who not in p.trial.protocol.diary.who:
            continue
        today = diary_today(p, now)
        period = diary_period_of(p)
        if period is None or today not in period:
            continue
        if not diary_calendar.reminder_due(now, p.site.tz, hour):
            continue
        candidates.append((contact, today))
    if not candidates:
        return []
    ids = {c.participant_id for c, _ in candidates}
    days = {d for _, d in candidates}
    kept = set(
        DiaryEntry.objects.filter(participant_id__in=ids, entry_date__in=days).values_list(
            "participant_id", "entry_date"
        )
    )
    holders = set(
        DiaryAccess.objects.filter(participant_id__in=ids, revoked_at__isnull=True).values_list("participant_id", "who")
    )
    sent = set(
        DiaryReminder.objects.filter(participant_id__in=ids, day__in=days).values_list(
            "participant_id", "who", "day", "channel"
        )
    )
    return [
        (c, d)
        for c, d in candidates
        if (c.participant_id, d) not in kept
        and (c.participant_id, c.who) in holders
        and (c.participant_id, c.who, d, c.channel) not in sent
    ]


def send_due_reminders(now: datetime, *, job_id: int | None = None) -> dict[str, int]:
    """Send the reminders due at ``now``; how many by channel. Safe to run any number of times."""
    counts = {"email": 0, "sms": 0, "failed": 0}
    for contact, day in _due(now):
        text = reminder_text(contact.language, day)
        try:
            with transaction.atomic():
                DiaryReminder.objects.create(
                    participant_id=contact.participant_id,
                    who=contact.who,
                    day=day,
                    channel=contact.channel,
                    address_hint=_hint(contact.address),
                    language=contact.language,
                    sent_at=now,
                    job_id_sent=job_id,
                )
                # Sent inside the transaction: a failed send leaves no row, so the next run tries again.
                if contact.channel == DiaryContact.Channel.EMAIL:
                    EmailMessage(text.subject, text.body, to=[contact.email]).send()
                else:
                    sms.send_sms(contact.phone, f"{text.subject}. {text.body}")
        except IntegrityError:
            continue  # another run sent it first
        except Exception:
            counts["failed"] += 1
            log.exception("diary reminder failed", extra={"participant_id": contact.participant_id})
            continue
        counts[contact.channel] += 1
    return counts


@job_kind("diary_reminders", label="diary reminders", max_attempts=3)
def diary_reminders(job, progress):
    """Remind the diary keepers who have not written today's entry (see the module's docstring)."""
    from django.utils import timezone

    progress(10, "finding the diaries not yet written today")
    counts = send_due_reminders(timezone.now(), job_id=job.pk)
    return Done(
        manifest=counts,
        message=f"{counts['email']} email and {counts['sms']} text-message reminder(s) sent"
        + (f"; {counts['failed']} failed (tried again next run)" if counts["failed"] else ""),
    )
