"""Statistical analyses of a stroke-recovery trial: mRS shift (proportional odds), dichotomized mRS,
ANCOVA of change from baseline, safety tables; figures and the report. Pure core; no Django."""

from trialkit.analysis.ancova import AncovaResult, ancova
from trialkit.analysis.ordinal_shift import (
    AnalysisInputError,
    DichotomyResult,
    ProportionalOddsCheck,
    ShiftResult,
    dichotomized_mrs,
    mrs_shift,
)
from trialkit.analysis.safety import SafetyRow, events_by_term, safety_summary

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
