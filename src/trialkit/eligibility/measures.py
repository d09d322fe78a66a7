"""The measurements eligibility rules read: NIHSS items and totals, laboratory values and units.

Scoring and unit conversion belong to ``trialkit.instruments``; this module is the one place where
eligibility calls it, so the rule evaluator speaks only of "a total", "a value in this unit" and "a
multiple of the upper limit of normal".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from trialkit.instruments import ANTITHROMBOTIC_CLASSES, InstrumentError, get_instrument
from trialkit.instruments.labs import ANALYTES, LabUnitError, convert, get_analyte, normalize_unit, uln_window_problem

__all__ = [
    "ANTITHROMBOTIC_CLASSES",
    "LabUnitError",
    "NihssPartial",
    "analyte_names",
    "canonical_analyte",
    "check_lab_unit",
    "lab_in_unit",
    "lab_uln_multiple",
    "nihss_item_bounds",
    "nihss_items",
    "nihss_partial",
    "nihss_problems",
]

UNTESTABLE = "UN"


def nihss_items() -> list[str]:
    """The NIHSS item codes in form order (1a, 1b, 1c, 2, ... 11)."""
    return list(_nihss_bounds())


def nihss_item_bounds(item: str) -> tuple[int, int]:
    return _nihss_bounds()[item]


def nihss_problems(values: dict[str, int | str]) -> list[tuple[str, str]]:
    """(item, message) for each entered NIHSS value the scale does not allow; missing items are fine."""
    errors = get_instrument("nihss").validate(values, partial=True)
    return [(str(err.item), err.message) for err in errors]


@dataclass(frozen=True)
class NihssPartial:
    """What the entered items say about the NIHSS total."""

    total: int | None  # the scored total once every item is entered
    known_sum: int  # sum of the numeric items entered so far
    missing: list[str]  # items not yet entered
    highest_possible: int  # known_sum plus the maximum of every missing item


def nihss_partial(values: Mapping[str, int | str]) -> NihssPartial:
    bounds = _nihss_bounds()
    missing = [item for item in bounds if item not in values]
    # "UN" (untestable) is never added to the total (NINDS NIH Stroke Scale instructions).
    known_sum = sum(v for v in values.values() if isinstance(v, int) and not isinstance(v, bool))
    highest = known_sum + sum(bounds[item][1] for item in missing)
    total = None
    if not missing:
        scored = get_instrument("nihss").score(values).total
        assert scored is not None  # every item is present, so the scale totals
        total = int(scored)
    return NihssPartial(total, known_sum, missing, highest)


def analyte_names() -> list[str]:
    return sorted(ANALYTES)


def canonical_analyte(name: str) -> str | None:
    """The analyte key for a name or alias ('tsb' -> 'bilirubin'), None if unknown."""
    try:
        return get_analyte(name).key
    except LabUnitError:
        return None


@lru_cache(maxsize=1024)
def check_lab_unit(analyte: str, unit: str) -> str | None:
    """None if ``unit`` is a unit of ``analyte``, else a message saying why not."""
    if canonical_analyte(analyte) is None:
        return f"unknown analyte {analyte!r}; known: {', '.join(analyte_names())}"
    try:
        convert(analyte, 1, unit, unit)
    except LabUnitError as exc:
        return str(exc)
    return None


# Unit conversion in floating point (the documented rounding rule, docs/eligibility.md): a value is
# multiplied by one factor, the exact ratio of the two units' factors rounded once to a float, so the
# result is within a few units in the last place of the exact one. Rules compare after rounding both
# sides to 9 significant digits (``rules.at_least``), so a value exactly on a limit stays on it (30 g/L
# is 3.0 g/dL, AST 100 U/L with ULN 40 is 2.5×ULN), as the exact fractions of ``instruments.labs`` give.


@lru_cache(maxsize=1024)
def unit_ratio(analyte: str, unit: str, target_unit: str) -> float:
    """The factor that turns a value of ``analyte`` in ``unit`` into ``target_unit`` (LabUnitError if unknown)."""
    a = get_analyte(analyte)
    factors = a.factors
    from_unit, to_unit = normalize_unit(unit), normalize_unit(target_unit)
    for u, given in ((from_unit, unit), (to_unit, target_unit)):
        if u not in factors:
            raise LabUnitError(f"unit {given!r} is not a unit of {a.key} (allowed: {', '.join(a.units)})")
    return float(factors[from_unit] / factors[to_unit])


def lab_in_unit(analyte: str, value: float, unit: str, target_unit: str) -> float:
    if unit == target_unit:
        return float(value)
    return float(value) * unit_ratio(analyte, unit, target_unit)


def lab_uln_multiple(analyte: str, value: float, unit: str, uln: float, uln_unit: str | None) -> float:
    if uln <= 0:
        raise LabUnitError(f"upper limit of normal for {analyte} must be positive, got {uln!r}")
    if uln_unit is None or uln_unit == unit:
        return float(value) / float(uln)
    return float(value) * unit_ratio(analyte, unit, uln_unit) / float(uln)


def lab_uln_problem(analyte: str, uln: float, unit: str) -> str | None:
    """None when ``uln`` (in ``unit``) is a plausible ULN for the analyte, else why not.

    Decided in floating point when the ULN is clearly inside the analyte's window, and by the exact
    check of ``instruments.labs`` (which also words the message) when it is near an edge or outside.
    """
    a = get_analyte(analyte)
    if a.uln_window is None:
        return None
    low, high = _uln_window(a.key)
    value = float(uln) * unit_ratio(a.key, unit, a.canonical_unit)
    if low * (1 + 1e-9) < value < high * (1 - 1e-9):
        return None
    return uln_window_problem(analyte, uln, unit)


@lru_cache(maxsize=64)
def _uln_window(key: str) -> tuple[float, float]:
    window = ANALYTES[key].uln_window
    assert window is not None
    return float(window[0]), float(window[1])


_BOUNDS: dict[str, tuple[int, int]] | None = None


def _nihss_bounds() -> dict[str, tuple[int, int]]:
    global _BOUNDS
    if _BOUNDS is None:
        _BOUNDS = _read_nihss_bounds()
    return _BOUNDS


def _read_nihss_bounds() -> dict[str, tuple[int, int]]:
    # The item ranges are the instrument's (NINDS NIH Stroke Scale form), in form order.
    return {item.key: (item.min_score, item.max_score) for item in get_instrument("nihss").scored_items}


__all__ += ["UNTESTABLE", "InstrumentError"]
