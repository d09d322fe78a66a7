"""Referrals: the public pre-screener's "contact the site", and the coordinator turning one into a
screening record (through the screening services, the one way to create a screening record).

The pre-screen itself is ``trialkit.eligibility.prescreen`` (the core); this module stores its
answers only when the person asks to be contacted and consents to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from trialkit.eligibility.prescreen import PrescreenResult, facts_for_record
from trialkit.server.accounts.access import access_for, require
from trialkit.server.participants.models import ScreeningRecord
from trialkit.server.referrals.models import Referral
from trialkit.server.screening import services as screening
from trialkit.server.trials.models import Site, Trial

RELATIONSHIPS = tuple(Referral.Relationship.values)


class ReferralError(Exception):
    def __init__(self, field: str, rule: str, message: str):
        super().__init__(message)
        self.field, self.rule, self.message = field, rule, message


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str
    email: str
    relationship: str
    consent_to_contact: bool


def recruiting_sites(trial: Trial):
    return trial.sites.filter(active=True)


@transaction.atomic
def submit_referral(trial: Trial, site: Site, result: PrescreenResult, contact: Contact, language: str) -> Referral:
    """Store the answers and contact details for ``site``'s coordinators. Refused without the
    person's consent to be contacted, or without a way to reach them."""
    if site.trial_id != trial.id or not site.active:
        raise ReferralError("site", "trial_site", _("choose one of the trial's sites"))
    if not contact.consent_to_contact:
        raise ReferralError("consent", "required", _("the site may contact you only with your consent"))
    if not (contact.phone or contact.email):
        raise ReferralError("phone", "required", _("give a phone number or an e-mail address"))
    if contact.relationship not in RELATIONSHIPS:
        raise ReferralError(
            "relationship", "choice", _("must be one of: %(choices)s") % {"choices": ", ".join(RELATIONSHIPS)}
        )
    return Referral.objects.create(
        trial=trial,
        site=site,
        answers=dict(result.answers),
        facts=facts_for_record(result.facts),
        outcome=result.outcome,
        name=contact.name,
        phone=contact.phone,
        email=contact.email,
        relationship=contact.relationship,
        consent_to_contact=True,
        language=language[:16],
    )


def referrals_for(user, trial: Trial):
    """The referrals of the sites where the user holds ``screening.referrals`` (none elsewhere)."""
    sites = access_for(user, trial).sites("screening.referrals")
    rows = Referral.objects.filter(trial=trial).select_related("site", "screening")
    return rows if sites is None else rows.filter(site_id__in=sites)


@transaction.atomic
def convert_to_screening(referral: Referral, actor, today: date, now: datetime) -> ScreeningRecord:
    """A screening record at the referral's site with the pre-screen's facts filled in, made by the
    screening services (numbering, validation, re-screening and audit are theirs)."""
    require(actor, referral.trial, "screening.referrals", site_id=referral.site_id)
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.screening_id is not None:
        raise ReferralError("referral", "converted", _("this referral already has a screening record"))
    record = screening.create_screening(referral.trial, referral.site, actor, today)
    facts: dict[str, Any] = referral.facts or {}
    if facts:
        record = screening.update_facts(record, facts, actor, reason=f"pre-filled from referral {referral.pk}")
    referral.screening = record
    referral.status = Referral.Status.SCREENING
    referral.converted_by = actor
    referral.converted_at = now
    referral.save()
    return record
