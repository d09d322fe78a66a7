from __future__ import annotations

from functools import cached_property

from django.db import models

from trialkit.protocol import Protocol, load_protocol


class Trial(models.Model):
    """A trial run by this installation; its definition is the protocol file named by nct_id."""

    nct_id = models.CharField(max_length=11, unique=True)
    acronym = models.CharField(max_length=32, blank=True)
    title = models.CharField(max_length=300)
    protocol_sha256 = models.CharField(max_length=64)
    loaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["nct_id"]

    def __str__(self) -> str:
        return self.acronym or self.nct_id

    @cached_property
    def protocol(self) -> Protocol:
        return load_protocol(self.nct_id)

    @property
    def short_name(self) -> str:
        return self.acronym or self.nct_id


class Site(models.Model):
    """A place where participants are screened, treated and followed."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="sites")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=40, blank=True, default="Not yet recruiting")
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=50, blank=True)
    active = models.BooleanField(default=True)
    # The site's IANA time zone: its "today" for the participant diary. Blank: the installation's
    # TIME_ZONE. Set from the country where it has one zone (China: Asia/Shanghai).
    time_zone = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["trial_id", "code"]
        constraints = [models.UniqueConstraint(fields=["trial", "code"], name="unique_site_code")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def tz(self) -> str:
        """The time zone the site's days are counted in."""
        from django.conf import settings

        return self.time_zone or settings.TIME_ZONE

    @property
    def place(self) -> str:
        return ", ".join(part for part in (self.city, self.country) if part)
