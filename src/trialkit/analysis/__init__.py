"""Statistical analyses of a stroke-recovery trial: mRS shift (proportional odds), dichotomized mRS,
ANCOVA of change from baseline, safety tables; figures and the report. Pure core; no Django.

The names below are loaded when first used (PEP 562): importing a light module of this package,
such as ``trialkit.analysis.trial_data``, does not load scipy and statsmodels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialkit.analysis.ancova_model import AncovaResult, ancova
    from trialkit.analysis.errors import AnalysisInputError
    from trialkit.analysis.ordinal_shift import (
        DichotomyResult,
        ProportionalOddsCheck,
        ShiftResult,
        dichotomized_mrs,
        mrs_shift,
    )
    from trialkit.analysis.safety import SafetyRow, events_by_term, safety_summary

_HOMES = {
    "AnalysisInputError": "errors",
    "AncovaResult": "ancova_model",
    "ancova": "ancova_model",
    "DichotomyResult": "ordinal_shift",
    "ProportionalOddsCheck": "ordinal_shift",
    "ShiftResult": "ordinal_shift",
    "dichotomized_mrs": "ordinal_shift",
    "mrs_shift": "ordinal_shift",
    "SafetyRow": "safety",
    "events_by_term": "safety",
    "safety_summary": "safety",
}

__all__ = [
    "AnalysisInputError",
    "AncovaResult",
    "DichotomyResult",
    "ProportionalOddsCheck",
    "SafetyRow",
    "ShiftResult",
    "ancova",
    "dichotomized_mrs",
    "events_by_term",
    "mrs_shift",
    "safety_summary",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
