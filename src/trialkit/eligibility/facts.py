"""The screening facts record: what a coordinator enters about one candidate.

Every key is optional, because screening fills a record step by step; a rule that needs a fact that is
absent evaluates to ``unknown``, never to ``pass``. Two kinds of absence differ on purpose:

- a list that is absent (``conditions``, ``medications``, ``allergies``) means "not asked yet";
- a list that is present, even empty, is the answer "these are all there are", so a history
  exclusion whose condition is not in it is cleared.

See docs/eligibility.md for the record with examples.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trialkit.eligibility import measures
from trialkit.eligibility.lab_vocabulary import lab_key, lab_problem, serology_key, serology_problem
from trialkit.eligibility.vocabulary import OTHER, ConditionVocabulary, normalize_name
from trialkit.instruments.labs import LabUnitError

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=64)]
# A laboratory or serology name as entered ("AST", "total bilirubin", "HIV Ag/Ab", "1920-8"); the
# vocabulary (lab_vocabulary.py) maps it to its key or refuses it with suggestions.
LabName = Annotated[str, Field(min_length=1, max_length=64)]


class FactsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stroke(FactsModel):
    type: Literal["ischemic", "hemorrhagic"] | None = Field(None, description="The index (qualifying) stroke.")
    territory: Literal["anterior", "posterior"] | None = Field(
        None, description="Arterial circulation of the index stroke."
    )
    onset_date: date | None = Field(None, description="Day of onset (or last known well); day 0.")


class LabValue(FactsModel):
    value: int | float = Field(ge=0)
    unit: str = Field(min_length=1, description="Unit of value, e.g. 'g/dL', 'g/L', '10^9/L', 'U/L'.")
    uln: int | float | None = Field(
        None,
        gt=0,
        description="The reporting laboratory's upper limit of normal; checked for plausibility in its unit.",
    )
    uln_unit: str | None = Field(
        None, min_length=1, description="Unit of uln when it differs from unit (default: unit)."
    )


class Condition(FactsModel):
    name: Name = Field(
        description="A name of the protocol's condition vocabulary (e.g. epilepsy, hypertension), or 'other' "
        "with a description; read lower case with spaces and hyphens as underscores (see docs/eligibility.md)."
    )
    date: dt.date | None = Field(None, description="Date of diagnosis or of the event; needed by dated rules.")
    description: str | None = Field(
        None, max_length=200, description="What the condition is; required when name is 'other'."
    )

    @field_validator("name", mode="before")
    @classmethod
    def _normalized(cls, value: Any) -> Any:
        return normalize_name(value) if isinstance(value, str) else value

    @field_validator("description", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @model_validator(mode="after")
    def _other_is_described(self) -> Condition:
        # "other" is the coordinator's statement that the condition is none of the listed ones; the
        # description is what makes that entry reviewable.
        if self.name == OTHER and not self.description:
            raise ValueError(_located([("description", f"{OTHER!r} needs a description of the condition")]))
        return self


class Medication(FactsModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1)
    drug_class: Name | None = Field(None, alias="class", description="e.g. antiplatelet, anticoagulant, statin.")


class Attestation(FactsModel):
    """An investigator's answer to a criterion: does the criterion's statement hold for the patient?"""

    answer: bool = Field(description="True: the criterion's statement holds for the patient (as written).")
    by: str | None = Field(None, description="Who attests.")
    at: date | datetime | None = Field(None, description="When.")


class ScreeningFacts(FactsModel):
    id: str | None = Field(None, description="Screening number or another identifier of the record.")
    screening_date: date | None = Field(None, description="The day the facts describe; today if absent.")
    birth_date: date | None = None
    age: int | None = Field(None, ge=0, le=130, description="Age in completed years; birth_date wins if both.")
    sex: Literal["female", "male"] | None = None
    stroke: Stroke | None = None
    nihss: dict[str, int | Literal["UN"]] | None = Field(
        None, description="NIHSS item code (1a, 1b, 1c, 2, ... 11) to score or 'UN' (untestable)."
    )
    premorbid_mrs: int | None = Field(None, ge=0, le=5, description="Modified Rankin Scale before the stroke.")
    labs: dict[LabName, LabValue] | None = Field(
        None,
        description="Analyte (key, abbreviation or synonym in any case, or LOINC code: ast, AST, SGOT, "
        "1920-8, total bilirubin, ...) to its value; stored under the analyte's key.",
    )
    serology: dict[LabName, Literal["positive", "negative"]] | None = Field(
        None,
        description="Test (hbsag, hbeag, anti_hbe, anti_hbc, hcv, hiv, rpr; also HBsAg, HBeAb, anti-HCV, "
        "HIV Ag/Ab, RPR or a LOINC code) to its result; stored under the test's key.",
    )
    conditions: list[Condition] | None = Field(None, description="Medical history; [] means none of them.")
    allergies: list[Name] | None = Field(None, description="Allergens, e.g. bovine, porcine; [] means none.")
    medications: list[Medication] | None = Field(None, description="Current medications; [] means none.")
    pregnant: bool | None = None
    lactating: bool | None = None
    attestations: dict[str, bool | Attestation] = Field(
        default_factory=dict,
        description="Criterion id -> true/false (or {answer, by, at}): true when the criterion's "
        "statement holds for the patient, for inclusion and exclusion criteria alike.",
    )

    @field_validator("nihss")
    @classmethod
    def _nihss_items_allowed(cls, values: dict[str, int | str] | None) -> dict[str, int | str] | None:
        if values is None:
            return values
        problems = measures.nihss_problems(values)
        if problems:
            raise ValueError(_located([(item, message) for item, message in problems]))
        return values

    @field_validator("labs")
    @classmethod
    def _lab_units_known(cls, labs: dict[str, LabValue] | None) -> dict[str, LabValue] | None:
        if labs is None:
            return labs
        problems = []
        canonical: dict[str, LabValue] = {}
        entered_as: dict[str, str] = {}
        for analyte, lab in labs.items():
            key = lab_key(analyte)
            if key is None:
                problems.append((analyte, lab_problem(analyte) or "unknown analyte"))
                continue
            if key in canonical:
                problems.append((analyte, f"{key} is given twice (also as {entered_as[key]!r})"))
                continue
            canonical[key] = lab
            entered_as[key] = analyte
            unit_ok = True
            for field_name in ("unit", "uln_unit"):
                unit = getattr(lab, field_name)
                problem = measures.check_lab_unit(key, unit) if unit else None
                if problem:
                    unit_ok = False
                    problems.append((f"{analyte}.{field_name}" if "unit" in problem else analyte, problem))
            if unit_ok and lab.uln is not None:
                # The ULN is read in its own unit (the value's unless uln_unit says otherwise); a number
                # implausible as a ULN in that unit is refused rather than turned into a wrong ×ULN.
                try:
                    problem = measures.lab_uln_problem(key, lab.uln, lab.uln_unit or lab.unit)
                except LabUnitError as exc:
                    problem = str(exc)
                if problem:
                    problems.append((f"{analyte}.uln", problem))
        if problems:
            raise ValueError(_located(problems))
        return canonical

    @field_validator("serology", mode="before")
    @classmethod
    def _results_lower_case(cls, values: Any) -> Any:
        if isinstance(values, dict):
            return {k: v.strip().lower() if isinstance(v, str) else v for k, v in values.items()}
        return values

    @field_validator("serology")
    @classmethod
    def _serology_known(cls, values: dict[str, str] | None) -> dict[str, str] | None:
        if values is None:
            return values
        problems = []
        canonical: dict[str, str] = {}
        entered_as: dict[str, str] = {}
        for test, result in values.items():
            key = serology_key(test)
            if key is None:
                problems.append((test, serology_problem(test) or "unknown test"))
            elif key in canonical:
                problems.append((test, f"{key} is given twice (also as {entered_as[key]!r})"))
            else:
                canonical[key] = result
                entered_as[key] = test
        if problems:
            raise ValueError(_located(problems))
        return canonical

    @model_validator(mode="after")
    def _dates_consistent(self) -> ScreeningFacts:
        when = self.screening_date
        if self.birth_date and when and self.birth_date > when:
            raise ValueError(f"birth_date {self.birth_date} is after screening_date {when}")
        if self.birth_date and self.age is not None and when:
            computed = completed_years(self.birth_date, when)
            if computed != self.age:
                raise ValueError(f"age {self.age} disagrees with birth_date {self.birth_date} (age {computed})")
        onset = self.stroke.onset_date if self.stroke else None
        if onset and when and onset > when:
            raise ValueError(f"stroke.onset_date {onset} is after screening_date {when}")
        return self

    def attestation(self, criterion_id: str) -> Attestation | None:
        value = self.attestations.get(criterion_id)
        if value is None or isinstance(value, Attestation):
            return value
        return Attestation(answer=value)


# A field validator cannot name a deeper location than its field, so it writes "@sub-path message"
# lines and parse_facts moves each sub-path into the error's location.
def _located(problems: list[tuple[str, str]]) -> str:
    # A tab ends the path: an entered name may hold spaces ("total bilirubin").
    return "\n".join(f"@{path}\t{message}" for path, message in problems)


def completed_years(born: date, on: date) -> int:
    """Age in completed years: a person is 70 until the day before the 71st birthday."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


class FactsError(ValueError):
    """A facts record that cannot be read; ``errors`` lists (field path, message) pairs."""

    def __init__(
        self, errors: list[tuple[str, str]], record_id: str | None = None, rules: dict[str, str] | None = None
    ):
        self.errors = errors
        self.record_id = record_id
        self.rules = rules or {}  # field path -> the rule it breaks, where known (see ``details``)
        where = f"record {record_id}: " if record_id else ""
        super().__init__(where + "; ".join(f"{path or '(record)'}: {msg}" for path, msg in errors))

    @property
    def details(self) -> list[tuple[str, str, str]]:
        """(field, rule, message) for each problem: the rule is pydantic's error type (``missing``,
        ``literal_error``, ``extra_forbidden``, ...) or the check's name (``lab_vocabulary``,
        ``condition_vocabulary``, ``nihss_scale``, ``dates_consistent``)."""
        return [(path, self.rules.get(path) or _rule_of(path), message) for path, message in self.errors]


# The facts record's own checks (field validators and vocabularies), by the field they guard.
_CHECKS = {
    "nihss": "nihss_scale",
    "labs": "lab_vocabulary",
    "serology": "serology_vocabulary",
    "conditions": "condition_vocabulary",
}


def _rule_of(path: str) -> str:
    top = path.split(".", 1)[0]
    return _CHECKS.get(top, "dates_consistent" if not path else "value_error")


def parse_facts(data: dict[str, Any] | ScreeningFacts, vocabulary: ConditionVocabulary | None = None) -> ScreeningFacts:
    """Validate a facts record; raise FactsError naming each bad field (e.g. ``labs.ast.unit``).

    With a protocol's ``vocabulary`` (``protocol.condition_vocabulary``) every condition
    name must be one of it, a synonym of one (returned as the listed name) or ``other``; an unknown
    name is reported at ``conditions.<i>.name`` with suggestions. Without it, names are only
    normalised: screening for a trial always passes the trial's vocabulary.
    """
    if isinstance(data, ScreeningFacts):
        return data if vocabulary is None else _with_vocabulary(data, data.model_dump(by_alias=True), vocabulary)
    record_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise FactsError(
            [("", f"a facts record must be a JSON object, got {type(data).__name__}")], rules={"": "record_type"}
        )
    try:
        parsed = ScreeningFacts.model_validate(data)
    except ValidationError as exc:
        rules: dict[str, str] = {}
        errors = _pydantic_errors(exc, rules)
        if vocabulary is not None:
            # An unknown name and its suggestions say more than the name's pattern does.
            unknown = dict(vocabulary.problems(data.get("conditions")))
            for path in unknown:
                rules[path] = "condition_vocabulary"
            errors = [(path, unknown.pop(path, message)) for path, message in errors] + list(unknown.items())
        raise FactsError(_dedupe(errors), str(record_id) if record_id is not None else None, rules) from exc
    return parsed if vocabulary is None else _with_vocabulary(parsed, data, vocabulary)


def _with_vocabulary(parsed: ScreeningFacts, data: dict[str, Any], vocabulary: ConditionVocabulary) -> ScreeningFacts:
    if parsed.conditions is None:
        return parsed
    problems = vocabulary.problems(data.get("conditions"))
    if problems:
        raise FactsError(problems, parsed.id)
    listed = [c.model_copy(update={"name": vocabulary.resolve(c.name)}) for c in parsed.conditions]
    return parsed.model_copy(update={"conditions": listed})


def _pydantic_errors(exc: ValidationError, rules: dict[str, str] | None = None) -> list[tuple[str, str]]:
    errors = []
    rules = {} if rules is None else rules
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"] if not str(part).startswith("function-")]
        # pydantic names union members in the location (e.g. "int", "literal['UN']"); drop them.
        loc = [part for part in loc if not _is_union_tag(part)]
        message = err["msg"].removeprefix("Value error, ")
        if message.startswith("@"):
            for line in message.splitlines():
                sub, _, text = line[1:].partition("\t")
                errors.append((".".join([*loc, sub]), text))
            continue
        path = ".".join(loc)
        if err["type"] != "value_error":
            rules.setdefault(path, err["type"])
        errors.append((path, message))
    return errors


def _is_union_tag(part: str) -> bool:
    return part in {"int", "bool", "str", "float", "Attestation"} or part.startswith("literal[")


def _dedupe(errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for path, message in errors:
        seen.setdefault(path, message)
    return list(seen.items())


def facts_schema() -> dict[str, Any]:
    """The JSON schema of the screening facts record (for docs and the web API)."""
    return ScreeningFacts.model_json_schema(by_alias=True)
