"""Small charts for the homes, as inline SVG drawn by matplotlib."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading

import matplotlib
from matplotlib.figure import Figure

# rc_context changes matplotlib's process-wide settings: one chart at a time per process.
_RC_LOCK = threading.Lock()

_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL)

SITE_COLOURS = ["#1f5fa8", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"]


# Drawing takes tens of milliseconds; the sponsor's home asks for the same chart until enrollment changes.
CHART_CACHE_SECONDS = 3600


def cached_enrollment_chart_svg(enrollment: dict) -> str:
    """``enrollment_chart_svg``, kept in Django's cache under a digest of everything it draws (months,
    each site's counts, the target): a new participant changes the key, so a chart is never stale."""
    from django.core.cache import cache

    drawn = {
        "months": [m.isoformat() for m in enrollment["months"]],
        "sites": [(s["code"], s["counts"], s["total"]) for s in enrollment["sites"]],
        "target": enrollment.get("target"),
    }
    key = "enrollment-chart:" + hashlib.sha256(json.dumps(drawn, sort_keys=True).encode()).hexdigest()
    svg = cache.get(key)
    if svg is None:
        svg = enrollment_chart_svg(enrollment)
        cache.set(key, svg, CHART_CACHE_SECONDS)
    return svg


def enrollment_chart_svg(enrollment: dict) -> str:
    """Cumulative enrollment per site by month, stacked, with the target as a dashed line."""
    months, sites = enrollment["months"], enrollment["sites"]
    if not months:
        return ""
    with (
        _RC_LOCK,
        matplotlib.rc_context(
            {"svg.fonttype": "none", "font.size": 9, "font.family": "sans-serif", "svg.hashsalt": "trialkit"}
        ),
    ):
        fig = Figure(figsize=(7.2, 2.8))
        ax = fig.subplots()
        x = list(range(len(months)))
        bottom = [0] * len(months)
        for i, site in enumerate(sites):
            ax.bar(
                x,
                site["counts"],
                bottom=bottom,
                color=SITE_COLOURS[i % len(SITE_COLOURS)],
                width=0.7,
                label=f"{site['code']} ({site['total']})",
            )
            bottom = [b + c for b, c in zip(bottom, site["counts"])]
        ax.set_xticks(x, [m.strftime("%b %y") for m in months])
        if len(months) > 12:
            for label in ax.get_xticklabels()[::2]:
                label.set_visible(False)
        ax.set_ylabel("enrolled (cumulative)")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.legend(frameon=False, fontsize=8, loc="upper left")
        ax.set_ylim(0, max(max(bottom) * 1.25, 1))
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", transparent=True, metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    # matplotlib puts a <style> element in the SVG; the page's Content-Security-Policy allows style
    # sheets only from the site, so its one rule lives in trialkit.css (.chart svg *).
    return _STYLE_ELEMENT.sub("", svg)
