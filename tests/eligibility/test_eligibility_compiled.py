"""The compiled screening of a population (``eligibility.compiled``) gives what ``screen()`` gives.

Thousands of generated records per trial, around every limit (ages 17/18/70/71, days 13/14/90/91,
×ULN multiples on and beside 1.0, 1.25, 1.5 and 2.5, absolute limits in both units, 6 and 6.0), with
missing facts, other units, aliases, NIHSS "UN" and invalid records of every kind, are screened by the
web's ``screen()`` (pydantic facts, the evaluator, pydantic results) and by the compiled protocol (the
fast facts check, the per-criterion memo, the JSON written without building the result): the results,
their JSON line, and the errors of a record that cannot be read must be identical, record by record,
on a first pass (memo filling) and a second (memo answering).
"""

from __future__ import annotations

import copy
import json
import random
from datetime import date, timedelta
from typing import Any

import pytest
from eligibility_helpers import ASSIST, IXCELL, example
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialkit.eligibility import FactsError, screen
from trialkit.eligibility.compiled import CompiledProtocol, fast_facts
from trialkit.eligibility.stream import ScreeningOutcome
from trialkit.protocol import load_protocol

TODAY = date(2025, 3, 3)
NIHSS = ["1a", "1b", "1c", "2", "3", "4", "5a", "5b", "6a", "6b", "7", "8", "9", "10", "11"]
NIHSS_TOP = {"1a": 3, "1b": 2, "1c": 2, "2": 2, "3": 3, "4": 3, "5a": 4, "5b": 4, "6a": 4, "6b": 4, "7": 2, "8": 2}
NIHSS_TOP |= {"9": 3, "10": 2, "11": 2}


def _day(rng: random.Random, days_before: int) -> str:
    return (TODAY - timedelta(days=days_before)).isoformat()


def _birth(rng: random.Random) -> str:
    years = rng.choice((17, 18, 70, 71, 45))
    shift = rng.choice((-1, 0, 1, 100))
    try:
        born = TODAY.replace(year=TODAY.year - years) + timedelta(days=shift)
    except ValueError:
        born = date(TODAY.year - years, 3, 1)
    return born.isoformat()


def _lab_variants(rng: random.Random, labs: dict[str, Any]) -> None:
    choice = rng.choice
    labs["ast"] = {
        "value": choice((100, 100.0, 100.1, 99.99, 40, 32, 0, 0.0, 120)),
        "unit": "U/L",
        "uln": choice((40, 40.0)),
    }
    labs["alt"] = {"value": choice((100, 28, 101)), "unit": choice(("U/L", "IU/L", "U/L")), "uln": 40}
    if rng.random() < 0.5:
        labs["albumin"] = {"value": choice((30, 30.0, 29.999, 35, 28)), "unit": "g/L"}
    else:
        labs["albumin"] = {"value": choice((3.0, 3, 2.9999, 4.1)), "unit": "g/dL"}
    if rng.random() < 0.4:
        labs["creatinine"] = {
            "value": choice((172.38, 172.39, 79.6, 88.4)),
            "unit": "µmol/L",
            "uln": 1.3,
            "uln_unit": "mg/dL",
        }
    elif rng.random() < 0.3:
        labs["creatinine"] = {"value": choice((1.95, 1.96, 0.9)), "unit": "mg/dL", "uln": 1.3}
    labs["platelets"] = {"value": choice((150_000, 149_999, 235_000, 150)), "unit": choice(("/µL", "/µL", "10^9/L"))}
    labs["anc"] = {"value": choice((1500, 1499, 1.5, 4200)), "unit": choice(("/µL", "/µL", "10^9/L"))}
    labs["hemoglobin"] = {"value": choice((9.0, 9, 8.99, 90, 13.6)), "unit": choice(("g/dL", "g/dL", "g/L"))}
    if rng.random() < 0.3:
        labs["pt"] = {"value": choice((12.5, 12.6, 11)), "unit": "s", "uln": 10}
        labs["ptt"] = {"value": choice((40, 37.5, 37.6)), "unit": "s", "uln": 30}
    if rng.random() < 0.3:
        del labs["amylase"]
    if rng.random() < 0.2:
        labs.pop("lipase", None)
    if rng.random() < 0.1:
        labs["SGOT"] = labs.pop("ast")  # an alias
    if rng.random() < 0.1:
        labs.pop(choice(sorted(labs)))


BROKEN = [
    {"sex": "unknown"},
    {"age": "70"},
    {"age": True},
    {"age": 131},
    {"premorbid_mrs": 6},
    {"premorbid_mrs": 1.0},
    {"id": 17},
    {"extra": 1},
    {"birth_date": "1960-02-30"},
    {"birth_date": "2030-01-01"},
    {"screening_date": "03/03/2025"},
    {"stroke": {"type": "lacunar"}},
    {"stroke": {"onset_date": "2026-01-01"}},
    {"stroke": "ischemic"},
    {"nihss": {"1a": 3}},
    {"nihss": {"1a": 4}},
    {"nihss": {"5a": "UN"}},
    {"nihss": {"1a": "UN"}},
    {"nihss": {"5a": 2.0}},
    {"nihss": {"5a": True}},
    {"nihss": {"12": 0}},
    {"nihss": {"7": 2, "5a": 4, "5b": 4, "6a": 4, "6b": 0}},
    {"labs": {"ast": {"value": -1, "unit": "U/L", "uln": 40}}},
    {"labs": {"ast": {"value": 10, "unit": "g/dL", "uln": 40}}},
    {"labs": {"ast": {"value": 10, "unit": "U/L", "uln": 0}}},
    {"labs": {"ast": {"value": 10, "unit": "U/L", "uln": 4000}}},
    {"labs": {"ast": {"value": "10", "unit": "U/L", "uln": 40}}},
    {"labs": {"ast": {"value": 10, "unit": "U/L"}, "SGOT": {"value": 10, "unit": "U/L"}}},
    {"labs": {"astt": {"value": 10, "unit": "U/L"}}},
    {"labs": {"ast": {"value": 10, "unit": ""}}},
    {"labs": {"ast": {"value": 10, "unit": "U/L", "uln": 40, "uln_unit": ""}}},
    {"labs": {"ast": {"value": -0.0, "unit": "U/L", "uln": 40}}},
    {"labs": {"creatinine": {"value": 1.0, "unit": "mg/dL", "uln": 1.3, "uln_unit": "µmol/L"}}},
    {"serology": {"hbsag": "Positive"}},
    {"serology": {"HBsAg": " NEGATIVE "}},
    {"serology": {"hbsag": "reactive"}},
    {"serology": {"hbsag": "negative", "HBsAg": "negative"}},
    {"conditions": [{"name": "epilepsey"}]},
    {"conditions": [{"name": "Seizure disorder", "date": "2024-01-01"}]},
    {"conditions": [{"name": "other"}]},
    {"conditions": [{"name": "other", "description": "  gout  "}]},
    {"conditions": [{"name": "epilepsy", "description": "x" * 201}]},
    {"conditions": [{"name": "epilepsy", "date": "2024-1-1"}]},
    {"conditions": "epilepsy"},
    {"conditions": None},
    {"allergies": ["Bovine"]},
    {"allergies": ["porcine"]},
    {"medications": [{"name": "warfarin", "drug_class": "anticoagulant"}]},
    {"medications": [{"name": "warfarin", "class": "Anticoagulant"}]},
    {"medications": [{"name": "", "class": "statin"}]},
    {"medications": [{"name": "warfarin"}]},
    {"pregnant": 1},
    {"pregnant": "yes"},
    {"attestations": None},
    {"attestations": {"inc-consent": "yes"}},
    {"attestations": {"inc-consent": {"answer": True, "at": "2025-03-03T10:00:00"}}},
    {"attestations": {"inc-consent": {"answer": True, "by": 7}}},
    {"attestations": {"inc-consent": {"answer": 1}}},
]


def records(kind: str, n: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    base = example(f"{kind}-eligible")
    out: list[Any] = []
    for i in range(n):
        r = copy.deepcopy(base)
        r["id"] = f"{kind[:2].upper()}-{i:05d}"
        if rng.random() < 0.15:
            del r["screening_date"]
        if rng.random() < 0.2:
            del r["birth_date"]
            if rng.random() < 0.8:
                r["age"] = rng.choice((17, 18, 70, 71))
        else:
            r["birth_date"] = _birth(rng)
        if rng.random() < 0.05:
            del r["stroke"]
        else:
            r["stroke"]["onset_date"] = _day(rng, rng.choice((13, 14, 90, 91, 182, 183, 184, 400)))
            r["stroke"]["type"] = rng.choice(("ischemic", "ischemic", "hemorrhagic"))
            if rng.random() < 0.1:
                del r["stroke"]["territory"]
        nihss = {item: rng.randint(0, min(top, 2)) for item, top in NIHSS_TOP.items()}
        if rng.random() < 0.1:
            del nihss[rng.choice(NIHSS)]
        if rng.random() < 0.05:
            nihss[rng.choice(("9", "8"))] = "UN"
        r["nihss"] = nihss if rng.random() > 0.03 else None
        if "labs" in r:
            _lab_variants(rng, r["labs"])
        if "premorbid_mrs" in r or rng.random() < 0.5:
            r["premorbid_mrs"] = rng.choice((0, 1, 2))
        if rng.random() < 0.2:
            r["conditions"] = [
                *r.get("conditions", []),
                {
                    "name": rng.choice(
                        ("epilepsy", "seizure_disorder", "myocardial_infarction", "cancer", "hypertension")
                    ),
                    "date": _day(rng, rng.choice((10, 180, 181, 184, 365, 366, 1000))),
                },
            ]
        if rng.random() < 0.05:
            r["conditions"] = [{"name": "intracerebral_hemorrhage"}]  # undated
        if rng.random() < 0.05:
            r.pop("conditions", None)
        if rng.random() < 0.1:
            r["medications"] = (
                [{"name": "heparin", "class": "anticoagulant"}] if rng.random() < 0.5 else [{"name": "x"}]
            )
        if rng.random() < 0.1:
            r["sex"] = "female"
            r["pregnant"] = rng.choice((True, False, None))
        if rng.random() < 0.1:
            r["serology"] = {"hbsag": rng.choice(("positive", "negative"))}
        if rng.random() < 0.1:
            r["attestations"] = {k: rng.choice((True, False)) for k in r.get("attestations", {})}
        if rng.random() < 0.05:
            r.pop("attestations", None)
        if rng.random() < 0.12:
            r.update(copy.deepcopy(rng.choice(BROKEN)))
        out.append(r)
    return out


def twins(kind: str) -> list[Any]:
    """Records that differ only in a number's type (6 and 6.0 read differently in a reason) or sign of zero."""
    out = []
    for path, values in [
        ("labs.ast.value", (100, 100.0, 0, 0.0)),
        ("labs.ast.uln", (40, 40.0)),
        ("labs.albumin.value", (3, 3.0)),
        ("labs.hemoglobin", ({"value": 90, "unit": "g/L"}, {"value": 90.0, "unit": "g/L"})),
        ("premorbid_mrs", (1, 2)),
        ("nihss.5a", (2, 3)),
        # A NIHSS already checked, then the same items with a score equal to it but of another type.
        ("nihss.4", (1, True, 1.0, "1", 1)),
        ("nihss.1c", (0, False, 0.0, -0.0, 0)),
        # An attestation already read, then the same entry with an answer equal to it but not a bool.
        ("attestations.inc-consent.answer", (True, 1, 1.0, True)),
    ]:
        for value in values:
            record = copy.deepcopy(example(f"{kind}-eligible"))
            *parents, last = path.split(".")
            target = record
            for key in parents:
                target = target.setdefault(key, {})
            if parents and parents[0] == "labs" and "labs" not in example(f"{kind}-eligible"):
                continue
            target[last] = value
            out.append(record)
    return out


def _outcome(run: Any, record: Any) -> Any:
    try:
        return run(record)
    except FactsError as exc:
        return ("error", exc.errors, exc.record_id, exc.details, str(exc))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


@pytest.mark.slow
@pytest.mark.parametrize(("trial", "kind"), [(ASSIST, "assist"), (IXCELL, "ixcell")])
def test_the_compiled_screening_gives_what_screen_gives_record_by_record(trial, kind):
    protocol = load_protocol(trial)
    compiled = CompiledProtocol(protocol)
    population = records(kind, 2500, seed=22)
    population += [copy.deepcopy({**example(f"{kind}-eligible"), **broken}) for broken in BROKEN]
    population += twins(kind)
    expected = [_outcome(lambda r: screen(protocol, r, today=TODAY), r) for r in population]
    fast = 0
    for _ in range(2):  # the first pass fills the memo, the second reads it
        for number, (record, want) in enumerate(zip(population, expected)):
            got = _outcome(lambda r: compiled.screen(r, TODAY), record)
            if isinstance(want, tuple):
                assert got == want, (number, record)
                continue
            assert got.result() == want, (number, record)
            assert got.json_line(number) == json.dumps({"index": number, **want.as_dict()}, ensure_ascii=False)
            assert ScreeningOutcome(number, got).json_line() == got.json_line(number)
            assert got.json_bytes(number) == got.json_line(number).encode()
            # The JSON document's entry: the result's dict as json.dumps indents it, moved right by four.
            entry = json.dumps(want.as_dict(), indent=2, ensure_ascii=False)
            assert got.document_entry() == "\n".join("    " + line for line in entry.split("\n")), number
        fast = sum(fast_facts(r, protocol.condition_vocabulary) is not None for r in population)
    # The fast check reads most records itself; the invalid ones (and a few it is unsure of) go to pydantic.
    errors = sum(isinstance(w, tuple) for w in expected)
    assert errors > 100 and fast > len(population) * 0.6
    assert all(
        fast_facts(r, protocol.condition_vocabulary) is None
        for r, w in zip(population, expected)
        if isinstance(w, tuple)
    )


# --------------------------------------------------------------------------- property: any edit of a record

EDGE_TEXT = [
    "",
    " ",
    "UN",
    "ischemic",
    "hemorrhagic",
    "anterior",
    "posterior",
    "female",
    "male",
    "2025-03-03",
    "2025-03-04",
    "1960-02-30",
    "2024-1-1",
    "positive",
    " Negative ",
    "reactive",
    "epilepsy",
    "Seizure disorder",
    "other",
    "U/L",
    "IU/L",
    "g/dL",
    "g/L",
    "µmol/L",
    "mg/dL",
    "/µL",
    "10^9/L",
    "anticoagulant",
    "x" * 201,
    "a\x00b",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 200),
    st.sampled_from([0, 1, 2, 3, 4, 6, 18, 70, 71, 100, 150_000, 1500]),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, 3.0, 29.999, 99.99, 100.0, 1e308, float("inf"), float("nan")]),
    st.floats(0, 300_000, allow_nan=False),
    st.sampled_from(EDGE_TEXT),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=2),
    st.dictionaries(st.sampled_from(["name", "date", "class", "value", "unit", "uln", "answer", "by", "at"]), SCALARS),
)
LAB_NAMES = ["ast", "alt", "SGOT", "albumin", "creatinine", "platelets", "anc", "hemoglobin", "amylase", "lipase", "pt"]
PATHS = (
    ["id", "age", "sex", "birth_date", "screening_date", "premorbid_mrs", "pregnant", "lactating", "extra"]
    + ["stroke", "stroke.type", "stroke.territory", "stroke.onset_date", "nihss", "labs", "serology"]
    + ["conditions", "allergies", "medications", "attestations"]
    + [f"nihss.{item}" for item in NIHSS]
    + [f"labs.{name}.{part}" for name in LAB_NAMES for part in ("value", "unit", "uln", "uln_unit")]
    + [f"serology.{test}" for test in ("hbsag", "HBsAg", "hcv", "hiv")]
    + ["conditions.0.name", "conditions.0.date", "conditions.0.description", "medications.0.class"]
    + [f"attestations.{cid}" for cid in ("inc-consent", "exc-neuro-psychiatric", "inc-imaging")]
    + ["attestations.inc-consent.answer", "attestations.inc-consent.by", "attestations.inc-consent.at"]
)
EDITS = st.lists(st.tuples(st.sampled_from(PATHS), VALUES | st.just(DELETED := object())), min_size=1, max_size=4)


def _edited(base: dict[str, Any], edits: list[tuple[str, Any]]) -> dict[str, Any]:
    record = copy.deepcopy(base)
    for path, value in edits:
        *parents, last = path.split(".")
        target: Any = record
        for key in parents:
            if isinstance(target, list):
                target = target[0] if target else None
            elif isinstance(target, dict):
                target = target.setdefault(key, {})
            if not isinstance(target, dict):
                break
        else:
            if value is DELETED:
                target.pop(last, None)
            else:
                target[last] = copy.deepcopy(value)
    return record


@pytest.mark.slow
@pytest.mark.parametrize(("trial", "kind"), [(ASSIST, "assist"), (IXCELL, "ixcell")])
def test_any_edit_of_a_record_screens_the_same_compiled_and_by_screen(trial, kind):
    """Property: whatever a record holds (edge numbers, NaN, -0.0, wrong types, unknown names, nulls, a
    key too many), the compiled screening gives screen()'s result, JSON and error; twice, so the second
    answer comes from the memo of parts and outcomes the first one filled."""
    protocol = load_protocol(trial)
    screener = CompiledProtocol(protocol)
    base = example(f"{kind}-eligible")

    @settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(EDITS)
    def check(edits: list[tuple[str, Any]]) -> None:
        record = _edited(base, edits)
        # The record, then its twin whose lab numbers have the other type (6 ↔ 6.0, 0.0 ↔ -0.0): equal as
        # Python values, not as reasons, so a memo keyed on the value alone would answer the twin wrongly.
        twin = {**record, "labs": _retyped(record["labs"])} if isinstance(record.get("labs"), dict) else record
        for one in (record, twin):
            _same(protocol, screener, one)

    check()


def _retyped(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _retyped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_retyped(v) for v in value]
    if type(value) is int:
        return float(value)
    if type(value) is float and value == 0:
        return -value
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _same(protocol: Any, screener: CompiledProtocol, record: Any) -> None:
    want = _outcome(lambda r: screen(protocol, r, today=TODAY), record)
    for _ in range(2):
        got = _outcome(lambda r: screener.screen(r, TODAY), record)
        if isinstance(want, tuple):
            assert got == want
            continue
        assert got.result() == want
        line = json.dumps({"index": 7, **want.as_dict()}, ensure_ascii=False)
        assert got.json_line(7) == line
        assert got.json_bytes(7) == line.encode()


# --------------------------------------------------------------------------- the function made per protocol


@pytest.mark.parametrize(("trial", "kind"), [(ASSIST, "assist"), (IXCELL, "ixcell")])
def test_the_keys_of_the_function_made_for_the_protocol_are_the_key_functions_keys(trial, kind):
    """``decide_all`` looks each criterion's outcome up by a key written as an expression for the protocol;
    it must be the key ``key_of`` gives (the memo is filled by ``decide`` under that key: another key would
    never be found, or worse, find another record's outcome), criterion by criterion, record by record."""
    protocol = load_protocol(trial)
    screener = CompiledProtocol(protocol)
    population = records(kind, 600, seed=23) + twins(kind)
    compared = 0
    for record in population:
        facts = fast_facts(record, protocol.condition_vocabulary)
        if facts is None:
            continue
        on = facts.screening_date or TODAY
        made = screener.keys(facts, on, {})
        for criterion, key in zip(screener.criteria, made, strict=True):
            assert key == criterion.key(facts, on, {}), (criterion.id, record)
            assert type(key) is type(criterion.key(facts, on, {}))
        compared += 1
    assert compared > len(population) * 0.6
