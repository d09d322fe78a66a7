"""The screening facts entry form: its sections and fields, and the posted form read as a facts patch.

Field names are the facts record's own paths (``stroke.onset_date``, ``labs.albumin.value``,
``nihss.5a``), so an error that ``parse_facts`` names lands next to the input it is about.
Labels, choices and units come from ``trialkit.instruments`` (NIHSS, mRS, laboratory analytes,
medication classes); the form adds no rule of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy

from trialkit.eligibility.vocabulary import OTHER
from trialkit.instruments import MEDICATION_CLASSES, MRS, get_instrument
from trialkit.instruments.labs import ANALYTES

# The analytes of the facts record, in the order of ASSIST's organ-function criterion.
LAB_ANALYTES = (
    "ast",
    "alt",
    "bilirubin",
    "pt",
    "ptt",
    "albumin",
    "anc",
    "platelets",
    "hemoglobin",
    "creatinine",
    "amylase",
    "lipase",
)
SEROLOGY_TESTS = (
    ("hbsag", gettext_lazy("Hepatitis B surface antigen (HBsAg)")),
    ("hbeag", gettext_lazy("Hepatitis B e antigen (HBeAg)")),
    ("anti_hbe", gettext_lazy("Hepatitis B e antibody (anti-HBe)")),
    ("anti_hbc", gettext_lazy("Hepatitis B core antibody (anti-HBc)")),
    ("hcv", gettext_lazy("Hepatitis C antibody")),
    ("hiv", gettext_lazy("HIV antibody/antigen")),
    ("rpr", gettext_lazy("Syphilis (RPR)")),
)
LIST_ROWS = 6  # condition and medication rows offered; a record rarely needs more at screening


@dataclass
class Choice:
    value: str
    label: str


@dataclass
class Field:
    name: str  # the facts path, also the input's name
    label: str
    kind: str  # date, integer, number, select, text
    choices: list[Choice] = field(default_factory=list)
    help: str = ""
    value: Any = ""
    error: str = ""  # the messages of a refused save, shown by the field and tied to it

    @property
    def slot(self) -> str:
        return error_slot_id(self.name)


def error_slot_id(path: str) -> str:
    return "err-" + path.replace(".", "-")


def _choices(*pairs: tuple[Any, str]) -> list[Choice]:
    return [Choice(str(v), label) for v, label in pairs]


YES_NO = _choices(("false", gettext_lazy("No")), ("true", gettext_lazy("Yes")))


def nihss_fields() -> list[Field]:
    fields = []
    for item in get_instrument("nihss").items:
        options = [(c.code, f"{c.code} — {c.label}") for c in item.choices]
        untestable = gettext_lazy("untestable")
        options += [(code, f"{code} — {untestable}") for code in item.untestable]
        fields.append(
            Field(f"nihss.{item.key}", f"{item.key} {item.label}", "select", _choices(*options), help=item.help)
        )
    return fields


def lab_rows() -> list[dict[str, Any]]:
    rows = []
    for key in LAB_ANALYTES:
        analyte = ANALYTES[key]
        rows.append(
            {
                "key": key,
                "label": analyte.label,
                "value": Field(f"labs.{key}.value", gettext_lazy("Value"), "number"),
                "unit": Field(
                    f"labs.{key}.unit", gettext_lazy("Unit"), "select", _choices(*((u, u) for u in analyte.units))
                ),
                "uln": Field(f"labs.{key}.uln", gettext_lazy("ULN"), "number"),
                # The ULN's own unit; blank reads it in the value's unit.
                "uln_unit": Field(
                    f"labs.{key}.uln_unit",
                    gettext_lazy("ULN unit"),
                    "select",
                    [Choice("", gettext_lazy("same as value")), *_choices(*((u, u) for u in analyte.units))],
                ),
                "slot": error_slot_id(f"labs.{key}"),
            }
        )
    return rows


def condition_choices(protocol) -> list[Choice]:
    """The trial's condition vocabulary for the datalist: names the rules screen on, the other terms, and
    ``other`` (a condition outside the list, described in the row)."""
    vocabulary = protocol.condition_vocabulary
    choices = [Choice(name, gettext_lazy("screened by an eligibility criterion")) for name in vocabulary.screened]
    choices += [
        Choice(name, gettext_lazy("medical history")) for name in vocabulary.names if name not in vocabulary.screened
    ]
    choices.append(Choice(OTHER, gettext_lazy("none of the listed conditions: describe it")))
    return choices


def build_form(
    facts: dict[str, Any], protocol, *, posted=None, errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The form's sections, each field carrying the stored value, or, after a refused save, what was
    posted (``posted``: nothing typed is lost) and the messages of its error slot (``errors``)."""
    demographics = [
        Field("birth_date", gettext_lazy("Date of birth"), "date"),
        Field("age", gettext_lazy("Age (completed years), if the date of birth is not known"), "integer"),
        Field(
            "sex",
            gettext_lazy("Sex"),
            "select",
            _choices(("female", gettext_lazy("Female")), ("male", gettext_lazy("Male"))),
        ),
    ]
    stroke = [
        Field(
            "stroke.type",
            gettext_lazy("Type of the index stroke"),
            "select",
            _choices(("ischemic", gettext_lazy("Ischemic")), ("hemorrhagic", gettext_lazy("Hemorrhagic"))),
        ),
        Field(
            "stroke.territory",
            gettext_lazy("Arterial territory"),
            "select",
            _choices(
                ("anterior", gettext_lazy("Anterior circulation")), ("posterior", gettext_lazy("Posterior circulation"))
            ),
        ),
        Field("stroke.onset_date", gettext_lazy("Onset (or last known well)"), "date"),
    ]
    mrs_item = MRS.items[0]
    premorbid = [
        Field(
            "premorbid_mrs",
            gettext_lazy("Pre-stroke modified Rankin Scale"),
            "select",
            _choices(*((c.code, f"{c.code} — {c.label}") for c in mrs_item.choices if int(c.code) <= 5)),
        )
    ]
    pregnancy = [
        Field("pregnant", gettext_lazy("Pregnant"), "select", YES_NO),
        Field("lactating", gettext_lazy("Lactating"), "select", YES_NO),
    ]
    serology = [
        Field(
            f"serology.{key}",
            label,
            "select",
            _choices(("negative", gettext_lazy("Negative")), ("positive", gettext_lazy("Positive"))),
        )
        for key, label in SEROLOGY_TESTS
    ]
    nihss = nihss_fields()
    labs = lab_rows()
    for f in (*demographics, *stroke, *premorbid, *pregnancy, *serology, *nihss):
        f.value = _lookup(facts, f.name)
    for row in labs:
        for part in ("value", "unit", "uln", "uln_unit"):
            row[part].value = _lookup(facts, row[part].name)
        if row["unit"].value in ("", None):
            row["unit"].value = ANALYTES[row["key"]].canonical_unit
    conditions = list(facts.get("conditions") or [])
    medications = list(facts.get("medications") or [])
    if posted is not None:
        for f in (*demographics, *stroke, *premorbid, *pregnancy, *serology, *nihss):
            f.value = _text(posted, f.name)
        for row in labs:
            for part in ("value", "unit", "uln", "uln_unit"):
                row[part].value = _text(posted, row[part].name)
        conditions = _posted_rows(posted, "conditions", ("name", "date", "description"))
        medications = _posted_rows(posted, "medications", ("name", "class"))
    form = {
        "demographics": demographics,
        "stroke": stroke,
        "nihss": nihss,
        "premorbid": premorbid,
        "labs": labs,
        "serology": serology,
        "pregnancy": pregnancy,
        "conditions": [
            conditions[i] if i < len(conditions) else {} for i in range(max(LIST_ROWS, len(conditions) + 1))
        ],
        "conditions_reviewed": facts.get("conditions") is not None,
        "condition_choices": condition_choices(protocol),
        "condition_names": list(protocol.condition_vocabulary.names),
        "condition_other": OTHER,
        "medications": [
            medications[i] if i < len(medications) else {} for i in range(max(LIST_ROWS, len(medications) + 1))
        ],
        "medications_reviewed": facts.get("medications") is not None,
        "medication_classes": _choices(*((c.code, c.label) for c in MEDICATION_CLASSES)),
        "allergies": ", ".join(facts.get("allergies") or []),
        "allergies_reviewed": facts.get("allergies") is not None,
    }
    if posted is not None:
        form.update(
            conditions_reviewed=bool(posted.get("conditions_reviewed")),
            medications_reviewed=bool(posted.get("medications_reviewed")),
            allergies=_text(posted, "allergies"),
            allergies_reviewed=bool(posted.get("allergies_reviewed")),
        )
    _attach_errors(form, errors or {})
    return form


def _posted_rows(post, section: str, parts: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a list section exactly as posted (blank rows included, so each keeps its place)."""
    rows, index = [], 0
    while f"{section}.{index}.{parts[0]}" in post:
        rows.append({part: _text(post, f"{section}.{index}.{part}") for part in parts})
        index += 1
    return rows


# A message about a whole section sits under it; the summary links to the section's first input.
SECTIONS = {
    "stroke": (gettext_lazy("Index stroke"), "f-stroke.type"),
    "nihss": (gettext_lazy("NIH Stroke Scale"), "f-nihss.1a"),
    "labs": (gettext_lazy("Laboratory"), f"f-labs.{LAB_ANALYTES[0]}.value"),
    "serology": (gettext_lazy("Serology"), f"f-serology.{SEROLOGY_TESTS[0][0]}"),
    "conditions": (gettext_lazy("Medical history"), "f-conditions.0.name"),
    "medications": (gettext_lazy("Current medications"), "f-medications.0.name"),
    "allergies": (gettext_lazy("Allergies"), "f-allergies"),
    "facts": (gettext_lazy("Screening facts"), "facts-form"),
}


def _attach_errors(form: dict[str, Any], errors: dict[str, list[str]]) -> None:
    """Each field, row and section gets its messages (``error``) and the form an ordered summary:
    ``form["summary"]`` = [(id of the input to go to, its label, the messages)]."""

    def text(slot: str) -> str:
        return "; ".join(errors.get(slot, []))

    summary = []
    for key in (
        "demographics",
        "stroke",
        "nihss",
        "premorbid",
        "labs",
        "serology",
        "conditions",
        "medications",
        "allergies",
        "pregnancy",
    ):
        if key == "labs":
            for row in form["labs"]:
                row["error"] = text(row["slot"])
                if row["error"]:
                    summary.append((f"f-{row['value'].name}", row["label"], row["error"]))
        elif key in ("conditions", "medications"):
            noun = gettext_lazy("Condition %(n)s") if key == "conditions" else gettext_lazy("Medicine %(n)s")
            form[key] = [{**row, "error": text(error_slot_id(f"{key}.{i}"))} for i, row in enumerate(form[key])]
            summary += [
                (f"f-{key}.{i}.name", noun % {"n": i + 1}, row["error"])
                for i, row in enumerate(form[key])
                if row["error"]
            ]
        elif key != "allergies":
            for f in form[key]:
                f.error = text(f.slot)
                if f.error:
                    summary.append((f"f-{f.name}", f.label, f.error))
        if key in SECTIONS and text(error_slot_id(key)):
            summary.append((SECTIONS[key][1], SECTIONS[key][0], text(error_slot_id(key))))
    form["section_errors"] = {key: text(error_slot_id(key)) for key in SECTIONS}
    if form["section_errors"]["facts"]:
        summary.append((SECTIONS["facts"][1], SECTIONS["facts"][0], form["section_errors"]["facts"]))
    form["summary"] = summary


def _lookup(facts: dict[str, Any], path: str) -> Any:
    value: Any = facts
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return ""
        value = value[part]
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# --------------------------------------------------------------------------- posted form -> facts patch


def _text(post, name: str) -> str:
    return (post.get(name) or "").strip()


def _integer(text: str) -> Any:
    # Leave anything unreadable as typed: parse_facts then rejects it, naming the field.
    return int(text) if text.lstrip("-").isdigit() else (text or None)


def _number(text: str) -> Any:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _boolean(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text)


def patch_from_form(post) -> dict[str, Any]:
    """The whole form as a merge patch: every section it covers is set, emptied fields removed (null)."""
    patch: dict[str, Any] = {
        "birth_date": _text(post, "birth_date") or None,
        "age": _integer(_text(post, "age")),
        "sex": _text(post, "sex") or None,
        "premorbid_mrs": _integer(_text(post, "premorbid_mrs")),
        "pregnant": _boolean(_text(post, "pregnant")),
        "lactating": _boolean(_text(post, "lactating")),
        "stroke": {part: _text(post, f"stroke.{part}") or None for part in ("type", "territory", "onset_date")},
    }
    if not any(patch["stroke"].values()):
        patch["stroke"] = None
    nihss: dict[str, Any] = {}
    for item in get_instrument("nihss").items:
        raw = _text(post, f"nihss.{item.key}")
        nihss[item.key] = raw if raw == "UN" else _integer(raw)
    patch["nihss"] = nihss if any(v is not None for v in nihss.values()) else None
    labs: dict[str, Any] = {}
    for key in LAB_ANALYTES:
        value = _number(_text(post, f"labs.{key}.value"))
        if value is None:
            labs[key] = None
            continue
        # The whole entry replaces the stored one, so a cleared ULN is removed rather than kept.
        labs[key] = {
            "value": value,
            "unit": _text(post, f"labs.{key}.unit") or ANALYTES[key].canonical_unit,
            "uln": _number(_text(post, f"labs.{key}.uln")),
            "uln_unit": _text(post, f"labs.{key}.uln_unit") or None,
        }
    patch["labs"] = labs if any(v is not None for v in labs.values()) else None
    serology = {key: _text(post, f"serology.{key}") or None for key, _ in SEROLOGY_TESTS}
    patch["serology"] = serology if any(serology.values()) else None
    patch["conditions"] = _rows(post, "conditions", ("name", "date", "description"))
    patch["medications"] = _rows(post, "medications", ("name", "class"))
    allergies = [a.strip() for a in _text(post, "allergies").split(",") if a.strip()]
    patch["allergies"] = allergies if allergies or post.get("allergies_reviewed") else None
    return patch


def _rows(post, section: str, parts: tuple[str, ...]) -> list[dict[str, Any]] | None:
    rows = []
    index = 0
    while f"{section}.{index}.{parts[0]}" in post:
        row = {part: _text(post, f"{section}.{index}.{part}") or None for part in parts}
        if any(row.values()):
            rows.append({k: v for k, v in row.items() if v is not None})
        index += 1
    # An empty list is an answer ("none of these"), so it needs the reviewed box; no rows and no box: not asked.
    if rows or post.get(f"{section}_reviewed"):
        return rows
    return None


def slot_for(path: str) -> str:
    """The error slot that shows an error at ``path`` (lab errors show on the analyte's row)."""
    parts = path.split(".")
    if parts[0] == "labs" and len(parts) >= 2:
        return error_slot_id(f"labs.{parts[1]}")
    if parts[0] in ("conditions", "medications") and len(parts) >= 2 and parts[1].isdigit():
        return error_slot_id(f"{parts[0]}.{parts[1]}")
    return error_slot_id(path)


def all_slots(form: dict[str, Any]) -> list[str]:
    slots = [
        f.slot for key in ("demographics", "stroke", "nihss", "premorbid", "serology", "pregnancy") for f in form[key]
    ]
    slots += [row["slot"] for row in form["labs"]]
    slots += [error_slot_id(f"conditions.{i}") for i in range(len(form["conditions"]))]
    slots += [error_slot_id(f"medications.{i}") for i in range(len(form["medications"]))]
    slots += [
        error_slot_id(name)
        for name in ("stroke", "nihss", "labs", "serology", "conditions", "medications", "allergies", "facts")
    ]
    return slots
