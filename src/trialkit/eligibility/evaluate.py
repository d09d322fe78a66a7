"""Evaluate a rule over screening facts in three-valued logic: holds, does not hold, or unknown.

Unknown means a fact the rule needs is missing; it is never turned into a pass. ``all_of`` fails as soon
as one part fails (even if others are unknown), ``any_of`` holds as soon as one part holds, and
``unless`` holds when its condition holds or when ``then`` holds, whichever is known.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from trialkit.eligibility import measures
from trialkit.eligibility.facts import Attestation, ScreeningFacts, completed_years
from trialkit.eligibility.rules import (
    Bounds,
    ConditionRule,
    FactRule,
    LabRule,
    NihssItemRule,
    Rule,
    SinceRule,
    fmt,
    fmt_as_decided,
    medication_classes,
)
from trialkit.eligibility.vocabulary import ConditionVocabulary

# Names a person reads in reasons; anything else is shown as written.
ANALYTE_LABELS = {
    "ast": "AST",
    "alt": "ALT",
    "bilirubin": "total bilirubin",
    "pt": "PT",
    "ptt": "PTT",
    "aptt": "APTT",
    "anc": "ANC",
    "inr": "INR",
}
SEROLOGY_LABELS = {
    "hbsag": "HBsAg",
    "hbeag": "HBeAg",
    "anti_hbe": "anti-HBe",
    "anti_hbc": "anti-HBc",
    "hcv": "hepatitis C",
    "hiv": "HIV",
    "rpr": "RPR",
}
CONDITION_LABELS = {
    "parkinsons_disease": "Parkinson's disease",
    "hiv": "HIV",
}
FACT_LABELS = {
    "premorbid_mrs": "pre-stroke mRS",
    "stroke.type": "stroke type",
    "stroke.territory": "stroke territory",
}


@dataclass(frozen=True)
class Truth:
    """The outcome of a rule: ``holds`` is True, False or None (unknown), with a reason."""

    holds: bool | None
    reason: str
    missing: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Context:
    facts: ScreeningFacts
    on: date  # the screening date
    criterion_id: str
    # The trial's condition names; with it a recorded name outside them leaves condition rules
    # unknown. ``screen`` always passes the protocol's.
    vocabulary: ConditionVocabulary | None = None
    # Shared by every criterion of one record: what is worked out once per record (the NIHSS total).
    cache: dict[str, Any] = field(default_factory=dict)


def evaluate(rule: Rule, ctx: Context) -> Truth:
    # A rule is frozen, so its evaluator is looked up once (a population asks per record and criterion);
    # the entry holds the rule, so its id is not reused while the entry lives.
    entry = _DISPATCH.get(id(rule))
    if entry is None or entry[0] is not rule:
        if len(_DISPATCH) > 10_000:  # rules made on the fly, not a protocol's: keep the memory flat
            _DISPATCH.clear()
        entry = _DISPATCH[id(rule)] = (rule, _EVALUATORS[rule.kind])
    return entry[1](rule, ctx)


_DISPATCH: dict[int, tuple[Rule, Any]] = {}


# --------------------------------------------------------------------------- helpers


def _bounded(subject: str, value: float, bounds: Bounds, value_text: str | None = None) -> Truth:
    shown = value_text or f"{subject} {bounds.shown(value)}"
    broken = bounds.violations(value)
    if broken and bounds.is_closed_range():
        return Truth(False, f"{shown}, needs {bounds.needs()}")
    if broken:
        return Truth(False, f"{shown} {' and '.join(broken)}")
    return Truth(True, f"{shown} {bounds.satisfied()}")


def add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later (earlier if negative), clamped to the month's end."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def _whole_months(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, months) > end:
        months -= 1
    return months


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _label(name: str, labels: dict[str, str]) -> str:
    return labels.get(name, name.replace("_", " "))


def _names(names: list[str], labels: dict[str, str] | None = None, joiner: str = "or") -> str:
    shown = [_label(n, labels or {}) for n in names]
    if len(shown) <= 1:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} {joiner} {shown[-1]}"


# --------------------------------------------------------------------------- rule kinds


def _age(rule: Rule, ctx: Context) -> Truth:
    facts = ctx.facts
    if facts.birth_date is not None:
        age = completed_years(facts.birth_date, ctx.on)
    elif facts.age is not None:
        age = facts.age
    else:
        return Truth(None, "age not recorded (birth_date or age)", ("birth_date",))
    assert rule.age is not None
    return _bounded("age", age, rule.age)


def _stroke_onset(ctx: Context) -> date | None:
    return ctx.facts.stroke.onset_date if ctx.facts.stroke else None


def _days_since(rule: Rule, ctx: Context) -> Truth:
    since = rule.days_since
    assert since is not None
    onset = _stroke_onset(ctx)
    if onset is None:
        return Truth(None, "stroke onset date not recorded", ("stroke.onset_date",))
    days = (ctx.on - onset).days
    # The onset day is day 0, so screening on the 14th day after onset is "day 14".
    shown = f"day {days} after onset"
    broken = since.violations(days)
    if broken:
        return Truth(False, f"{shown}, needs {since.needs()}")
    return Truth(True, f"{shown}, {since.satisfied()}")


def _months_since(rule: Rule, ctx: Context) -> Truth:
    since = rule.months_since
    assert since is not None
    onset = _stroke_onset(ctx)
    if onset is None:
        return Truth(None, "stroke onset date not recorded", ("stroke.onset_date",))
    months = _whole_months(onset, ctx.on)
    extra_days = (ctx.on - add_months(onset, months)).days
    # Calendar months: "more than 6 months" holds from the day after the same date 6 months on.
    checks = _calendar_month_checks(onset, ctx.on, since)
    elapsed = _plural(months, "month") + (f" {_plural(extra_days, 'day')}" if extra_days else "")
    shown = f"onset {onset.isoformat()}, {elapsed} before screening"
    if all(checks):
        return Truth(True, f"{shown}, {_months_needs(since)}")
    return Truth(False, f"{shown}, needs {_months_needs(since)}")


def _calendar_month_checks(start: date, end: date, since: SinceRule) -> list[bool]:
    checks = []
    if since.min is not None:
        checks.append(end >= add_months(start, int(since.min)))
    if since.greater_than is not None:
        checks.append(end > add_months(start, int(since.greater_than)))
    if since.max is not None:
        checks.append(end <= add_months(start, int(since.max)))
    if since.less_than is not None:
        checks.append(end < add_months(start, int(since.less_than)))
    return checks


def _months_needs(since: SinceRule) -> str:
    parts = []
    if since.min is not None:
        parts.append(f"at least {fmt(since.min)} months")
    if since.greater_than is not None:
        parts.append(f"more than {fmt(since.greater_than)} months")
    if since.max is not None:
        parts.append(f"at most {fmt(since.max)} months")
    if since.less_than is not None:
        parts.append(f"less than {fmt(since.less_than)} months")
    return " and ".join(parts)


def _nihss_total(rule: Rule, ctx: Context) -> Truth:
    bounds = rule.nihss_total
    assert bounds is not None
    values = ctx.facts.nihss
    if values is None:
        return Truth(None, "NIHSS not recorded", ("nihss",))
    partial = nihss_of(ctx)
    if partial.total is not None:
        return _bounded("NIHSS total", partial.total, bounds)
    # Some items are missing; the total is still decided if every completion lands on one side.
    missing = tuple(f"nihss.{item}" for item in partial.missing)
    items = ", ".join(partial.missing)
    low, high = partial.known_sum, partial.highest_possible
    if bounds.violations(low) and bounds.violations(high) and _same_side(bounds, low, high):
        return Truth(False, f"NIHSS total {low}–{high} whatever items {items} score, needs {bounds.needs()}")
    return Truth(None, f"NIHSS items {items} not scored", missing)


def nihss_of(ctx: Context) -> measures.NihssPartial:
    """The record's NIHSS, scored once per record (the context's cache is the record's)."""
    partial: measures.NihssPartial | None = ctx.cache.get("nihss")
    if partial is None:
        assert ctx.facts.nihss is not None
        partial = ctx.cache["nihss"] = measures.nihss_partial(ctx.facts.nihss)
    return partial


def _same_side(bounds: Bounds, low: float, high: float) -> bool:
    """Both ends of [low, high] break the bounds on the same side (all too low or all too high)."""

    def too_low(v: float) -> bool:
        return any(b.startswith(("<", "≤")) for b in bounds.violations(v))

    def too_high(v: float) -> bool:
        return any(b.startswith((">", "≥")) for b in bounds.violations(v))

    return (too_low(low) and too_low(high)) or (too_high(low) and too_high(high))


def _nihss_item(rule: Rule, ctx: Context) -> Truth:
    spec: NihssItemRule | None = rule.nihss_item
    assert spec is not None
    values = ctx.facts.nihss
    if values is None:
        return Truth(None, "NIHSS not recorded", tuple(f"nihss.{item}" for item in spec.items))
    shown, holding, missing = [], [], []
    for item in spec.items:
        value = values.get(item)
        if value is None:
            missing.append(item)
            continue
        shown.append(f"{item} {value}")
        # "UN" (untestable) is not a score, so it never satisfies a bound.
        if not isinstance(value, str) and not spec.violations(value):
            holding.append(item)
    listed = ", ".join(shown)
    if spec.item is not None:
        if missing:
            return Truth(None, f"NIHSS item {spec.item} not scored", (f"nihss.{spec.item}",))
        value = values[spec.item]
        if isinstance(value, str):  # measures.UNTESTABLE, the only text a NIHSS item holds
            return Truth(False, f"NIHSS {spec.item} UN, needs {spec.needs()}")
        return _bounded(f"NIHSS {spec.item}", value, spec)
    if holding:
        return Truth(True, f"NIHSS {listed}: {', '.join(holding)} {spec.satisfied()}")
    if missing:
        return Truth(None, f"NIHSS items {', '.join(missing)} not scored", tuple(f"nihss.{i}" for i in missing))
    return Truth(False, f"NIHSS {listed}: none {spec.satisfied()}")


def _lab(rule: Rule, ctx: Context) -> Truth:
    spec: LabRule | None = rule.lab
    assert spec is not None
    labs = ctx.facts.labs or {}
    if spec.analyte is not None:
        return _one_lab(spec, spec.analyte, labs)
    # "amylase or lipase ≤ 1.0×ULN": every measured one must satisfy it, and at least one is measured.
    parts = [(a, _one_lab(spec, a, labs)) for a in spec.analytes if a in labs]
    if not parts:
        names = _names(spec.analytes, ANALYTE_LABELS)
        return Truth(None, f"{names} not recorded", tuple(f"labs.{a}" for a in spec.analytes))
    return combine_all([truth for _, truth in parts])


def _one_lab(spec: LabRule, analyte: str, labs: dict[str, Any]) -> Truth:
    name = _label(analyte, ANALYTE_LABELS)
    lab = labs.get(analyte)
    if lab is None:
        return Truth(None, f"{name} not recorded", (f"labs.{analyte}",))
    given = f"{fmt(lab.value)} {lab.unit}"
    absolute = spec.absolute_bounds()
    if absolute is not None:
        assert spec.unit is not None
        value = measures.lab_in_unit(analyte, lab.value, lab.unit, spec.unit)
        # The number compared is the one in the rule's unit: print it to the digits the decision needs.
        compared = f"{absolute.shown(value)} {spec.unit}"
        if lab.unit != spec.unit:
            # The value as entered is read against the limits too: print it to agree with them.
            limits = [measures.lab_in_unit(analyte, limit, spec.unit, lab.unit) for limit in absolute.limits()]
            given = f"{fmt_as_decided(lab.value, limits)} {lab.unit}"
        shown = f"{name} {compared}" if lab.unit == spec.unit else f"{name} {given} ({compared})"
        broken = absolute.violations(value)
        unit = f" {spec.unit}"
        if broken:
            return Truth(False, f"{shown} {' and '.join(b + unit for b in broken)}")
        return Truth(True, f"{shown} {absolute.satisfied()}{unit}")
    if lab.uln is None:
        return Truth(None, f"{name} {given}: upper limit of normal not recorded", (f"labs.{analyte}.uln",))
    multiple = measures.lab_uln_multiple(analyte, lab.value, lab.unit, lab.uln, lab.uln_unit)
    uln = f"{fmt(lab.uln)} {lab.uln_unit or lab.unit}"
    bounds = spec.uln_bounds()
    # Two decimals (2.50×ULN) unless more are needed to agree with the decision (2.502).
    shown = f"{name} {given} = {bounds.shown(multiple, decimals=2)}×ULN (ULN {uln})"
    broken = bounds.violations(multiple)
    if broken:
        return Truth(False, f"{shown} {' and '.join(b + '×ULN' for b in broken)}")
    return Truth(True, f"{shown} {bounds.satisfied()}×ULN")


def _within(cutoff_months: int | None, when: date | None, on: date) -> bool | None:
    if cutoff_months is None:
        return True
    if when is None:
        return None
    return when >= add_months(on, -cutoff_months)


def _condition(rule: Rule, ctx: Context) -> Truth:
    spec: ConditionRule | None = rule.condition
    assert spec is not None
    names = _names(spec.names, CONDITION_LABELS)
    window = f" within {spec.within_months} months" if spec.within_months else ""
    recorded = ctx.facts.conditions
    if recorded is None:
        return Truth(None, f"medical history not recorded (asked: {names}{window})", ("conditions",))
    found, undated, older, unrecognised = [], [], [], []
    for index, cond in enumerate(recorded):
        name = cond.name if ctx.vocabulary is None else ctx.vocabulary.resolve(cond.name)
        if name is None:
            # Facts that skipped the vocabulary check: the entry may be one of the names asked for.
            unrecognised.append((index, cond.name))
            continue
        if name not in spec.names:
            continue
        inside = _within(spec.within_months, cond.date, ctx.on)
        when = f" {cond.date.isoformat()}" if cond.date else ""
        if inside is None:
            undated.append(name)
        elif inside:
            found.append(f"{_label(name, CONDITION_LABELS)} recorded{when}")
        else:
            older.append(f"{_label(name, CONDITION_LABELS)}{when}")
    if found:
        return Truth(True, "; ".join(found) + window)
    if undated or unrecognised:
        reasons, missing = [], []
        if unrecognised:
            shown = ", ".join(f"{name!r} (conditions.{i})" for i, name in unrecognised)
            reasons.append(
                f"unrecognised medical-history entry {shown}: not a condition name of the protocol, "
                f"so it may be {names}"
            )
            missing += [f"conditions.{i}.name" for i, _ in unrecognised]
        if undated:
            reasons.append(
                f"{_names(undated, CONDITION_LABELS)} recorded without a date; "
                f"needed to tell if within {spec.within_months} months"
            )
            missing += [f"conditions.{n}.date" for n in undated]
        return Truth(None, "; ".join(reasons), tuple(missing))
    if older:
        return Truth(False, f"{'; '.join(older)}: more than {spec.within_months} months before screening")
    return Truth(False, f"no {names} recorded{window}")


def _allergy(rule: Rule, ctx: Context) -> Truth:
    names = rule.allergy or []
    recorded = ctx.facts.allergies
    if recorded is None:
        return Truth(None, f"allergies not recorded (asked: {_names(names)})", ("allergies",))
    found = [n for n in recorded if n in names]
    if found:
        return Truth(True, f"allergy to {_names(found, joiner='and')} recorded")
    return Truth(False, f"no allergy to {_names(names)} recorded")


def _serology_positive(rule: Rule, ctx: Context) -> Truth:
    tests = rule.serology_positive or []
    results = ctx.facts.serology or {}
    positive = [t for t in tests if results.get(t) == "positive"]
    missing = [t for t in tests if t not in results]
    if positive:
        return Truth(True, f"positive: {_names(positive, SEROLOGY_LABELS, 'and')}")
    if missing:
        return Truth(
            None,
            f"{_names(missing, SEROLOGY_LABELS, 'and')} not recorded",
            tuple(f"serology.{t}" for t in missing),
        )
    return Truth(False, f"negative: {_names(tests, SEROLOGY_LABELS, 'and')}")


def _medication_class(rule: Rule, ctx: Context) -> Truth:
    classes = medication_classes(rule.medication_class or [])
    wanted = _names(sorted(classes))
    meds = ctx.facts.medications
    if meds is None:
        return Truth(None, f"current medications not recorded (asked: {wanted})", ("medications",))
    taking = [f"{m.name} ({m.drug_class})" for m in meds if m.drug_class in classes]
    if taking:
        return Truth(True, f"on {', '.join(taking)}")
    unclassified = [m.name for m in meds if m.drug_class is None]
    if unclassified:
        return Truth(
            None,
            f"class not recorded for {', '.join(unclassified)}",
            tuple(f"medications.{name}.class" for name in unclassified),
        )
    return Truth(False, f"no {wanted} among current medications")


def _fact_value(facts: ScreeningFacts, path: str) -> Any:
    value: Any = facts
    for part in path.split("."):
        if value is None:
            return None
        value = getattr(value, part)
    return value


def _fact(rule: Rule, ctx: Context) -> Truth:
    spec: FactRule | None = rule.fact
    assert spec is not None
    label = _label(spec.path, FACT_LABELS)
    value = _fact_value(ctx.facts, spec.path)
    if value is None:
        return Truth(None, f"{label} not recorded", (spec.path,))
    shown = _show(value)
    if spec.in_ is not None:
        allowed = _names([_show(v) for v in spec.in_])
        if value in spec.in_:
            return Truth(True, f"{label} {shown}")
        return Truth(False, f"{label} {shown}, not {allowed}")
    if "equals" in spec.model_fields_set:
        if isinstance(value, bool):
            return Truth(value == spec.equals, f"{label}: {'yes' if value else 'no'}")
        if value == spec.equals:
            return Truth(True, f"{label} {shown}")
        return Truth(False, f"{label} {shown}, not {_show(spec.equals)}")
    bounds = spec.bounds()
    assert bounds is not None
    return _bounded(label, value, bounds)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return fmt(value)
    return str(value)


def _attestation(rule: Rule, ctx: Context) -> Truth:
    question = rule.attestation or ""
    return attested(ctx, question)


def attested(ctx: Context, question: str) -> Truth:
    answer = ctx.facts.attestation(ctx.criterion_id)
    if answer is None:
        return Truth(None, f"needs investigator attestation: {question}", (f"attestations.{ctx.criterion_id}",))
    return Truth(answer.answer, f"attested {'yes' if answer.answer else 'no'}{signature(answer)}: {question}")


def signature(answer: Attestation) -> str:
    """' (by Dr Li on 2025-03-02)', or '' when the record does not say who and when."""
    who = []
    if answer.by:
        who.append(f"by {answer.by}")
    if answer.at:
        who.append(f"on {answer.at.isoformat()}")
    return f" ({' '.join(who)})" if who else ""


# --------------------------------------------------------------------------- combinators


def combine_all(parts: list[Truth]) -> Truth:
    """``all_of`` from the truth of each part."""
    failed = [p for p in parts if p.holds is False]
    unknown = [p for p in parts if p.holds is None]
    if failed:
        # Decided: the parts still unknown cannot change it, so the reason names the failures only.
        return Truth(False, "; ".join(p.reason for p in failed))
    if unknown:
        return Truth(None, "; ".join(p.reason for p in unknown), _missing(unknown))
    return Truth(True, "; ".join(p.reason for p in parts))


def _missing(parts: list[Truth]) -> tuple[str, ...]:
    out: list[str] = []
    for part in parts:
        out.extend(m for m in part.missing if m not in out)
    return tuple(out)


def _all_of(rule: Rule, ctx: Context) -> Truth:
    return combine_all([evaluate(part, ctx) for part in rule.all_of or []])


def _any_of(rule: Rule, ctx: Context) -> Truth:
    return combine_any([evaluate(part, ctx) for part in rule.any_of or []])


def combine_any(parts: list[Truth]) -> Truth:
    """``any_of`` from the truth of each part."""
    holding = [p for p in parts if p.holds is True]
    unknown = [p for p in parts if p.holds is None]
    if holding:
        return Truth(True, "; ".join(p.reason for p in holding))
    if unknown:
        return Truth(None, "; ".join(p.reason for p in parts), _missing(unknown))
    return Truth(False, "; ".join(p.reason for p in parts))


def _unless(rule: Rule, ctx: Context) -> Truth:
    assert rule.unless is not None and rule.then is not None
    return combine_unless(evaluate(rule.unless, ctx), evaluate(rule.then, ctx))


def combine_unless(condition: Truth, then: Truth) -> Truth:
    """``unless``/``then`` from the truth of each."""
    if condition.holds is True:
        return Truth(True, f"not required: {condition.reason}")
    if condition.holds is False:
        return Truth(then.holds, f"{condition.reason}: {then.reason}", then.missing)
    if then.holds is True:
        return Truth(True, then.reason)
    return Truth(None, f"{condition.reason}; {then.reason}", _missing([condition, then]))


_EVALUATORS = {
    "age": _age,
    "days_since": _days_since,
    "months_since": _months_since,
    "nihss_total": _nihss_total,
    "nihss_item": _nihss_item,
    "lab": _lab,
    "condition": _condition,
    "allergy": _allergy,
    "serology_positive": _serology_positive,
    "medication_class": _medication_class,
    "fact": _fact,
    "attestation": _attestation,
    "all_of": _all_of,
    "any_of": _any_of,
    "unless": _unless,
}
