"""A protocol's criteria compiled once for screening a population: the same outcomes as ``screen()``, faster.

``screen()`` (the web's screening, one record at a time) validates the facts with pydantic, evaluates
every rule and builds pydantic results. A population repeats itself: the same lab values, units and
ULNs, the same attestations, the same ages. So, per protocol, once:

- each criterion gets a *key function*: the facts its rule reads (every analyte's value, unit and ULN
  with their number types, the age in completed years, the days since onset, the NIHSS items it looks
  at, ...). Its outcome (status, reason, missing facts, and the criterion's JSON text) is remembered
  per key, so a criterion whose facts were seen before costs a key and a lookup; on a miss the one
  evaluator (``evaluate.evaluate``) decides it, so reasons and the rounding rule are unchanged;
- a record is checked by ``fast_facts``: plain Python checks that accept only what the pydantic
  schema accepts, into light objects with the attributes the evaluator reads. Anything it is not sure
  of (a type pydantic would coerce, an unknown name, a date it cannot read, an inconsistent record)
  goes to ``parse_facts``, which returns the same facts or raises the ``FactsError`` naming the field
  and the rule, exactly as ``screen()`` does;
- the NIHSS is scored once per record and shared by every criterion (a complete one is keyed by the
  sum of its scores, which is all its total criterion reads);
- parts of records already read (a lab as entered, a stroke, a condition, a medication, an
  attestation) are looked up, not checked again: the same entry gives the same immutable object, so a
  criterion reading labs, conditions, medications or attestations keys on those objects' identity;
- facts that only pydantic could read are evaluated without the memo (pydantic's 100 and 100.0, and
  0.0 and -0.0, compare equal but read differently in a reason);
- a result's JSON line is joined from each outcome's text, encoded to UTF-8 once per memo entry;
- per protocol, one function (``decide_all``, Python text made and compiled once) looks every
  criterion's outcome up: each key is written as an expression over the record's parts, each part read
  once per record (the conditions as one tuple for the nine criteria of ASSIST that read them), and
  only a miss calls the criterion. Its keys are tested equal to ``key_of``'s, criterion by criterion;
- the verdict comes from the tuple of statuses, which the summary counts in one step.

``tests/eligibility/test_eligibility_compiled.py`` screens thousands of generated records (edge values,
missing values, other units, invalid records) both ways and requires identical outcomes.
"""

from __future__ import annotations

import json
import json.encoder
import re
from collections.abc import Callable
from datetime import date
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from trialkit.eligibility import measures
from trialkit.eligibility.evaluate import Context, Truth, combine_all, combine_any, combine_unless, evaluate
from trialkit.eligibility.facts import FactsError, completed_years, parse_facts
from trialkit.eligibility.lab_vocabulary import lab_key, serology_key
from trialkit.eligibility.rules import Rule
from trialkit.eligibility.screening import (
    CriterionResult,
    ScreeningResult,
    _attestation_only,
    status_of,
)
from trialkit.eligibility.vocabulary import OTHER, ConditionVocabulary, normalize_name
from trialkit.instruments import get_instrument
from trialkit.instruments.labs import LabUnitError

if TYPE_CHECKING:
    from trialkit.protocol import Criterion, Protocol

# Remembered outcomes per criterion; past this many keys the memo starts again (memory stays flat).
MEMO_LIMIT = 20_000

_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(..., ensure_ascii=False)
_encode_string = json.encoder.encode_basestring  # what _ENCODE does with a str, without the checks before it
_VERDICTS = {v: b'"%s"' % v.encode() for v in ("eligible", "ineligible", "incomplete")}


# --------------------------------------------------------------------------- light facts


class _Stroke:
    __slots__ = ("onset_date", "territory", "type")

    def __init__(self, type: str | None, territory: str | None, onset_date: date | None):
        self.type = type
        self.territory = territory
        self.onset_date = onset_date


class _Lab:
    __slots__ = ("uln", "uln_unit", "unit", "value")

    def __init__(self, value: float, unit: str, uln: float | None, uln_unit: str | None):
        self.value = value
        self.unit = unit
        self.uln = uln
        self.uln_unit = uln_unit


class _Condition:
    __slots__ = ("date", "description", "name")

    def __init__(self, name: str, when: date | None, description: str | None):
        self.name = name
        self.date = when
        self.description = description


class _Medication:
    __slots__ = ("drug_class", "name")

    def __init__(self, name: str, drug_class: str | None):
        self.name = name
        self.drug_class = drug_class


class _Attestation:
    __slots__ = ("answer", "at", "by")

    def __init__(self, answer: bool, by: str | None, at: date | None):
        self.answer = answer
        self.by = by
        self.at = at


class LightFacts:
    """A facts record as ``ScreeningFacts`` holds it, without pydantic (made only by ``fast_facts``)."""

    __slots__ = (
        "age",
        "allergies",
        "attestations",
        "birth_date",
        "conditions",
        "id",
        "labs",
        "lactating",
        "medications",
        "nihss",
        "pregnant",
        "premorbid_mrs",
        "screening_date",
        "serology",
        "sex",
        "stroke",
    )
    age: int | None
    allergies: list[str] | None
    attestations: dict[str, Any]
    birth_date: date | None
    conditions: list[_Condition] | None
    id: str | None
    labs: dict[str, _Lab] | None
    lactating: bool | None
    medications: list[_Medication] | None
    nihss: dict[str, Any] | None
    pregnant: bool | None
    premorbid_mrs: int | None
    screening_date: date | None
    serology: dict[str, str] | None
    sex: str | None
    stroke: _Stroke | None

    def attestation(self, criterion_id: str) -> Any:
        return self.attestations.get(criterion_id)  # _Attestation objects (a bare true/false is _YES/_NO)


class _Unsure(Exception):
    """The fast check cannot vouch for the record: pydantic decides."""


_FIELDS = frozenset(LightFacts.__slots__)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")
_DATES: dict[str | None, date | None] = {None: None}
_MISSING: Any = object()


def _date(value: Any) -> date | None:
    if value is None:
        return None
    if type(value) is not str:
        raise _Unsure
    day = _DATES.get(value)
    if day is None:
        if not _DATE.fullmatch(value):
            raise _Unsure
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise _Unsure from None
        if len(_DATES) > 100_000:
            _DATES.clear()
            _DATES[None] = None
        _DATES[value] = day
    return day


def _opt_str(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _Unsure


def _name(value: Any) -> str:
    if type(value) is not str or len(value) > 64 or not _NAME.fullmatch(value):
        raise _Unsure
    return value


def _keys(value: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if type(value) is not dict or not allowed.issuperset(value):
        raise _Unsure
    return value


_STROKE_KEYS = frozenset({"type", "territory", "onset_date"})
_LAB_KEYS = frozenset({"value", "unit", "uln", "uln_unit"})
_CONDITION_KEYS = frozenset({"name", "date", "description"})
_MEDICATION_KEYS = frozenset({"name", "class"})
_ATTESTATION_KEYS = frozenset({"answer", "by", "at"})
_NUMBER = (int, float)


class _NihssCheck:
    """The NIHSS items as the scale allows them (integer scores only; 'UN' goes to the full check)."""

    def __init__(self) -> None:
        instrument = get_instrument("nihss")
        self.allowed = {
            item.key: frozenset(v for v in item.allowed_values or () if type(v) is int or v == measures.UNTESTABLE)
            for item in instrument.items
        }
        # Each rule's check, with its outcomes remembered per combination of the items it reads (when declared).
        self.checks: list[tuple[Callable[[Any], Any], tuple[str, ...] | None, dict[tuple[Any, ...], bool]]] = [
            (rule.check, rule.reads, {}) for rule in instrument.rules
        ]
        # The rules that declare no items, and those that do, each with the items it reads in one call
        # when all are there (a tuple: two items or more).
        self.plain = tuple(check for check, reads, _ in self.checks if reads is None)
        self.keyed = tuple(
            (check, reads, seen, None if len(reads) < 2 else itemgetter(*reads))
            for check, reads, seen in self.checks
            if reads is not None
        )
        # (item, score) for every score the scale allows: a record's items are checked in one set
        # operation, with their types (1 == 1.0 == True, but only int scores and "UN" are read here).
        self.pairs = frozenset((key, score) for key, scores in self.allowed.items() for score in scores)

    def check(self, values: Any) -> dict[str, Any] | None:
        """The items as read, or None; ``_Unsure`` (or TypeError) when pydantic decides."""
        if values is None:
            return None
        if type(values) is not dict:
            raise _Unsure
        # Hashing a list or object raises TypeError: fast_facts gives the record to pydantic.
        if not (_INT_OR_STR.issuperset(map(type, values.values())) and self.pairs.issuperset(values.items())):
            raise _Unsure
        for plain in self.plain:
            if plain(values):
                raise _Unsure
        for check, reads, seen, getter in self.keyed:
            # The scores are ints and "UN" (checked above): equal is same. An item not there reads None.
            try:
                key = tuple(map(values.get, reads)) if getter is None else getter(values)
            except KeyError:
                key = tuple(map(values.get, reads))
            fine = seen.get(key)
            if fine is None:
                fine = seen[key] = not check(values)
            if not fine:
                raise _Unsure
        return values

    __call__ = check


_NIHSS: _NihssCheck | None = None
_NIHSS_CHECK: Callable[[Any], dict[str, Any] | None] | None = None  # its check, a bound method (no __call__)
_INT_OR_STR = frozenset({int, str})
_LAB_OK: dict[tuple[Any, ...], bool] = {}


def _lab_ok(key: str, unit: str, uln: Any, uln_unit: str | None) -> bool:
    """The checks of ``ScreeningFacts._lab_units_known`` on one lab, remembered per (key, units, ULN)."""
    memo = (key, unit, type(uln), uln, uln_unit)
    ok = _LAB_OK.get(memo)
    if ok is None:
        ok = measures.check_lab_unit(key, unit) is None and (
            uln_unit is None or measures.check_lab_unit(key, uln_unit) is None
        )
        if ok and uln is not None:
            try:
                ok = measures.lab_uln_problem(key, uln, uln_unit or unit) is None
            except LabUnitError:
                ok = False
        if len(_LAB_OK) > 10_000:
            _LAB_OK.clear()
        _LAB_OK[memo] = ok
    return ok


def fast_facts(data: dict[str, Any], vocabulary: ConditionVocabulary | None) -> LightFacts | None:
    """The record as ``parse_facts(data, vocabulary)`` reads it, or None when only pydantic can tell."""
    global _NIHSS, _NIHSS_CHECK
    try:
        if not _FIELDS.issuperset(data):
            return None
        get = data.get
        f = LightFacts()
        record_id = get("id")
        if record_id is not None and type(record_id) is not str:
            return None
        f.id = record_id
        # A date already read (or null) is one lookup: its text (or None) is the only key there.
        value = get("screening_date")
        day = _DATES.get(value, _MISSING)
        f.screening_date = _date(value) if day is _MISSING else day
        value = get("birth_date")
        day = _DATES.get(value, _MISSING)
        f.birth_date = _date(value) if day is _MISSING else day
        age = get("age")
        if age is not None and (type(age) is not int or not 0 <= age <= 130):
            return None
        f.age = age
        sex = get("sex")
        if sex is not None and sex not in ("female", "male"):
            return None
        f.sex = sex
        stroke = get("stroke")
        if stroke is None:
            f.stroke = None
        else:
            s = _keys(stroke, _STROKE_KEYS)
            kind, territory, onset = s.get("type"), s.get("territory"), s.get("onset_date")
            memo = (kind, territory, onset)
            known = _STROKES.get(memo)
            if known is None:
                if kind is not None and kind not in ("ischemic", "hemorrhagic"):
                    return None
                if territory is not None and territory not in ("anterior", "posterior"):
                    return None
                known = _Stroke(kind, territory, _date(onset))
                _remember(_STROKES, memo, known)
            f.stroke = known
        if _NIHSS_CHECK is None:
            _NIHSS = _NihssCheck()
            _NIHSS_CHECK = _NIHSS.check
        f.nihss = _NIHSS_CHECK(get("nihss"))
        mrs = get("premorbid_mrs")
        if mrs is not None and (type(mrs) is not int or not 0 <= mrs <= 5):
            return None
        f.premorbid_mrs = mrs
        f.labs = _labs(get("labs"))
        f.serology = _serology(get("serology"))
        f.conditions = _conditions(get("conditions"), vocabulary)
        allergies = get("allergies")
        if allergies is not None:
            if type(allergies) is not list:
                return None
            allergies = [_name(a) for a in allergies]
        f.allergies = allergies
        f.medications = _medications(get("medications"))
        value = get("pregnant")
        if value is not None and type(value) is not bool:
            return None
        f.pregnant = value
        value = get("lactating")
        if value is not None and type(value) is not bool:
            return None
        f.lactating = value
        f.attestations = _attestations(data["attestations"]) if "attestations" in data else {}
    except (_Unsure, TypeError):  # TypeError: a list or object where a memo wants a hashable value
        return None
    # ScreeningFacts._dates_consistent: an inconsistent record is pydantic's to report.
    when = f.screening_date
    if when is not None:
        if f.birth_date is not None and (
            f.birth_date > when or (f.age is not None and completed_years(f.birth_date, when) != f.age)
        ):
            return None
        if f.stroke is not None and f.stroke.onset_date is not None and f.stroke.onset_date > when:
            return None
    return f


def _labs(labs: Any) -> dict[str, _Lab] | None:
    if labs is None:
        return None
    if type(labs) is not dict:
        raise _Unsure
    out: dict[str, _Lab] = {}
    for entered, lab in labs.items():
        if type(entered) is not str or not 0 < len(entered) <= 64:
            raise _Unsure
        key = lab_key(entered)
        if key is None or key in out:
            raise _Unsure
        lab = _keys(lab, _LAB_KEYS)
        value: Any = lab.get("value")
        unit, uln, uln_unit = lab.get("unit"), lab.get("uln"), lab.get("uln_unit")
        # The same lab as entered before is the same (immutable) object: criteria key on its identity.
        memo = (key, type(value), value, unit, type(uln), uln, uln_unit)
        known = _LABS.get(memo)
        if known is not None:
            out[key] = known
            continue
        if type(value) not in _NUMBER or not value >= 0 or type(unit) is not str or not unit:
            raise _Unsure
        if uln is not None and (type(uln) not in _NUMBER or not uln > 0):
            raise _Unsure
        if uln_unit is not None and (type(uln_unit) is not str or not uln_unit):
            raise _Unsure
        if not _lab_ok(key, unit, uln, uln_unit):
            raise _Unsure
        made = out[key] = _Lab(value, unit, uln, uln_unit)
        if value != 0:  # 0.0 and -0.0 are one key but read differently: not remembered
            _remember(_LABS, memo, made)
    return out


_RESULTS = {"positive": "positive", "negative": "negative"}


def _serology(values: Any) -> dict[str, str] | None:
    if values is None:
        return None
    if type(values) is not dict:
        raise _Unsure
    # The results as written (names and results are text: an equal set of results is the same one).
    memo = tuple(values.items())
    known = _SEROLOGY.get(memo)
    if known is not None:
        return dict(known)
    out: dict[str, str] = {}
    for entered, result in values.items():
        if type(entered) is not str or not 0 < len(entered) <= 64 or type(result) is not str:
            raise _Unsure
        key = serology_key(entered)
        read = _RESULTS.get(result) or _RESULTS.get(result.strip().lower())
        if key is None or key in out or read is None:
            raise _Unsure
        out[key] = read
    _remember(_SEROLOGY, memo, dict(out))
    return out


def _conditions(values: Any, vocabulary: ConditionVocabulary | None) -> list[_Condition] | None:
    if values is None:
        return None
    if type(values) is not list:
        raise _Unsure
    out = []
    memos = _condition_memo(vocabulary)
    for c in values:
        if type(c) is not dict or not _CONDITION_KEYS.issuperset(c):
            raise _Unsure
        name = c.get("name")
        memo = (name, c.get("date"), c.get("description"))
        known = memos.get(memo)
        if known is not None:
            out.append(known)
            continue
        if type(name) is not str:
            raise _Unsure
        name = _name(normalize_name(name))
        description = c.get("description")
        if description is not None:
            if type(description) is not str:
                raise _Unsure
            description = description.strip() or None
            if description is not None and len(description) > 200:
                raise _Unsure
        if name == OTHER and not description:
            raise _Unsure
        if vocabulary is not None:
            resolved = vocabulary.resolve(name)
            if resolved is None:
                raise _Unsure
            name = resolved
        made = _Condition(name, _date(c.get("date")), description)
        out.append(made)
        _remember(memos, memo, made)
    return out


_CONDITIONS: dict[int, tuple[Any, dict[Any, _Condition]]] = {}
_LAST_CONDITIONS: tuple[Any, dict[Any, _Condition]] = (object(), {})


def _condition_memo(vocabulary: ConditionVocabulary | None) -> dict[Any, _Condition]:
    """Conditions already read, per vocabulary (a name resolves against the trial's own)."""
    global _LAST_CONDITIONS
    entry = _LAST_CONDITIONS  # a population is screened against one vocabulary: the last one first
    if entry[0] is vocabulary:
        return entry[1]
    entry = _CONDITIONS.get(id(vocabulary))  # type: ignore[assignment]
    if entry is None or entry[0] is not vocabulary:
        if len(_CONDITIONS) > 64:
            _CONDITIONS.clear()
        entry = _CONDITIONS[id(vocabulary)] = (vocabulary, {})
    _LAST_CONDITIONS = entry
    return entry[1]


def _medications(values: Any) -> list[_Medication] | None:
    if values is None:
        return None
    if type(values) is not list:
        raise _Unsure
    out = []
    for m in values:
        if type(m) is not dict or not _MEDICATION_KEYS.issuperset(m):
            raise _Unsure
        name = m.get("name")
        drug_class = m.get("class")
        memo = (name, drug_class)
        known = _MEDICATIONS.get(memo)
        if known is not None:
            out.append(known)
            continue
        if type(name) is not str or not name:
            raise _Unsure
        made = _Medication(name, None if drug_class is None else _name(drug_class))
        out.append(made)
        _remember(_MEDICATIONS, memo, made)
    return out


def _attestations(values: Any) -> dict[str, Any]:
    if values is None:
        raise _Unsure  # pydantic refuses null here
    if type(values) is not dict:
        raise _Unsure
    out: dict[str, Any] = {}
    for criterion_id, value in values.items():
        if type(criterion_id) is not str:
            raise _Unsure
        if type(value) is bool:
            out[criterion_id] = _YES if value else _NO
            continue
        if type(value) is not dict or not _ATTESTATION_KEYS.issuperset(value):
            raise _Unsure
        answer = value.get("answer")
        memo = (type(answer), answer, value.get("by"), value.get("at"))
        known = _ATTESTATIONS.get(memo)
        if known is None:
            if type(answer) is not bool:
                raise _Unsure
            known = _Attestation(answer, _opt_str(value.get("by")), _date(value.get("at")))
            _remember(_ATTESTATIONS, memo, known)
        out[criterion_id] = known
    return out


# Parts of records already read (each an immutable object shared by the records that hold it, so a
# criterion's key can be the object itself); each memo starts again past MEMO_LIMIT (memory stays flat).
_LABS: dict[Any, _Lab] = {}
_SEROLOGY: dict[Any, dict[str, str]] = {}
_MEDICATIONS: dict[Any, _Medication] = {}
_ATTESTATIONS: dict[Any, _Attestation] = {}
_STROKES: dict[Any, _Stroke] = {}
_YES = _Attestation(True, None, None)
_NO = _Attestation(False, None, None)


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> None:
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value


# --------------------------------------------------------------------------- keys


Key = Callable[[Any, date, dict[str, Any]], Any]


def nihss_partial(values: dict[str, Any]) -> measures.NihssPartial:
    """``measures.nihss_partial`` of validated items: the total is the sum of the scores (UN adds nothing)."""
    bounds = measures._nihss_bounds()
    # The items are validated (each one of the scale's), so all are there when the counts agree.
    missing = [] if len(values) == len(bounds) else [item for item in bounds if item not in values]
    scores = values.values()
    known_sum = sum([v for v in scores if type(v) is int]) if measures.UNTESTABLE in scores else sum(scores)
    highest = known_sum + sum(bounds[item][1] for item in missing)
    return measures.NihssPartial(None if missing else known_sum, known_sum, missing, highest)


def _nihss(facts: Any, cache: dict[str, Any]) -> measures.NihssPartial:
    partial: measures.NihssPartial | None = cache.get("nihss")
    if partial is None:
        partial = cache["nihss"] = nihss_partial(facts.nihss)
    return partial


def key_of(rule: Rule, criterion_id: str) -> Key:
    """What ``rule`` reads from a ``LightFacts`` record (with the screening date), as a hashable value.

    Labs, conditions, medications and attestations are the memoised objects of ``fast_facts`` (the
    same entry as entered is the same object), so they count by identity: no key is built from their
    fields. Facts from ``parse_facts`` (pydantic, whose 100 and 100.0 compare equal) are not keyed."""
    kind = rule.kind
    if kind == "age":

        def age(f: Any, on: date, cache: dict[str, Any]) -> Any:
            born = f.birth_date
            if born is not None:  # completed_years, inline
                return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
            return f.age

        return age
    if kind == "days_since":

        def days(f: Any, on: date, cache: dict[str, Any]) -> Any:
            onset = f.stroke.onset_date if f.stroke else None
            return None if onset is None else (on - onset).days

        return days
    if kind == "months_since":

        def months(f: Any, on: date, cache: dict[str, Any]) -> Any:
            onset = f.stroke.onset_date if f.stroke else None
            return None if onset is None else (onset, on)

        return months
    if kind == "nihss_total":
        item_count = len(measures._nihss_bounds())

        def total(f: Any, on: date, cache: dict[str, Any]) -> Any:
            values = f.nihss
            if values is None:
                return None
            if len(values) == item_count:  # every item (validated) is there: the total is the sum of the scores
                try:
                    return sum(values.values())
                except TypeError:  # an item is UN (not a score): see below
                    pass
            p = _nihss(f, cache)
            # A complete NIHSS is decided by its total alone; a partial one by what is known of it.
            if p.total is not None:
                return p.total
            return (p.known_sum, tuple(p.missing), p.highest_possible)

        return total
    if kind == "nihss_item":
        assert rule.nihss_item is not None
        items = tuple(rule.nihss_item.items)

        def item(f: Any, on: date, cache: dict[str, Any]) -> Any:
            values = f.nihss
            return None if values is None else tuple([values.get(i, ()) for i in items])

        return item
    if kind == "lab":
        assert rule.lab is not None
        analytes = tuple(rule.lab.analytes)

        if len(analytes) == 1:
            (analyte,) = analytes

            def one_lab(f: Any, on: date, cache: dict[str, Any]) -> Any:
                labs = f.labs
                return None if labs is None else labs.get(analyte)

            return one_lab

        def lab(f: Any, on: date, cache: dict[str, Any]) -> Any:
            labs = f.labs or {}
            return tuple([labs.get(a) for a in analytes])

        return lab
    if kind == "condition":
        assert rule.condition is not None
        dated = rule.condition.within_months is not None

        def condition(f: Any, on: date, cache: dict[str, Any]) -> Any:
            recorded = f.conditions
            if recorded is None:
                return None
            return (tuple(recorded), on) if dated else tuple(recorded)

        return condition
    if kind == "allergy":
        return lambda f, on, cache: None if f.allergies is None else tuple(f.allergies)
    if kind == "serology_positive":
        tests = tuple(rule.serology_positive or ())

        def serology(f: Any, on: date, cache: dict[str, Any]) -> Any:
            results = f.serology or {}
            return tuple([results.get(t) for t in tests])

        return serology
    if kind == "medication_class":

        def medications(f: Any, on: date, cache: dict[str, Any]) -> Any:
            meds = f.medications
            return None if meds is None else tuple(meds)

        return medications
    if kind == "fact":
        assert rule.fact is not None
        path = tuple(rule.fact.path.split("."))
        # fast_facts gives each attribute one type (premorbid_mrs an int, pregnant a bool, stroke.type a
        # str), so the value is its own key; a list or dict is not hashable (TypeError: no memo).
        if len(path) == 1:
            (name,) = path
            return lambda f, on, cache: getattr(f, name)
        if len(path) == 2:
            outer, inner = path

            def fact2(f: Any, on: date, cache: dict[str, Any]) -> Any:
                value = getattr(f, outer)
                return None if value is None else getattr(value, inner)

            return fact2

        def fact(f: Any, on: date, cache: dict[str, Any]) -> Any:
            value = f
            for part in path:
                if value is None:
                    return None
                value = getattr(value, part)
            return value

        return fact
    if kind == "attestation":
        return lambda f, on, cache: f.attestations.get(criterion_id)
    if kind in ("all_of", "any_of"):
        parts = tuple(key_of(part, criterion_id) for part in (rule.all_of or rule.any_of or []))
        if len(parts) == 2:
            a, b = parts
            return lambda f, on, cache: (a(f, on, cache), b(f, on, cache))
        if len(parts) == 3:
            a, b, c = parts
            return lambda f, on, cache: (a(f, on, cache), b(f, on, cache), c(f, on, cache))
        return lambda f, on, cache: tuple([k(f, on, cache) for k in parts])
    assert rule.unless is not None and rule.then is not None
    first, then = key_of(rule.unless, criterion_id), key_of(rule.then, criterion_id)
    return lambda f, on, cache: (first(f, on, cache), then(f, on, cache))


# --------------------------------------------------------------------------- parts of a rule


class _Part:
    """One rule of a criterion (the criterion's own, or a part of an all_of, any_of or unless) evaluated
    for ``LightFacts`` with its outcome remembered per key; a composite rule combines its parts' outcomes
    as ``evaluate`` does. A criterion seen with a new combination of facts (an NIHSS total with other
    item scores, an age with other labs) then costs a lookup per part and the combination, not the
    evaluation of every part."""

    __slots__ = ("combine", "criterion_id", "key", "memo", "parts", "rule", "vocabulary")

    def __init__(self, rule: Rule, criterion_id: str, vocabulary: ConditionVocabulary | None):
        self.rule = rule
        self.criterion_id = criterion_id
        self.vocabulary = vocabulary
        self.key: Key = key_of(rule, criterion_id)
        self.memo: dict[Any, Truth] = {}
        kind = rule.kind
        children: list[Rule]
        self.combine: Callable[[list[Truth]], Truth] | None
        if kind == "all_of":
            children, self.combine = list(rule.all_of or []), combine_all
        elif kind == "any_of":
            children, self.combine = list(rule.any_of or []), combine_any
        elif kind == "unless":
            assert rule.unless is not None and rule.then is not None
            children, self.combine = [rule.unless, rule.then], lambda truths: combine_unless(*truths)
        else:
            children, self.combine = [], None
        self.parts = [_Part(child, criterion_id, vocabulary) for child in children]

    def truth(self, facts: Any, on: date, cache: dict[str, Any]) -> Truth:
        try:
            key = self.key(facts, on, cache)
            known = self.memo.get(key)
        except TypeError:  # a fact that is not hashable: evaluated without the memo
            return self._evaluate(facts, on, cache)
        if known is None:
            known = self._evaluate(facts, on, cache)
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()
            self.memo[key] = known
        return known

    def _evaluate(self, facts: Any, on: date, cache: dict[str, Any]) -> Truth:
        if self.combine is not None:
            return self.combine([part.truth(facts, on, cache) for part in self.parts])
        if facts.nihss is not None and "nihss" not in cache:
            _nihss(facts, cache)  # the NIHSS of validated items, summed: the scale is not scored again
        ctx = Context(facts=facts, on=on, criterion_id=self.criterion_id, vocabulary=self.vocabulary, cache=cache)
        return evaluate(self.rule, ctx)


# --------------------------------------------------------------------------- criteria and results


class Decided:
    """One criterion's outcome: status, reason, the facts that would resolve it, its JSON text (and
    that text in UTF-8, as the output is written). Made once per memo entry and never changed, but for
    its entry in the JSON document, which is added when a document first needs it."""

    __slots__ = ("block", "data", "json", "missing", "reason", "status")

    def __init__(self, status: str, reason: str, missing: tuple[str, ...], json: str):
        self.status = status
        self.reason = reason
        self.missing = missing
        self.json = json
        self.data = json.encode()
        self.block: str | None = None  # its entry in the JSON document's results, made when first written

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decided):
            return NotImplemented
        return (self.status, self.reason, self.missing, self.json) == (
            other.status,
            other.reason,
            other.missing,
            other.json,
        )

    def __hash__(self) -> int:
        return hash((self.status, self.reason, self.missing))


class CompiledCriterion:
    def __init__(self, criterion: Criterion, vocabulary: ConditionVocabulary | None):
        self.criterion = criterion
        self.vocabulary = vocabulary
        self.id = criterion.id
        self.type = criterion.type
        self.basis = "attestation" if criterion.rule is None else "rule"
        cid = criterion.id
        self.key: Key = (
            (lambda f, on, cache: f.attestations.get(cid)) if criterion.rule is None else key_of(criterion.rule, cid)
        )
        # CriterionResult.as_dict() as json.dumps writes it, up to the status.
        self.prefix = (
            f'{{"id": {_ENCODE(criterion.id)}, "type": {_ENCODE(criterion.type)}, '
            f'"text": {_ENCODE(criterion.text)}, "status": '
        )
        self.memo: dict[Any, Decided] = {}
        self.part = None if criterion.rule is None else _Part(criterion.rule, cid, vocabulary)

    def decide(self, facts: Any, on: date, cache: dict[str, Any]) -> Decided:
        """The outcome for ``LightFacts`` (remembered per key, and per key of each part of the rule)."""
        try:
            key = self.key(facts, on, cache)
            decided = self.memo.get(key)
        except TypeError:  # a fact that is not hashable: decided without the memo
            return self.evaluate(facts, on, cache)
        if decided is None:
            decided = self.missed(key, facts, on, cache)
        return decided

    def missed(self, key: Any, facts: Any, on: date, cache: dict[str, Any]) -> Decided:
        """The outcome for ``LightFacts`` whose ``key`` is not in the memo (``decide_all`` has looked),
        worked out from the parts of the rule (each remembered per its own key) and remembered."""
        if self.part is None:
            if facts.nihss is not None and "nihss" not in cache:
                _nihss(facts, cache)  # the NIHSS of validated items, summed: the scale is not scored again
            decided = self.evaluate(facts, on, cache)
        else:
            # Each part's outcome is remembered per its own key; a leaf part works the NIHSS out (as
            # above) only when its outcome is not remembered.
            decided = self.decided(self.part._evaluate(facts, on, cache))
        if len(self.memo) >= MEMO_LIMIT:
            self.memo.clear()
        self.memo[key] = decided
        return decided

    def evaluate(self, facts: Any, on: date, cache: dict[str, Any]) -> Decided:
        criterion = self.criterion
        ctx = Context(facts=facts, on=on, criterion_id=criterion.id, vocabulary=self.vocabulary, cache=cache)
        truth = _attestation_only(criterion, ctx) if criterion.rule is None else evaluate(criterion.rule, ctx)
        return self.decided(truth)

    def decided(self, truth: Truth) -> Decided:
        status = status_of(self.criterion.type, truth.holds)
        missing = tuple(truth.missing) if truth.holds is None else ()
        text = f'{self.prefix}"{status}", "reason": {_ENCODE(truth.reason)}}}'
        return Decided(status, truth.reason, missing, text)


# --------------------------------------------------------------------------- one function per protocol


class _Source:
    """The Python text of one protocol's ``decide_all``: each criterion's key as an expression over the
    record's parts (read once per record into locals), the constants it names, the locals it needs."""

    _PRELUDE = {
        "labs": "labs = f.labs or _EMPTY",
        "sero": "sero = f.serology or _EMPTY",
        "stroke": "stroke = f.stroke",
        "born": "born = f.birth_date",
        "onset": "onset = None if stroke is None else stroke.onset_date",
        "att": "att = f.attestations",
        "nihss": "nihss = f.nihss",
        "conds": "conds = f.conditions",
        "ct": "ct = None if conds is None else tuple(conds)",
        "ctd": "ctd = None if conds is None else (ct, on)",
        "meds": "meds = None if f.medications is None else tuple(f.medications)",
    }
    _NEEDS = {"ct": ("conds",), "ctd": ("conds", "ct"), "onset": ("stroke",)}

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"_EMPTY": _EMPTY}
        self.uses: set[str] = set()

    def constant(self, value: Any) -> str:
        name = f"_K{len(self.names)}"
        self.names[name] = value
        return name

    def use(self, local: str) -> str:
        self.uses.update((*self._NEEDS.get(local, ()), local))
        return local

    def prelude(self) -> list[str]:
        return [line for local, line in self._PRELUDE.items() if local in self.uses]

    def key(self, rule: Rule, criterion_id: str) -> str:
        """An expression equal to ``key_of(rule, criterion_id)(f, on, cache)`` (tested key by key)."""
        kind = rule.kind
        if kind == "age":  # completed years on the screening date, as key_of's age
            born = self.use("born")
            return f"(f.age if {born} is None else on.year - {born}.year - ((on.month, on.day) < ({born}.month, {born}.day)))"
        if kind == "days_since":
            return f"(None if {self.use('onset')} is None else (on - onset).days)"
        if kind == "lab":
            assert rule.lab is not None
            analytes = [self.use("labs") + f".get({a!r})" for a in rule.lab.analytes]
            return analytes[0] if len(analytes) == 1 else _tuple(analytes)
        if kind == "nihss_item":
            assert rule.nihss_item is not None
            items = _tuple([f"nihss.get({i!r}, ())" for i in rule.nihss_item.items])
            return f"(None if {self.use('nihss')} is None else {items})"
        if kind == "condition":
            assert rule.condition is not None
            return self.use("ctd" if rule.condition.within_months is not None else "ct")
        if kind == "allergy":
            return "(None if f.allergies is None else tuple(f.allergies))"
        if kind == "serology_positive":
            return _tuple([self.use("sero") + f".get({t!r})" for t in rule.serology_positive or ()])
        if kind == "medication_class":
            return self.use("meds")
        if kind == "attestation":
            return self.use("att") + f".get({criterion_id!r})"
        if kind == "fact":
            assert rule.fact is not None
            path = rule.fact.path.split(".")
            if len(path) == 1 and path[0] in _FIELDS:
                return f"f.{path[0]}"
            if len(path) == 2 and path[0] == "stroke" and path[1] in _Stroke.__slots__:
                return f"(None if {self.use('stroke')} is None else stroke.{path[1]})"
        if kind in ("all_of", "any_of"):
            return _tuple([self.key(part, criterion_id) for part in (rule.all_of or rule.any_of or [])])
        if kind == "unless":
            assert rule.unless is not None and rule.then is not None
            return _tuple([self.key(rule.unless, criterion_id), self.key(rule.then, criterion_id)])
        # Months, NIHSS totals (and any other fact path): the key function itself.
        return self.constant(key_of(rule, criterion_id)) + "(f, on, cache)"


def _tuple(parts: list[str]) -> str:
    return "(" + "".join(part + ", " for part in parts) + ")"


_EMPTY: dict[str, Any] = {}

Decide = Callable[[Any, date, dict[str, Any]], list["Decided"]]


class _Compiled(NamedTuple):
    decide_all: Decide
    keys: Callable[..., tuple[Any, ...]]
    statuses: Callable[[list[Decided]], tuple[str, ...]]
    joined: Callable[[list[Decided]], bytes]
    source: str


def _compile_decide_all(criteria: list[CompiledCriterion]) -> _Compiled:
    """``decide_all(f, on, cache)``: each criterion's ``decide`` for ``LightFacts``, in one function made
    for the protocol (no call per criterion and part on a memo hit: the keys are expressions over the
    record's parts, each read once); ``keys(f, on, cache)``, the keys alone (for the tests); and for a
    list of outcomes, ``statuses`` (their statuses) and ``joined`` (their JSON texts joined, in UTF-8)."""
    source = _Source()
    keys = []
    for criterion in criteria:
        rule = criterion.criterion.rule
        keys.append(source.use("att") + f".get({criterion.id!r})" if rule is None else source.key(rule, criterion.id))
    body = ["def decide_all(f, on, cache):", *("    " + line for line in source.prelude())]
    for number, (criterion, key) in enumerate(zip(criteria, keys)):
        memo, compiled_criterion = source.constant(criterion.memo), source.constant(criterion)
        body += [
            "    try:",
            f"        k = {key}",
            f"        d{number} = {memo}.get(k)",
            "    except TypeError:  # a fact that is not hashable: decided without the memo",
            f"        d{number} = {compiled_criterion}.evaluate(f, on, cache)",
            "    else:",
            f"        if d{number} is None:  # worked out from the key's parts, and remembered under the key",
            f"            d{number} = {compiled_criterion}.missed(k, f, on, cache)",
        ]
    body.append("    return [" + ", ".join(f"d{n}" for n in range(len(criteria))) + "]")
    body += ["", "def keys(f, on, cache):", *("    " + line for line in source.prelude())]
    body.append("    return " + _tuple(keys))
    # A record's outcomes (a list, one per criterion) read field by field: the statuses in a tuple, and
    # the criteria's JSON text in UTF-8 joined (faster than map with attrgetter, once per record).
    names = ", ".join(f"d{n}" for n in range(len(criteria)))
    unpack = f"    {names}, = decided" if criteria else "    pass"
    body += ["", "def statuses(decided):", unpack]
    body.append("    return " + _tuple([f"d{n}.status" for n in range(len(criteria))]))
    body += ["", "def joined(decided):", unpack]
    body.append("    return b', '.join(" + _tuple([f"d{n}.data" for n in range(len(criteria))]) + ")")
    text = "\n".join(body) + "\n"
    namespace: dict[str, Any] = dict(source.names)
    exec(compile(text, "<trialkit.eligibility.compiled: decide_all>", "exec"), namespace)
    return _Compiled(namespace["decide_all"], namespace["keys"], namespace["statuses"], namespace["joined"], text)


DOCUMENT_INDENT = 4  # a result's depth in the JSON document of ``trialkit screen`` (inside "results")


def indented_json(data: Any, spaces: int) -> str:
    """``data`` as JSON with an indent of 2, every line moved right by ``spaces``."""
    pad = " " * spaces
    return "\n".join(pad + line for line in json.dumps(data, indent=2, ensure_ascii=False).split("\n"))


def document_entry(result: dict[str, Any]) -> str:
    """A result (``ScreeningResult.as_dict()``) as an entry of the JSON document's ``results`` list."""
    return indented_json(result, DOCUMENT_INDENT)


def _criterion_result(criterion: CompiledCriterion, decided: Decided) -> CriterionResult:
    return CriterionResult(
        id=criterion.id,
        type=criterion.type,
        text=criterion.criterion.text,
        status=decided.status,
        reason=decided.reason,
        basis=criterion.basis,
        missing=list(decided.missing),
    )


class CompactResult:
    """A screened record as the stream keeps it; ``result()`` is the ``ScreeningResult`` of ``screen()``."""

    __slots__ = ("decided", "missing", "record_id", "screener", "screening_date", "statuses", "verdict")

    def __init__(
        self,
        screener: CompiledProtocol,
        record_id: str | None,
        on: date,
        verdict: str,
        decided: list[Decided],
        missing: list[str],
        statuses: tuple[str, ...],
    ):
        self.screener = screener
        self.record_id = record_id
        self.screening_date = on
        self.verdict = verdict
        self.decided = decided
        self.missing = missing
        self.statuses = statuses  # each criterion's status, in order

    def result(self) -> ScreeningResult:
        criteria = [_criterion_result(c, d) for c, d in zip(self.screener.criteria, self.decided)]
        return ScreeningResult(
            protocol=self.screener.protocol_id,
            record_id=self.record_id,
            screening_date=self.screening_date,
            verdict=self.verdict,
            criteria=criteria,
            missing=self.missing,
        )

    def json_bytes(self, index: int, end: bytes = b"") -> bytes:
        """``json_line(index)`` in UTF-8 (then ``end``), joined from each criterion's text already encoded."""
        record_id = self.record_id
        head = b'{"index": %d, "id": %s, "verdict": %s, "criteria": [' % (
            index,
            b"null" if record_id is None else _encode_string(record_id).encode(),
            _VERDICTS[self.verdict],
        )
        tail = (
            b'], "missing": ' + _ENCODE(self.missing).encode() + b"}" + end
            if self.missing
            else b'], "missing": []}' + end
        )
        return b"".join((head, self.screener.joined(self.decided), tail))

    def document_entry(self) -> str:
        """``document_entry(result().as_dict())``, without building the result: each criterion's entry
        is made once per memo entry (kept on its outcome) and the record's own lines around them."""
        blocks = []
        for criterion, decided in zip(self.screener.criteria, self.decided):
            block = decided.block
            if block is None:  # the criterion's entry as the result gives it (once per memo entry)
                entry = _criterion_result(criterion, decided).as_dict()
                block = decided.block = indented_json(entry, DOCUMENT_INDENT + 4)
            blocks.append(block)
        pad = " " * (DOCUMENT_INDENT + 2)
        record_id = "null" if self.record_id is None else _encode_string(self.record_id)
        criteria = "[\n" + ",\n".join(blocks) + "\n" + pad + "]" if blocks else "[]"
        missing = (
            "[\n" + ",\n".join([pad + "  " + _ENCODE(m) for m in self.missing]) + "\n" + pad + "]"
            if self.missing
            else "[]"
        )
        return (
            f'{pad[:-2]}{{\n{pad}"id": {record_id},\n{pad}"verdict": "{self.verdict}",\n'
            f'{pad}"criteria": {criteria},\n{pad}"missing": {missing}\n{pad[:-2]}}}'
        )

    def json_line(self, index: int) -> str:
        """``json.dumps({"index": index, **result().as_dict()}, ensure_ascii=False)``, without building it."""
        criteria = ", ".join([d.json for d in self.decided])
        return (
            f'{{"index": {index}, "id": {_ENCODE(self.record_id)}, "verdict": "{self.verdict}", '
            f'"criteria": [{criteria}], "missing": {_ENCODE(self.missing)}}}'
        )


class CompiledProtocol:
    """A protocol's criteria, compiled once; ``screen`` is ``screening.screen`` for a dict record."""

    def __init__(self, protocol: Protocol):
        self.protocol_id = protocol.id
        self.vocabulary = protocol.condition_vocabulary
        self.criteria = [CompiledCriterion(c, self.vocabulary) for c in protocol.eligibility.criteria]
        self.ids = [c.id for c in self.criteria]
        # Each criterion's key and memo lookup, in one function made for the protocol (each memo is
        # cleared, never replaced, so the function keeps it).
        made = _compile_decide_all(self.criteria)
        self.decide_all, self.keys, self.source = made.decide_all, made.keys, made.source
        self.statuses, self.joined = made.statuses, made.joined

    def screen(self, data: dict[str, Any], today: date | None = None) -> CompactResult:
        """Screen one record (FactsError names a bad field, as ``screen()`` does)."""
        facts: Any = fast_facts(data, self.vocabulary)
        on: date
        cache: dict[str, Any] = {}
        if facts is None:
            facts = parse_facts(data, self.vocabulary)  # the record's problems, or the same facts
            on = facts.screening_date or today or date.today()
            decided = [c.evaluate(facts, on, cache) for c in self.criteria]
        else:
            on = facts.screening_date or today or date.today()
            # CompiledCriterion.decide for each criterion: a memo hit costs the key and one lookup.
            decided = self.decide_all(facts, on, cache)
        # verdict_of and the missing facts of screen(): the statuses in one tuple (kept for the summary),
        # the missing facts gathered only when some criterion is unknown.
        statuses = self.statuses(decided)
        missing: list[str] = []
        if "unknown" in statuses:
            for d in decided:
                if d.status == "unknown":
                    for m in d.missing:
                        if m not in missing:
                            missing.append(m)
            verdict = "ineligible" if "fail" in statuses else "incomplete"
        else:
            verdict = "ineligible" if "fail" in statuses else "eligible"
        return CompactResult(self, facts.id, on, verdict, decided, missing, statuses)


_COMPILED: dict[int, tuple[Protocol, CompiledProtocol]] = {}


def compiled(protocol: Protocol) -> CompiledProtocol:
    """The protocol compiled once (kept with the protocol, so its id stays its own)."""
    entry = _COMPILED.get(id(protocol))
    if entry is None or entry[0] is not protocol:
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        entry = _COMPILED[id(protocol)] = (protocol, CompiledProtocol(protocol))
    return entry[1]


__all__ = ["CompactResult", "CompiledProtocol", "FactsError", "LightFacts", "compiled", "fast_facts"]
