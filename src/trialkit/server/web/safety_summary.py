"""The DSMB statistician's unblinded safety summary, computed by ``trialkit.analysis.safety``
on the one extract (``exports.extract`` then ``analysis.trial_data.analysis_tables``), the same
tables the unblinded report and an unblinded CSV export hold. Callers check ``can_see_allocation``
first; ``arms_by_participant`` checks it again."""

from __future__ import annotations

from trialkit.analysis.safety import events_by_term, safety_summary
from trialkit.analysis.trial_data import analysis_tables, trial_data
from trialkit.server.allocation.services import arms_by_participant
from trialkit.server.exports.extract import select


def unblinded_safety(trial, user) -> dict:
    records = select(trial, arms=arms_by_participant(trial, user))
    data = trial_data(analysis_tables(records, trial.protocol, unblinded=True))
    participants, events = data.participants, data.adverse_events
    participants["arm"] = participants["arm"].replace("", None)
    labels = {arm.id: arm.label for arm in trial.protocol.arms}
    rows = safety_summary(participants, events, by_arm=True, arm_labels=labels)
    terms = events_by_term(participants, events, by_arm=True, arm_labels=labels) if len(events) else None
    return {
        "rows": rows,
        "terms": [] if terms is None else [(term, values) for term, values in zip(terms.index, terms.values.tolist())],
        "term_columns": [] if terms is None else list(terms.columns),
        "allocated": int(participants["arm"].notna().sum()),
    }
