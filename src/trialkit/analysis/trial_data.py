"""The analysis tables: built from the export records (``analysis_tables``), or read from files.

One pure function, ``analysis_tables``, turns the export records (``trialkit.export.ExportData``)
into the tables the analysis reads; the web report, the DSMB safety summary, the CSV export and
``trialkit export from-db`` all go through it, so they agree. Conventions (docs/analysis.md):

- participant set: the randomized participants (a randomization date); screening records are the
  ``screening`` table, and ``screening_counts`` is the one definition of screened and screen-failed.
- arm: the ``arm`` column exists only in an unblinded extract. A blinded extract has no such column
  (not an empty or "masked" one), so no value, order or count of it can say anything.
- day: an outcome's visit is the protocol's visit; its day is the protocol's scheduled day
  (``visit_day``). Actual dates are in ODM/SDTM (``--DTC``, ``--DY``). An adverse event's
  ``onset_day`` is actual: days from the participant's day 0 to its onset date.
- booleans (``serious``, ``related``) are written ``true`` / ``false``.

Tables: participants (participant_id, site, [arm], randomized_on, baseline_nihss, age, sex,
status); outcomes, wide (one row per randomized participant: participant_id, [arm], site,
baseline_nihss, age, sex, then ``<instrument>_<visit>`` totals), which ``trialkit analyze`` reads
directly; adverse_events (participant_id, term, grade, serious, related, onset_day); screening
(screening_id, outcome, reason). ``load_trial_data`` reads a directory of these CSVs (or an older
long outcomes table: participant_id, visit, instrument, total) or an SQLite file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trialkit.analysis.errors import AnalysisInputError
from trialkit.instruments import OUTCOME_INSTRUMENTS, instrument_name

SQLITE_HEADER = (
    b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file (sqlite.org/fileformat.html)
)

REQUIRED = {
    "participants": ["participant_id", "randomized_on", "status"],
    "outcomes": ["participant_id", "visit", "instrument", "total"],
    "adverse_events": ["participant_id", "term", "grade", "serious"],
    "screening": ["screening_id", "outcome"],
}

# Columns of the tables ``analysis_tables`` writes; ``arm`` only when unblinded.
PARTICIPANT_COLUMNS = ["participant_id", "site", "arm", "randomized_on", "baseline_nihss", "age", "sex", "status"]
WIDE_KEYS = ["participant_id", "arm", "site", "baseline_nihss", "age", "sex"]
AE_COLUMNS = ["participant_id", "term", "grade", "serious", "related", "onset_day"]
SCREENING_COLUMNS = ["screening_id", "outcome", "reason"]

# The export's disposition -> the analysis status. Death is an outcome (mRS 6), not a loss: it is
# counted with the completed.
ANALYSIS_STATUS = {"completed": "completed", "withdrawn": "withdrawn", "lost_to_follow_up": "lost", "died": "completed"}
# "Related": a reasonable possibility of a causal relationship (ICH E2A: possibly, probably,
# definitely related; the adverse_event form's codes).
RELATED = frozenset({"possible", "probable", "definite"})


@dataclass(frozen=True)
class TrialData:
    participants: pd.DataFrame
    outcomes: pd.DataFrame  # long: participant_id, visit, instrument, total
    adverse_events: pd.DataFrame
    screening: pd.DataFrame


# ------------------------------------------------------------------ screening: one definition


@dataclass(frozen=True)
class ScreeningCounts:
    """screened: every screening record (CONSORT "assessed for eligibility"); decided: those with an
    outcome (enrolled or screen-failed); the screen-fail rate is over the decided."""

    screened: int
    enrolled: int
    screen_failed: int

    @property
    def decided(self) -> int:
        return self.enrolled + self.screen_failed

    @property
    def in_screening(self) -> int:
        return self.screened - self.decided

    @property
    def screen_fail_rate(self) -> str:
        """ "38 % of 17 with a screening decision", or a dash when none is decided."""
        if not self.decided:
            return "–"
        return f"{round(100 * self.screen_failed / self.decided)} % of {self.decided} with a screening decision"


def screening_counts(outcomes: Iterable[str]) -> ScreeningCounts:
    """Counts from the screening records' outcomes (``enrolled``, ``screen_failed``, other = open)."""
    outcomes = [str(o) for o in outcomes]
    return ScreeningCounts(len(outcomes), outcomes.count("enrolled"), outcomes.count("screen_failed"))


def screening_counts_by_outcome(by_outcome: dict[str, int]) -> ScreeningCounts:
    """The same counts from a count of records per outcome (a database aggregate)."""
    return ScreeningCounts(sum(by_outcome.values()), by_outcome.get("enrolled", 0), by_outcome.get("screen_failed", 0))


# ------------------------------------------------------------------ export records -> tables


def outcome_columns(protocol) -> list[tuple[str, str]]:
    """(instrument, visit id) of every outcome scale the schedule plans, in schedule order: the wide
    table's columns come from the protocol, never from the data."""
    columns = []
    for visit in protocol.schedule.visits:
        for form in visit.forms:
            name = instrument_name(form)
            if name in OUTCOME_INSTRUMENTS and (name, visit.id) not in columns:
                columns.append((name, visit.id))
    return columns


def wide_name(instrument: str, visit: str) -> str:
    return f"{instrument}_{visit}"


def _days(later, earlier) -> int | None:
    return (later - earlier).days if later and earlier else None


def analysis_tables(data, protocol, *, unblinded: bool) -> dict[str, pd.DataFrame]:
    """participants, outcomes (wide), adverse_events and screening from ``data`` (an ExportData).

    ``unblinded`` says whether the tables carry the ``arm`` column; a blinded call on records that
    hold an arm is refused, so a caller's slip cannot put an arm into a blinded file.
    """
    if not unblinded and any(s.arm_id for s in data.subjects):
        raise ValueError("blinded analysis tables asked of records that hold an arm")
    randomized = [s for s in data.subjects if s.randomized_on is not None]
    keep = {s.subject_id for s in randomized}
    participant_columns = [c for c in PARTICIPANT_COLUMNS if unblinded or c != "arm"]
    participants = pd.DataFrame(
        [
            {
                "participant_id": s.subject_id,
                "site": s.site_id,
                "arm": s.arm_id or "",
                "randomized_on": s.randomized_on.isoformat(),
                "baseline_nihss": s.baseline_nihss,
                "age": s.age,
                "sex": s.sex or "",
                "status": ANALYSIS_STATUS.get(s.status or "", "ongoing"),
            }
            for s in randomized
        ],
        columns=PARTICIPANT_COLUMNS,
    )[participant_columns]

    columns = outcome_columns(protocol)
    wanted = set(columns)
    totals: dict[str, dict[str, float]] = {}
    for f in data.forms:
        if f.status != "complete" or f.total is None or f.subject_id not in keep:
            continue
        key = (instrument_name(f.form), f.visit_id)
        if key in wanted:
            totals.setdefault(f.subject_id, {})[wide_name(*key)] = f.total
    wide_keys = [c for c in WIDE_KEYS if unblinded or c != "arm"]
    outcomes = participants.reindex(columns=wide_keys).copy()
    for instrument, visit in columns:
        name = wide_name(instrument, visit)
        outcomes[name] = pd.array(
            [totals.get(pid, {}).get(name) for pid in outcomes["participant_id"]], dtype="Float64"
        )
    anchors = {s.subject_id: s.anchor_date for s in randomized}
    adverse_events = pd.DataFrame(
        [
            {
                "participant_id": ae.subject_id,
                "term": ae.term,
                "grade": ae.grade,
                "serious": "true" if ae.serious else "false",
                "related": "true" if (ae.related or "") in RELATED else "false",
                "onset_day": _days(ae.onset_date, anchors.get(ae.subject_id)),
            }
            for ae in data.adverse_events
            if ae.subject_id in keep
        ],
        columns=AE_COLUMNS,
    )
    screening = pd.DataFrame(
        [
            {
                "screening_id": s.screening_id,
                "outcome": s.outcome,
                "reason": ";".join(s.reasons) if s.outcome == "screen_failed" else "",
            }
            for s in data.screenings
        ],
        columns=SCREENING_COLUMNS,
    )
    # Whole numbers stay whole in the CSV even where some are missing; totals are whole numbers
    # for every outcome scale (their items score in integers).
    for frame, names in (
        (participants, ("baseline_nihss", "age")),
        (outcomes, ("baseline_nihss", "age")),
        (adverse_events, ("grade", "onset_day")),
    ):
        for name in names:
            frame[name] = pd.array(frame[name].tolist(), dtype="Int64")
    for instrument, visit in columns:
        name = wide_name(instrument, visit)
        values = outcomes[name]
        if values.dropna().eq(values.dropna().round()).all():
            outcomes[name] = values.round().astype("Int64")
    return {
        "participants": participants,
        "outcomes": outcomes,
        "adverse_events": adverse_events,
        "screening": screening,
    }


def trial_data(tables: dict[str, pd.DataFrame]) -> TrialData:
    """The tables of ``analysis_tables`` as the report reads them (what ``load_trial_data`` returns
    for the same tables written as CSV)."""
    participants = tables["participants"].copy()
    if "arm" not in participants.columns:
        participants["arm"] = pd.NA
    participants["randomized_on"] = pd.to_datetime(participants["randomized_on"])
    return TrialData(
        participants, long_outcomes(tables["outcomes"]), tables["adverse_events"].copy(), tables["screening"].copy()
    )


def long_outcomes(wide: pd.DataFrame) -> pd.DataFrame:
    """The wide outcomes table as long rows (participant_id, visit, instrument, total)."""
    rows = []
    names = sorted(OUTCOME_INSTRUMENTS, key=len, reverse=True)  # "fma_ue" before a shorter prefix
    for column in wide.columns:
        instrument = next((n for n in names if column.startswith(n + "_")), None)
        if instrument is None or column in WIDE_KEYS:
            continue
        visit = column[len(instrument) + 1 :]
        part = wide[["participant_id", column]].dropna(subset=[column])
        rows += [(pid, visit, instrument, float(total)) for pid, total in zip(part["participant_id"], part[column])]
    return pd.DataFrame(rows, columns=["participant_id", "visit", "instrument", "total"])


# ------------------------------------------------------------------ writing files, a chunk at a time

TABLES = ("participants", "outcomes", "adverse_events", "screening")
_SEX_LABELS = {"F": "Female", "M": "Male", "U": "Unknown"}


def _labelled(table: pd.DataFrame, arm_labels: dict[str, str]) -> pd.DataFrame:
    table = table.copy()
    if "arm" in table.columns:
        table["arm"] = table["arm"].map(lambda a: arm_labels.get(a, a))
    if "sex" in table.columns:
        table["sex"] = table["sex"].map(lambda s: _SEX_LABELS.get(s, s))
    return table


def dictionary(protocol, *, unblinded: bool, labels: bool = False) -> pd.DataFrame:
    """The data dictionary of the analysis tables: every column, what it holds, its type and values."""
    from trialkit.instruments import get_instrument

    arm_values = "; ".join(f"{a.id} = {a.label}" for a in protocol.arms)
    sex = "Female; Male; Unknown" if labels else "F = Female; M = Male; U = Unknown"
    rows = [
        ("participant_id", "Participant number", "text", ""),
        ("site", "Site code", "text", ""),
        (
            "arm",
            "Arm allocated (unblinded extracts only)",
            "text",
            "; ".join(a.label for a in protocol.arms) if labels else arm_values,
        ),
        ("randomized_on", "Date of randomization", "date (YYYY-MM-DD)", ""),
        ("baseline_nihss", "NIHSS total at screening", "integer", "0–42"),
        ("age", "Age in completed years at screening", "integer", ""),
        ("sex", "Sex", "text", sex),
        (
            "status",
            "Follow-up status (death counts as completed: it is an outcome)",
            "text",
            "ongoing; completed; withdrawn; lost",
        ),
    ]
    out = [("participants", c, lab, typ, val) for c, lab, typ, val in rows if unblinded or c != "arm"]
    out += [("outcomes", c, lab, typ, val) for c, lab, typ, val in rows if c in WIDE_KEYS and (unblinded or c != "arm")]
    visits = {v.id: v for v in protocol.schedule.visits}
    for instrument, visit in outcome_columns(protocol):
        scale = get_instrument(instrument)
        assert scale.total_range is not None  # an outcome instrument has a range (framework.Instrument)
        low, high = scale.total_range
        out.append(
            (
                "outcomes",
                wide_name(instrument, visit),
                f"{scale.title} total at {visits[visit].label} (scheduled day {visits[visit].day}); "
                f"{scale.better} is better",
                "integer",
                f"{low}–{high}",
            )
        )
    out += [
        ("adverse_events", "participant_id", "Participant number", "text", ""),
        ("adverse_events", "term", "Adverse event term as reported", "text", ""),
        ("adverse_events", "grade", "CTCAE v5 grade", "integer", "1–5"),
        ("adverse_events", "serious", "Serious (ICH E2A)", "boolean", "true; false"),
        ("adverse_events", "related", "Possibly, probably or definitely related", "boolean", "true; false"),
        ("adverse_events", "onset_day", "Days from day 0 to the onset date (actual)", "integer", ""),
        ("screening", "screening_id", "Screening number", "text", ""),
        ("screening", "outcome", "Screening outcome", "text", "in_screening; enrolled; screen_failed; withdrawn"),
        ("screening", "reason", "Criteria failed (screen failures), separated by ';'", "text", ""),
    ]
    return pd.DataFrame(out, columns=["table", "column", "label", "type", "values"])


def write_tables(
    chunks: Iterable, out_dir: str | Path, protocol, *, unblinded: bool, labels: bool = False
) -> dict[str, int]:
    """Write the analysis tables of ``chunks`` (ExportData, one after another) as CSV files in
    ``out_dir``, one chunk at a time, plus ``dictionary.csv``; return the rows written per table.

    ``labels``: arm and sex as labels ("Placebo", "Female") instead of codes.
    """
    from trialkit.export.spreadsheet import inert_cell

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arm_labels = {a.id: a.label for a in protocol.arms}
    rows = dict.fromkeys(TABLES, 0)
    handles = {
        name: open(  # noqa: SIM115 — closed together in the finally below
            out_dir / f"{name}.csv", "w", newline="", encoding="utf-8"
        )
        for name in TABLES
    }
    try:
        first = True
        for chunk in chunks:
            tables = analysis_tables(chunk, protocol, unblinded=unblinded)
            for name in TABLES:
                table = _labelled(tables[name], arm_labels) if labels else tables[name]
                table.map(inert_cell).to_csv(handles[name], index=False, header=first)
                rows[name] += len(table)
            first = False
        if first:  # no chunk at all: the headers alone
            from trialkit.export import ExportData

            for name, table in analysis_tables(ExportData(), protocol, unblinded=unblinded).items():
                table.to_csv(handles[name], index=False)
    finally:
        for handle in handles.values():
            handle.close()
    dictionary(protocol, unblinded=unblinded, labels=labels).to_csv(out_dir / "dictionary.csv", index=False)
    return rows


# ------------------------------------------------------------------ reading files


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
                frames[name] = pd.read_csv(
                    path, dtype={"participant_id": str, "arm": str, "screening_id": str, "reason": str}
                )
            except (ValueError, pd.errors.ParserError) as exc:  # UnicodeDecodeError is a ValueError
                raise AnalysisInputError(f"--data: {path}: not a readable CSV table ({exc})") from None
    elif source.is_file():
        with source.open("rb") as handle:
            if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise AnalysisInputError(
                    f"--data: {source} is not an SQLite database; give a directory of CSV "
                    f"files ({', '.join(f'{n}.csv' for n in REQUIRED)}) or an SQLite file"
                )
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
    if "instrument" not in frames["outcomes"].columns and "participant_id" in frames["outcomes"].columns:
        frames["outcomes"] = long_outcomes(frames["outcomes"])  # the wide table of an export
    frames = {name: _check(name, frame) for name, frame in frames.items()}
    if "arm" not in frames["participants"].columns:
        frames["participants"]["arm"] = pd.NA  # a blinded extract
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
    mask = pd.Series(False, index=participants.index)
    if "arm" in participants:
        mask |= participants["arm"].notna() & (participants["arm"].astype(str).str.strip() != "")
    if "randomized_on" in participants:
        mask |= participants["randomized_on"].notna()
    return participants[mask]
