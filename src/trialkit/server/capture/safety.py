"""Expedited safety in the shell: the trial's coding dictionary, the SUSAR clock of a stored event
and the likely duplicates of an event, from the pure core in ``trialkit.safety``."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from trialkit.safety import (
    AeSummary,
    Dictionary,
    ExpeditedClock,
    assess_susar,
    default_dictionary,
    expedited_clock,
    likely_duplicates,
)
from trialkit.server.capture.models import AdverseEvent


@lru_cache(maxsize=1)
def _dictionary(directory: str, version: str) -> Dictionary:
    return default_dictionary(directory or None, version)


def dictionary() -> Dictionary:
    """The sponsor's MedDRA (``TRIALKIT_MEDDRA_DIR``, ``TRIALKIT_MEDDRA_VERSION``) when set, else the open list."""
    return _dictionary(getattr(settings, "TRIALKIT_MEDDRA_DIR", ""), getattr(settings, "TRIALKIT_MEDDRA_VERSION", ""))


def code_term(term: str) -> dict[str, str]:
    coded = dictionary().code(term or "")
    return coded.as_dict() if coded else {}


def susar_clock(ae: AdverseEvent, now: datetime) -> ExpeditedClock | None:
    """The 7- or 15-day clock of a SUSAR from the site's awareness, in the trial's time zone
    (Django's ``TIME_ZONE``): calendar days are counted there."""
    if not ae.serious:
        return None
    return expedited_clock(
        assess_susar(ae.data or {}),
        ae.awareness_at,
        tz=timezone.get_default_timezone(),
        now=now,
        reported_at=ae.susar_reported_at,
    )


def _onset(data: dict) -> date | None:
    value = data.get("onset_date")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _summary(ae: AdverseEvent) -> AeSummary:
    return AeSummary(
        str(ae.pk),
        str(ae.participant_id),
        ae.term,
        _onset(ae.data or {}),
        (ae.coding or {}).get("preferred_code", ""),
    )


def duplicates_of(ae: AdverseEvent) -> list[AdverseEvent]:
    """The participant's other (not deleted) events that this one probably repeats."""
    others = {
        str(o.pk): o for o in AdverseEvent.objects.filter(participant_id=ae.participant_id, deleted_at__isnull=True)
    }
    return [others[s.key] for s in likely_duplicates(_summary(ae), [_summary(o) for o in others.values()])]


def duplicate_warning(ae: AdverseEvent) -> str:
    found = duplicates_of(ae)
    if not found:
        return ""
    numbers = ", ".join(f"AE{o.number} ({o.term})" for o in found)
    return f"Possible duplicate of {numbers}: same participant, similar term, onset within a few days. Check before reporting."
