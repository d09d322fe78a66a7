"""Figures of a trial report (matplotlib): Grotta bars, CONSORT flow, enrollment, outcome over visits.

Each function takes ``ax=None``, draws, and returns the axes; ``groups`` maps a display label to the
data of that group, so a blinded report passes one pooled group and an unblinded one passes each arm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

# Grotta bars: mRS 0–6 from green (no symptoms) to black (dead), the usual reading order
# (Grotta bars after the NINDS rt-PA trial presentation, NEJM 1995;333:1581).
MRS_COLOURS = ["#1a9850", "#66bd63", "#a6d96a", "#fee08b", "#fdae61", "#f46d43", "#3b3b3b"]


def _axes(ax, size=(7, 3)):
    if ax is None:
        # A Figure of its own, not pyplot: no global state shared between threads or jobs.
        ax = Figure(figsize=size).subplots()
    return ax


def grotta_bars(groups: Mapping[str, Sequence[int] | np.ndarray], ax=None, title: str = "mRS distribution"):
    """One horizontal bar per group, split into mRS 0..6 percentages (0–100 % axis, the same unit as
    the numbers written in the bars)."""
    ax = _axes(ax, (8, 1.2 + 0.7 * len(groups)))
    labels = list(groups)
    for row, label in enumerate(labels):
        counts = np.bincount(np.asarray(groups[label], dtype=int), minlength=7)[:7]
        shares = 100 * counts / max(int(counts.sum()), 1)
        left = 0.0
        for level, share in enumerate(shares):
            ax.barh(row, share, left=left, color=MRS_COLOURS[level], edgecolor="white")
            if share >= 4:
                ax.text(
                    left + share / 2,
                    row,
                    f"{share:.0f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if level in (0, 5, 6) else "black",
                )
            left += share
    ax.set_yticks(range(len(labels)), [f"{label} (n={len(groups[label])})" for label in labels])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of participants")
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in MRS_COLOURS]
    ax.legend(
        handles,
        [f"mRS {k}" for k in range(7)],
        ncol=7,
        fontsize=7,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        frameon=False,
    )
    ax.set_title(title, pad=22)
    return ax


def consort_flow(stages: Sequence[tuple[str, Sequence[str]]], ax=None):
    """CONSORT 2010 flow (Schulz et al., BMJ 2010;340:c332): stages top to bottom, boxes side by side.

    ``stages`` = [(stage name, [box text, ...]), ...], e.g. enrollment, allocation, follow-up, analysis.
    """
    ax = _axes(ax, (8, 1.6 * len(stages) + 0.5))
    n_stages = len(stages)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, n_stages)
    ax.axis("off")
    for row, (stage, boxes) in enumerate(stages):
        y = n_stages - row - 0.5
        ax.text(0.01, y, stage, rotation=90, va="center", ha="left", fontsize=9, weight="bold")
        width = 0.85 / len(boxes)
        for col, text in enumerate(boxes):
            x = 0.1 + width * (col + 0.5)
            ax.text(
                x,
                y,
                text,
                ha="center",
                va="center",
                fontsize=8,
                wrap=True,
                bbox=dict(boxstyle="round,pad=0.4", fc="#f4f4f4", ec="#333333"),
            )
        if row < n_stages - 1:
            ax.annotate(
                "", xy=(0.55, y - 0.62), xytext=(0.55, y - 0.38), arrowprops=dict(arrowstyle="->", color="#333333")
            )
    return ax


def enrollment_over_time(dates: pd.Series, target: int | None = None, ax=None):
    """Cumulative randomized participants by date, with the target enrollment if given."""
    ax = _axes(ax, (7, 3))
    ordered = pd.to_datetime(dates).sort_values().reset_index(drop=True)
    ax.step(ordered, np.arange(1, len(ordered) + 1), where="post")
    if target:
        ax.axhline(target, color="grey", ls="--", lw=0.8)
        ax.text(ordered.iloc[0], target, f" target {target}", va="bottom", fontsize=8)
    ax.set_ylabel("randomized (cumulative)")
    ax.set_title("Enrollment over time")
    ax.figure.autofmt_xdate()
    return ax


def outcome_over_visits(summary: pd.DataFrame, instrument: str, ax=None):
    """Mean ± standard error per visit; ``summary`` has columns group, day, mean, se, n."""
    ax = _axes(ax, (7, 3))
    for group, rows in summary.groupby("group", sort=False):
        rows = rows.sort_values("day")
        ax.errorbar(rows["day"], rows["mean"], yerr=rows["se"], marker="o", capsize=3, label=str(group))
    ax.set_xlabel("scheduled day")
    ax.set_ylabel("total (mean ± SE)")
    ax.set_title(f"{instrument} over visits")
    if summary.empty:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=8)
    return ax


def forest_plot(rows: Sequence[dict], ax=None):
    """One line per endpoint: estimate and 95% CI, oriented so that right of the line of no effect
    favours treatment. ``rows``: label, estimate, low, high, null (1 for odds ratios, drawn on a
    log axis; 0 for standardized differences), kind ("ratio" or "difference")."""
    ratios = [r for r in rows if r["kind"] == "ratio"]
    diffs = [r for r in rows if r["kind"] == "difference"]
    panels = [
        (title, part)
        for title, part in (
            ("Odds ratio of a better outcome (log scale)", ratios),
            ("Standardized difference in change", diffs),
        )
        if part
    ]
    height = 1.0 + 0.35 * max((len(part) for _, part in panels), default=1)
    figure = Figure(figsize=(8, height * max(len(panels), 1)))
    axes = figure.subplots(max(len(panels), 1), 1, squeeze=False)[:, 0]
    if not panels:
        axes[0].text(
            0.5, 0.5, "no endpoint could be estimated yet", ha="center", va="center", transform=axes[0].transAxes
        )
        axes[0].axis("off")
        return axes[0]
    for axis, (title, part) in zip(axes, panels):
        y = np.arange(len(part))
        est = np.array([r["estimate"] for r in part])
        low = np.array([r["low"] for r in part])
        high = np.array([r["high"] for r in part])
        axis.errorbar(est, y, xerr=[est - low, high - est], fmt="s", color="#2166ac", capsize=3)
        axis.axvline(part[0]["null"], color="grey", lw=0.8)
        if part[0]["kind"] == "ratio":
            axis.set_xscale("log")
        axis.set_yticks(y, [r["label"] for r in part], fontsize=7)
        axis.invert_yaxis()
        axis.set_title(f"{title}; right favours treatment", fontsize=9)
    return axes[-1]


def adverse_events_by_grade(table: pd.DataFrame, ax=None):
    """Participants with an adverse event by worst CTCAE grade (rows: groups; columns: grades 1–5)."""
    ax = _axes(ax, (7, 1.2 + 0.6 * max(len(table), 1)))
    colours = ["#fee08b", "#fdae61", "#f46d43", "#d73027", "#3b3b3b"]
    left = np.zeros(len(table))
    for grade, colour in zip(table.columns, colours):
        values = table[grade].to_numpy(dtype=float)
        ax.barh(range(len(table)), values, left=left, color=colour, label=f"grade {grade}", edgecolor="white")
        left += values
    ax.set_yticks(range(len(table)), list(table.index))
    ax.invert_yaxis()
    ax.set_xlabel("participants (worst grade)")
    ax.set_title("Participants with an adverse event, by worst CTCAE grade")
    ax.legend(fontsize=7, ncol=5, loc="lower center", bbox_to_anchor=(0.5, 1.08), frameon=False)
    return ax


def group_sequential_boundaries(boundaries, fraction: float | None = None, observed_z: float | None = None, ax=None):
    """The boundaries ±c_k (``trialkit.analysis.group_sequential.Boundaries``) against information
    fraction, with the observed statistic at ``fraction`` if given."""
    ax = _axes(ax, (7, 3.2))
    t = boundaries.information_fractions
    z = boundaries.z
    ax.plot(t, z, marker="o", color="#b2182b", label="boundary")
    if boundaries.sides == 2:
        ax.plot(t, [-v for v in z], marker="o", color="#b2182b")
    ax.axhline(0, color="grey", lw=0.6)
    if fraction is not None and observed_z is not None:
        ax.plot([fraction], [observed_z], marker="D", color="#2166ac", ls="none", label="observed Z")
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("information fraction")
    ax.set_ylabel("Z")
    ax.set_title("Group-sequential boundaries")
    ax.legend(fontsize=8)
    return ax
