"""Rows of the analysis tables that come from the capture app: outcome totals and adverse events.

Kept apart so that the capture app's model names are read in one place.
"""

from __future__ import annotations


def outcome_rows(trial) -> list[dict]:
    return []


def adverse_event_rows(trial) -> list[dict]:
    return []
