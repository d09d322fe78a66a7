"""Likely duplicate adverse events: the same participant, a similar term, onsets a few days apart.

A warning, never a refusal: two events may be real (a second seizure). Similar means the same
coded preferred term, or verbatim terms that read alike (difflib ratio, or the same set of words).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher

from trialkit.safety.coding import normalize_term

WINDOW_DAYS = 3
SIMILARITY = 0.8


@dataclass(frozen=True)
class AeSummary:
    key: str  # the event's identifier in the caller's store (e.g. "AE3")
    participant: str
    term: str
    onset: date | None
    preferred_code: str = ""


def term_similarity(a: str, b: str) -> float:
    """1.0 for the same words in any order, else difflib's ratio of the normalized terms."""
    na, nb = normalize_term(a), normalize_term(b)
    if not na or not nb:
        return 0.0
    if sorted(na.split()) == sorted(nb.split()):
        return 1.0
    return SequenceMatcher(None, na, nb).ratio()


def likely_duplicates(
    new: AeSummary, existing: Iterable[AeSummary], *, window_days: int = WINDOW_DAYS
) -> list[AeSummary]:
    """The existing events that ``new`` probably repeats, nearest onset first."""
    out = []
    for other in existing:
        if other.key == new.key or other.participant != new.participant:
            continue
        if new.onset is None or other.onset is None or abs((new.onset - other.onset).days) > window_days:
            continue
        same_code = bool(new.preferred_code) and new.preferred_code == other.preferred_code
        if same_code or term_similarity(new.term, other.term) >= SIMILARITY:
            out.append(other)
    assert new.onset is not None or not out
    return sorted(out, key=lambda o: abs((o.onset - new.onset).days) if o.onset and new.onset else 0)
