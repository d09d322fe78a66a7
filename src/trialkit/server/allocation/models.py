"""The concealed allocation and everything that knows the arm.

The arm of a participant is stored here and nowhere else (``AllocationSlot.arm_id`` and the
preparation of a ``DoseRecord``). Nothing outside ``trialkit.server.allocation.services`` reads
those fields: the services check the actor's role before returning them, and every page and
API response for blinded staff is built from the participant's randomization number and kit
number only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AllocationList(models.Model):
    """A trial's pre-generated allocation list (or, for minimization, its running state).

    One per trial. It may be regenerated only while no slot has been allocated.
    """

    class Method(models.TextChoices):
        PERMUTED_BLOCK = "permuted_block", _("Permuted blocks")
        MINIMIZATION = "minimization", _("Minimization")

    trial = models.OneToOneField("trials.Trial", on_delete=models.PROTECT, related_name="allocation_list")
    method = models.CharField(max_length=20, choices=Method.choices)
    # Only a hash of the seed is kept with the list: the statistician holds the seed itself
    # (shown once at generation) and can prove the list by regenerating it offline.
    seed_sha256 = models.CharField(max_length=64)
    generated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    strata = models.JSONField(default=list)
    # Incremented under the row lock: the trial-wide sequence of randomization numbers.
    allocated_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"allocation list of {self.trial}"


class AllocationSlot(models.Model):
    """One line of the list: the unblinded truth behind a kit number and a randomization number."""

    allocation_list = models.ForeignKey(AllocationList, on_delete=models.CASCADE, related_name="slots")
    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="+")
    stratum = models.CharField(max_length=200)
    sequence_no = models.PositiveIntegerField()
    cohort = models.CharField(max_length=64, blank=True)
    arm_id = models.CharField(max_length=64)
    dose_level = models.CharField(max_length=64, blank=True)
    block_no = models.PositiveIntegerField()
    block_size = models.PositiveIntegerField()
    kit_number = models.CharField(max_length=32)
    participant = models.OneToOneField(
        "participants.Participant", on_delete=models.PROTECT, null=True, blank=True, related_name="allocation_slot"
    )
    randomization_number = models.CharField(max_length=32, blank=True)
    allocated_at = models.DateTimeField(null=True, blank=True)
    allocated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["allocation_list_id", "stratum", "sequence_no"]
        constraints = [
            models.UniqueConstraint(fields=["allocation_list", "stratum", "sequence_no"], name="unique_slot_position"),
            models.UniqueConstraint(fields=["trial", "kit_number"], name="unique_kit_per_trial"),
            models.UniqueConstraint(
                fields=["trial", "randomization_number"],
                condition=~Q(randomization_number=""),
                name="unique_randomization_number_per_trial",
            ),
            # A used slot has a participant, a number and a time; an unused one has none.
            models.CheckConstraint(
                condition=(
                    Q(participant__isnull=True, randomization_number="", allocated_at__isnull=True)
                    | Q(participant__isnull=False, allocated_at__isnull=False) & ~Q(randomization_number="")
                ),
                name="slot_used_consistently",
            ),
        ]
        indexes = [
            models.Index(fields=["allocation_list", "stratum", "participant"]),
            # The statistician's list, a page at a time in list order (a list holds far more slots than participants).
            models.Index(fields=["trial", "stratum", "sequence_no"], name="slot_trial_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.stratum} #{self.sequence_no}"


class MinimizationState(models.Model):
    """The running counts of a minimization trial, locked for each assignment."""

    trial = models.OneToOneField("trials.Trial", on_delete=models.PROTECT, related_name="minimization_state")
    # Minimization draws each assignment's random number from the seed, so the seed is kept
    # (unblinded: this row is read only by the allocation services).
    seed = models.CharField(max_length=128)
    state = models.JSONField(default=dict)
    updated_at = models.DateTimeField()


class DoseRecord(models.Model):
    """What the unblinded pharmacist prepared for one participant, and when it was given."""

    participant = models.OneToOneField("participants.Participant", on_delete=models.PROTECT, related_name="dose_record")
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1)
    preparation = models.JSONField()  # trialkit.dosing.DosePreparation.as_dict(): unblinded
    label_text = models.TextField()  # the blinded label: identical wording for every arm
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    prepared_at = models.DateTimeField()
    administered_at = models.DateTimeField(null=True, blank=True)
    administered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )


class UnblindingEvent(models.Model):
    """An emergency code break: who revealed whose arm, when and why (the arm is not copied here)."""

    participant = models.ForeignKey("participants.Participant", on_delete=models.PROTECT, related_name="unblindings")
    investigator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]


class Notification(models.Model):
    """An in-app notice to the holders of a role in a trial (or to one user)."""

    trial = models.ForeignKey("trials.Trial", on_delete=models.CASCADE, related_name="notifications")
    recipient_role = models.CharField(max_length=32, blank=True)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="trial_notifications"
    )
    participant = models.ForeignKey(
        "participants.Participant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    message = models.TextField()
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "trial", "-created_at"], name="notification_recent_idx")]


class EscalationDecision(models.Model):
    """A DSMB decision on a dose cohort (escalate / stay / stop): the gate to the next cohort.

    Readable only by the DSMB statistician; blinded roles learn only whether randomization is open."""

    class Decision(models.TextChoices):
        ESCALATE = "escalate", _("Escalate to the next cohort")
        STAY = "stay", _("Stay at this dose")
        STOP = "stop", _("Stop")

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="escalation_decisions")
    cohort_id = models.CharField(max_length=64)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    rationale = models.TextField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["decided_at", "id"]


class EscalationAlert(models.Model):
    """One stopping-rule trigger already notified (so a pause is announced once per new event)."""

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="+")
    rule_id = models.CharField(max_length=64)
    cohort_id = models.CharField(max_length=64, blank=True)
    latest_event_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "rule_id", "cohort_id", "latest_event_at"], name="unique_escalation_alert"
            )
        ]
