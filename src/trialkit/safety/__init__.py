"""Expedited safety reporting: SUSAR assessment and its 7- and 15-day clocks, likely duplicates,
and coding of adverse event terms through a pluggable dictionary (MedDRA when licensed).

Pure functions; the application stores events, decides who may see them and audits changes.
"""

from trialkit.safety.coding import (
    CodedTerm,
    Dictionary,
    MeddraDictionary,
    OpenDictionary,
    default_dictionary,
)
from trialkit.safety.duplicates import AeSummary, likely_duplicates, term_similarity
from trialkit.safety.expedited import (
    ExpeditedClock,
    SafetyInformation,
    SusarAssessment,
    assess_susar,
    current_clock,
    expedited_clock,
    susar_clocks,
)

__all__ = [
    "AeSummary",
    "CodedTerm",
    "Dictionary",
    "ExpeditedClock",
    "MeddraDictionary",
    "OpenDictionary",
    "SafetyInformation",
    "SusarAssessment",
    "assess_susar",
    "current_clock",
    "default_dictionary",
    "expedited_clock",
    "likely_duplicates",
    "susar_clocks",
    "term_similarity",
]
