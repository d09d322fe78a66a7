"""Outcome scales, laboratory values and case report forms (pure core; no Django).

    from trialkit.instruments import get_instrument
    scored = get_instrument("nihss").score({"1a": 0, ...})
    scored.total, scored.subscores

Every scale cites the publication its items and rules come from; see docs/instruments.md.
"""

from __future__ import annotations

from trialkit.instruments.barthel import BARTHEL
from trialkit.instruments.forms import ANTITHROMBOTIC_CLASSES, FORMS, MEDICATION_CLASSES, is_antithrombotic
from trialkit.instruments.framework import (
    Choice,
    FieldError,
    Instrument,
    InstrumentError,
    Item,
    ItemType,
    Rule,
    ScoredForm,
)
from trialkit.instruments.fugl_meyer import FMA_LE, FMA_UE
from trialkit.instruments.mmse import MMSE
from trialkit.instruments.mrs import MRS
from trialkit.instruments.nihss import NIHSS

SCALES: tuple[Instrument, ...] = (NIHSS, MRS, BARTHEL, MMSE, FMA_UE, FMA_LE)

_REGISTRY: dict[str, Instrument] = {i.name: i for i in (*SCALES, *FORMS)}


def list_instruments(kind: str | None = None) -> list[Instrument]:
    """All instruments in a stable order (scales first); ``kind`` "scale" or "form" filters."""
    return [i for i in _REGISTRY.values() if kind is None or i.kind == kind]


def get_instrument(name: str) -> Instrument:
    """The instrument called ``name``; KeyError lists the known names."""
    try:
        return _REGISTRY[name.strip().lower()]
    except (KeyError, AttributeError):
        raise KeyError(f"unknown instrument {name!r} (known: {', '.join(_REGISTRY)})") from None


__all__ = [
    "ANTITHROMBOTIC_CLASSES",
    "MEDICATION_CLASSES",
    "SCALES",
    "Choice",
    "FieldError",
    "Instrument",
    "InstrumentError",
    "Item",
    "ItemType",
    "Rule",
    "ScoredForm",
    "get_instrument",
    "is_antithrombotic",
    "list_instruments",
]
