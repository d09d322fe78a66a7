"""The trial report: the protocol's analysis plan executed on its data, as HTML and PDF.

Blinded mode (the default) shows pooled results only: no arm names, no arm-level numbers, no figure
split by arm. Arm-level results (odds ratios, differences, tables by arm) are for the unblinded
DSMB statistician. The HTML is self-contained (figures as base64 PNG); the PDF holds the same tables
and figures, one per page (matplotlib PdfPages).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure as MplFigure

from trialkit.analysis import figures
from trialkit.analysis.ancova_model import ancova
from trialkit.analysis.errors import AnalysisInputError
from trialkit.analysis.ordinal_shift import dichotomized_mrs, mrs_shift
from trialkit.analysis.safety import events_by_term, safety_summary
from trialkit.analysis.trial_data import (
    TrialData,
    analysis_frame,
    outcome_columns,
    randomized_participants,
    screening_counts,
)
from trialkit.instruments import get_instrument

POOLED = "All participants"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list]


@dataclass
class Figure:
    title: str
    name: str
    png: bytes


@dataclass
class Section:
    id: str
    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    results: dict = field(default_factory=dict)


@dataclass
class Report:
    nct_id: str
    title: str
    unblinded: bool
    generated_on: date
    sections: list[Section]

    def to_dict(self) -> dict:
        return {
            "nct_id": self.nct_id,
            "unblinded": self.unblinded,
            "sections": [{"id": s.id, "title": s.title, "results": s.results} for s in self.sections],
        }


def _png(ax_or_fig) -> bytes:
    fig = ax_or_fig if isinstance(ax_or_fig, MplFigure) else ax_or_fig.figure
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if np.isnan(value):
            return "–"
        return f"{value:.{digits}g}" if abs(value) < 1e-3 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


# A model is fitted only with at least this many analysed participants in each arm; below it the
# report says so with the numbers (a two-arm comparison needs both arms represented, and a
# proportional odds or ANCOVA fit with one participant in an arm has no usable variance).
MIN_PER_ARM = 2


def scale_title(instrument: str) -> str:
    """The scale's published name ("modified Rankin Scale"), or the name given."""
    try:
        return get_instrument(instrument).title
    except KeyError:
        return instrument


def benefit(instrument: str) -> str:
    """The direction of benefit of a scale's total, as a sentence fragment."""
    try:
        better = get_instrument(instrument).better
    except KeyError:
        better = None
    return f"{better} {scale_title(instrument)} totals are better" if better else "direction of benefit not stated"


class NotEnoughData(AnalysisInputError):
    """Too few analysed participants in an arm to fit the model yet."""


class _Context:
    def __init__(self, protocol, data: TrialData, unblinded: bool):
        self.protocol = protocol
        self.data = data
        self.unblinded = unblinded
        self.arm_labels = {a.id: a.label for a in protocol.arms}
        self.visits = {v.id: v for v in protocol.schedule.visits}

    def visit_label(self, visit_id: str | None) -> str:
        return self.visits[visit_id].label if visit_id in self.visits else str(visit_id)

    def baseline_visit(self):
        """The visit change is measured from: the plan's (ANCOVA baseline_visit), else the schedule's
        baseline visit, else day 0."""
        named = next((a.baseline_visit for a in self.protocol.analysis_plan.analyses if a.baseline_visit), None)
        visits = self.protocol.schedule.visits
        return (
            self.visits.get(named)
            or next((v for v in visits if v.kind == "baseline"), None)
            or next((v for v in visits if v.day == 0), None)
        )

    def arm_pair(self, spec=None) -> tuple[str, str]:
        """(treatment, control) arm ids: the analysis' own, else from the protocol's arm types
        (the experimental arm against the comparator); never a name guessed from the data."""
        treatment = getattr(spec, "treatment_arm", None) or next(
            (a.id for a in self.protocol.arms if a.type == "EXPERIMENTAL"), self.protocol.arms[0].id
        )
        control = getattr(spec, "control_arm", None) or next(
            (a.id for a in self.protocol.arms if a.id != treatment and a.type != "EXPERIMENTAL"),
            next(a.id for a in self.protocol.arms if a.id != treatment),
        )
        return treatment, control

    def require(self, frame: pd.DataFrame, treatment: str, control: str, what: str) -> None:
        """NotEnoughData naming the n in each arm when either has fewer than MIN_PER_ARM."""
        counts = {arm: int((frame["arm"].astype(str) == arm).sum()) for arm in (treatment, control)}
        if min(counts.values()) < MIN_PER_ARM:
            shown = ", ".join(f"{self.arm_labels.get(a, a)} {n}" for a, n in counts.items())
            raise NotEnoughData(
                f"not enough data yet for {what} (n = {sum(counts.values())}: {shown}; "
                f"at least {MIN_PER_ARM} per arm needed)"
            )

    def groups(self, frame: pd.DataFrame, column: str) -> dict[str, np.ndarray]:
        """Values by arm label (unblinded) or pooled (blinded)."""
        if not self.unblinded:
            return {POOLED: frame[column].to_numpy()}
        return {
            self.arm_labels.get(a.id, a.id): frame.loc[frame["arm"] == a.id, column].to_numpy()
            for a in self.protocol.arms
        }


def _consort(ctx: _Context, spec) -> Section:
    data = ctx.data
    counts = screening_counts(data.screening["outcome"])
    screened = counts.screened
    failed = data.screening[data.screening["outcome"] == "screen_failed"]
    reasons = failed["reason"].fillna("unspecified").value_counts().head(4) if "reason" in failed else pd.Series()
    randomized = randomized_participants(data.participants)
    primary = next((a for a in ctx.protocol.analysis_plan.analyses if a.method in ("mrs_shift", "ancova")), None)
    analysed_ids = set()
    if primary is not None:
        analysed_ids = set(
            analysis_frame(data, primary.outcome, primary.visit, primary.baseline_visit)["participant_id"]
        )
    excluded_text = f"Excluded (n={len(failed)})" + "".join(f"\n  {r}: {c}" for r, c in reasons.items())
    enrollment = [f"Assessed for eligibility (n={screened})", excluded_text]
    groups = (
        [(ctx.arm_labels[a.id], randomized[randomized["arm"] == a.id]) for a in ctx.protocol.arms]
        if ctx.unblinded
        else [(POOLED, randomized)]
    )
    allocation = (
        [f"Randomized (n={len(randomized)})"]
        if not ctx.unblinded
        else [f"Allocated to {label} (n={len(rows)})" for label, rows in groups]
    )
    follow_up, analysis, table_rows = [], [], []
    for label, rows in groups:
        status = rows["status"].value_counts()
        lost, withdrawn, completed = (
            int(status.get("lost", 0)),
            int(status.get("withdrawn", 0)),
            int(status.get("completed", 0)),
        )
        analysed = int(rows["participant_id"].isin(analysed_ids).sum())
        follow_up.append(f"Completed (n={completed})\nWithdrew (n={withdrawn})\nLost to follow-up (n={lost})")
        analysis.append(f"Analysed (n={analysed})")
        table_rows.append([label, len(rows), completed, withdrawn, lost, analysed])
    ax = figures.consort_flow(
        [("Enrollment", enrollment), ("Allocation", allocation), ("Follow-up", follow_up), ("Analysis", analysis)]
    )
    section = Section(spec.id, "CONSORT flow")
    section.notes.append(
        f"Screened: every screening record (assessed for eligibility). Screen-fail rate: {counts.screen_fail_rate}."
    )
    if primary is not None:
        section.notes.append(
            f"Analysed: participants with {scale_title(primary.outcome)} at {ctx.visit_label(primary.visit)}."
        )
    section.tables.append(
        Table("Participant flow", ["Group", "Randomized", "Completed", "Withdrew", "Lost", "Analysed"], table_rows)
    )
    section.tables.append(
        Table(
            "Screening",
            [
                "Screened (assessed for eligibility)",
                "Still in screening",
                "Screen failures",
                "Screen-fail rate",
                "Randomized",
            ],
            [[screened, counts.in_screening, len(failed), counts.screen_fail_rate, len(randomized)]],
        )
    )
    section.figures.append(Figure("CONSORT flow diagram", "consort", _png(ax)))
    section.results = {
        "screened": screened,
        "screen_failed": len(failed),
        "randomized": len(randomized),
        "groups": {
            row[0]: dict(zip(["randomized", "completed", "withdrawn", "lost", "analysed"], row[1:]))
            for row in table_rows
        },
    }
    return section


def _mrs_shift(ctx: _Context, spec) -> Section:
    frame = analysis_frame(ctx.data, spec.outcome, spec.visit, covariates=spec.covariates)
    title = _title(ctx, spec)
    section = Section(spec.id, title)
    section.notes.append(f"Direction of benefit: {benefit(spec.outcome)} (0 no symptoms, 6 dead).")
    groups = ctx.groups(frame, spec.outcome)
    section.tables.append(
        Table(
            "mRS distribution (n)",
            ["Group", *[f"mRS {k}" for k in range(7)], "n"],
            [[g, *np.bincount(v.astype(int), minlength=7)[:7].tolist(), len(v)] for g, v in groups.items()],
        )
    )
    section.figures.append(
        Figure(f"Grotta bars, {title}", f"grotta-{spec.id}", _png(figures.grotta_bars(groups, title=title)))
    )
    if ctx.unblinded:
        treatment, control = ctx.arm_pair(spec)
        try:
            ctx.require(frame, treatment, control, "the proportional odds model")
            result = mrs_shift(frame, treatment, control, spec.outcome, spec.covariates)
        except AnalysisInputError as exc:
            section.notes.append(_not_yet(exc, frame))
            section.results = {"n": len(frame), "not_analysable": str(exc)}
            return section
        check = result.proportional_odds_check
        assert check is not None  # mrs_shift always runs the check
        section.notes.append(
            "Proportional odds model; common odds ratio of a better (lower) mRS with "
            f"{ctx.arm_labels[treatment]} vs {ctx.arm_labels[control]} (>1 favours treatment)"
            + (f", adjusted for {', '.join(spec.covariates)}" if spec.covariates else "")
            + "; Wald test."
        )
        if result.note:  # separation: no estimate exists, said in words rather than a placeholder interval
            section.notes.append(f"Common odds ratio: {result.note}.")
        ci = f"{_fmt(result.ci95[0])} – {_fmt(result.ci95[1])}" if result.ci95 else "–"
        section.tables.append(
            Table(
                "Common odds ratio",
                ["OR", "95% CI", "p", "n", "PO check p (LR, df)"],
                [
                    [
                        _fmt(result.common_odds_ratio),
                        ci,
                        _fmt(result.p_value),
                        result.n,
                        f"{_fmt(check.p_value)} ({check.df})",
                    ]
                ],
            )
        )
        section.results = result.to_dict()
    else:
        section.results = {
            "n": len(frame),
            "distribution": np.bincount(frame[spec.outcome].astype(int), minlength=7)[:7].tolist(),
        }
    return section


def _dichotomized(ctx: _Context, spec) -> Section:
    threshold = spec.threshold if spec.threshold is not None else 2
    frame = analysis_frame(ctx.data, spec.outcome, spec.visit)
    section = Section(spec.id, _title(ctx, spec))
    section.notes.append(f"Direction of benefit: {benefit(spec.outcome)}; mRS 0–{threshold} is a good outcome.")
    if ctx.unblinded:
        treatment, control = ctx.arm_pair(spec)
        try:
            ctx.require(frame, treatment, control, "the comparison of proportions")
            r = dichotomized_mrs(frame, treatment, control, spec.outcome, threshold)
        except AnalysisInputError as exc:
            section.notes.append(_not_yet(exc, frame))
            section.results = {"n": len(frame), "not_analysable": str(exc)}
            return section
        t_label, c_label = ctx.arm_labels[treatment], ctx.arm_labels[control]
        section.tables.append(
            Table(
                "Good outcome",
                ["Group", f"mRS 0–{threshold}", "n", "%"],
                [
                    [
                        t_label,
                        r.responders_treatment,
                        r.n_treatment,
                        _fmt(100 * r.responders_treatment / r.n_treatment, 3),
                    ],
                    [c_label, r.responders_control, r.n_control, _fmt(100 * r.responders_control / r.n_control, 3)],
                ],
            )
        )
        section.tables.append(
            Table(
                "Effect",
                ["Risk difference", "95% CI", "Odds ratio", "95% CI", "Fisher p"],
                [
                    [
                        _fmt(r.risk_difference),
                        f"{_fmt(r.risk_difference_ci95[0])} – {_fmt(r.risk_difference_ci95[1])}",
                        _fmt(r.odds_ratio),
                        f"{_fmt(r.odds_ratio_ci95[0])} – {_fmt(r.odds_ratio_ci95[1])}",
                        _fmt(r.p_value),
                    ]
                ],
            )
        )
        section.results = r.to_dict()
    else:
        good = int((frame[spec.outcome] <= threshold).sum())
        section.tables.append(Table("Good outcome", ["Group", f"mRS 0–{threshold}", "n"], [[POOLED, good, len(frame)]]))
        section.results = {"good": good, "n": len(frame)}
    return section


def _ancova(ctx: _Context, spec) -> Section:
    frame = analysis_frame(ctx.data, spec.outcome, spec.visit, spec.baseline_visit, spec.covariates)
    baseline = f"{spec.outcome}_baseline"
    frame["change"] = frame[spec.outcome] - frame[baseline]
    section = Section(spec.id, _title(ctx, spec))
    section.notes.append(f"Direction of benefit: {benefit(spec.outcome)}.")
    rows = []
    for label, _ in ctx.groups(frame, "change").items():
        part = (
            frame
            if label == POOLED
            else frame[frame["arm"] == next(a.id for a in ctx.protocol.arms if a.label == label)]
        )
        rows.append(
            [
                label,
                len(part),
                _fmt(part[baseline].mean()),
                _fmt(part[spec.outcome].mean()),
                _fmt(part["change"].mean()),
                _fmt(part["change"].std(ddof=1)),
            ]
        )
    section.tables.append(
        Table("Summary", ["Group", "n", "Baseline mean", "Follow-up mean", "Mean change", "SD change"], rows)
    )
    if ctx.unblinded:
        treatment, control = ctx.arm_pair(spec)
        try:
            ctx.require(frame, treatment, control, "the ANCOVA")
            r = ancova(frame, spec.outcome, baseline, treatment, control, spec.covariates)
        except AnalysisInputError as exc:
            section.notes.append(_not_yet(exc, frame))
            section.results = {"n": len(frame), "not_analysable": str(exc)}
            section.figures.append(_outcome_figure(ctx, spec.outcome))
            return section
        section.notes.append(
            f"ANCOVA of change adjusted for baseline {scale_title(spec.outcome)}; difference "
            f"{ctx.arm_labels[treatment]} minus {ctx.arm_labels[control]}."
        )
        section.tables.append(
            Table(
                "Adjusted difference",
                ["Difference", "95% CI", "p", "n"],
                [[_fmt(r.difference), f"{_fmt(r.ci95[0])} – {_fmt(r.ci95[1])}", _fmt(r.p_value), r.n]],
            )
        )
        section.results = r.to_dict()
    else:
        section.results = {"n": len(frame), "mean_change": float(frame["change"].mean())}
    section.figures.append(_outcome_figure(ctx, spec.outcome))
    return section


def _outcome_figure(ctx: _Context, instrument: str) -> Figure:
    data = ctx.data.outcomes[ctx.data.outcomes["instrument"] == instrument].merge(
        ctx.data.participants[["participant_id", "arm"]], on="participant_id"
    )
    day_of = {v.id: v.day for v in ctx.protocol.schedule.visits}
    data = data.assign(day=data["visit"].map(day_of))
    data["group"] = data["arm"].map(ctx.arm_labels) if ctx.unblinded else POOLED
    summary = data.groupby(["group", "day"])["total"].agg(["mean", "std", "count"]).reset_index()
    summary["se"] = summary["std"] / np.sqrt(summary["count"])
    summary = summary.rename(columns={"count": "n"})
    ax = figures.outcome_over_visits(summary, f"{scale_title(instrument)} ({benefit(instrument)})")
    return Figure(f"{scale_title(instrument)} over visits (scheduled day)", f"visits-{instrument}", _png(ax))


def _safety(ctx: _Context, spec) -> Section:
    section = Section(spec.id, "Safety by arm" if ctx.unblinded else "Safety (pooled)")
    rows = safety_summary(ctx.data.participants, ctx.data.adverse_events, ctx.unblinded, ctx.arm_labels)
    section.notes.append("Participants with at least one event; grades CTCAE v5; serious per ICH E2A.")
    section.tables.append(
        Table(
            "Adverse events",
            ["Group", "N", "Any AE", "AE events", "Any SAE", "SAE events", "Grade ≥3", "Related", "Deaths"],
            [
                [
                    r.group,
                    r.participants,
                    r.with_any_ae,
                    r.ae_events,
                    r.with_serious_ae,
                    r.serious_events,
                    r.with_grade3_or_more,
                    r.with_related_ae,
                    r.deaths,
                ]
                for r in rows
            ],
        )
    )
    terms = events_by_term(ctx.data.participants, ctx.data.adverse_events, ctx.unblinded, ctx.arm_labels)
    if not terms.empty:
        section.tables.append(
            Table(
                "Participants by AE term",
                ["Term", *terms.columns],
                [[term, *values] for term, values in zip(terms.index, terms.values.tolist())],
            )
        )
    grades = _worst_grades(ctx)
    if not grades.empty:
        section.tables.append(
            Table(
                "Participants by worst CTCAE grade",
                ["Group", *[f"Grade {g}" for g in grades.columns]],
                [[group, *values] for group, values in zip(grades.index, grades.values.tolist())],
            )
        )
        section.figures.append(
            Figure("Adverse events by worst grade", "ae-grades", _png(figures.adverse_events_by_grade(grades)))
        )
    serious = ctx.data.adverse_events[
        ctx.data.adverse_events["serious"].astype(str).str.lower().isin({"true", "1", "yes"})
    ]
    sae_terms = events_by_term(ctx.data.participants, serious, ctx.unblinded, ctx.arm_labels) if len(serious) else None
    if sae_terms is not None and not sae_terms.empty:
        section.tables.append(
            Table(
                "Participants by serious AE term",
                ["Term", *sae_terms.columns],
                [[t, *v] for t, v in zip(sae_terms.index, sae_terms.values.tolist())],
            )
        )
    section.results = {
        "rows": [r.to_dict() for r in rows],
        "worst_grade": {
            g: dict(zip(map(str, grades.columns), map(int, v))) for g, v in zip(grades.index, grades.values.tolist())
        },
    }
    return section


def _worst_grades(ctx: _Context) -> pd.DataFrame:
    """Participants by their worst CTCAE grade (columns 1–5) per arm (unblinded) or pooled."""
    events = ctx.data.adverse_events.merge(
        randomized_participants(ctx.data.participants)[["participant_id", "arm"]], on="participant_id"
    )
    events = events.assign(grade=pd.to_numeric(events["grade"], errors="coerce")).dropna(subset=["grade"])
    if events.empty:
        return pd.DataFrame()
    worst = events.groupby("participant_id").agg(grade=("grade", "max"), arm=("arm", "first"))
    worst["group"] = worst["arm"].map(ctx.arm_labels) if ctx.unblinded else POOLED
    table = worst.groupby(["group", "grade"]).size().unstack(fill_value=0)
    table = table.reindex(columns=[1, 2, 3, 4, 5], fill_value=0)
    table.columns = [int(c) for c in table.columns]
    return table


def _title(ctx: _Context, spec) -> str:
    """A heading people read: the scale and the visit, never an internal id."""
    visit = ctx.visit_label(spec.visit)
    if spec.method == "mrs_shift":
        return f"{scale_title(spec.outcome)}: shift analysis at {visit}"
    if spec.method == "dichotomized_mrs":
        threshold = spec.threshold if spec.threshold is not None else 2
        return f"{scale_title(spec.outcome)} 0–{threshold} (good outcome) at {visit}"
    if spec.method == "ancova":
        return f"{scale_title(spec.outcome)}: change from {ctx.visit_label(spec.baseline_visit)} to {visit}"
    return {"consort": "CONSORT flow", "safety": "Safety"}.get(spec.method, spec.id)


def _not_yet(exc: Exception, frame: pd.DataFrame) -> str:
    if isinstance(exc, NotEnoughData):  # its message states the n in each arm
        return f"{str(exc)[0].upper()}{str(exc)[1:]}."
    return f"Not enough data yet (n = {len(frame)}) to fit the model: {exc}."


def _baseline(ctx: _Context) -> Section:
    """Baseline characteristics by arm (unblinded) or pooled (blinded)."""
    section = Section("baseline", "Baseline characteristics")
    people = randomized_participants(ctx.data.participants)
    if ctx.unblinded:
        groups = [(ctx.arm_labels[a.id], people[people["arm"] == a.id]) for a in ctx.protocol.arms]
    else:
        groups = [(POOLED, people)]
    baseline_visit = ctx.baseline_visit().id if ctx.baseline_visit() is not None else None

    def mean_sd(values: pd.Series) -> str:
        values = pd.to_numeric(values, errors="coerce").dropna()
        if values.empty:
            return "–"
        sd = _fmt(float(values.std(ddof=1))) if len(values) > 1 else "–"
        return f"{_fmt(float(values.mean()))} ({sd}), n = {len(values)}"

    def median_iqr(values: pd.Series) -> str:
        values = pd.to_numeric(values, errors="coerce").dropna()
        if values.empty:
            return "–"
        q1, q3 = values.quantile([0.25, 0.75])
        return f"{_fmt(float(values.median()))} [{_fmt(float(q1))}–{_fmt(float(q3))}], n = {len(values)}"

    rows: list[list[Any]] = [
        ["Participants, n", *[len(g) for _, g in groups]],
        ["Age, years, mean (SD)", *[mean_sd(g["age"]) if "age" in g else "–" for _, g in groups]],
    ]
    if "sex" in people:
        rows.append(
            [
                "Female, n (%)",
                *[
                    f"{int((g['sex'] == 'F').sum())} ({_fmt(100 * (g['sex'] == 'F').sum() / len(g), 3)} %)"
                    if len(g)
                    else "–"
                    for _, g in groups
                ],
            ]
        )
    if "baseline_nihss" in people:
        rows.append(["NIHSS at screening, median [IQR]", *[median_iqr(g["baseline_nihss"]) for _, g in groups]])
    if baseline_visit is not None:
        for instrument, visit in outcome_columns(ctx.protocol):
            if visit != baseline_visit:
                continue
            values = ctx.data.outcomes[
                (ctx.data.outcomes["instrument"] == instrument) & (ctx.data.outcomes["visit"] == visit)
            ]
            rows.append(
                [
                    f"{scale_title(instrument)} at {ctx.visit_label(visit)}, mean (SD)",
                    *[mean_sd(values[values["participant_id"].isin(g["participant_id"])]["total"]) for _, g in groups],
                ]
            )
    section.tables.append(Table("Baseline characteristics", ["Characteristic", *[label for label, _ in groups]], rows))
    section.results = {"rows": rows}
    return section


def _by_visit(ctx: _Context) -> Section:
    """Every outcome scale at every follow-up visit: the shift analysis for the mRS, the ANCOVA of
    change from baseline for the others, with effect, 95% CI and p (unblinded), and a forest plot."""
    section = Section("endpoints-by-visit", "Outcomes at every visit")
    baseline_visit = ctx.baseline_visit()
    shift_spec = next((a for a in ctx.protocol.analysis_plan.analyses if a.method == "mrs_shift"), None)
    covariates = list(shift_spec.covariates) if shift_spec is not None else []
    treatment, control = ctx.arm_pair(shift_spec)
    if ctx.unblinded:
        section.notes.append(
            f"{ctx.arm_labels[treatment]} against {ctx.arm_labels[control]}. mRS: common odds ratio of a better "
            "(lower) mRS, proportional odds model"
            + (f" adjusted for {', '.join(covariates)}" if covariates else "")
            + "; other scales: ANCOVA of change from baseline adjusted for baseline, difference treatment minus "
            "control. Forest plot: odds ratios on a log axis; differences standardized by the SD of change and "
            "signed so that right favours treatment for every scale."
        )
    columns = ["Scale", "Visit", "Direction of benefit", "n"]
    columns += ["Effect", "95% CI", "p"] if ctx.unblinded else ["Mean"]
    rows, forest, results = [], [], []
    for instrument, visit_id in outcome_columns(ctx.protocol):
        visit = ctx.visits[visit_id]
        if baseline_visit is None or visit.day <= baseline_visit.day:
            continue
        label = f"{scale_title(instrument)}, {visit.label}"
        direction = f"{get_instrument(instrument).better} is better"
        if instrument == "mrs":
            frame = analysis_frame(ctx.data, instrument, visit_id, covariates=covariates)
        else:
            frame = analysis_frame(ctx.data, instrument, visit_id, baseline_visit.id)
        entry = {"instrument": instrument, "visit": visit_id, "n": len(frame)}
        if not ctx.unblinded:
            mean = float(frame[instrument].mean()) if len(frame) else None
            rows.append([scale_title(instrument), visit.label, direction, len(frame), _fmt(mean)])
            results.append(entry | {"mean": mean})
            continue
        try:
            ctx.require(frame, treatment, control, "a model")
            if instrument == "mrs":
                shift = mrs_shift(frame, treatment, control, instrument, covariates)
                if shift.common_odds_ratio is None or shift.ci95 is None:  # separation: the documented null
                    rows.append(
                        [
                            scale_title(instrument),
                            visit.label,
                            direction,
                            shift.n,
                            f"no odds ratio: {shift.note}",
                            "",
                            "",
                        ]
                    )
                    results.append(entry | {"not_estimable": shift.note})
                    continue
                n, effect, ci, p = shift.n, shift.common_odds_ratio, shift.ci95, shift.p_value
                forest.append(
                    {"label": label, "estimate": effect, "low": ci[0], "high": ci[1], "null": 1.0, "kind": "ratio"}
                )
                shown = f"OR {_fmt(effect)}"
            else:
                fitted = ancova(frame, instrument, f"{instrument}_baseline", treatment, control)
                n, effect, ci, p = fitted.n, fitted.difference, fitted.ci95, fitted.p_value
                change = frame[instrument] - frame[f"{instrument}_baseline"]
                sd = float(change.std(ddof=1))
                sign = -1.0 if get_instrument(instrument).better == "lower" else 1.0
                if sd > 0:
                    ends = sorted((sign * ci[0] / sd, sign * ci[1] / sd))
                    forest.append(
                        {
                            "label": label,
                            "estimate": sign * effect / sd,
                            "low": ends[0],
                            "high": ends[1],
                            "null": 0.0,
                            "kind": "difference",
                        }
                    )
                shown = f"difference {_fmt(effect)}"
            rows.append(
                [scale_title(instrument), visit.label, direction, n, shown, f"{_fmt(ci[0])} – {_fmt(ci[1])}", _fmt(p)]
            )
            results.append(entry | {"effect": effect, "ci95": list(ci), "p_value": p})
        except AnalysisInputError as exc:
            note = _not_yet(exc, frame)
            rows.append([scale_title(instrument), visit.label, direction, len(frame), note, "", ""])
            results.append(entry | {"not_analysable": str(exc)})
    section.tables.append(Table("Outcomes by visit", columns, rows))
    if ctx.unblinded:
        section.figures.append(
            Figure("Forest plot of every outcome at every visit", "forest", _png(figures.forest_plot(forest)))
        )
    section.results = {"rows": results}
    return section


def _observed_z(ctx: _Context, spec) -> tuple[float | None, int]:
    """The standardized statistic of the monitored analysis on the data now, and its n."""
    from scipy import stats

    if spec.method == "mrs_shift":
        frame = analysis_frame(ctx.data, spec.outcome, spec.visit, covariates=spec.covariates)
        result = mrs_shift(frame, spec.treatment_arm, spec.control_arm, spec.outcome, spec.covariates)
        return result.z, result.n
    if spec.method == "ancova":
        frame = analysis_frame(ctx.data, spec.outcome, spec.visit, spec.baseline_visit, spec.covariates)
        r = ancova(
            frame, spec.outcome, f"{spec.outcome}_baseline", spec.treatment_arm, spec.control_arm, spec.covariates
        )
        return r.difference / r.standard_error, r.n
    threshold = spec.threshold if spec.threshold is not None else 2
    frame = analysis_frame(ctx.data, spec.outcome, spec.visit)
    d = dichotomized_mrs(frame, spec.treatment_arm, spec.control_arm, spec.outcome, threshold)
    # Fisher's exact test has no z: its two-sided p as a normal deviate, signed by the risk difference.
    return float(np.sign(d.risk_difference) * stats.norm.isf(d.p_value / 2)), d.n


def _interim(ctx: _Context) -> Section | None:
    """Group-sequential boundaries of the protocol's looks with the observed statistic (DSMB only)."""
    from trialkit.analysis.group_sequential import SPENDING_LABELS, boundaries, monitor

    interim = ctx.protocol.analysis_plan.interim
    if interim is None or not ctx.unblinded:
        return None
    alpha = ctx.protocol.analysis_plan.alpha
    spec = next(a for a in ctx.protocol.analysis_plan.analyses if a.id == interim.analysis)
    section = Section("interim-monitoring", f"Interim monitoring: {spec.id}")
    sided = "two-sided" if interim.sides == 2 else "one-sided"
    section.notes.append(
        f"{SPENDING_LABELS[interim.spending]} alpha spending, {sided} alpha {_fmt(alpha)}, boundaries by recursive "
        "numerical integration (Armitage, McPherson and Rowe 1969). Stop for efficacy when |Z| reaches the boundary."
    )
    planned = boundaries(interim.information_fractions, interim.spending, alpha, interim.sides)
    section.tables.append(
        Table(
            "Planned looks",
            ["Look", "Information fraction", "Boundary |Z|", "Nominal p", "Cumulative alpha"],
            [
                [
                    look.number,
                    _fmt(look.information_fraction),
                    _fmt(look.z, 4),
                    _fmt(look.nominal_p, 3),
                    _fmt(look.alpha_spent, 3),
                ]
                for look in planned.looks
            ],
        )
    )
    target = ctx.protocol.registry.enrollment.count
    try:
        z, n = _observed_z(ctx, spec)
    except AnalysisInputError as exc:
        section.notes.append(f"No observed statistic yet: {exc}")
        section.results = {"planned": planned.as_dict()}
        return section
    # Information grows with the number analysed: the fraction is n now over the planned enrollment.
    fraction = min(1.0, n / target)
    earlier = [t for t in interim.information_fractions if t < fraction - 1e-9]
    current = monitor(
        boundaries([*earlier, fraction], interim.spending, alpha, interim.sides), [None] * len(earlier) + [z]
    )
    look = current.boundaries.looks[-1]
    crossed = z is not None and abs(z) >= look.z if interim.sides == 2 else z is not None and z >= look.z
    section.notes.append(
        f"This look: {n} of {target} planned participants analysed (information fraction {_fmt(fraction)}), after "
        f"{len(earlier)} earlier look(s) taken as planned. Boundary recomputed at this fraction by the spending function."
    )
    section.tables.append(
        Table(
            "This look",
            ["Information fraction", "Boundary |Z|", "Observed Z", "Boundary reached"],
            [[_fmt(fraction), _fmt(look.z, 4), _fmt(z, 4), "yes" if crossed else "no"]],
        )
    )
    section.figures.append(
        Figure(
            "Boundaries and observed statistic",
            "interim-boundaries",
            _png(figures.group_sequential_boundaries(planned, fraction, z)),
        )
    )
    section.results = {
        "planned": planned.as_dict(),
        "current": current.as_dict(),
        "information_fraction": fraction,
        "observed_z": z,
        "n": n,
        "boundary_reached": bool(crossed),
    }
    return section


BUILDERS = {
    "consort": _consort,
    "mrs_shift": _mrs_shift,
    "dichotomized_mrs": _dichotomized,
    "ancova": _ancova,
    "safety": _safety,
}


def build_report(protocol, data: TrialData, unblinded: bool = False, today: date | None = None) -> Report:
    """Execute the protocol's analysis plan on ``data``."""
    ctx = _Context(protocol, data, unblinded)
    sections = []
    enrollment = Section("enrollment", "Enrollment")
    ax = figures.enrollment_over_time(data.participants["randomized_on"], protocol.registry.enrollment.count)
    enrollment.figures.append(Figure("Enrollment over time", "enrollment", _png(ax)))
    enrollment.results = {
        "randomized": len(randomized_participants(data.participants)),
        "target": protocol.registry.enrollment.count,
    }
    sections.append(enrollment)
    sections.append(_baseline(ctx))
    for spec in protocol.analysis_plan.analyses:
        try:
            sections.append(BUILDERS[spec.method](ctx, spec))
        except AnalysisInputError as exc:
            sections.append(Section(spec.id, _title(ctx, spec), notes=[f"Not analysable: {exc}"]))
    sections.append(_by_visit(ctx))
    interim = _interim(ctx)
    if interim is not None:
        sections.append(interim)
    return Report(protocol.registry.nct_id, protocol.registry.brief_title, unblinded, today or date.today(), sections)


def render_html(report: Report) -> str:
    mode = (
        "UNBLINDED — for the DSMB statistician; arm-level results"
        if report.unblinded
        else "Blinded — pooled results only"
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(report.nct_id)} report</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1em}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
        "th{background:#eee}td:first-child{text-align:left}img{max-width:100%}.mode{font-weight:bold}</style>",
        "</head><body>",
        f"<h1>{html.escape(report.nct_id)}: {html.escape(report.title)}</h1>",
        f"<p class='mode'>{html.escape(mode)}</p><p>Generated {report.generated_on.isoformat()}.</p>",
    ]
    for section in report.sections:
        parts.append(f"<section id='{html.escape(section.id)}'><h2>{html.escape(section.title)}</h2>")
        parts += [f"<p>{html.escape(note)}</p>" for note in section.notes]
        for table in section.tables:
            parts.append(
                f"<table><caption>{html.escape(table.title)}</caption><tr>"
                + "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
                + "</tr>"
            )
            for row in table.rows:
                parts.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
            parts.append("</table>")
        for fig in section.figures:
            encoded = base64.b64encode(fig.png).decode("ascii")
            parts.append(
                f"<figure><img alt='{html.escape(fig.title)}' src='data:image/png;base64,{encoded}'>"
                f"<figcaption>{html.escape(fig.title)}</figcaption></figure>"
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_pdf(report: Report, path: Path) -> None:
    with PdfPages(path) as pdf:
        for section in report.sections:
            for table in section.tables:
                height = 1.2 + 0.3 * (len(table.rows) + 1)
                fig = MplFigure(figsize=(8.27, height))
                ax = fig.subplots()
                ax.axis("off")
                ax.set_title(f"{section.title}: {table.title}", fontsize=10)
                if table.rows:
                    drawn = ax.table(
                        cellText=[[str(v) for v in row] for row in table.rows],
                        colLabels=[str(c) for c in table.columns],
                        loc="center",
                    )
                    drawn.auto_set_font_size(False)
                    drawn.set_fontsize(7)
                pdf.savefig(fig)
            for figure in section.figures:
                image = matplotlib.image.imread(io.BytesIO(figure.png), format="png")
                fig = MplFigure(figsize=(8.27, 8.27 * image.shape[0] / image.shape[1] + 0.4))
                ax = fig.add_axes((0, 0, 1, 0.95))
                ax.imshow(image)
                ax.axis("off")
                fig.suptitle(figure.title, fontsize=10)
                pdf.savefig(fig)


def write_report(
    protocol, data: TrialData, out_dir: str | Path, unblinded: bool = False, figures_alongside: bool = True
) -> dict[str, Path | Report]:
    """Write ``report.html`` (self-contained), ``report.pdf`` and the figures as PNG files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = build_report(protocol, data, unblinded)
    stem = f"{report.nct_id}-{'unblinded' if unblinded else 'blinded'}"
    html_path = out_dir / f"{stem}.html"
    pdf_path = out_dir / f"{stem}.pdf"
    html_path.write_text(render_html(report), encoding="utf-8")
    write_pdf(report, pdf_path)
    written = {"html": html_path, "pdf": pdf_path}
    if figures_alongside:
        for section in report.sections:
            for fig in section.figures:
                path = out_dir / f"{stem}-{fig.name}.png"
                path.write_bytes(fig.png)
                written[fig.name] = path
    return written | {"report": report}
