"""The DSMB statistician's unblinded safety summary, computed by ``trialkit.analysis.safety``
on the same extract the unblinded report uses. Callers check ``can_see_allocation`` first."""

from __future__ import annotations

import pandas as pd

from trialkit.analysis.safety import events_by_term, safety_summary
from trialkit.server.web.analysis_data import COLUMNS, capture_rows, participant_rows


def unblinded_safety(trial) -> dict:
    participants = pd.DataFrame(participant_rows(trial, unblinded=True), columns=COLUMNS["participants"])
    participants["arm"] = participants["arm"].replace("", None)
    _outcomes, events = capture_rows(trial)
    events = pd.DataFrame(events, columns=COLUMNS["adverse_events"])
    labels = {arm.id: arm.label for arm in trial.protocol.arms}
    rows = safety_summary(participants, events, by_arm=True, arm_labels=labels)
    terms = events_by_term(participants, events, by_arm=True, arm_labels=labels) if len(events) else None
    return {
        "rows": rows,
        "terms": [] if terms is None else [(term, values) for term, values in zip(terms.index, terms.values.tolist())],
        "term_columns": [] if terms is None else list(terms.columns),
        "allocated": int(participants["arm"].notna().sum()),
    }
