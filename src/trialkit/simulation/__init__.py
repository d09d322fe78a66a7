"""Simulation of trials before the first patient: power of the mRS shift analysis, protocol rehearsal,
and simulated datasets for reports. Pure numpy/scipy; no Django."""

from trialkit.simulation.ordinal_power import (
    PowerResult,
    power_curve,
    simulate_power,
    treatment_distribution,
    whitehead_power,
)

__all__ = ["PowerResult", "power_curve", "simulate_power", "treatment_distribution", "whitehead_power"]
