"""The trial's records written as the CSV data directory that ``trialkit.analysis`` reads.

Format: docs/analysis.md, "Data directory format". A blinded extract never holds an arm: every
randomized participant's arm is the placeholder ``MASKED_ARM``, which the pooled report only
counts. The arms come from the allocation app, and only for an unblinded extract.
"""

from __future__ import annotations

import csv
from pathlib import Path

from django.apps import apps

from trialkit.server.participants.models import Participant, ScreeningRecord

MASKED_ARM = "masked"

PARTICIPANT_STATUS = {  # Participant.Status -> the analysis' status vocabulary
    Participant.Status.COMPLETED: "completed",
    Participant.Status.WITHDRAWN: "withdrawn",
    Participant.Status.LOST: "lost",
    Participant.Status.DIED: "completed",  # death is an outcome (mRS 6), not a loss
}

COLUMNS = {
    "participants": ["participant_id", "site", "arm", "randomized_on", "baseline_nihss", "age", "sex", "status"],
    "outcomes": ["participant_id", "visit", "day", "instrument", "total"],
    "adverse_events": ["participant_id", "term", "grade", "serious", "related", "onset_day"],
    "screening": ["screening_id", "outcome", "reason"],
}


def optional_model(app_label: str, name: str):
    """A model of a feature app, or None while that app does not define it."""
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


def arms_by_participant(trial) -> dict[int, str]:
    """Participant pk -> arm id, from the concealed allocation list. Unblinded callers only."""
    slot_model = optional_model("allocation", "AllocationSlot")
    if slot_model is None:
        return {}
    rows = slot_model.objects.filter(trial=trial, participant__isnull=False).values_list("participant_id", "arm_id")
    return dict(rows)


def _fail_reason(record: ScreeningRecord) -> str:
    for reason in record.fail_reasons or []:
        if isinstance(reason, dict):
            return str(reason.get("criterion_id") or reason.get("id") or reason.get("criterion") or "unspecified")
        return str(reason)
    return "unspecified"


def participant_rows(trial, unblinded: bool) -> list[dict]:
    arms = arms_by_participant(trial) if unblinded else {}
    rows = []
    participants = Participant.objects.filter(trial=trial, randomized_at__isnull=False).select_related("site", "screening")
    for p in participants:
        facts = p.screening.facts or {}
        rows.append({
            "participant_id": p.participant_number,
            "site": p.site.code,
            "arm": arms.get(p.pk, "") if unblinded else MASKED_ARM,
            "randomized_on": p.randomized_at.date().isoformat(),
            "baseline_nihss": facts.get("nihss_total", facts.get("nihss", "")),
            "age": facts.get("age", ""),
            "sex": facts.get("sex", ""),
            "status": PARTICIPANT_STATUS.get(p.status, "ongoing"),
        })
    return rows


def screening_rows(trial) -> list[dict]:
    rows = []
    for record in ScreeningRecord.objects.filter(trial=trial, outcome__in=[ScreeningRecord.Outcome.ENROLLED,
                                                                           ScreeningRecord.Outcome.SCREEN_FAILED]):
        rows.append({"screening_id": record.screening_number, "outcome": record.outcome,
                     "reason": _fail_reason(record) if record.outcome == ScreeningRecord.Outcome.SCREEN_FAILED else ""})
    return rows


def capture_rows(trial) -> tuple[list[dict], list[dict]]:
    """Outcome totals and adverse events from the capture app (empty until it records them)."""
    from trialkit.server.web import capture_extract

    return capture_extract.outcome_rows(trial), capture_extract.adverse_event_rows(trial)


def write_analysis_data(trial, out_dir: str | Path, unblinded: bool) -> dict[str, int]:
    """Write the four CSV tables into ``out_dir``; return row counts by table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcomes, adverse_events = capture_rows(trial)
    tables = {
        "participants": participant_rows(trial, unblinded),
        "outcomes": outcomes,
        "adverse_events": adverse_events,
        "screening": screening_rows(trial),
    }
    for name, rows in tables.items():
        with open(out_dir / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS[name], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    return {name: len(rows) for name, rows in tables.items()}
