"""Laboratory values: analytes, units, conversion, multiples of a site's upper limit of normal.

Conversions use exact rational factors (``fractions.Fraction``) so that a value on an eligibility
boundary (AST = 2.5 x ULN) stays on the boundary after conversion; floats would turn 30 g/L into
3.0000000000000004 g/dL. An unknown unit is an error, never a guess: a laboratory export that says
"G/L" for albumin is rejected rather than read as grams.

Factors (conventional unit per SI unit), from the AMA Manual of Style SI conversion table (Young
DS, Ann Intern Med 1987;106:114-129):
- creatinine: 1 mg/dL = 88.4 umol/L
- total bilirubin: 1 mg/dL = 17.104 umol/L
- albumin, hemoglobin: 1 g/dL = 10 g/L; hemoglobin (monomer) 1 mmol/L = 1.6114 g/dL
- cell counts: 1 x 10^9/L = 1000 /uL (1 L = 10^6 uL); 10^3/uL = 10^9/L
- enzyme activity: 1 ukat/L = 60 U/L (1 U = 1 umol/min, 1 kat = 1 mol/s)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any


class LabUnitError(ValueError):
    """An analyte or unit that is not known, or a value that cannot be read as a number."""


# Spellings accepted for each unit. Matching is exact after removing spaces and reading the micro
# sign (U+00B5) and Greek mu (U+03BC) as "u"; case is NOT folded because it carries meaning
# ("G/L" is giga-cells per litre, "g/L" grams per litre).
UNIT_SPELLINGS: dict[str, tuple[str, ...]] = {
    "g/dL": ("g/dL", "g/dl", "g/100mL"),
    "g/L": ("g/L", "g/l"),
    "mg/dL": ("mg/dL", "mg/dl"),
    "umol/L": ("umol/L", "umol/l"),
    "mmol/L": ("mmol/L", "mmol/l"),
    "/uL": ("/uL", "/ul", "cells/uL", "cells/ul", "/mm3", "cells/mm3", "/mm^3"),
    "10^9/L": ("10^9/L", "x10^9/L", "10*9/L", "10E9/L", "x10E9/L", "G/L", "10^9/l", "x10^9/l"),
    "10^3/uL": ("10^3/uL", "x10^3/uL", "10*3/uL", "10E3/uL", "K/uL", "k/uL", "10^3/ul", "x10^3/ul"),
    "U/L": ("U/L", "IU/L", "U/l", "IU/l"),
    "ukat/L": ("ukat/L", "ukat/l"),
    "s": ("s", "sec", "seconds"),
    "ratio": ("ratio", "1", "INR"),
}

_SPELLING_TO_UNIT = {s: unit for unit, spellings in UNIT_SPELLINGS.items() for s in spellings}


def normalize_unit(unit: str) -> str:
    """The canonical spelling of ``unit`` or LabUnitError. Accepts umol/L, µmol/L and μmol/L."""
    if not isinstance(unit, str):
        raise LabUnitError(f"unit {unit!r} is not text")
    key = unit.strip().replace(" ", "").replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00d7", "x")
    try:
        return _SPELLING_TO_UNIT[key]
    except KeyError:
        raise LabUnitError(f"unknown unit {unit!r}") from None


@dataclass(frozen=True)
class Analyte:
    """A laboratory test: its canonical unit and, for each accepted unit, the factor that turns a
    value in that unit into the canonical unit."""

    key: str
    label: str
    canonical_unit: str
    factors: Mapping[str, Fraction]
    aliases: tuple[str, ...] = ()
    lbtestcd: str | None = None  # CDISC SDTM LB test code
    source: str = ""
    # In canonical units: outside them a value is almost surely entered in the wrong unit (albumin
    # 30 "g/dL" is 30 g/L). Our own limits, wide enough for any living patient.
    plausible_max: float | None = None
    plausible_min: float | None = None
    # LOINC codes (https://loinc.org/<code>/) that report this analyte; the first is the one we write.
    loinc: tuple[str, ...] = ()
    # (lowest, highest) upper limit of normal a laboratory may plausibly report, in the canonical unit.
    # Adult reference intervals (Kratz A et al., Laboratory reference values, N Engl J Med
    # 2004;351:1548-1563) put each analyte's ULN well inside these windows; the windows are our own,
    # wide enough for any method, yet a factor apart from the same number read in the other unit
    # (AST ULN 40 U/L is plausible, 40 ukat/L = 2400 U/L is not).
    uln_window: tuple[Fraction, Fraction] | None = None

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(self.factors)


_ENZYME = {"U/L": Fraction(1), "ukat/L": Fraction(60)}
_COUNT = {"/uL": Fraction(1), "10^9/L": Fraction(1000), "10^3/uL": Fraction(1000)}
_AMA = "AMA Manual of Style SI conversion table"


def _w(low: str | int, high: str | int) -> tuple[Fraction, Fraction]:
    return Fraction(low), Fraction(high)


# LOINC codes from the LOINC table (loinc.org): 1920-8 AST [Enzymatic activity/volume] in Serum or
# Plasma, 30239-8 the same with P-5'-P; 1742-6 ALT, 1743-4 with P-5'-P; 1975-2 Bilirubin.total
# [Mass/volume], 14631-6 [Moles/volume]; 5902-2 Prothrombin time; 6301-6 INR in Platelet poor plasma;
# 14979-9 aPTT in Platelet poor plasma, 3173-2 aPTT in Blood; 1751-7 Albumin [Mass/volume] in Serum or
# Plasma; 751-8 Neutrophils [#/volume] in Blood by Automated count, 26499-4 Neutrophils [#/volume] in
# Blood; 777-3 Platelets [#/volume] in Blood by Automated count, 26515-7 Platelets [#/volume] in Blood;
# 718-7 Hemoglobin [Mass/volume] in Blood, 59260-0 Hemoglobin [Moles/volume] in Blood; 2160-0
# Creatinine [Mass/volume] in Serum or Plasma, 14682-9 [Moles/volume]; 1798-8 Amylase, 3040-3 Lipase
# [Enzymatic activity/volume] in Serum or Plasma.
ANALYTES: dict[str, Analyte] = {
    a.key: a
    for a in (
        Analyte(
            "ast",
            "Aspartate aminotransferase (AST)",
            "U/L",
            _ENZYME,
            ("sgot", "aspartate_aminotransferase", "asat"),
            "AST",
            _AMA,
            loinc=("1920-8", "30239-8"),
            uln_window=_w(15, 100),
        ),
        Analyte(
            "alt",
            "Alanine aminotransferase (ALT)",
            "U/L",
            _ENZYME,
            ("sgpt", "alanine_aminotransferase", "alat"),
            "ALT",
            _AMA,
            loinc=("1742-6", "1743-4"),
            uln_window=_w(15, 100),
        ),
        Analyte(
            "bilirubin",
            "Total bilirubin",
            "mg/dL",
            {"mg/dL": Fraction(1), "umol/L": 1 / Fraction("17.104")},
            ("total_bilirubin", "tsb", "tbil", "bilirubin_total", "t_bili"),
            "BILI",
            _AMA + ": 1 mg/dL = 17.104 umol/L",
            50,
            loinc=("1975-2", "14631-6"),
            uln_window=_w("0.5", 3),
        ),
        Analyte(
            "pt",
            "Prothrombin time (PT)",
            "s",
            {"s": Fraction(1)},
            ("prothrombin_time",),
            "PT",
            "",
            200,
            loinc=("5902-2",),
            uln_window=_w(9, 20),
        ),
        Analyte(
            "inr",
            "International normalized ratio (INR)",
            "ratio",
            {"ratio": Fraction(1)},
            (),
            "INR",
            "",
            20,
            loinc=("6301-6",),
            uln_window=_w("0.9", 2),
        ),
        Analyte(
            "ptt",
            "Activated partial thromboplastin time (aPTT)",
            "s",
            {"s": Fraction(1)},
            ("aptt", "activated_partial_thromboplastin_time"),
            "APTT",
            "",
            300,
            loinc=("14979-9", "3173-2"),
            uln_window=_w(20, 60),
        ),
        Analyte(
            "albumin",
            "Serum albumin",
            "g/dL",
            {"g/dL": Fraction(1), "g/L": Fraction(1, 10)},
            ("alb",),
            "ALB",
            _AMA + ": 1 g/dL = 10 g/L",
            10,
            0.5,
            loinc=("1751-7",),
            uln_window=_w("3.5", 7),
        ),
        Analyte(
            "anc",
            "Absolute neutrophil count (ANC)",
            "/uL",
            _COUNT,
            ("neutrophils", "absolute_neutrophil_count", "neut"),
            "NEUT",
            _AMA + ": 1 x 10^9/L = 1000 /uL",
            200_000,
            loinc=("751-8", "26499-4"),
            uln_window=_w(4_000, 15_000),
        ),
        Analyte(
            "platelets",
            "Platelet count",
            "/uL",
            _COUNT,
            ("plt", "platelet_count", "plat"),
            "PLAT",
            _AMA + ": 1 x 10^9/L = 1000 /uL",
            5_000_000,
            loinc=("777-3", "26515-7"),
            uln_window=_w(250_000, 800_000),
        ),
        Analyte(
            "hemoglobin",
            "Hemoglobin",
            "g/dL",
            {"g/dL": Fraction(1), "g/L": Fraction(1, 10), "mmol/L": Fraction("1.6114")},
            ("hgb", "hb", "haemoglobin"),
            "HGB",
            _AMA + ": 1 g/dL = 10 g/L = 0.6206 mmol/L",
            30,
            1,
            loinc=("718-7", "59260-0"),
            uln_window=_w(12, 22),
        ),
        Analyte(
            "creatinine",
            "Serum creatinine",
            "mg/dL",
            {"mg/dL": Fraction(1), "umol/L": 1 / Fraction("88.4")},
            ("creat", "cr", "scr"),
            "CREAT",
            _AMA + ": 1 mg/dL = 88.4 umol/L",
            30,
            loinc=("2160-0", "14682-9"),
            uln_window=_w("0.5", 3),
        ),
        Analyte(
            "amylase",
            "Serum amylase",
            "U/L",
            _ENZYME,
            ("amy",),
            "AMYLASE",
            _AMA,
            loinc=("1798-8",),
            uln_window=_w(40, 500),
        ),
        Analyte(
            "lipase",
            "Serum lipase",
            "U/L",
            _ENZYME,
            ("lip",),
            "LIPASE",
            _AMA,
            loinc=("3040-3",),
            uln_window=_w(20, 600),
        ),
    )
}


def name_key(text: str) -> str:
    """A laboratory name as a lookup key: lower case, every run of other characters one underscore.

    "Total bilirubin", "total-bilirubin" and "TOTAL_BILIRUBIN" are ``total_bilirubin``; "HIV Ag/Ab"
    is ``hiv_ag_ab``; the micro sign and apostrophes are dropped.
    """
    import re

    key = text.strip().lower().replace("'", "").replace("\u2019", "")
    return re.sub(r"[^a-z0-9]+", "_", key).strip("_")


LOINC_CODE = r"^\d{1,7}-\d$"  # a LOINC code: digits, a hyphen and the check digit (loinc.org)

_ANALYTE_ALIASES = {name_key(alias): a.key for a in ANALYTES.values() for alias in (a.key, *a.aliases)}
_ANALYTE_LOINC = {code: a.key for a in ANALYTES.values() for code in a.loinc}


def find_analyte(name: str) -> Analyte | None:
    """The analyte ``name`` stands for: its key, an alias in any case and spelling, or a LOINC code."""
    if not isinstance(name, str):
        return None
    text = name.strip().removeprefix("http://loinc.org|").removeprefix("LOINC:").strip()
    key = _ANALYTE_LOINC.get(text) or _ANALYTE_ALIASES.get(name_key(text))
    return ANALYTES[key] if key else None


def get_analyte(name: str) -> Analyte:
    analyte = find_analyte(name)
    if analyte is None:
        known = ", ".join(ANALYTES)
        raise LabUnitError(f"unknown analyte {name!r} (known: {known})")
    return analyte


def uln_window_problem(analyte: str, uln: Any, unit: str) -> str | None:
    """None when ``uln`` (in ``unit``) is a plausible upper limit of normal for the analyte, else why not.

    A ULN outside the window is almost surely in another unit than the one it is read in (AST 6 ukat/L
    with "ULN 40" meant in U/L would be read as 40 ukat/L and pass at 0.15 x ULN). The message names
    the unit in which the number would be plausible, when there is one.
    """
    a = get_analyte(analyte)
    if a.uln_window is None:
        return None
    low, high = a.uln_window
    canonical = convert_exact(a.key, uln, unit, a.canonical_unit)
    if low <= canonical <= high:
        return None
    shown_unit = normalize_unit(unit)

    def window_in(target: str) -> str:
        lo, hi = (float(x / a.factors[target] * a.factors[a.canonical_unit]) for x in (low, high))
        return f"{lo:g}-{hi:g} {target}"

    fits = [u for u in a.units if u != shown_unit and low <= _exact(uln) * a.factors[u] <= high]
    hint = f"; was it meant in {' or '.join(fits)}? Give the ULN's unit as uln_unit" if fits else ""
    return (
        f"ULN {_exact_text(uln)} {shown_unit} is not a plausible upper limit of normal for {a.label} "
        f"(plausible: {window_in(shown_unit)}){hint}"
    )


def _exact_text(value: Any) -> str:
    return f"{float(value):g}" if isinstance(value, (int, float)) else str(value)


def _exact(value: Any) -> Fraction:
    # Read a decimal as written (88.4, not the nearest binary float) so boundaries stay exact.
    if isinstance(value, bool):
        raise LabUnitError(f"value {value!r} is not a number")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LabUnitError(f"value {value!r} is not a finite number")
        return Fraction(repr(value))
    if isinstance(value, (str, Decimal)):
        try:
            return Fraction(str(value).strip())
        except ValueError:
            raise LabUnitError(f"value {value!r} is not a number") from None
    raise LabUnitError(f"value {value!r} is not a number")


def _factor(analyte: Analyte, unit: str) -> tuple[str, Fraction]:
    canonical = normalize_unit(unit)
    if canonical not in analyte.factors:
        allowed = ", ".join(analyte.units)
        raise LabUnitError(f"unit {unit!r} is not a unit of {analyte.key} (allowed: {allowed})")
    return canonical, analyte.factors[canonical]


def convert_exact(analyte: str, value: Any, from_unit: str, to_unit: str) -> Fraction:
    a = get_analyte(analyte)
    _, f_from = _factor(a, from_unit)
    _, f_to = _factor(a, to_unit)
    return _exact(value) * f_from / f_to


def convert(analyte: str, value: Any, from_unit: str, to_unit: str) -> float:
    """``value`` of ``analyte`` in ``from_unit`` expressed in ``to_unit``.

    >>> convert("albumin", 30, "g/L", "g/dL")
    3.0
    """
    return float(convert_exact(analyte, value, from_unit, to_unit))


def to_canonical(analyte: str, value: Any, unit: str) -> tuple[float, str]:
    """``(value, unit)`` in the analyte's canonical unit; to_canonical("creatinine", 88.4, "umol/L")
    is (1.0, "mg/dL")."""
    a = get_analyte(analyte)
    return float(convert_exact(a.key, value, unit, a.canonical_unit)), a.canonical_unit


def uln_multiple_exact(analyte: str, value: Any, unit: str, uln: Any, uln_unit: str | None = None) -> Fraction:
    a = get_analyte(analyte)
    measured = convert_exact(a.key, value, unit, a.canonical_unit)
    limit = convert_exact(a.key, uln, uln_unit or unit, a.canonical_unit)
    if limit <= 0:
        raise LabUnitError(f"upper limit of normal for {a.key} must be positive, got {uln!r}")
    return measured / limit


def uln_multiple(analyte: str, value: Any, unit: str, uln: Any, uln_unit: str | None = None) -> float:
    """``value / uln`` after converting both to the same unit (``uln_unit`` defaults to ``unit``)."""
    return float(uln_multiple_exact(analyte, value, unit, uln, uln_unit))


def within_uln_multiple(analyte: str, value: Any, unit: str, uln: Any, limit: Any, uln_unit: str | None = None) -> bool:
    """True when value <= limit x ULN, compared exactly (AST 100 U/L with ULN 40 is within 2.5)."""
    return uln_multiple_exact(analyte, value, unit, uln, uln_unit) <= _exact(limit)


# --------------------------------------------------------------------------- reference ranges


@dataclass(frozen=True)
class ReferenceRange:
    """A laboratory's normal range for one analyte (optionally for one sex)."""

    analyte: str
    low: float | None
    high: float
    unit: str
    sex: str | None = None  # "F", "M" or None for both

    def __post_init__(self) -> None:
        a = get_analyte(self.analyte)
        object.__setattr__(self, "analyte", a.key)
        canonical, _ = _factor(a, self.unit)
        object.__setattr__(self, "unit", canonical)
        if self.sex not in (None, "F", "M"):
            raise LabUnitError(f"{a.key}: sex must be F, M or empty, got {self.sex!r}")
        if self.high <= 0 or (self.low is not None and self.low > self.high):
            raise LabUnitError(f"{a.key}: reference range {self.low}-{self.high} {self.unit} is not a range")


@dataclass
class SiteReferenceRanges:
    """Each site's laboratory reference ranges; the ULN for ×ULN criteria comes from here."""

    ranges: dict[str, list[ReferenceRange]] = field(default_factory=dict)

    def add(self, site: str, reference: ReferenceRange) -> None:
        for existing in self.ranges.get(site, []):
            if existing.analyte == reference.analyte and existing.sex == reference.sex:
                raise LabUnitError(f"site {site}: {reference.analyte} range given twice")
        self.ranges.setdefault(site, []).append(reference)

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> SiteReferenceRanges:
        """``{site: {analyte: {"low":..,"high":..,"unit":..} or a list of those with "sex"}}``."""
        table = cls()
        for site, analytes in data.items():
            for analyte, spec in analytes.items():
                for entry in spec if isinstance(spec, list) else [spec]:
                    table.add(
                        site, ReferenceRange(analyte, entry.get("low"), entry["high"], entry["unit"], entry.get("sex"))
                    )
        return table

    def reference(self, site: str, analyte: str, sex: str | None = None) -> ReferenceRange:
        key = get_analyte(analyte).key
        candidates = [r for r in self.ranges.get(site, []) if r.analyte == key]
        for r in candidates:
            if sex is not None and r.sex == sex:
                return r
        for r in candidates:
            if r.sex is None:
                return r
        raise LabUnitError(f"site {site} has no reference range for {key}" + (f" (sex {sex})" if sex else ""))

    def uln_multiple(self, site: str, analyte: str, value: Any, unit: str, sex: str | None = None) -> float:
        ref = self.reference(site, analyte, sex)
        return uln_multiple(analyte, value, unit, ref.high, ref.unit)
