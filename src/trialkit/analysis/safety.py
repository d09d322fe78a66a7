"""Safety tables: participants with adverse events, serious adverse events and grade ≥ 3 events.

Grades follow CTCAE v5 (1 mild … 5 death related to AE); "serious" follows ICH E2A (death, life
threatening, hospitalisation, disability, congenital anomaly, other important medical event).
Counts are participants with at least one event (the CONSORT Harms 2022 convention) and events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from trialkit.analysis.trial_data import randomized_participants

SEVERE_GRADE = 3  # CTCAE v5: grade 3 = severe or medically significant


@dataclass(frozen=True)
class SafetyRow:
    group: str
    participants: int
    with_any_ae: int
    ae_events: int
    with_serious_ae: int
    serious_events: int
    with_grade3_or_more: int
    with_related_ae: int
    deaths: int

    def to_dict(self) -> dict:
        return asdict(self)


def _truthy(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.lower().isin({"1", "true", "yes", "y", "t"})


def _row(group: str, participant_ids: pd.Series, events: pd.DataFrame) -> SafetyRow:
    events = events[events["participant_id"].isin(participant_ids)]
    serious = events[_truthy(events["serious"])] if "serious" in events else events.iloc[0:0]
    grade = pd.to_numeric(events.get("grade", pd.Series(dtype=float)), errors="coerce")
    severe = events[grade >= SEVERE_GRADE]
    related = events[_truthy(events["related"])] if "related" in events else events.iloc[0:0]
    deaths = events[grade == 5]
    return SafetyRow(
        group=group,
        participants=int(participant_ids.nunique()),
        with_any_ae=int(events["participant_id"].nunique()),
        ae_events=len(events),
        with_serious_ae=int(serious["participant_id"].nunique()),
        serious_events=len(serious),
        with_grade3_or_more=int(severe["participant_id"].nunique()),
        with_related_ae=int(related["participant_id"].nunique()),
        deaths=int(deaths["participant_id"].nunique()),
    )


def safety_summary(
    participants: pd.DataFrame,
    adverse_events: pd.DataFrame,
    by_arm: bool,
    arm_labels: dict[str, str] | None = None,
) -> list[SafetyRow]:
    """One row per arm (unblinded) or one pooled row (blinded), over randomized participants."""
    randomized = randomized_participants(participants)
    if not by_arm:
        return [_row("All participants", randomized["participant_id"], adverse_events)]
    rows = []
    for arm, group in randomized.groupby("arm", sort=True):
        label = (arm_labels or {}).get(str(arm), str(arm))
        rows.append(_row(label, group["participant_id"], adverse_events))
    return rows


def events_by_term(
    participants: pd.DataFrame,
    adverse_events: pd.DataFrame,
    by_arm: bool,
    arm_labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Participants with each AE term (rows) per arm or pooled (columns), most frequent first."""
    merged = adverse_events.merge(participants[["participant_id", "arm"]], on="participant_id")
    if merged.empty:
        return pd.DataFrame()
    if by_arm:
        table = merged.groupby(["term", "arm"])["participant_id"].nunique().unstack(fill_value=0)
        table = table.rename(columns=lambda a: (arm_labels or {}).get(str(a), str(a)))
    else:
        table = merged.groupby("term")["participant_id"].nunique().to_frame("All participants")
    table["_total"] = table.sum(axis=1)
    return table.sort_values("_total", ascending=False).drop(columns="_total")
