"""A referral: a person's pre-screen answers and contact details, sent to one site's coordinators.

Personal data: only the staff of that site who may screen there see a referral
(``screening.referrals``, through ``accounts.lookups.referral_for``); every change is in the
row-level audit trail (``audit/rows.py``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Referral(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        SCREENING = "screening", "Screening record created"

    class Relationship(models.TextChoices):
        SELF = "self", _("The person who had the stroke")
        CAREGIVER = "caregiver", _("A family member or caregiver")
        DOCTOR = "doctor", _("A referring doctor")

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="referrals")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="referrals")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    # The answers as given, by question id, and the screening facts the pre-screener read from them.
    answers = models.JSONField(default=dict, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=32)  # the pre-screen's outcome when it was sent
    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=50, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    relationship = models.CharField(max_length=16, choices=Relationship.choices)
    consent_to_contact = models.BooleanField()
    language = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    screening = models.ForeignKey(
        "participants.ScreeningRecord", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    converted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["trial", "site", "status"], name="referral_site_status_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(consent_to_contact=True), name="referral_has_consent"),
        ]

    def __str__(self) -> str:
        return f"referral {self.pk}"
