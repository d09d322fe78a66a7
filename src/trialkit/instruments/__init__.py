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

# The efficacy outcome scales, read from the instruments' ``outcome`` flag: no other list of them.
OUTCOME_INSTRUMENTS: tuple[str, ...] = tuple(i.name for i in _REGISTRY.values() if i.outcome)

# Protocol files name forms the way a trial's schedule of assessments does; the instruments are
# named by scale. A protocol that spells a form differently is mapped here, and only here.
# protocol form name -> instrument name
FORM_ALIASES: dict[str, str] = {
    "fma": "fma_ue",
    "fugl_meyer_ue": "fma_ue",
    "fugl_meyer_le": "fma_le",
    "bi": "barthel",
    "barthel_index": "barthel",
    "modified_rankin": "mrs",
    "ae": "adverse_event",
    "adverse_events": "adverse_event",
    "vitals": "vital_signs",
    "concomitant_medications": "con_meds",
}


def instrument_name(form_name: str) -> str:
    """The instrument a protocol form is entered with ("fma" -> "fma_ue")."""
    return FORM_ALIASES.get(form_name, form_name)


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
    "FORM_ALIASES",
    "MEDICATION_CLASSES",
    "OUTCOME_INSTRUMENTS",
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
    "instrument_name",
    "is_antithrombotic",
    "list_instruments",
]
