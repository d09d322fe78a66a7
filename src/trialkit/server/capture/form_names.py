"""Which instrument a form named in a protocol's visit ``forms:`` list is entered with.

The mapping from protocol form names to instruments is the core's
(``trialkit.instruments.FORM_ALIASES``); this module adds the server's questions about forms.
"""

from __future__ import annotations

from trialkit.instruments import OUTCOME_INSTRUMENTS, Instrument, get_instrument, instrument_name


def instrument_for(form_name: str) -> Instrument:
    """The instrument of a protocol form; KeyError names the unknown form."""
    return get_instrument(instrument_name(form_name))


# Efficacy outcome scales (the protocols' primary and secondary outcomes). Behind the unblinded
# firewall: a role without ``capture.view_efficacy`` (the unblinded pharmacist, the DSMB
# statistician) never reads them on a participant's pages (ICH E9 2.3.1; ICH E6(R3) 3.10).
EFFICACY_INSTRUMENTS = frozenset(OUTCOME_INSTRUMENTS)  # the instruments' ``outcome`` flag


def is_efficacy(form_name: str) -> bool:
    return instrument_name(form_name) in EFFICACY_INSTRUMENTS


def form_label(form_name: str) -> str:
    """The instrument's title for a protocol form name ("fma_ue" -> "Fugl-Meyer ..."); the name
    itself, made readable, when no instrument enters it."""
    try:
        return instrument_for(form_name).title
    except KeyError:
        return form_name.replace("_", " ").capitalize()


def item_label(form_name: str, key: str) -> str:
    """The label of one item of a form ("systolic_bp" -> "Systolic blood pressure")."""
    if key == "(form)":
        return "whole form"
    try:
        instrument = instrument_for(form_name)
    except KeyError:
        return key
    for item in instrument.items:
        if item.key == key:
            return item.label or key
    return key
