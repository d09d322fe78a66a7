"""Clinical data of randomized participants: visits, case report forms, queries, signatures,
adverse events and the participant diary. Nothing here holds or reveals a treatment arm.

Clinical rows are never deleted: a removal is a soft delete with a reason, written to the audit trail.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from trialkit.schedule import PlannedVisit, VisitStatus, forms_complete, visit_status


class Visit(models.Model):
    """One scheduled visit of one participant, placed on the calendar from the anchor date."""

    participant = models.ForeignKey("participants.Participant", on_delete=models.PROTECT, related_name="visits")
    visit_id = models.SlugField(max_length=64)
    label = models.CharField(max_length=120)
    kind = models.CharField(max_length=24)
    day = models.IntegerField()
    order = models.PositiveSmallIntegerField()
    target = models.DateField()
    earliest = models.DateField()
    latest = models.DateField()
    forms = models.JSONField(default=list)
    done_on = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)  # why a visit was missed or held out of window
    # The Screening visit's forms carried in from the screening record (its number), and the
    # coordinator's review of them (capture.screening_forms.confirm_carried_forms): until reviewed
    # the visit is not done.
    carried_from = models.CharField(max_length=32, blank=True)
    carried_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    carried_reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant_id", "order"]
        constraints = [models.UniqueConstraint(fields=["participant", "visit_id"], name="unique_participant_visit")]
        # The homes' and work lists' window filters (earliest <= today, latest >= today, done or not).
        indexes = [models.Index(fields=["earliest", "latest", "done_on"], name="visit_window_idx")]

    def __str__(self) -> str:
        return f"{self.participant} {self.visit_id}"

    @property
    def planned(self) -> PlannedVisit:
        return PlannedVisit(
            self.visit_id, self.label, self.kind, self.day, self.target, self.earliest, self.latest, tuple(self.forms)
        )

    @property
    def awaiting_review(self) -> bool:
        """Forms carried in from screening that the coordinator has not yet confirmed."""
        return bool(self.carried_from) and self.carried_reviewed_at is None

    def required_forms_complete(self, complete_instruments: set[str] | None = None) -> bool:
        """Whether every required form of this visit (``trialkit.schedule.required_forms``) has a
        complete, not deleted record; ``complete_instruments`` saves the query when known. Forms
        carried in from screening count only once the coordinator has reviewed them."""
        if complete_instruments is None and not self.awaiting_review:
            complete_instruments = set(
                self.form_records.filter(status=FormRecord.Status.COMPLETE, deleted_at__isnull=True).values_list(
                    "instrument", flat=True
                )
            )
        return forms_complete(
            self.forms,
            complete_instruments or set(),
            carried_from=self.carried_from,
            carried_reviewed_at=self.carried_reviewed_at,
        )

    def status(self, today, forms_complete: bool | None = None) -> VisitStatus:
        """Today's status; not expected once the participant's participation has ended (load the
        participant with the visit, ``select_related("participant")``, when listing many). A visit
        held is done only once its required forms are complete (asked of the database unless given)."""
        if forms_complete is None:
            forms_complete = self.done_on is None or self.required_forms_complete()
        return visit_status(self.planned, self.done_on, today, self.participant.ended_on, forms_complete)


class FormRecord(models.Model):
    """One case report form of one visit (``repeat`` numbers the records of a repeating form)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        COMPLETE = "complete", _("Complete")

    participant = models.ForeignKey("participants.Participant", on_delete=models.PROTECT, related_name="forms")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="form_records")
    instrument = models.CharField(max_length=64)
    repeat = models.PositiveSmallIntegerField(default=1)
    data = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    scores = models.JSONField(default=dict, blank=True)  # {"total": n, "subscores": {...}} when scored
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    locked_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    delete_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["visit__order", "instrument", "repeat"]
        constraints = [
            models.UniqueConstraint(fields=["visit", "instrument", "repeat"], name="unique_form_record"),
        ]
        # Complete forms of many visits at once; forms to verify and to lock by participant.
        indexes = [
            models.Index(fields=["visit", "status", "deleted_at"], name="form_visit_status_idx"),
            models.Index(fields=["participant", "status", "verified_at"], name="form_participant_status_idx"),
            # The monitor's oldest forms to verify (home panel): read in order, not sorted from all of them.
            models.Index(
                fields=["updated_at", "id"],
                condition=Q(status="complete", verified_at__isnull=True, deleted_at__isnull=True),
                name="form_to_verify_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} {self.visit.visit_id} {self.instrument}#{self.repeat}"

    @property
    def locked(self) -> bool:
        return self.locked_at is not None

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def total(self):
        return (self.scores or {}).get("total")

    def snapshot(self) -> dict:
        """What the audit trail records as before/after of this form."""
        return {
            "instrument": self.instrument,
            "visit": self.visit.visit_id,
            "repeat": self.repeat,
            "status": self.status,
            "data": self.data,
            "scores": self.scores,
            "version": self.version,
            "deleted": self.deleted_at is not None,
        }


class Signature(models.Model):
    """An investigator's electronic signature of a form or of a whole visit (21 CFR 11.50/11.200)."""

    form = models.ForeignKey(FormRecord, on_delete=models.PROTECT, null=True, blank=True, related_name="signatures")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, null=True, blank=True, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(max_length=200)
    meaning = models.CharField(max_length=200, default="I confirm the data are accurate and complete")
    signed_at = models.DateTimeField()
    form_version = models.PositiveIntegerField(null=True, blank=True)
    # SHA-256 of the signed content (capture.signatures): binds the signature to that version.
    content_hash = models.CharField(max_length=64, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-signed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(form__isnull=False, visit__isnull=True)
                | models.Q(form__isnull=True, visit__isnull=False),
                name="signature_of_form_or_visit",
            )
        ]

    @property
    def active(self) -> bool:
        return self.voided_at is None


class Query(models.Model):
    """A question about one field of one form, from a monitor or data manager to the site."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")

    form = models.ForeignKey(FormRecord, on_delete=models.PROTECT, related_name="queries")
    participant = models.ForeignKey("participants.Participant", on_delete=models.PROTECT, related_name="queries")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="queries")
    item = models.CharField(max_length=64)
    text = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField()
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name_plural = "queries"
        # Open queries per participant and per site (lists, homes).
        indexes = [
            models.Index(fields=["participant", "status"], name="query_participant_status_idx"),
            models.Index(fields=["site", "status"], name="query_site_status_idx"),
        ]

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.CLOSED


class QueryMessage(models.Model):
    class Kind(models.TextChoices):
        OPEN = "open", pgettext_lazy("query message", "Opened")
        ANSWER = "answer", pgettext_lazy("query message", "Answered")
        CORRECTION = "correction", pgettext_lazy("query message", "Corrected")
        CLOSE = "close", pgettext_lazy("query message", "Closed")
        REOPEN = "reopen", pgettext_lazy("query message", "Reopened")

    query = models.ForeignKey(Query, on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    text = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]


class AdverseEvent(models.Model):
    """One adverse event, entered with the protocol's adverse_event form and followed up to resolution."""

    participant = models.ForeignKey("participants.Participant", on_delete=models.PROTECT, related_name="adverse_events")
    number = models.PositiveIntegerField()
    # The visit's adverse_event form the event was entered with, if it came from a visit: that form
    # holds the data (queries, signatures and locks apply to it) and this log entry mirrors it.
    form = models.OneToOneField(
        FormRecord, on_delete=models.PROTECT, null=True, blank=True, related_name="adverse_event_entry"
    )
    data = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=FormRecord.Status.choices, default=FormRecord.Status.DRAFT)
    serious = models.BooleanField(default=False)
    # The 24-hour SAE reporting clock starts when the site becomes aware of the event.
    awareness_at = models.DateTimeField()
    reported_at = models.DateTimeField(null=True, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The term coded with the trial's dictionary (trialkit.safety.coding: MedDRA when licensed,
    # else the open list): CodedTerm.as_dict(), empty when the verbatim term matched nothing.
    coding = models.JSONField(default=dict, blank=True)
    # The expedited (SUSAR) report to the authorities, on the 7- or 15-day clock from awareness.
    susar_reported_at = models.DateTimeField(null=True, blank=True)
    susar_reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Every expedited report sent (ISO times, oldest first; the first is also susar_reported_at): a
    # follow-up that makes the event fatal or life-threatening, and the complete report after a
    # 7-day report, each need one of their own (trialkit.safety.susar_clocks).
    susar_reports = models.JSONField(default=list, blank=True)
    # The SUSAR assessment of the first report (SusarAssessment fields), kept when the first
    # follow-up revises the seriousness, so that the first clock stays as it was.
    susar_initial = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)
    delete_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["participant_id", "number"]
        constraints = [models.UniqueConstraint(fields=["participant", "number"], name="unique_ae_number")]

    def __str__(self) -> str:
        return f"{self.participant} AE{self.number} {self.data.get('term', '')}"

    @property
    def term(self) -> str:
        return self.data.get("term", "")

    def snapshot(self) -> dict:
        return {
            "number": self.number,
            "data": self.data,
            "status": self.status,
            "serious": self.serious,
            "awareness_at": self.awareness_at,
            "reported_at": self.reported_at,
            "coding": self.coding,
            "susar_reported_at": self.susar_reported_at,
            "susar_reports": self.susar_reports,
            "version": self.version,
            "deleted": self.deleted_at is not None,
        }


class AdverseEventFollowUp(models.Model):
    adverse_event = models.ForeignKey(AdverseEvent, on_delete=models.PROTECT, related_name="follow_ups")
    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField()
    outcome = models.CharField(max_length=32, blank=True)
    # When the site learned the follow-up information (a follow-up report's own clock starts here).
    received_at = models.DateTimeField(null=True, blank=True)

    class Seriousness(models.TextChoices):
        FATAL = "fatal", _("Fatal")
        LIFE_THREATENING = "life_threatening", _("Life-threatening")
        SERIOUS = "serious", _("Serious, not fatal or life-threatening")
        NOT_SERIOUS = "not_serious", _("Not serious")

    # What the follow-up found about the seriousness (blank: unchanged), and the event's SUSAR
    # assessment once it was known (SusarAssessment fields; empty when blank).
    seriousness = models.CharField(max_length=20, choices=Seriousness.choices, blank=True)
    assessment = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]


class DiaryAccess(models.Model):
    """A personal diary code for a participant or caregiver. Only a keyed hash of the code is kept."""

    class Who(models.TextChoices):
        PARTICIPANT = "participant", _("Participant")
        CAREGIVER = "caregiver", _("Caregiver")

    participant = models.ForeignKey("participants.Participant", on_delete=models.PROTECT, related_name="diary_accesses")
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=8)  # the code's last characters, so staff can tell codes apart
    who = models.CharField(max_length=16, choices=Who.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class DiaryContact(models.Model):
    """How the diary's keeper (the participant, or their caregiver) wants the daily reminder.

    Personal data of the participant's site: read and changed only by staff of that site who
    manage the diary (``capture.manage_diary``); every change is in the audit trail (audit/rows.py).
    """

    class Channel(models.TextChoices):
        NONE = "none", _("No reminder")
        EMAIL = "email", _("Email")
        SMS = "sms", _("Text message")

    class Language(models.TextChoices):
        EN = "en", "English"
        ZH_HANS = "zh-hans", "简体中文"

    participant = models.ForeignKey("participants.Participant", on_delete=models.PROTECT, related_name="diary_contacts")
    who = models.CharField(max_length=16, choices=DiaryAccess.Who.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.NONE)
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["participant_id", "who"]
        constraints = [models.UniqueConstraint(fields=["participant", "who"], name="unique_diary_contact")]

    @property
    def address(self) -> str:
        return {"email": self.email, "sms": self.phone}.get(self.channel, "")


class DiaryReminder(models.Model):
    """One reminder sent: to whom, by which channel, for which diary day. The unique day makes the
    daily run idempotent: a second run the same day finds the row and sends nothing."""

    participant = models.ForeignKey("participants.Participant", on_delete=models.PROTECT, related_name="+")
    who = models.CharField(max_length=16)
    day = models.DateField()
    channel = models.CharField(max_length=8)
    address_hint = models.CharField(max_length=16)  # the address's last characters, never the whole address
    language = models.CharField(max_length=8)
    sent_at = models.DateTimeField()
    job_id_sent = models.PositiveIntegerField(null=True, blank=True)  # the reminder job that sent it

    class Meta:
        ordering = ["-day", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "who", "day", "channel"], name="unique_diary_reminder")
        ]


class DiaryEntry(models.Model):
    class Who(models.TextChoices):
        PARTICIPANT = "participant", _("Participant")
        CAREGIVER = "caregiver", _("Caregiver")

    participant = models.ForeignKey("participants.Participant", on_delete=models.PROTECT, related_name="diary_entries")
    entry_date = models.DateField()
    sections = models.JSONField(default=dict)
    entered_by = models.CharField(max_length=16, choices=Who.choices)
    access = models.ForeignKey(DiaryAccess, on_delete=models.PROTECT, null=True, blank=True, related_name="entries")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-entry_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "entry_date", "entered_by"], name="unique_diary_day"),
        ]
