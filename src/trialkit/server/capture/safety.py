"""Expedited safety in the shell: the trial's coding dictionary, the SUSAR clocks of a stored event
(its first report and follow-ups) and the likely duplicates of an event, from the pure core in
``trialkit.safety``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from trialkit.safety import (
    AeSummary,
    Dictionary,
    ExpeditedClock,
    SafetyInformation,
    SusarAssessment,
    assess_susar,
    current_clock,
    default_dictionary,
    likely_duplicates,
    susar_clocks,
)
from trialkit.server.capture.models import AdverseEvent, AdverseEventFollowUp


@lru_cache(maxsize=1)
def _dictionary(directory: str, version: str) -> Dictionary:
    return default_dictionary(directory or None, version)


def dictionary() -> Dictionary:
    """The sponsor's MedDRA (``TRIALKIT_MEDDRA_DIR``, ``TRIALKIT_MEDDRA_VERSION``) when set, else the open list."""
    return _dictionary(getattr(settings, "TRIALKIT_MEDDRA_DIR", ""), getattr(settings, "TRIALKIT_MEDDRA_VERSION", ""))


def code_term(term: str) -> dict[str, str]:
    coded = dictionary().code(term or "")
    return coded.as_dict() if coded else {}


def assessment_flags(assessment: SusarAssessment) -> dict[str, bool]:
    return asdict(assessment)


def revised_assessment(ae: AdverseEvent, seriousness: str) -> SusarAssessment:
    """The event's SUSAR assessment once a follow-up found ``seriousness``: relatedness and
    expectedness as the event's form has them now, seriousness as the follow-up says."""
    now_known = assess_susar(ae.data or {})
    Seriousness = AdverseEventFollowUp.Seriousness
    serious = seriousness != Seriousness.NOT_SERIOUS
    fatal = seriousness in (Seriousness.FATAL, Seriousness.LIFE_THREATENING)
    return SusarAssessment(serious, now_known.related, now_known.unexpected, fatal)


def susar_history(ae: AdverseEvent) -> list[SafetyInformation]:
    """The first report (at the site's awareness) and every follow-up that revised the seriousness
    (at the time its information was received). Until a follow-up revises it, the first report is
    the event's form as it is now (corrections included)."""
    revisions = [fu for fu in ae.follow_ups.all() if fu.assessment]
    first = SusarAssessment(**ae.susar_initial) if ae.susar_initial else assess_susar(ae.data or {})
    history = [SafetyInformation(ae.awareness_at, first, ae.created_at)]
    history += [SafetyInformation(fu.received_at or fu.at, SusarAssessment(**fu.assessment), fu.at) for fu in revisions]
    return history


def susar_clocks_of(ae: AdverseEvent, now: datetime) -> tuple[ExpeditedClock, ...]:
    """Every expedited clock of the event (first report; 7 days from a follow-up that made it fatal
    or life-threatening; the complete report), in the trial's time zone (Django's ``TIME_ZONE``):
    calendar days are counted there."""
    reports = [datetime.fromisoformat(at) for at in ae.susar_reports or []]
    if ae.susar_reported_at and not reports:
        reports = [ae.susar_reported_at]  # reported before every report was kept
    return susar_clocks(susar_history(ae), tz=timezone.get_default_timezone(), now=now, reports=reports)


def susar_clock(ae: AdverseEvent, now: datetime) -> ExpeditedClock | None:
    """The clock to show first (``trialkit.safety.current_clock``); None when the event has none."""
    return current_clock(susar_clocks_of(ae, now))


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
