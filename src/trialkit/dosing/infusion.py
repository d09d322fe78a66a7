"""Checks of a lot's release results, of the preparation's concentration, and of an infusion
record against the protocol's limits.

The infusion checks (rate, volume, times) read only what is the same in every arm (the bag's
volume, the rate, the clock), so a refusal shown to blinded staff reveals no arm. The
concentration check reads the preparation and is made where the preparation is made, by the
unblinded pharmacist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trialkit.dosing.custody import use_by
from trialkit.dosing.preparation import DosePreparation
from trialkit.protocol.schema import InfusionLimits, ReleaseSpec


@dataclass(frozen=True)
class Problem:
    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


@dataclass(frozen=True)
class Interruption:
    stopped_at: datetime
    resumed_at: datetime | None
    reason: str = ""


@dataclass(frozen=True)
class InfusionRecord:
    started_at: datetime
    stopped_at: datetime
    rate_ml_per_hour: float
    volume_given_ml: float
    interruptions: list[Interruption] = field(default_factory=list)


def release_problems(
    spec: ReleaseSpec,
    *,
    cell_product: bool,
    cells_per_vial: float | None,
    stated_cells_per_vial: float | None,
    viability_percent: float | None,
    sterility: str,
    expires_on_passed: bool,
) -> list[Problem]:
    """Why a lot may not be released (empty: it may). A placebo lot has no cells to count."""
    out: list[Problem] = []
    if spec.sterility_required and sterility != "pass":
        out.append(
            Problem("sterility", "sterility", f"sterility is '{sterility}'; a lot is released only when it passes")
        )
    if expires_on_passed:
        out.append(Problem("expires_on", "expired", "the lot has expired"))
    if not cell_product:
        return out
    if spec.min_viability_percent is not None:
        if viability_percent is None:
            out.append(Problem("viability_percent", "missing", "a cell lot needs its viability"))
        elif viability_percent < spec.min_viability_percent:
            out.append(
                Problem(
                    "viability_percent",
                    "range",
                    f"viability {viability_percent:g}% is below the protocol's {spec.min_viability_percent:g}%",
                )
            )
    if spec.cell_count_tolerance_percent is not None and stated_cells_per_vial:
        if cells_per_vial is None:
            out.append(Problem("cells_per_vial", "missing", "a cell lot needs its cell count per vial"))
        else:
            deviation = abs(cells_per_vial - stated_cells_per_vial) / stated_cells_per_vial * 100
            if deviation > spec.cell_count_tolerance_percent:
                out.append(
                    Problem(
                        "cells_per_vial",
                        "range",
                        f"{cells_per_vial:.3g} cells per vial is {deviation:.1f}% from the stated "
                        f"{stated_cells_per_vial:.3g} (allowed {spec.cell_count_tolerance_percent:g}%)",
                    )
                )
    return out


def concentration_problems(limits: InfusionLimits, preparation: DosePreparation) -> list[Problem]:
    """The final bag's concentration (delivered amount / final volume) against the protocol's maximum."""
    if limits.max_concentration_per_ml is None or preparation.unit == "ml" or preparation.final_volume_ml <= 0:
        return []
    concentration = preparation.delivered_amount / preparation.final_volume_ml
    if concentration > limits.max_concentration_per_ml:
        return [
            Problem(
                "preparation",
                "max_concentration",
                f"the bag would hold {concentration:.3g} per ml, above the protocol's maximum "
                f"{limits.max_concentration_per_ml:.3g} per ml",
            )
        ]
    return []


def infusion_problems(
    limits: InfusionLimits,
    record: InfusionRecord,
    *,
    weight_kg: float | None,
    prepared_volume_ml: float | None,
    thawed_at: datetime | None,
    max_thaw_to_infusion_hours: float | None,
) -> list[Problem]:
    """Every way the record breaks the protocol's limits or the kit's clock (empty: none)."""
    out: list[Problem] = []
    if record.stopped_at <= record.started_at:
        out.append(Problem("stopped_at", "order", "the infusion must stop after it started"))
    if record.rate_ml_per_hour <= 0:
        out.append(Problem("rate_ml_per_hour", "range", "the rate must be above 0 ml/h"))
    elif limits.max_rate_ml_per_hour is not None and record.rate_ml_per_hour > limits.max_rate_ml_per_hour:
        out.append(
            Problem(
                "rate_ml_per_hour",
                "max_rate",
                f"{record.rate_ml_per_hour:g} ml/h is above the protocol's maximum {limits.max_rate_ml_per_hour:g} ml/h",
            )
        )
    if record.volume_given_ml < 0:
        out.append(Problem("volume_given_ml", "range", "the volume given cannot be negative"))
    if limits.max_volume_ml is not None and record.volume_given_ml > limits.max_volume_ml:
        out.append(
            Problem(
                "volume_given_ml",
                "max_volume",
                f"{record.volume_given_ml:g} ml is above the protocol's maximum {limits.max_volume_ml:g} ml",
            )
        )
    if limits.max_volume_ml_per_kg is not None and weight_kg:
        cap = round(limits.max_volume_ml_per_kg * weight_kg, 1)
        if record.volume_given_ml > cap:
            out.append(
                Problem(
                    "volume_given_ml",
                    "max_volume_per_kg",
                    f"{record.volume_given_ml:g} ml is above {limits.max_volume_ml_per_kg:g} ml/kg at "
                    f"{weight_kg:g} kg ({cap:g} ml)",
                )
            )
    if prepared_volume_ml is not None and record.volume_given_ml > prepared_volume_ml:
        out.append(
            Problem(
                "volume_given_ml",
                "prepared_volume",
                f"{record.volume_given_ml:g} ml is more than the {prepared_volume_ml:g} ml prepared",
            )
        )
    if thawed_at is not None:
        if record.started_at < thawed_at:
            out.append(Problem("started_at", "before_thaw", "the infusion cannot start before the kit was thawed"))
        if max_thaw_to_infusion_hours is not None:
            limit = use_by(thawed_at, max_thaw_to_infusion_hours)
            if record.stopped_at > limit:
                out.append(
                    Problem(
                        "stopped_at",
                        "past_use_by",
                        f"the infusion must end by the use-by {limit.isoformat(timespec='minutes')} "
                        f"({max_thaw_to_infusion_hours:g} h after thawing)",
                    )
                )
    paused = timedelta(0)
    for i, gap in enumerate(record.interruptions):
        end = gap.resumed_at or record.stopped_at
        if not record.started_at <= gap.stopped_at <= end <= record.stopped_at:
            out.append(
                Problem(
                    f"interruptions.{i}",
                    "order",
                    "an interruption must lie between the start and the stop of the infusion",
                )
            )
        else:
            paused += end - gap.stopped_at
    running_hours = (record.stopped_at - record.started_at - paused).total_seconds() / 3600
    if running_hours > 0 and record.rate_ml_per_hour > 0:
        # The volume cannot exceed what the rate delivers while running (5% or 1 ml pump tolerance).
        most = record.rate_ml_per_hour * running_hours
        if record.volume_given_ml > max(most * 1.05, most + 1):
            out.append(
                Problem(
                    "volume_given_ml",
                    "rate_time",
                    f"{record.volume_given_ml:g} ml cannot run in {running_hours * 60:.0f} min at "
                    f"{record.rate_ml_per_hour:g} ml/h (at most {most:.1f} ml): check the rate or the times",
                )
            )
    return out
