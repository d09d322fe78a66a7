"""Records for the home tests, made directly in the models (the workflows have their own tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from trialkit.server.participants.models import Participant, ScreeningRecord


def screening(
    trial,
    site,
    user,
    number,
    *,
    outcome="in_screening",
    verdict="incomplete",
    fail_reasons=(),
    on=date(2025, 3, 1),
    facts=None,
):
    return ScreeningRecord.objects.create(
        trial=trial,
        site=site,
        screening_number=number,
        screening_date=on,
        facts=facts or {"age": 60},
        verdict=verdict,
        outcome=outcome,
        fail_reasons=list(fail_reasons),
        created_by=user,
    )


def participant(
    trial, site, user, number, *, enrolled=datetime(2025, 3, 2, 9, tzinfo=UTC), randomized=True, status=None
):
    record = screening(
        trial,
        site,
        user,
        f"S-{number}",
        outcome="enrolled",
        verdict="eligible",
        facts={"age": 61, "nihss_total": 9, "sex": "F"},
    )
    return Participant.objects.create(
        trial=trial,
        site=site,
        screening=record,
        participant_number=number,
        status=status or ("randomized" if randomized else "enrolled"),
        enrolled_at=enrolled,
        randomization_number=f"R{number[-3:]}" if randomized else "",
        kit_number=f"K-{number[-3:]}" if randomized else "",
        randomized_at=enrolled if randomized else None,
        anchor_date=enrolled.date() if randomized else None,
    )
