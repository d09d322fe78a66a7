"""The eligibility rule language: small, declarative, checked when the protocol loads.

A rule is a YAML mapping with exactly one key naming what it tests::

    {age: {min: 18, max: 70}}
    {days_since: {event: stroke_onset, min: 14, max: 90}}
    {months_since: {event: stroke_onset, greater_than: 6}}
    {nihss_total: {min: 6, max: 20}}
    {nihss_item: {any_of: [5a, 5b, 6a, 6b], min: 2, max: 4}}
    {nihss_item: {item: 1a, less_than: 2}}
    {lab: {analyte: ast, max_uln: 2.5}}
    {lab: {analyte: albumin, min: 3.0, unit: g/dL}}
    {lab: {each_measured_of: [amylase, lipase], max_uln: 1.0}}
    {condition: {names: [myocardial_infarction], within_months: 6}}
    {allergy: [bovine, porcine]}
    {serology_positive: [hbsag, hiv]}
    {medication_class: [antithrombotic]}
    {fact: {path: stroke.territory, in: [anterior]}}
    {attestation: planning to become pregnant during the trial}
    {all_of: [rule, ...]}     {any_of: [rule, ...]}
    {unless: rule, then: rule}   # holds if ``unless`` holds, else ``then`` decides

A rule states what the criterion's text states: for an inclusion criterion it describes the patient
who may enter, for an exclusion criterion the patient who is excluded ("History of epilepsy." is
``{condition: {names: [epilepsy]}}``). Nothing here is executed as code.

This module must not import ``trialkit.protocol`` (the protocol schema imports it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trialkit.eligibility import measures
from trialkit.eligibility.facts import Name, ScreeningFacts

# int first, so that a bound written 6 stays 6 in reasons and 3.0 stays 3.0.
Number = int | float


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Symbols used in reasons; comparisons are inclusive for min/max and strict for greater/less_than.
class Bounds(RuleModel):
    """Numeric bounds: ``min``/``max`` inclusive, ``greater_than``/``less_than`` strict."""

    min: Number | None = None
    max: Number | None = None
    greater_than: Number | None = None
    less_than: Number | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Bounds:
        if not self.has_bounds():
            raise ValueError("give at least one of min, max, greater_than, less_than")
        low = max(v for v in (self.min, self.greater_than, float("-inf")) if v is not None)
        high = min(v for v in (self.max, self.less_than, float("inf")) if v is not None)
        if low > high:
            raise ValueError(f"no value can satisfy these bounds (lower {low:g} is above upper {high:g})")
        return self

    def is_closed_range(self) -> bool:
        return self.min is not None and self.max is not None and self.greater_than is None and self.less_than is None

    def has_bounds(self) -> bool:
        return any(v is not None for v in (self.min, self.max, self.greater_than, self.less_than))

    def violations(self, value: float) -> list[str]:
        """The comparisons ``value`` breaks, as text (e.g. '< 3.0'); empty when it satisfies all."""
        broken = []
        if self.min is not None and not at_least(value, self.min):
            broken.append(f"< {fmt(self.min)}")
        if self.greater_than is not None and at_least(self.greater_than, value):
            broken.append(f"≤ {fmt(self.greater_than)}")
        if self.max is not None and not at_least(self.max, value):
            broken.append(f"> {fmt(self.max)}")
        if self.less_than is not None and at_least(value, self.less_than):
            broken.append(f"≥ {fmt(self.less_than)}")
        return broken

    def satisfied(self) -> str:
        """How a satisfying value compares, as text (e.g. '≥ 18', 'within 14–90')."""
        # Bounds are frozen: the text is made once (the entry keeps the bounds, so the id stays theirs).
        entry = _SATISFIED.get(id(self))
        if entry is None or entry[0] is not self:
            if len(_SATISFIED) > 10_000:  # bounds made on the fly, not a protocol's: keep the memory flat
                _SATISFIED.clear()
            entry = _SATISFIED[id(self)] = (self, self._satisfied())
        return entry[1]

    def _satisfied(self) -> str:
        if self.is_closed_range():
            assert self.min is not None and self.max is not None  # a closed range has both
            return f"within {fmt(self.min)}–{fmt(self.max)}"
        parts = []
        if self.min is not None:
            parts.append(f"≥ {fmt(self.min)}")
        if self.greater_than is not None:
            parts.append(f"> {fmt(self.greater_than)}")
        if self.max is not None:
            parts.append(f"≤ {fmt(self.max)}")
        if self.less_than is not None:
            parts.append(f"< {fmt(self.less_than)}")
        return " and ".join(parts)

    def needs(self) -> str:
        if self.is_closed_range():
            assert self.min is not None and self.max is not None  # a closed range has both
            return f"{fmt(self.min)}–{fmt(self.max)}"
        return self.satisfied()

    def limits(self) -> list[float]:
        """Every number a value is compared with."""
        return [v for v in (self.min, self.greater_than, self.max, self.less_than) if v is not None]

    def shown(self, value: float, digits: int = 4, decimals: int | None = None) -> str:
        """``value`` printed so that it compares with every limit as the decision did (:func:`fmt_as_decided`)."""
        return fmt_as_decided(value, self.limits(), digits, decimals)


_SATISFIED: dict[int, tuple[Bounds, str]] = {}


def at_least(value: float, bound: float) -> bool:
    """value >= bound, after rounding both to 9 significant digits.

    Unit conversions are floating point (30 g/L is 3.0000000000000004 g/dL after a division); the
    rounding keeps a value exactly on a boundary on the boundary, as a person reading it expects.
    """
    # Rounding is monotonic, so it can only turn "below" into "equal": decide without it unless the two
    # are within the rounding's reach (screening a population asks this a few hundred times a record).
    if value >= bound:
        return True
    if bound - value > 1e-8 * max(abs(value), abs(bound)):
        return False
    return float(f"{value:.9g}") >= float(f"{bound:.9g}")


def fmt(value: float, digits: int = 4) -> str:
    """A number as a person writes it: 3.0, 2.5, 18, 1,500, 150,000 (``digits`` significant digits
    below 1,000, whole numbers above)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 1000 else str(value)
    value = float(f"{value:.9g}")  # drop floating-point noise of unit conversions
    if value.is_integer():
        number = int(value)
        # A float bound written 3.0 keeps its decimal; large counts get thousands separators.
        if abs(number) >= 1000:
            return f"{number:,}"
        return f"{number}.0"
    if abs(value) < 1000:
        return f"{value:.{digits}g}"
    decimals = max(0, digits - len(str(int(abs(value)))))
    return f"{value:,.{decimals}f}"


def _order(value: float, limit: float) -> int:
    """-1, 0 or 1 as ``value`` is below, on or above ``limit``, compared as :func:`at_least` does."""
    return int(at_least(value, limit)) - int(at_least(limit, value))


def fmt_as_decided(value: float, limits: list[float], digits: int = 4, decimals: int | None = None) -> str:
    """``value`` as :func:`fmt` prints it (``digits`` significant digits), or with ``decimals``
    fixed decimals (2.60), with as many more digits as it takes for the printed number to compare
    with every limit the way ``value`` itself does.

    A reason must not contradict its decision: AST at 2.5024×ULN fails "≤ 2.5×ULN", so it is shown
    as 2.502, not 2.50. At 9 significant digits the printed number is the compared one
    (:func:`at_least` rounds to 9), so the search always ends there at the latest."""
    # Printed from the compared number (9 significant digits, as at_least compares), so that a unit
    # conversion's last-place noise never shows (2.49975 is 2.4998 whichever way it was computed).
    if isinstance(value, float):
        value = float(f"{value:.9g}")
    wanted = [_order(value, limit) for limit in limits]
    if decimals is None:
        candidates = [fmt(value, d) for d in range(digits, 10)]
    else:
        candidates = [f"{value:.{k}f}" for k in range(decimals, 16)]
    for text in candidates:
        printed = float(text.replace(",", ""))
        if [_order(printed, limit) for limit in limits] == wanted:
            return text
    return fmt(value, 9)


class SinceRule(Bounds):
    event: Literal["stroke_onset"] = Field(description="The dated event counted from (day 0).")


class NihssItemRule(Bounds):
    item: str | None = Field(None, description="One NIHSS item that must satisfy the bounds.")
    any_of: list[str] | None = Field(None, min_length=1, description="At least one of these items must.")

    @field_validator("item", "any_of", mode="before")
    @classmethod
    def _item_codes_are_text(cls, value: Any) -> Any:
        # YAML reads item 2 as a number; the item codes are text ("2", "5a").
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) else v for v in value]
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _items_known(self) -> NihssItemRule:
        if (self.item is None) == (self.any_of is None):
            raise ValueError("give exactly one of item, any_of")
        known = measures.nihss_items()
        for item in self.items:
            if item not in known:
                raise ValueError(f"unknown NIHSS item {item!r}; items are {', '.join(known)}")
        return self

    @property
    def items(self) -> list[str]:
        return [self.item] if self.item is not None else list(self.any_of or [])


class LabRule(RuleModel):
    analyte: str | None = Field(None, description="The analyte tested.")
    each_measured_of: list[str] | None = Field(
        None,
        min_length=2,
        description="Alternatives ('amylase or lipase'): at least one must be measured, and every "
        "measured one must satisfy the bounds.",
    )
    unit: str | None = Field(None, description="Unit of min/max/greater_than/less_than.")
    min: Number | None = None
    max: Number | None = None
    greater_than: Number | None = None
    less_than: Number | None = None
    min_uln: Number | None = Field(None, gt=0, description="Lower bound as a multiple of the ULN.")
    max_uln: Number | None = Field(None, gt=0, description="Upper bound as a multiple of the ULN.")

    @model_validator(mode="after")
    def _consistent(self) -> LabRule:
        if (self.analyte is None) == (self.each_measured_of is None):
            raise ValueError("give exactly one of analyte, each_measured_of")
        absolute = self.absolute_bounds()
        relative = self.min_uln is not None or self.max_uln is not None
        if absolute is None and not relative:
            raise ValueError("give bounds: min/max/greater_than/less_than with unit, or min_uln/max_uln")
        if absolute is not None and relative:
            raise ValueError("give either absolute bounds (with unit) or ULN multiples, not both")
        if absolute is not None and not self.unit:
            raise ValueError("absolute bounds need a unit (e.g. unit: g/dL)")
        for analyte in self.analytes:
            problem = (
                measures.check_lab_unit(analyte, self.unit)
                if self.unit
                else (
                    None
                    if analyte in measures.analyte_names()
                    else f"unknown analyte {analyte!r}; known: {', '.join(measures.analyte_names())}"
                )
            )
            if problem:
                raise ValueError(problem)
        return self

    @property
    def analytes(self) -> list[str]:
        return [self.analyte] if self.analyte is not None else list(self.each_measured_of or [])

    def absolute_bounds(self) -> Bounds | None:
        key = (id(self), "absolute")
        if key in _BOUNDS_OF:
            return _BOUNDS_OF[key][1]
        values = {"min": self.min, "max": self.max, "greater_than": self.greater_than, "less_than": self.less_than}
        bounds = None if all(v is None for v in values.values()) else Bounds(**values)
        _remember(key, self, bounds)  # a frozen rule's bounds, built once; the entry keeps the rule (and its id)
        return bounds

    def uln_bounds(self) -> Bounds:
        key = (id(self), "uln")
        if key not in _BOUNDS_OF:
            _remember(key, self, Bounds(min=self.min_uln, max=self.max_uln))
        bounds = _BOUNDS_OF[key][1]
        assert bounds is not None
        return bounds


_BOUNDS_OF: dict[tuple[int, str], tuple[RuleModel, Bounds | None]] = {}


def _remember(key: tuple[int, str], rule: RuleModel, bounds: Bounds | None) -> None:
    """Keep a rule's bounds (and the rule, so its id stays its own); bounded like the other caches."""
    if len(_BOUNDS_OF) > 10_000:
        _BOUNDS_OF.clear()
    _BOUNDS_OF[key] = (rule, bounds)


class ConditionRule(RuleModel):
    names: list[Name] = Field(min_length=1, description="Any of these recorded conditions makes the rule hold.")
    within_months: int | None = Field(
        None, gt=0, description="Only conditions dated within this many months before screening count."
    )


class FactRule(RuleModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    path: str = Field(description="Dotted path of a screening fact, e.g. stroke.territory, premorbid_mrs.")
    in_: list[Any] | None = Field(None, alias="in", min_length=1, description="The fact is one of these.")
    equals: Any = Field(None, description="The fact equals this value.")
    min: Number | None = None
    max: Number | None = None
    greater_than: Number | None = None
    less_than: Number | None = None

    @model_validator(mode="after")
    def _one_test(self) -> FactRule:
        tests = [self.in_ is not None, "equals" in self.model_fields_set, self.bounds() is not None]
        if sum(tests) != 1:
            raise ValueError("give exactly one test: in, equals, or min/max/greater_than/less_than")
        return self

    def bounds(self) -> Bounds | None:
        key = (id(self), "fact")
        if key in _BOUNDS_OF:
            return _BOUNDS_OF[key][1]
        values = {"min": self.min, "max": self.max, "greater_than": self.greater_than, "less_than": self.less_than}
        bounds = None if all(v is None for v in values.values()) else Bounds(**values)
        _remember(key, self, bounds)  # built once per (frozen) rule, as LabRule's
        return bounds

    @field_validator("path")
    @classmethod
    def _path_exists(cls, path: str) -> str:
        model: Any = ScreeningFacts
        parts = path.split(".")
        for i, part in enumerate(parts):
            fields = getattr(model, "model_fields", None)
            if not fields or part not in fields or part == "attestations":
                known = ", ".join(n for n in (fields or {}) if n != "attestations")
                where = ".".join(parts[:i]) or "the facts record"
                raise ValueError(f"{path!r}: {where} has no fact {part!r}; facts: {known}")
            model = _inner_model(fields[part].annotation)
        return path


def _inner_model(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


RULE_KINDS = (
    "age",
    "days_since",
    "months_since",
    "nihss_total",
    "nihss_item",
    "lab",
    "condition",
    "allergy",
    "serology_positive",
    "medication_class",
    "fact",
    "attestation",
    "all_of",
    "any_of",
    "unless",
)


class Rule(RuleModel):
    """One test over the screening facts; exactly one key is set (``then`` goes with ``unless``)."""

    age: Bounds | None = Field(None, description="Age in completed years at screening.")
    days_since: SinceRule | None = Field(None, description="Days from the event (day 0) to screening.")
    months_since: SinceRule | None = Field(None, description="Calendar months from the event to screening.")
    nihss_total: Bounds | None = Field(None, description="NIHSS total; UN items are not counted.")
    nihss_item: NihssItemRule | None = None
    lab: LabRule | None = None
    condition: ConditionRule | None = None
    allergy: list[Name] | None = Field(None, min_length=1, description="Holds if any allergen is recorded.")
    serology_positive: list[Name] | None = Field(None, min_length=1, description="Holds if any test is positive.")
    medication_class: list[Name] | None = Field(
        None,
        min_length=1,
        description="Holds if a current medication has one of these classes "
        "('antithrombotic' stands for antiplatelet and anticoagulant).",
    )
    fact: FactRule | None = None
    attestation: str | None = Field(
        None, min_length=1, description="The investigator's answer for this criterion, on the question given."
    )
    all_of: list[Rule] | None = Field(None, min_length=1)
    any_of: list[Rule] | None = Field(None, min_length=1)
    unless: Rule | None = None
    then: Rule | None = None

    @field_validator("medication_class", mode="before")
    @classmethod
    def _one_class_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Rule:
        given = [kind for kind in RULE_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            shown = ", ".join(given) if given else "none"
            raise ValueError(f"a rule has exactly one of {', '.join(RULE_KINDS)}; got {shown}")
        if (self.unless is None) != (self.then is None):
            raise ValueError("'unless' and 'then' go together")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in RULE_KINDS if getattr(self, kind) is not None)


def medication_classes(names: list[str]) -> set[str]:
    """Expand 'antithrombotic' to the instruments' antithrombotic classes."""
    out: set[str] = set()
    for name in names:
        out |= set(measures.ANTITHROMBOTIC_CLASSES) if name == "antithrombotic" else {name}
    return out
