"""The blinded infusion label: the same words and layout whatever the arm.

It carries what the bedside needs (trial, randomization and kit numbers, weight, volume, route,
preparation and use-by times) and nothing that differs between arms: no arm, no dose level, no
cell count, no product name. The mandatory statement follows the EU clinical-trials labelling
rules (Regulation (EU) No 536/2014, Annex VI: "For clinical trial use only").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP

from trialkit.dosing.preparation import (
    WEIGHT_STEP,
    DosePreparation,
    DosingError,
    infusion_plan,
    round_volume,
    to_decimal,
    validated_weight,
)
from trialkit.protocol.schema import Protocol

LABEL_WIDTH = 48
BLANK = "________________"


def _stamp(at: datetime) -> str:
    """ "14 Mar 2026 09:30 UTC": the one date format of TrialKit's pages, with the zone."""
    zone = at.tzname() if at.tzinfo is not None else None
    return f"{at.day} {at:%b %Y %H:%M}" + (f" {zone}" if zone else "")


def _line(name: str, value: str) -> str:
    return f"{name + ':':<20}{value}"


def use_within_hours(protocol: Protocol) -> float | None:
    """Hours from preparation to use, shared by every dosed arm (a different use-by per arm would
    unblind); None when the protocol gives none (the label then has a blank use-by line)."""
    hours = {arm.dose.use_within_hours for arm in protocol.arms if arm.dose is not None}
    if len(hours) > 1:
        raise DosingError(
            "arms.dose.use_within_hours", "arms differ in use-by time; a blinded label must read the same in every arm"
        )
    return next(iter(hours), None)


def blinded_label(
    protocol: Protocol,
    randomization_number: str,
    kit_number: str,
    weight_kg: object,
    *,
    preparation: DosePreparation | None = None,
    participant_id: str | None = None,
    prepared_at: datetime | None = None,
    prepared_by: str | None = None,
    use_by: datetime | None = None,
    thawed_at: datetime | None = None,
) -> str:
    """The label text. ``preparation`` (optional) is checked against the label: a preparation
    whose final volume or weight differs from what every arm would get would unblind, so it is
    refused rather than printed.

    With the protocol's product handling (``product.max_thaw_to_infusion_hours``) and the kit's
    ``thawed_at``, the use-by is the thaw time plus that limit (or the preparation's own use-by,
    whichever comes first), and the label states the protocol's masking (e.g. opaque bag)."""
    ml_per_kg, weight_range, route = infusion_plan(protocol)
    weight = validated_weight(weight_kg, weight_range)
    if ml_per_kg is None:
        raise DosingError("dose.infusion_volume_ml_per_kg", "a blinded label needs a final infusion volume per kg")
    volume = round_volume(to_decimal(ml_per_kg) * weight)
    if preparation is not None:
        if preparation.protocol_id != protocol.id:
            raise DosingError("preparation", f"is for {preparation.protocol_id}, not {protocol.id}")
        if to_decimal(preparation.weight_kg) != weight or to_decimal(preparation.final_volume_ml) != volume:
            raise DosingError(
                "preparation",
                f"final volume {preparation.final_volume_ml} ml at {preparation.weight_kg} kg does not match "
                f"the blinded volume {volume} ml at {weight} kg",
            )
    if not randomization_number or not kit_number:
        raise DosingError("randomization_number", "the label needs the randomization number and the kit number")
    hours = use_within_hours(protocol)
    if use_by is None and prepared_at is not None and hours is not None:
        use_by = prepared_at + timedelta(hours=hours)
    handling = protocol.product
    if thawed_at is not None and handling is not None:
        after_thaw = thawed_at + timedelta(hours=handling.max_thaw_to_infusion_hours)
        use_by = min(use_by, after_thaw) if use_by is not None else after_thaw
    trial = protocol.registry.acronym or protocol.id
    rule_line = "=" * LABEL_WIDTH
    lines = [
        rule_line,
        f"{trial} ({protocol.id})".center(LABEL_WIDTH).rstrip(),
        "BLINDED INVESTIGATIONAL PRODUCT".center(LABEL_WIDTH).rstrip(),
        "For clinical trial use only".center(LABEL_WIDTH).rstrip(),
        rule_line,
        _line("Sponsor", protocol.registry.sponsor),
        _line("Randomization no.", randomization_number),
        _line("Kit no.", kit_number),
        _line("Participant", participant_id or BLANK),
        _line("Weight", f"{weight.quantize(WEIGHT_STEP, rounding=ROUND_HALF_UP)} kg"),
        _line("Infusion volume", f"{volume} ml"),
        _line("Route", route),
        _line("Prepared", _stamp(prepared_at) if prepared_at else BLANK),
        _line("Prepared by", prepared_by or BLANK),
        *([_line("Thawed", _stamp(thawed_at))] if thawed_at is not None and handling is not None else []),
        _line("Use by", _stamp(use_by) if use_by else BLANK),
        *([_line("Masking", handling.masking)] if handling is not None and handling.masking else []),
        rule_line,
    ]
    return "\n".join(lines) + "\n"
