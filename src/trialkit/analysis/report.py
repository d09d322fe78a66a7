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

import matplotlib.image
import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure as MplFigure

from trialkit.analysis import figures
from trialkit.analysis.ancova import ancova
from trialkit.analysis.ordinal_shift import AnalysisInputError, dichotomized_mrs, mrs_shift
from trialkit.analysis.safety import events_by_term, safety_summary
from trialkit.analysis.trial_data import TrialData, analysis_frame, randomized_participants

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


class _Context:
    def __init__(self, protocol, data: TrialData, unblinded: bool):
        self.protocol = protocol
        self.data = data
        self.unblinded = unblinded
        self.arm_labels = {a.id: a.label for a in protocol.arms}
        self.visits = {v.id: v for v in protocol.schedule.visits}

    def visit_label(self, visit_id: str | None) -> str:
        return self.visits[visit_id].label if visit_id in self.visits else str(visit_id)

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
    screened = len(data.screening)
    failed = data.screening[data.screening["outcome"] == "screen_failed"]
    reasons = failed["reason"].fillna("unspecified").value_counts().head(4) if "reason" in failed else pd.Series()
    randomized = randomized_participants(data.participants)
    primary = next((a for a in ctx.protocol.analysis_plan.analyses if a.method in ("mrs_shift", "ancova")), None)
    analysed_ids = set()
    if primary is not None:
        analysed_ids = set(analysis_frame(data, primary.outcome, primary.visit, primary.baseline_visit)["participant_id"])
    excluded_text = f"Excluded (n={len(failed)})" + "".join(f"\n  {r}: {c}" for r, c in reasons.items())
    enrollment = [f"Assessed for eligibility (n={screened})", excluded_text]
    groups = (
        [(ctx.arm_labels[a.id], randomized[randomized["arm"] == a.id]) for a in ctx.protocol.arms]
        if ctx.unblinded
        else [(POOLED, randomized)]
    )
    allocation = [f"Randomized (n={len(randomized)})"] if not ctx.unblinded else [
        f"Allocated to {label} (n={len(rows)})" for label, rows in groups
    ]
    follow_up, analysis, table_rows = [], [], []
    for label, rows in groups:
        status = rows["status"].value_counts()
        lost, withdrawn, completed = int(status.get("lost", 0)), int(status.get("withdrawn", 0)), int(status.get("completed", 0))
        analysed = int(rows["participant_id"].isin(analysed_ids).sum())
        follow_up.append(f"Completed (n={completed})\nWithdrew (n={withdrawn})\nLost to follow-up (n={lost})")
        analysis.append(f"Analysed (n={analysed})")
        table_rows.append([label, len(rows), completed, withdrawn, lost, analysed])
    ax = figures.consort_flow(
        [("Enrollment", enrollment), ("Allocation", allocation), ("Follow-up", follow_up), ("Analysis", analysis)]
    )
    section = Section(spec.id, "CONSORT flow")
    if primary is not None:
        section.notes.append(f"Analysed: participants with {primary.outcome} at {ctx.visit_label(primary.visit)}.")
    section.tables.append(
        Table("Participant flow", ["Group", "Randomized", "Completed", "Withdrew", "Lost", "Analysed"], table_rows)
    )
    section.tables.append(
        Table("Screening", ["Assessed", "Screen failures", "Randomized"], [[screened, len(failed), len(randomized)]])
    )
    section.figures.append(Figure("CONSORT flow diagram", "consort", _png(ax)))
    section.results = {"screened": screened, "screen_failed": len(failed), "randomized": len(randomized),
                       "groups": {row[0]: dict(zip(["randomized", "completed", "withdrawn", "lost", "analysed"], row[1:]))
                                  for row in table_rows}}
    return section


def _mrs_shift(ctx: _Context, spec) -> Section:
    frame = analysis_frame(ctx.data, spec.outcome, spec.visit, covariates=spec.covariates)
    title = f"mRS shift at {ctx.visit_label(spec.visit)}"
    section = Section(spec.id, title)
    groups = ctx.groups(frame, spec.outcome)
    section.tables.append(
        Table("mRS distribution (n)", ["Group", *[f"mRS {k}" for k in range(7)], "n"],
              [[g, *np.bincount(v.astype(int), minlength=7)[:7].tolist(), len(v)] for g, v in groups.items()])
    )
    section.figures.append(Figure(f"Grotta bars, {title}", f"grotta-{spec.id}", _png(figures.grotta_bars(groups, title=title))))
    if ctx.unblinded:
        result = mrs_shift(frame, spec.treatment_arm, spec.control_arm, spec.outcome, spec.covariates)
        check = result.proportional_odds_check
        assert check is not None  # mrs_shift always runs the check
        section.notes.append(
            "Proportional odds model; common odds ratio of a better (lower) mRS with "
            f"{ctx.arm_labels[spec.treatment_arm]} vs {ctx.arm_labels[spec.control_arm]} (>1 favours treatment)"
            + (f", adjusted for {', '.join(spec.covariates)}" if spec.covariates else "") + "; Wald test."
        )
        section.tables.append(Table("Common odds ratio", ["OR", "95% CI", "p", "n", "PO check p (LR, df)"], [[
            _fmt(result.common_odds_ratio), f"{_fmt(result.ci95[0])} – {_fmt(result.ci95[1])}", _fmt(result.p_value),
            result.n, f"{_fmt(check.p_value)} ({check.df})"]]))
        section.results = result.to_dict()
    else:
        section.results = {"n": len(frame), "distribution": np.bincount(frame[spec.outcome].astype(int), minlength=7)[:7].tolist()}
    return section


def _dichotomized(ctx: _Context, spec) -> Section:
    threshold = spec.threshold if spec.threshold is not None else 2
    frame = analysis_frame(ctx.data, spec.outcome, spec.visit)
    section = Section(spec.id, f"mRS 0–{threshold} at {ctx.visit_label(spec.visit)}")
    if ctx.unblinded:
        r = dichotomized_mrs(frame, spec.treatment_arm, spec.control_arm, spec.outcome, threshold)
        t_label, c_label = ctx.arm_labels[spec.treatment_arm], ctx.arm_labels[spec.control_arm]
        section.tables.append(Table("Good outcome", ["Group", f"mRS 0–{threshold}", "n", "%"], [
            [t_label, r.responders_treatment, r.n_treatment, _fmt(100 * r.responders_treatment / r.n_treatment, 3)],
            [c_label, r.responders_control, r.n_control, _fmt(100 * r.responders_control / r.n_control, 3)]]))
        section.tables.append(Table("Effect", ["Risk difference", "95% CI", "Odds ratio", "95% CI", "Fisher p"], [[
            _fmt(r.risk_difference), f"{_fmt(r.risk_difference_ci95[0])} – {_fmt(r.risk_difference_ci95[1])}",
            _fmt(r.odds_ratio), f"{_fmt(r.odds_ratio_ci95[0])} – {_fmt(r.odds_ratio_ci95[1])}", _fmt(r.p_value)]]))
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
    section = Section(spec.id, f"Change in {spec.outcome} from {ctx.visit_label(spec.baseline_visit)} to {ctx.visit_label(spec.visit)}")
    rows = []
    for label, _ in ctx.groups(frame, "change").items():
        part = frame if label == POOLED else frame[frame["arm"] == next(a.id for a in ctx.protocol.arms if a.label == label)]
        rows.append([label, len(part), _fmt(part[baseline].mean()), _fmt(part[spec.outcome].mean()), _fmt(part["change"].mean()),
                     _fmt(part["change"].std(ddof=1))])
    section.tables.append(Table("Summary", ["Group", "n", "Baseline mean", "Follow-up mean", "Mean change", "SD change"], rows))
    if ctx.unblinded:
        r = ancova(frame, spec.outcome, baseline, spec.treatment_arm, spec.control_arm, spec.covariates)
        section.notes.append(f"ANCOVA of change adjusted for baseline {spec.outcome}; difference "
                             f"{ctx.arm_labels[spec.treatment_arm]} minus {ctx.arm_labels[spec.control_arm]}.")
        section.tables.append(Table("Adjusted difference", ["Difference", "95% CI", "p", "n"], [[
            _fmt(r.difference), f"{_fmt(r.ci95[0])} – {_fmt(r.ci95[1])}", _fmt(r.p_value), r.n]]))
        section.results = r.to_dict()
    else:
        section.results = {"n": len(frame), "mean_change": float(frame["change"].mean())}
    section.figures.append(_outcome_figure(ctx, spec.outcome))
    return section


def _outcome_figure(ctx: _Context, instrument: str) -> Figure:
    data = ctx.data.outcomes[ctx.data.outcomes["instrument"] == instrument].merge(
        ctx.data.participants[["participant_id", "arm"]], on="participant_id")
    day_of = {v.id: v.day for v in ctx.protocol.schedule.visits}
    data = data.assign(day=data["visit"].map(day_of))
    data["group"] = data["arm"].map(ctx.arm_labels) if ctx.unblinded else POOLED
    summary = data.groupby(["group", "day"])["total"].agg(["mean", "std", "count"]).reset_index()
    summary["se"] = summary["std"] / np.sqrt(summary["count"])
    summary = summary.rename(columns={"count": "n"})
    ax = figures.outcome_over_visits(summary, instrument)
    return Figure(f"{instrument} over visits", f"visits-{instrument}", _png(ax))


def _safety(ctx: _Context, spec) -> Section:
    section = Section(spec.id, "Safety")
    rows = safety_summary(ctx.data.participants, ctx.data.adverse_events, ctx.unblinded, ctx.arm_labels)
    section.notes.append("Participants with at least one event; grades CTCAE v5; serious per ICH E2A.")
    section.tables.append(Table("Adverse events", ["Group", "N", "Any AE", "AE events", "Any SAE", "SAE events",
                                                   "Grade ≥3", "Related", "Deaths"],
                                [[r.group, r.participants, r.with_any_ae, r.ae_events, r.with_serious_ae,
                                  r.serious_events, r.with_grade3_or_more, r.with_related_ae, r.deaths] for r in rows]))
    terms = events_by_term(ctx.data.participants, ctx.data.adverse_events, ctx.unblinded, ctx.arm_labels)
    if not terms.empty:
        section.tables.append(Table("Participants by AE term", ["Term", *terms.columns],
                                    [[term, *values] for term, values in zip(terms.index, terms.values.tolist())]))
    section.results = {"rows": [r.to_dict() for r in rows]}
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
        r = ancova(frame, spec.outcome, f"{spec.outcome}_baseline", spec.treatment_arm, spec.control_arm, spec.covariates)
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
    section.tables.append(Table("Planned looks", ["Look", "Information fraction", "Boundary |Z|", "Nominal p",
                                                  "Cumulative alpha"],
                                [[look.number, _fmt(look.information_fraction), _fmt(look.z, 4), _fmt(look.nominal_p, 3),
                                  _fmt(look.alpha_spent, 3)] for look in planned.looks]))
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
    current = monitor(boundaries([*earlier, fraction], interim.spending, alpha, interim.sides),
                      [None] * len(earlier) + [z])
    look = current.boundaries.looks[-1]
    crossed = z is not None and abs(z) >= look.z if interim.sides == 2 else z is not None and z >= look.z
    section.notes.append(
        f"This look: {n} of {target} planned participants analysed (information fraction {_fmt(fraction)}), after "
        f"{len(earlier)} earlier look(s) taken as planned. Boundary recomputed at this fraction by the spending function."
    )
    section.tables.append(Table("This look", ["Information fraction", "Boundary |Z|", "Observed Z", "Boundary reached"],
                                [[_fmt(fraction), _fmt(look.z, 4), _fmt(z, 4), "yes" if crossed else "no"]]))
    section.figures.append(Figure("Boundaries and observed statistic", "interim-boundaries",
                                  _png(figures.group_sequential_boundaries(planned, fraction, z))))
    section.results = {"planned": planned.as_dict(), "current": current.as_dict(), "information_fraction": fraction,
                       "observed_z": z, "n": n, "boundary_reached": bool(crossed)}
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
    enrollment.results = {"randomized": len(randomized_participants(data.participants)),
                          "target": protocol.registry.enrollment.count}
    sections.append(enrollment)
    for spec in protocol.analysis_plan.analyses:
        try:
            sections.append(BUILDERS[spec.method](ctx, spec))
        except AnalysisInputError as exc:
            sections.append(Section(spec.id, spec.id, notes=[f"Not analysable: {exc}"]))
    interim = _interim(ctx)
    if interim is not None:
        sections.append(interim)
    return Report(protocol.registry.nct_id, protocol.registry.brief_title, unblinded, today or date.today(), sections)


def render_html(report: Report) -> str:
    mode = ("UNBLINDED — for the DSMB statistician; arm-level results" if report.unblinded
            else "Blinded — pooled results only")
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
            parts.append(f"<table><caption>{html.escape(table.title)}</caption><tr>"
                         + "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns) + "</tr>")
            for row in table.rows:
                parts.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
            parts.append("</table>")
        for fig in section.figures:
            encoded = base64.b64encode(fig.png).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(fig.title)}' src='data:image/png;base64,{encoded}'>"
                         f"<figcaption>{html.escape(fig.title)}</figcaption></figure>")
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
                    drawn = ax.table(cellText=[[str(v) for v in row] for row in table.rows],
                                     colLabels=[str(c) for c in table.columns], loc="center")
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


def write_report(protocol, data: TrialData, out_dir: str | Path, unblinded: bool = False,
                 figures_alongside: bool = True) -> dict[str, Path | Report]:
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
