"""Temporary stand-in for trialkit.instruments (same API), removed once that package lands."""

from __future__ import annotations

from dataclasses import dataclass

ANTITHROMBOTIC_CLASSES = frozenset({"antiplatelet", "anticoagulant"})

_NIHSS = {
    "1a": (0, 3), "1b": (0, 2), "1c": (0, 2), "2": (0, 2), "3": (0, 3), "4": (0, 3),
    "5a": (0, 4), "5b": (0, 4), "6a": (0, 4), "6b": (0, 4), "7": (0, 2), "8": (0, 2),
    "9": (0, 3), "10": (0, 2), "11": (0, 2),
}
_UN_ALLOWED = {"5a", "5b", "6a", "6b", "7", "10"}


@dataclass(frozen=True)
class FieldError:
    item: str
    value: object
    rule: str
    message: str


class InstrumentError(ValueError):
    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))


@dataclass(frozen=True)
class Scored:
    total: int


class _Nihss:
    def validate(self, values, partial=False):
        errors = []
        for item, value in values.items():
            if item not in _NIHSS:
                errors.append(FieldError(item, value, "item", f"no NIHSS item {item!r}"))
                continue
            lo, hi = _NIHSS[item]
            if value == "UN":
                if item not in _UN_ALLOWED:
                    errors.append(FieldError(item, value, "un", f"item {item} cannot be UN"))
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                errors.append(FieldError(item, value, "range", f"item {item} must be {lo}-{hi} (got {value!r})"))
        if not partial:
            for item in _NIHSS:
                if item not in values:
                    errors.append(FieldError(item, None, "required", f"item {item} is missing"))
        return errors

    def score(self, values):
        errors = self.validate(values)
        if errors:
            raise InstrumentError(errors)
        return Scored(sum(v for v in values.values() if v != "UN"))


def get_instrument(name):
    assert name == "nihss"
    return _Nihss()


class LabUnitError(ValueError):
    pass


# factor to the first (canonical) unit
ANALYTES = {
    "ast": {"U/L": 1.0},
    "alt": {"U/L": 1.0},
    "bilirubin": {"mg/dL": 1.0, "µmol/L": 1 / 17.104},
    "pt": {"s": 1.0},
    "ptt": {"s": 1.0},
    "albumin": {"g/dL": 1.0, "g/L": 0.1},
    "anc": {"/µL": 1.0, "10^9/L": 1000.0},
    "platelets": {"/µL": 1.0, "10^9/L": 1000.0},
    "hemoglobin": {"g/dL": 1.0, "g/L": 0.1},
    "creatinine": {"mg/dL": 1.0, "µmol/L": 1 / 88.42},
    "amylase": {"U/L": 1.0},
    "lipase": {"U/L": 1.0},
}


def convert(analyte, value, from_unit, to_unit):
    units = ANALYTES.get(analyte)
    if units is None:
        raise LabUnitError(f"unknown analyte {analyte!r}")
    for u in (from_unit, to_unit):
        if u not in units:
            raise LabUnitError(f"{analyte}: unknown unit {u!r}; known: {', '.join(units)}")
    return value * units[from_unit] / units[to_unit]


def uln_multiple(analyte, value, unit, uln, uln_unit=None):
    return convert(analyte, value, unit, uln_unit or unit) / uln
