"""The instrument framework: items, validation with named errors, cross-item rules, totals.

One ``Instrument`` describes a scale or a case report form as an ordered tuple of ``Item``s. The
same description drives validation, scoring, the CLI and (later) the generated eCRF, so a rule is
written once and cannot be bypassed by one way of entering data.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


class ItemType(str, enum.Enum):
    integer = "integer"
    number = "number"
    choice = "choice"
    date = "date"
    text = "text"
    boolean = "boolean"


@dataclass(frozen=True)
class Choice:
    """One allowed answer: the stored code and what it means on the published form."""

    code: int | str
    label: str


@dataclass(frozen=True)
class FieldError:
    """One problem with one item: which item, the value given, the rule broken, a sentence."""

    item: str
    value: Any
    rule: str
    message: str

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.item}: {self.message}"
        shown = self.value.isoformat() if isinstance(self.value, (date, datetime)) else self.value
        return f"{self.item} = {shown!r}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        value = self.value.isoformat() if isinstance(self.value, (date, datetime)) else self.value
        return {"item": self.item, "value": value, "rule": self.rule, "message": self.message}


class InstrumentError(ValueError):
    """A form that cannot be accepted; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError], instrument: str | None = None):
        self.errors = list(errors)
        self.instrument = instrument
        head = f"{instrument}: " if instrument else ""
        lines = [f"{head}{len(self.errors)} invalid item(s)"] + [f"  {e}" for e in self.errors]
        super().__init__("\n".join(lines))


_MISSING = object()

# SDTMIG findings domains that hold scale (QRS) data: questionnaires, functional tests, clinical
# classifications (SDTMIG v3.4, QRS shared assumptions).
SDTM_SCALE_DOMAINS = ("QS", "FT", "RS")


@dataclass(frozen=True)
class Item:
    """One question of a scale or form.

    ``choices`` lists the allowed codes of a choice item, and for a scored integer item the allowed
    scores with their published descriptions. Without choices an integer or number item is bounded
    by ``minimum``/``maximum``. ``untestable`` are codes the scale allows instead of a score (the
    NIHSS "UN"); they are kept in the cleaned values and never added to a total.
    """

    key: str
    label: str
    type: ItemType
    required: bool = True
    choices: tuple[Choice, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    untestable: tuple[str, ...] = ()
    scored: bool = False
    subscale: str | None = None
    part_of: str | None = None  # an item-level entry that sums into this domain item
    max_length: int | None = None
    help: str = ""
    source: str = ""
    qs_testcd: str | None = None
    qs_test: str | None = None
    qs_cat: str | None = None

    @property
    def allowed_values(self) -> tuple[Any, ...] | None:
        """The discrete values accepted (scores or codes, then untestable codes), if discrete."""
        if self.choices:
            return tuple(c.code for c in self.choices) + self.untestable
        if self.type is ItemType.integer and self.minimum is not None and self.maximum is not None:
            return tuple(range(int(self.minimum), int(self.maximum) + 1)) + self.untestable
        if self.type is ItemType.boolean:
            return (True, False)
        return None

    @property
    def max_score(self) -> int:
        scores = [c.code for c in self.choices if isinstance(c.code, int)]
        if scores:
            return max(scores)
        return int(self.maximum or 0)

    @property
    def min_score(self) -> int:
        scores = [c.code for c in self.choices if isinstance(c.code, int)]
        if scores:
            return min(scores)
        return int(self.minimum or 0)

    def describe_allowed(self) -> str:
        """The rule for this item in words, used in every error message about it."""
        if self.type is ItemType.integer:
            if self.choices:
                allowed = ", ".join(str(c.code) for c in self.choices)
            else:
                allowed = f"{_fmt(self.minimum)}-{_fmt(self.maximum)}"
            if self.untestable:
                allowed += " or " + "/".join(self.untestable)
            return f"allowed: {allowed}"
        if self.type is ItemType.number:
            lo = "-inf" if self.minimum is None else _fmt(self.minimum)
            hi = "inf" if self.maximum is None else _fmt(self.maximum)
            unit = f" {self.unit}" if self.unit else ""
            return f"allowed: a number {lo}-{hi}{unit}"
        if self.type is ItemType.choice:
            return "allowed: " + ", ".join(str(c.code) for c in self.choices)
        if self.type is ItemType.date:
            return "allowed: a date YYYY-MM-DD"
        if self.type is ItemType.boolean:
            return "allowed: true, false"
        limit = f" of at most {self.max_length} characters" if self.max_length else ""
        return f"allowed: text{limit}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "type": self.type.value,
            "required": self.required,
        }
        if self.choices:
            data["choices"] = [{"code": c.code, "label": c.label} for c in self.choices]
        if self.minimum is not None:
            data["minimum"] = self.minimum
        if self.maximum is not None:
            data["maximum"] = self.maximum
        for name in ("unit", "subscale", "part_of", "max_length", "help", "source"):
            value = getattr(self, name)
            if value:
                data[name] = value
        if self.untestable:
            data["untestable"] = list(self.untestable)
        data["scored"] = self.scored
        data["allowed"] = self.describe_allowed()
        data["qs_testcd"] = self.qs_testcd
        data["qs_test"] = self.qs_test
        data["qs_cat"] = self.qs_cat
        return data

    # ------------------------------------------------------------------ cleaning one value

    def clean(self, value: Any) -> tuple[Any, FieldError | None]:
        """The stored form of ``value`` or an error naming this item, the value and its rule."""
        if isinstance(value, str) and self.untestable:
            code = value.strip().upper()
            if code in self.untestable:
                return code, None
        cleaner = getattr(self, f"_clean_{self.type.value}")
        cleaned: tuple[Any, FieldError | None] = cleaner(value)
        return cleaned

    def _error(self, value: Any, rule: str, what: str | None = None) -> FieldError:
        said = what or "not allowed"
        return FieldError(self.key, value, rule, f"{said} ({self.describe_allowed()})")

    def _clean_integer(self, value: Any) -> tuple[Any, FieldError | None]:
        number = _as_integer(value)
        if number is None:
            return None, self._error(value, "type", "not a whole number")
        if self.choices:
            if number not in {c.code for c in self.choices}:
                return None, self._error(value, "allowed_values")
        elif (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            return None, self._error(value, "range", "out of range")
        return number, None

    def _clean_number(self, value: Any) -> tuple[Any, FieldError | None]:
        number = _as_number(value)
        if number is None:
            return None, self._error(value, "type", "not a number")
        if (self.minimum is not None and number < self.minimum) or (self.maximum is not None and number > self.maximum):
            return None, self._error(value, "range", "out of range")
        return number, None

    def _clean_choice(self, value: Any) -> tuple[Any, FieldError | None]:
        for choice in self.choices:
            if value == choice.code and type(value) is type(choice.code):
                return choice.code, None
        return None, self._error(value, "allowed_values")

    def _clean_date(self, value: Any) -> tuple[Any, FieldError | None]:
        if isinstance(value, datetime):
            return value.date(), None
        if isinstance(value, date):
            return value, None
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return date.fromisoformat(value.strip()), None
            except ValueError:
                pass
        return None, self._error(value, "type", "not a valid date")

    def _clean_text(self, value: Any) -> tuple[Any, FieldError | None]:
        if not isinstance(value, str):
            return None, self._error(value, "type", "not text")
        text = value.strip()
        if not text:
            return None, self._error(value, "required", "is empty")
        if self.max_length and len(text) > self.max_length:
            return None, self._error(value, "length", "is too long")
        if self.choices and text not in {c.code for c in self.choices}:
            return None, self._error(value, "allowed_values")
        return text, None

    def _clean_boolean(self, value: Any) -> tuple[Any, FieldError | None]:
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            return value.strip().lower() == "true", None
        return None, self._error(value, "type", "not true or false")


def _fmt(number: float | None) -> str:
    if number is None:
        return ""
    return str(int(number)) if float(number).is_integer() else str(number)


def _as_integer(value: Any) -> int | None:
    # bool is an int in Python; a tick box is never a score.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value.strip())
    return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(Decimal(value.strip()))
        except (InvalidOperation, ValueError):
            return None
    else:
        return None
    return number if math.isfinite(number) else None


# ---------------------------------------------------------------------- cross-item rules


@dataclass(frozen=True)
class Rule:
    """A consistency rule across items, set by the published instructions (cited in ``source``).

    ``check`` receives the cleaned values of the valid items present and returns errors; it must
    tolerate missing items (draft forms). ``reads`` names the items ``check`` looks at, when it looks
    at no others (its outcome is then the same for any two forms that agree on those items: a
    population's screening checks each combination once); None when not declared.
    """

    name: str
    description: str
    source: str
    check: Callable[[Mapping[str, Any]], list[FieldError]]
    reads: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ScoredForm:
    instrument: str
    version: str
    total: int | None
    subscores: dict[str, int]
    values: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "version": self.version,
            "total": self.total,
            "subscores": dict(self.subscores),
            "values": {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in self.values.items()},
        }


@dataclass(frozen=True)
class Instrument:
    """A scale or case report form.

    ``total_range`` is set for scored scales; its bounds are the published range and are checked
    against the items at construction, so a mistyped item maximum cannot go unnoticed.
    """

    name: str
    title: str
    version: str
    items: tuple[Item, ...]
    kind: str = "scale"  # "scale" or "form"
    repeating: bool = False  # one record per event/medicine/condition
    total_range: tuple[int, int] | None = None
    subscales: tuple[tuple[str, str], ...] = ()  # (key, label) in display order
    rules: tuple[Rule, ...] = ()
    source: str = ""
    description: str = ""
    qs_cat: str | None = None
    # SDTMIG findings domain of a scale's records: QS (questionnaire), FT (functional test) or RS
    # (clinical classification), as CDISC Controlled Terminology classes the instrument. The item
    # codes (qs_testcd, qs_test, qs_cat) are that domain's --TESTCD, --TEST and --CAT.
    sdtm_domain: str = "QS"
    notes: tuple[str, ...] = field(default=())
    # An efficacy outcome scale: its totals are the analysis tables' outcomes, it is behind the
    # efficacy firewall on participant pages, and the report analyses it. This flag is the one
    # list of outcome scales (``trialkit.instruments.OUTCOME_INSTRUMENTS``).
    outcome: bool = False
    # Which direction of the total is better for the participant ("lower" or "higher"), stated
    # by the report next to every effect of this scale.
    better: str | None = None

    def __post_init__(self) -> None:
        if self.better not in (None, "lower", "higher"):
            raise ValueError(f"{self.name}: better {self.better!r} is not 'lower' or 'higher'")
        if self.outcome and (self.better is None or self.total_range is None):
            raise ValueError(f"{self.name}: an outcome scale needs a total range and a better direction")
        if self.sdtm_domain not in SDTM_SCALE_DOMAINS:
            raise ValueError(f"{self.name}: sdtm_domain {self.sdtm_domain!r} is not one of {SDTM_SCALE_DOMAINS}")
        keys = [i.key for i in self.items]
        if len(keys) != len(set(keys)):
            raise ValueError(f"{self.name}: duplicate item keys")
        if self.total_range is not None:
            top = sum(i.max_score for i in self.scored_items)
            bottom = sum(i.min_score for i in self.scored_items)
            if (bottom, top) != tuple(self.total_range):
                raise ValueError(
                    f"{self.name}: items add up to {bottom}-{top}, published range is "
                    f"{self.total_range[0]}-{self.total_range[1]}"
                )

    # ------------------------------------------------------------------ description

    @property
    def scored(self) -> bool:
        return self.total_range is not None

    @property
    def scored_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.scored and i.part_of is None)

    def item(self, key: str) -> Item:
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(key)

    def components(self, key: str) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.part_of == key)

    def subscale_range(self, key: str) -> tuple[int, int]:
        members = [i for i in self.scored_items if i.subscale == key]
        return sum(i.min_score for i in members), sum(i.max_score for i in members)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "version": self.version,
            "kind": self.kind,
            "repeating": self.repeating,
            "total_range": list(self.total_range) if self.total_range else None,
            "subscales": [
                {"key": k, "label": label, "range": list(self.subscale_range(k))} for k, label in self.subscales
            ],
            "source": self.source,
            "description": self.description,
            "qs_cat": self.qs_cat,
            "sdtm_domain": self.sdtm_domain,
            "items": [i.to_dict() for i in self.items],
            "rules": [{"name": r.name, "description": r.description, "source": r.source} for r in self.rules],
            "notes": list(self.notes),
        }

    # ------------------------------------------------------------------ validation

    def clean(self, values: Mapping[str, Any], partial: bool = False) -> tuple[dict[str, Any], list[FieldError]]:
        """Cleaned values and every error found; nothing is raised."""
        if not isinstance(values, Mapping):
            return {}, [FieldError("(form)", values, "type", "a form is an object of item values")]
        errors: list[FieldError] = []
        known = {i.key for i in self.items}
        for key in values:
            if key not in known:
                errors.append(FieldError(str(key), values[key], "unknown_item", f"is not an item of {self.name}"))
        cleaned: dict[str, Any] = {}
        for item in self.items:
            raw = values.get(item.key, _MISSING)
            if raw is _MISSING or raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            value, error = item.clean(raw)
            if error:
                errors.append(error)
            else:
                cleaned[item.key] = value
        errors.extend(self._reconcile_components(cleaned))
        if not partial:
            for item in self.items:
                if (
                    item.required
                    and item.part_of is None
                    and item.key not in cleaned
                    and not any(e.item == item.key for e in errors)
                ):
                    errors.append(FieldError(item.key, None, "required", f"is required ({item.describe_allowed()})"))
        for rule in self.rules:
            errors.extend(rule.check(cleaned))
        ordered = {i.key: cleaned[i.key] for i in self.items if i.key in cleaned}
        return ordered, errors

    def _reconcile_components(self, cleaned: dict[str, Any]) -> list[FieldError]:
        # Item-level entry (e.g. the five MMSE orientation-to-time questions) sums into its domain:
        # derive the domain when only the items are given, and reject a domain that disagrees.
        errors: list[FieldError] = []
        for domain in {i.part_of for i in self.items if i.part_of}:
            parts = self.components(domain)
            given = [p for p in parts if p.key in cleaned]
            if not given:
                continue
            if len(given) < len(parts):
                missing_parts = [p for p in parts if p.key not in cleaned]
                if domain not in cleaned:
                    missing = ", ".join(p.key for p in missing_parts)
                    errors.append(
                        FieldError(domain, None, "components", f"item-level entry is incomplete: missing {missing}")
                    )
                    continue
                # Partial entry still bounds the domain: the entered questions' points are in it,
                # and at most the missing questions' maxima can be added to them.
                scores = [cleaned[p.key] for p in given]
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in scores):
                    continue
                entered = sum(scores)
                most = entered + sum(p.max_score for p in missing_parts)
                value = cleaned[domain]
                if isinstance(value, int) and not isinstance(value, bool) and not entered <= value <= most:
                    names = ", ".join(p.key for p in missing_parts)
                    errors.append(
                        FieldError(
                            domain,
                            value,
                            "components",
                            f"must be between the sum of its entered items ({entered}) and that sum plus the "
                            f"most the items not entered ({names}) can add ({most})",
                        )
                    )
                continue
            total = sum(cleaned[p.key] for p in parts)
            if domain not in cleaned:
                cleaned[domain] = total
            elif cleaned[domain] != total:
                errors.append(
                    FieldError(
                        domain,
                        cleaned[domain],
                        "components",
                        f"differs from the sum of its items ({total})",
                    )
                )
        return errors

    def validate(self, values: Mapping[str, Any], partial: bool = False) -> list[FieldError]:
        """Every problem with ``values``; ``partial=True`` allows missing required items (drafts)."""
        return self.clean(values, partial=partial)[1]

    def score(self, values: Mapping[str, Any]) -> ScoredForm:
        """Validate a complete form and compute its total and subscores; raises InstrumentError."""
        cleaned, errors = self.clean(values, partial=False)
        if errors:
            raise InstrumentError(errors, self.name)
        total: int | None = None
        subscores: dict[str, int] = {}
        if self.scored:
            total = 0
            for key, _label in self.subscales:
                subscores[key] = 0
            for item in self.scored_items:
                value = cleaned.get(item.key)
                if not isinstance(value, int):
                    continue  # untestable codes and optional items left blank add nothing
                total += value
                if item.subscale:
                    subscores[item.subscale] += value
            low, high = self.total_range  # type: ignore[misc]
            if not low <= total <= high:  # guarded by construction; kept as a last line of defence
                raise AssertionError(f"{self.name} total {total} outside {low}-{high}")
        return ScoredForm(self.name, self.version, total, subscores, cleaned)


# ---------------------------------------------------------------------- helpers for definitions


def levels(*labels: str, start: int = 0) -> tuple[Choice, ...]:
    """Consecutive scores from ``start``, each with its published description."""
    return tuple(Choice(start + n, label) for n, label in enumerate(labels))


def scores(pairs: Iterable[tuple[int, str]]) -> tuple[Choice, ...]:
    """Non-consecutive scores (Barthel 0/5/10), each with its published description."""
    return tuple(Choice(code, label) for code, label in pairs)


def codes(*pairs: tuple[str, str]) -> tuple[Choice, ...]:
    return tuple(Choice(code, label) for code, label in pairs)
