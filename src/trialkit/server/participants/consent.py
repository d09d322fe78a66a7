"""What a participant's consents allow: the one reading of the consent rows that screening, data
capture and the pages share.

The versions and what each amendment affects come from the protocol (``protocol.consent``, read by
``trialkit.protocol.schema.Consent``); this module only compares them with the rows signed. Two
things block data entry of a form:

- a newer version approved by the ethics committee that names the form (or ``all``), while the
  participant's consent in force is to an older one: re-consent first (ICH E6(R3) 2.8.2; China GCP
  2020 Art. 23(2): a revised form approved by the ethics committee is signed again);
- a withdrawal of consent, whatever its scope: every scope says no further data collection
  (ICH E6(R3) 2.8.10(l), (n)); data already entered stay.

A record with no consent row at all (data loaded around the screening workflow) is not blocked here:
enrollment already refuses a candidate without consent (``screening.services.enrollment_blockers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext as _

from trialkit.server.participants.models import Consent, ScreeningRecord


@dataclass(frozen=True)
class ConsentBlock:
    """Why a form may not be entered now: ``kind`` is ``reconsent`` or ``withdrawn``."""

    kind: str
    form: str
    version: str = ""  # the version to re-consent to (reconsent)
    signed_version: str = ""  # the version of the consent in force
    scope: str = ""  # the withdrawal's scope (withdrawn)
    withdrawn_on: date | None = None

    @property
    def message(self) -> str:
        if self.kind == "withdrawn":
            return _("consent was withdrawn on %(date)s (%(scope)s): no further data may be entered for %(form)s") % {
                "date": self.withdrawn_on.isoformat() if self.withdrawn_on else "",
                "scope": Consent.WithdrawalScope(self.scope).label if self.scope else "",
                "form": self.form,
            }
        return _(
            "%(form)s needs consent to version %(version)s of the consent document (approved by the ethics "
            "committee); the participant signed version %(signed)s. Record the re-consent first."
        ) % {"form": self.form, "version": self.version, "signed": self.signed_version or "?"}


def consents_of(record: ScreeningRecord):
    return record.consents.order_by("-consent_date", "-id")


def in_force(record: ScreeningRecord) -> Consent | None:
    """The newest consent not withdrawn."""
    return record.consents.filter(withdrawn_on__isnull=True).order_by("-consent_date", "-id").first()


def withdrawal(record: ScreeningRecord) -> Consent | None:
    """The withdrawn consent that stands: a withdrawal with no consent signed after it."""
    latest = consents_of(record).first()
    if latest is not None and latest.withdrawn_on is not None:
        return latest
    return None


def highest_signed(record: ScreeningRecord) -> tuple[int, str]:
    """The newest protocol version among the consents in force: (its index, its id); index -1 when none
    is a version the protocol lists, and (-1, '') when there is no consent in force."""
    rules = record.trial.protocol.consent
    versions = list(
        record.consents.filter(withdrawn_on__isnull=True)
        .order_by("-consent_date", "-id")
        .values_list("document_version", flat=True)
    )
    if not versions:
        return -1, ""
    best = max(versions, key=rules.version_index)
    return rules.version_index(best), best


def block_for_form(record: ScreeningRecord, form: str, on: date) -> ConsentBlock | None:
    """Why ``form`` may not be entered on ``on`` for the person of ``record``; None when it may."""
    if not record.consents.exists():
        return None
    stands = withdrawal(record)
    if stands is not None:
        return ConsentBlock(
            "withdrawn",
            form,
            scope=stands.withdrawal_scope,
            withdrawn_on=stands.withdrawn_on,
            signed_version=stands.document_version,
        )
    needed = record.trial.protocol.consent.required_version(form, on)
    if needed is None:
        return None
    rules = record.trial.protocol.consent
    index, signed = highest_signed(record)
    if index >= rules.version_index(needed):
        return None
    return ConsentBlock("reconsent", form, version=needed, signed_version=signed)


def pending_reconsent(record: ScreeningRecord, on: date) -> str | None:
    """The newest version approved by ``on`` that is newer than every consent in force (None when the
    person is up to date, has withdrawn, or has no consent row)."""
    rules = record.trial.protocol.consent
    if not record.consents.exists() or withdrawal(record) is not None:
        return None
    index, _signed = highest_signed(record)
    current = rules.in_effect(on)
    if current is None or rules.version_index(current) <= index:
        return None
    return current
