"""Compute one participant's dose from the weight recorded at the dosing visit.

For a cell product dosed per kg: cells = dose per kg × weight; vials = ceil(cells / cells per
vial); volume drawn = cells / concentration; diluent = final infusion volume − volume drawn, where
the final volume (weight × infusion ml/kg) is the same in every arm, so the infusion bag does
not reveal the arm. A placebo dosed in ml/kg is drawn at that volume (1 ml/kg) and topped up to
the same final volume if the protocol asks for more.

Volumes are rounded half-up to 0.1 ml, the graduation of the syringes used to draw them; the
cells actually delivered (volume drawn × concentration) are reported beside the target. Weight
missing, non-numeric or outside the protocol's plausible range is an error, never a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from trialkit.protocol.schema import Protocol

VOLUME_STEP = Decimal("0.1")  # ml: syringe graduation
WEIGHT_STEP = Decimal("0.1")  # kg: scale resolution printed on the label


class DosingError(ValueError):
    """A dose that cannot be prepared; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class DosePreparation:
    """What the unblinded pharmacist prepares for one participant. Never shown to blinded staff."""

    protocol_id: str
    arm_id: str
    dose_level: str
    dose_label: str
    weight_kg: float
    unit: str  # "cells", "ml" or "mg"
    amount_per_kg: float
    target_amount: float  # amount per kg × weight (cells, ml or mg)
    vials: int | None  # vials to thaw/open; None when the arm uses no vialled product
    product_volume_ml: float  # drawn from the vials (or the placebo volume), rounded to 0.1 ml
    delivered_amount: float  # what the rounded volume actually holds
    diluent_volume_ml: float
    final_volume_ml: float  # identical for every arm at the same weight
    route: str
    product_name: str | None = None
    diluent: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def steps(self) -> list[str]:
        """Pharmacy instructions, in order."""
        out = []
        if self.vials is not None and self.product_name:
            out.append(f"Take {self.vials} vial(s) of {self.product_name}.")
        out.append(f"Draw {self.product_volume_ml:.1f} ml of {self.product_name or self.arm_id}.")
        if self.diluent_volume_ml > 0:
            out.append(f"Add {self.diluent_volume_ml:.1f} ml of {self.diluent or 'diluent'}.")
        out.append(f"Final infusion volume {self.final_volume_ml:.1f} ml, route {self.route}; apply the blinded label.")
        return out


def to_decimal(value: float) -> Decimal:
    return Decimal(str(value))


def round_volume(value: Decimal) -> Decimal:
    return value.quantize(VOLUME_STEP, rounding=ROUND_HALF_UP)


def validated_weight(value: Any, weight_range_kg: tuple[float, float]) -> Decimal:
    """The weight as a Decimal, or DosingError naming the field and the allowed range."""
    lo, hi = weight_range_kg
    allowed = f"allowed {lo:g}–{hi:g} kg"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DosingError("weight_kg", f"is missing; record the weight at the dosing visit ({allowed})")
    if isinstance(value, bool):
        raise DosingError("weight_kg", f"must be a number of kilograms, got {value!r} ({allowed})")
    try:
        weight = Decimal(value.strip()) if isinstance(value, str) else to_decimal(float(value))
    except (InvalidOperation, TypeError, ValueError):
        raise DosingError("weight_kg", f"must be a number of kilograms, got {value!r} ({allowed})") from None
    if not weight.is_finite():
        raise DosingError("weight_kg", f"must be a finite number of kilograms, got {value!r} ({allowed})")
    if not to_decimal(lo) <= weight <= to_decimal(hi):
        raise DosingError("weight_kg", f"{weight} kg is outside the plausible range ({allowed})")
    return weight


def infusion_plan(protocol: Protocol) -> tuple[float | None, tuple[float, float], str]:
    """(infusion ml/kg, weight range, route) shared by every dosed arm, or DosingError: a blinded
    infusion needs the same volume, weight check and route whatever the arm."""
    rules = [arm.dose for arm in protocol.arms if arm.dose is not None]
    if not rules:
        raise DosingError("arms", "no arm has a dose rule")
    plans = {(r.infusion_volume_ml_per_kg, tuple(r.weight_range_kg), r.route) for r in rules}
    if len(plans) > 1:
        raise DosingError(
            "arms.dose",
            "arms differ in infusion volume per kg, weight range or route; a blinded infusion must look the same in every arm",
        )
    return next(iter(plans))  # type: ignore[return-value]


def prepare_dose(protocol: Protocol, arm_id: str, dose_level: str | None, weight_kg: Any) -> DosePreparation:
    """The preparation for one participant of arm ``arm_id`` at ``dose_level`` (the slot's level;
    may be None for an arm with a single level), from the weight recorded at the dosing visit."""
    try:
        arm = protocol.arm(arm_id)
    except KeyError:
        raise DosingError("arm_id", f"{arm_id!r} is not an arm of {protocol.id}") from None
    rule = arm.dose
    if rule is None:
        raise DosingError("arm_id", f"arm {arm_id!r} has no dose rule")
    levels = {lvl.id: lvl for lvl in rule.levels}
    if dose_level is None:
        if len(levels) != 1:
            raise DosingError("dose_level", f"arm {arm_id!r} has levels {', '.join(levels)}; the slot must name one")
        dose_level = next(iter(levels))
    if dose_level not in levels:
        raise DosingError("dose_level", f"{dose_level!r} is not a level of arm {arm_id!r} ({', '.join(levels)})")
    level = levels[dose_level]
    weight = validated_weight(weight_kg, rule.weight_range_kg)
    amount = to_decimal(level.amount)
    target = amount * weight if rule.basis == "per_kg" else amount
    product = rule.product
    notes = [f"Volumes are rounded half-up to {VOLUME_STEP} ml (syringe graduation)."]

    vials: int | None = None
    if rule.unit == "ml":
        product_volume = round_volume(target)
        delivered = product_volume
        if product is not None:
            vials = int((target / to_decimal(product.units_per_vial)).to_integral_value(rounding=ROUND_CEILING))
    else:
        if product is None or product.concentration_per_ml is None:
            raise DosingError(
                "dose.product",
                f"arm {arm_id!r} doses {rule.unit} and needs product.units_per_vial and product.concentration_per_ml",
            )
        concentration = to_decimal(product.concentration_per_ml)
        vials = int((target / to_decimal(product.units_per_vial)).to_integral_value(rounding=ROUND_CEILING))
        product_volume = round_volume(target / concentration)
        delivered = product_volume * concentration
        if delivered != target:
            deviation = (delivered - target) / target * 100
            notes.append(f"Rounding the drawn volume changes the dose by {float(deviation):+.2f}%.")

    if rule.infusion_volume_ml_per_kg is not None:
        final = round_volume(to_decimal(rule.infusion_volume_ml_per_kg) * weight)
    else:
        final = product_volume
    diluent = final - product_volume
    if diluent < 0:
        raise DosingError(
            "dose.infusion_volume_ml_per_kg",
            f"the product volume {product_volume} ml exceeds the final infusion volume {final} ml",
        )
    return DosePreparation(
        protocol_id=protocol.id,
        arm_id=arm_id,
        dose_level=dose_level,
        dose_label=level.label,
        weight_kg=float(weight),
        unit=rule.unit,
        amount_per_kg=level.amount,
        target_amount=float(target),
        vials=vials,
        product_volume_ml=float(product_volume),
        delivered_amount=float(delivered),
        diluent_volume_ml=float(diluent),
        final_volume_ml=float(final),
        route=rule.route,
        product_name=product.name if product else _intervention_name(protocol, arm.interventions[0]),
        diluent=product.diluent if product else None,
        notes=notes,
    )


def _intervention_name(protocol: Protocol, intervention_id: str) -> str | None:
    for intervention in protocol.registry.interventions:
        if intervention.id == intervention_id:
            return intervention.name
    return None
