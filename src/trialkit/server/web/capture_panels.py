"""Home panels over visit capture: visits due, queries, signatures, verification, locks, SAE clocks.

Each function returns a Panel, or None while the capture app does not record that thing.
"""

from __future__ import annotations


def visits_due(ctx):
    return None


def open_queries(ctx):
    return None


def to_sign(ctx):
    return None


def sae_clocks(ctx):
    return None


def assessments_due(ctx):
    return None


def to_verify(ctx):
    return None


def locks(ctx):
    return None
