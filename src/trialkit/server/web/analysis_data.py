"""The trial's records written as the CSV data directory that ``trialkit.analysis`` reads.

Format: docs/analysis.md, "Data directory format". A blinded extract never holds an arm: every
randomized participant's arm is the placeholder ``MASKED_ARM``, which the pooled report only
counts. The arms come from the allocation app, and only for an unblinded extract.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from trialkit.export.spreadsheet import inert_row
from trialkit.server.allocation.models import AllocationSlot
from trialkit.server.capture.models import AdverseEvent, FormRecord
from trialkit.server.participants.facts import derived_facts
from trialkit.server.participants.models import Participant, ScreeningRecord

MASKED_ARM = "masked"
# "Related" in the safety tables: possibly, probably or definitely related (the adverse_event form's codes).
RELATED = frozenset({"possible", "probable", "definite"})

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


def arms_by_participant(trial) -> dict[int, str]:
    """Participant pk -> arm id, from the concealed allocation list. Unblinded callers only."""
    rows = AllocationSlot.objects.filter(trial=trial, participant__isnull=False).values_list("participant_id", "arm_id")
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
        facts = derived_facts(p.screening)
        rows.append({
            "participant_id": p.participant_number,
            "site": p.site.code,
            "arm": arms.get(p.pk, "") if unblinded else MASKED_ARM,
            "randomized_on": p.randomized_at.date().isoformat(),
            "baseline_nihss": facts.get("nihss_total", ""),
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
    """The analysis tables' outcome totals and adverse events (docs/analysis.md)."""
    outcomes = []
    forms = FormRecord.objects.filter(participant__trial=trial, status=FormRecord.Status.COMPLETE,
                                      deleted_at__isnull=True).select_related("participant", "visit")
    for f in forms:
        if f.total is None:
            continue
        outcomes.append({"participant_id": f.participant.participant_number, "visit": f.visit.visit_id,
                         "day": f.visit.day, "instrument": f.instrument, "total": f.total})
    events = []
    for ae in AdverseEvent.objects.filter(participant__trial=trial, deleted_at__isnull=True).select_related("participant"):
        onset = ae.data.get("onset_date") or ae.data.get("onset")
        anchor = ae.participant.anchor_date
        onset_day = ""
        if onset and anchor:
            try:
                onset_day = (date.fromisoformat(str(onset)[:10]) - anchor).days
            except ValueError:
                onset_day = ""
        events.append({"participant_id": ae.participant.participant_number, "term": ae.term or "unspecified",
                       "grade": ae.data.get("ctcae_grade", ""), "serious": ae.serious,
                       "related": ae.data.get("relatedness") in RELATED,
                       "onset_day": onset_day})
    return outcomes, events


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
            writer.writerows(inert_row(row) for row in rows)
    return {name: len(rows) for name, rows in tables.items()}
