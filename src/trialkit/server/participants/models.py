"""Screening records, consent and participants. No model here holds a treatment arm:
allocation lives in the allocation app, behind the unblinded roles."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ScreeningRecord(models.Model):
    class Outcome(models.TextChoices):
        IN_SCREENING = "in_screening", _("In screening")
        SCREEN_FAILED = "screen_failed", _("Screen failed")
        ENROLLED = "enrolled", _("Enrolled")
        WITHDRAWN = "withdrawn", _("Withdrew before enrollment")

    class Verdict(models.TextChoices):
        ELIGIBLE = "eligible", _("Eligible")
        INELIGIBLE = "ineligible", _("Ineligible")
        INCOMPLETE = "incomplete", _("Incomplete")

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="screenings")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="screenings")
    screening_number = models.CharField(max_length=32)
    screening_date = models.DateField()
    facts = models.JSONField(default=dict, blank=True)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.INCOMPLETE)
    criteria_results = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.IN_SCREENING)
    fail_reasons = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "screening_number"], name="unique_screening_number"),
        ]
        # The screening log and the homes' counts: by trial, site and outcome.
        indexes = [models.Index(fields=["trial", "site", "outcome"], name="screening_site_outcome_idx")]

    def fail_reason_ids(self) -> list[str]:
        """The criteria a screen failure cites (their ids), or ["unspecified"]: the one reading of
        ``fail_reasons`` used by the homes, the screening log and the extract."""
        ids = []
        for reason in self.fail_reasons or []:
            if isinstance(reason, dict):
                ids.append(
                    str(reason.get("criterion_id") or reason.get("id") or reason.get("criterion") or "unspecified")
                )
            else:
                ids.append(str(reason))
        return ids or ["unspecified"]

    def __str__(self) -> str:
        return self.screening_number


class Attestation(models.Model):
    """An investigator's yes/no on a criterion the screening facts cannot decide."""

    screening = models.ForeignKey(ScreeningRecord, on_delete=models.CASCADE, related_name="attestations")
    criterion_id = models.CharField(max_length=64)
    value = models.BooleanField()
    attested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    attested_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["screening", "criterion_id"], name="unique_attestation"),
        ]


class Consent(models.Model):
    """One signature of one version of the consent document (``protocol.consent.documents``).

    A re-consent to a new version is a new row; a withdrawal is recorded on the consent in force
    (``withdrawn_on`` and the withdrawal fields) and leaves the participant's end of participation
    (``Participant.ended_on``) alone: the two are separate workflows (ICH E6(R3) 2.8.10(l), (n))."""

    class Signer(models.TextChoices):
        PARTICIPANT = "participant", _("Participant")
        LEGAL_GUARDIAN = "legal_guardian", _("Legal guardian")
        SPOUSE = "spouse", _("Spouse")
        LEGAL_REPRESENTATIVE = "legal_representative", _("Legal representative")

    class Language(models.TextChoices):
        EN = "en", "English"
        ZH_HANS = "zh-Hans", "简体中文"

    class WithdrawalScope(models.TextChoices):
        NO_FURTHER_DATA = "no_further_data", _("No further data collection; data already collected may be used")
        NO_FURTHER_CONTACT = "no_further_contact", _("No further contact, but data already collected may be used")
        SAMPLES_DESTROYED = "samples_destroyed", _("No further data collection, and stored samples destroyed")

    screening = models.ForeignKey(ScreeningRecord, on_delete=models.PROTECT, related_name="consents")
    document_version = models.CharField(max_length=64)
    language = models.CharField(max_length=16, choices=Language.choices, default=Language.EN)
    consent_date = models.DateField()
    # When the signer signed (the date above is its day in the site's time zone).
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.CharField(max_length=32, choices=Signer.choices)
    signer_name = models.CharField(max_length=200, blank=True)
    # ICH E6(R3) 2.8.7, China GCP 2020 Art. 23(6): an impartial witness when the signer cannot read.
    unable_to_read = models.BooleanField(default=False)
    witness_name = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    # The PDF of exactly what was signed (private file under DATA_DIR/consents) and its SHA-256.
    snapshot_path = models.CharField(max_length=300, blank=True)
    snapshot_sha256 = models.CharField(max_length=64, blank=True)
    withdrawn_on = models.DateField(null=True, blank=True)
    withdrawal_scope = models.CharField(max_length=32, choices=WithdrawalScope.choices, blank=True)
    withdrawal_reason = models.TextField(blank=True)
    withdrawal_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    withdrawal_recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-consent_date", "-id"]


class Participant(models.Model):
    class Status(models.TextChoices):
        ENROLLED = "enrolled", _("Enrolled, awaiting randomization")
        RANDOMIZED = "randomized", _("Randomized")
        TREATED = "treated", _("Treated")
        COMPLETED = "completed", _("Completed")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        LOST = "lost_to_follow_up", _("Lost to follow-up")
        DIED = "died", _("Died")

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="participants")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="participants")
    screening = models.OneToOneField(ScreeningRecord, on_delete=models.PROTECT, related_name="participant")
    participant_number = models.CharField(max_length=32)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.ENROLLED)
    enrolled_at = models.DateTimeField()
    # What blinded staff see of the allocation: a number and a kit code, nothing else.
    randomization_number = models.CharField(max_length=32, blank=True)
    kit_number = models.CharField(max_length=32, blank=True)
    randomized_at = models.DateTimeField(null=True, blank=True)
    # Day 0 of the visit schedule (the infusion date, or the randomization date).
    anchor_date = models.DateField(null=True, blank=True)
    emergency_unblinded = models.BooleanField(default=False)
    # How participation ended: the date, why, and the status to restore if the end was recorded by
    # mistake. Set only by capture.services.end_participation, cleared by reopen_participation.
    ended_on = models.DateField(null=True, blank=True)
    end_reason = models.TextField(blank=True)
    status_before_end = models.CharField(max_length=24, choices=Status.choices, blank=True)

    class Meta:
        ordering = ["trial_id", "participant_number"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "participant_number"], name="unique_participant_number"),
        ]
        # Participants by site and status (homes, lists), and enrollment over time (sponsor).
        indexes = [
            models.Index(fields=["trial", "site", "status"], name="participant_site_status_idx"),
            models.Index(fields=["trial", "enrolled_at"], name="participant_enrolled_idx"),
        ]

    def __str__(self) -> str:
        return self.participant_number

    @property
    def has_ended(self) -> bool:
        return self.status in END_STATUSES


# The statuses that end participation; the others are the steps of an ongoing one.
END_STATUSES = frozenset(
    {Participant.Status.COMPLETED, Participant.Status.WITHDRAWN, Participant.Status.LOST, Participant.Status.DIED}
)
ONGOING_STATUSES = frozenset(set(Participant.Status) - END_STATUSES)
