"""Reading a trial's data: a directory of CSV files or an SQLite file with the same tables.

Tables (docs/analysis.md): participants (participant_id, site, arm, randomized_on, baseline_nihss,
age, status), outcomes (participant_id, visit, day, instrument, total), adverse_events
(participant_id, term, grade, serious, related), screening (screening_id, outcome, reason).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trialkit.analysis.ordinal_shift import AnalysisInputError

SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file (sqlite.org/fileformat.html)

REQUIRED = {
    "participants": ["participant_id", "arm", "randomized_on", "status"],
    "outcomes": ["participant_id", "visit", "instrument", "total"],
    "adverse_events": ["participant_id", "term", "grade", "serious"],
    "screening": ["screening_id", "outcome"],
}


@dataclass(frozen=True)
class TrialData:
    participants: pd.DataFrame
    outcomes: pd.DataFrame
    adverse_events: pd.DataFrame
    screening: pd.DataFrame


def _check(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED[name] if c not in frame.columns]
    if missing:
        raise AnalysisInputError(f"{name}: missing column(s) {', '.join(missing)}")
    return frame


def load_trial_data(source: str | Path) -> TrialData:
    """Load the four tables from a directory of CSVs or an SQLite database file."""
    source = Path(source)
    frames: dict[str, pd.DataFrame] = {}
    if source.is_dir():
        for name in REQUIRED:
            path = source / f"{name}.csv"
            if not path.exists():
                if name in ("adverse_events", "screening"):
                    frames[name] = pd.DataFrame(columns=REQUIRED[name])
                    continue
                raise AnalysisInputError(f"--data: {path} is missing")
            try:
                frames[name] = pd.read_csv(path, dtype={"participant_id": str, "arm": str})
            except (ValueError, pd.errors.ParserError) as exc:  # UnicodeDecodeError is a ValueError
                raise AnalysisInputError(f"--data: {path}: not a readable CSV table ({exc})") from None
    elif source.is_file():
        with source.open("rb") as handle:
            if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise AnalysisInputError(f"--data: {source} is not an SQLite database; give a directory of CSV "
                                         f"files ({', '.join(f'{n}.csv' for n in REQUIRED)}) or an SQLite file")
        connection = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)  # never creates or writes
        try:
            for name in REQUIRED:
                frames[name] = pd.read_sql_query(f'SELECT * FROM "{name}"', connection)
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:
            raise AnalysisInputError(f"--data: {source}: {exc}") from None
        finally:
            connection.close()
    else:
        raise AnalysisInputError(f"--data: {source} is neither a directory nor a database file")
    frames = {name: _check(name, frame) for name, frame in frames.items()}
    frames["participants"]["randomized_on"] = pd.to_datetime(frames["participants"]["randomized_on"])
    return TrialData(**frames)


def analysis_frame(
    data: TrialData,
    instrument: str,
    visit: str,
    baseline_visit: str | None = None,
    covariates: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per randomized participant with an outcome at ``visit``: arm, outcome, baseline, covariates."""
    outcomes = data.outcomes[data.outcomes["instrument"] == instrument]
    at_visit = outcomes[outcomes["visit"] == visit][["participant_id", "total"]].rename(columns={"total": instrument})
    columns = ["participant_id", "arm", *[c for c in covariates if c in data.participants.columns]]
    missing = [c for c in covariates if c not in data.participants.columns]
    if missing:
        raise AnalysisInputError(f"covariate(s) {', '.join(missing)} not in participants")
    frame = data.participants[columns].merge(at_visit, on="participant_id")
    if baseline_visit is not None:
        base = outcomes[outcomes["visit"] == baseline_visit][["participant_id", "total"]]
        frame = frame.merge(base.rename(columns={"total": f"{instrument}_baseline"}), on="participant_id")
    return frame


def randomized_participants(participants: pd.DataFrame) -> pd.DataFrame:
    """Participants who were randomized: a randomization date, or an arm in an unblinded extract.

    A blinded extract carries no arm, so the arm alone cannot say who was randomized.
    """
    mask = participants["arm"].notna() & (participants["arm"].astype(str).str.strip() != "")
    if "randomized_on" in participants:
        mask |= participants["randomized_on"].notna()
    return participants[mask]

