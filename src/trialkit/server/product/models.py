"""The product's chain of identity and custody, the infusion record and site supply.

Which arm a lot holds (``Lot.arm_id``) is stored here and read only by the product services for
unblinded roles; a kit reaches its arm only through its lot. Blinded staff see kit numbers only
where the allocation already shows them (their participant's kit), the kit's steps and times,
and counts of kits per site: never a lot, a product or an arm.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from trialkit.dosing import custody


class Lot(models.Model):
    """A manufacturer's lot with its release results (the certificate of analysis)."""

    class Sterility(models.TextChoices):
        PENDING = "pending", _("Pending")
        PASS = "pass", _("Pass")
        FAIL = "fail", _("Fail")

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting release")
        RELEASED = "released", _("Released")
        REJECTED = "rejected", _("Rejected")

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="+")
    lot_number = models.CharField(max_length=64)
    arm_id = models.CharField(max_length=64)  # unblinded
    manufactured_on = models.DateField()
    expires_on = models.DateField()
    cells_per_vial = models.FloatField(null=True, blank=True)
    viability_percent = models.FloatField(null=True, blank=True)
    sterility = models.CharField(max_length=10, choices=Sterility.choices, default=Sterility.PENDING)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["trial_id", "lot_number"]
        constraints = [models.UniqueConstraint(fields=["trial", "lot_number"], name="unique_lot_per_trial")]

    def __str__(self) -> str:
        return self.lot_number


class ResupplyRequest(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("resupply status", "Open")
        SHIPPED = "shipped", pgettext_lazy("resupply status", "Shipped")

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    automatic = models.BooleanField(default=False)  # raised by the minimum-stock rule
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]


class Shipment(models.Model):
    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="+")
    request = models.ForeignKey(ResupplyRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    shipped_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    shipped_at = models.DateTimeField()
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(null=True, blank=True)
    kit_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-shipped_at", "-id"]


# The displayed words for the custody states the core keeps in English (same keys as
# ``custody.STATE_LABELS``; a kit's state word never depends on its arm).
KIT_STATE_LABELS = {
    custody.REGISTERED: _("Registered at the depot"),
    custody.IN_TRANSIT: _("In transit"),
    custody.RECEIVED: _("Received at site"),
    custody.STORED: _("In storage"),
    custody.QUARANTINED: _("Quarantined"),
    custody.ASSIGNED: _("Assigned to a participant"),
    custody.THAWED: _("Thawed"),
    custody.PREPARED: _("Prepared"),
    custody.INFUSED: _("Infused"),
    custody.DESTROYED: _("Destroyed"),
}


class Kit(models.Model):
    """One kit (the vials of one dose) of one lot, placebo or cells alike; its number is the
    allocation list's kit number."""

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="kits")
    kit_number = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=[(s, KIT_STATE_LABELS[s]) for s in custody.STATES])
    status_before_quarantine = models.CharField(max_length=16, blank=True)
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, null=True, blank=True, related_name="kits")
    storage_location = models.CharField(max_length=100, blank=True)
    participant = models.OneToOneField(
        "participants.Participant", on_delete=models.PROTECT, null=True, blank=True, related_name="product_kit"
    )
    thawed_at = models.DateTimeField(null=True, blank=True)
    prepared_at = models.DateTimeField(null=True, blank=True)
    infused_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["trial_id", "kit_number"]
        constraints = [models.UniqueConstraint(fields=["trial", "kit_number"], name="unique_product_kit_per_trial")]

    def __str__(self) -> str:
        return self.kit_number


class KitEvent(models.Model):
    """One step of a kit's chain: the timeline. Holds nothing that differs by arm (no lot)."""

    kit = models.ForeignKey(Kit, on_delete=models.PROTECT, related_name="events")
    step = models.CharField(max_length=16)
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    detail = models.JSONField(default=dict)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["kit_id", "at", "id"]


class TemperatureExcursion(models.Model):
    """A storage or transit reading outside the protocol's range: its kits are quarantined until
    it is reviewed."""

    class Decision(models.TextChoices):
        USABLE = "usable", _("Usable")
        DISCARD = "discard", _("Discard")

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kits = models.ManyToManyField(Kit, related_name="excursions")
    min_c = models.FloatField()
    max_c = models.FloatField()
    duration_minutes = models.PositiveIntegerField()
    observed_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-observed_at", "-id"]


class InfusionRecord(models.Model):
    """The infusion as given: times, rate, volume, interruptions and reactions (the same fields in every arm)."""

    participant = models.OneToOneField("participants.Participant", on_delete=models.PROTECT, related_name="infusion")
    kit = models.OneToOneField(Kit, on_delete=models.PROTECT, null=True, blank=True, related_name="infusion")
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField()
    rate_ml_per_hour = models.DecimalField(max_digits=6, decimal_places=1)
    volume_given_ml = models.DecimalField(max_digits=6, decimal_places=1)
    interruptions = models.JSONField(default=list)  # [{"stopped_at", "resumed_at", "reason"}]
    reactions = models.JSONField(default=list)  # [{"at", "description", "grade"}]
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
