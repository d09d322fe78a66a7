"""Dose preparation for the unblinded pharmacist, and the blinded infusion label."""

from trialkit.dosing.label import blinded_label
from trialkit.dosing.preparation import DosePreparation, DosingError, infusion_plan, prepare_dose, validated_weight

__all__ = ["DosePreparation", "DosingError", "blinded_label", "infusion_plan", "prepare_dose", "validated_weight"]
