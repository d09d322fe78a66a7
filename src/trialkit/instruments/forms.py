"""The other case report forms of a stroke trial, on the same framework as the scales.

Every item has a type and a label so an eCRF can render and validate any form from ``items``.
Forms that hold one record per event (medical history, concomitant medications, adverse events)
are ``repeating``: one validated record per condition, medicine or event.

Controlled terms follow CDISC SDTM codelists where one exists (SEX, RACE, ETHNIC, AEOUT, AEACN,
AEREL-style causality); plausibility ranges of vital signs are our own, wide enough for any living
adult, and exist to catch slips of unit or digit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from trialkit.instruments.framework import (
    Choice,
    FieldError,
    Instrument,
    Item,
    ItemType,
    Rule,
    codes,
    levels,
)
from trialkit.instruments.labs import ANALYTES

# --------------------------------------------------------------------------- small builders


def _date(key: str, label: str, required: bool = True, help: str = "") -> Item:
    return Item(key, label, ItemType.date, required=required, help=help)


def _text(key: str, label: str, required: bool = True, max_length: int = 200, help: str = "") -> Item:
    return Item(key, label, ItemType.text, required=required, max_length=max_length, help=help)


def _bool(key: str, label: str, required: bool = True, help: str = "") -> Item:
    return Item(key, label, ItemType.boolean, required=required, help=help)


def _choice(
    key: str, label: str, choices: tuple[Choice, ...], required: bool = True, help: str = "", source: str = ""
) -> Item:
    return Item(key, label, ItemType.choice, required=required, choices=choices, help=help, source=source)


def _number(
    key: str, label: str, unit: str, minimum: float, maximum: float, required: bool = True, help: str = ""
) -> Item:
    return Item(key, label, ItemType.number, required=required, unit=unit, minimum=minimum, maximum=maximum, help=help)


def _integer(
    key: str,
    label: str,
    minimum: int,
    maximum: int,
    required: bool = True,
    unit: str | None = None,
    help: str = "",
    source: str = "",
) -> Item:
    return Item(
        key,
        label,
        ItemType.integer,
        required=required,
        minimum=minimum,
        maximum=maximum,
        unit=unit,
        help=help,
        source=source,
    )


def not_before(later: str, earlier: str, source: str = "") -> Rule:
    """``later`` (a date) must not precede ``earlier``."""

    def check(values: Mapping[str, Any]) -> list[FieldError]:
        a, b = values.get(later), values.get(earlier)
        if isinstance(a, date) and isinstance(b, date) and a < b:
            return [FieldError(later, a.isoformat(), "date_order", f"is before {earlier} ({b.isoformat()})")]
        return []

    return Rule(f"{later}_not_before_{earlier}", f"{later} is not before {earlier}.", source, check)


def required_with(dependent: str, trigger: str, when: Any = None) -> Rule:
    """``dependent`` must be given when ``trigger`` is given (or equals ``when``)."""

    def check(values: Mapping[str, Any]) -> list[FieldError]:
        fired = trigger in values if when is None else values.get(trigger) == when
        if fired and dependent not in values:
            cond = f"{trigger} is given" if when is None else f"{trigger} is {when!r}"
            return [FieldError(dependent, None, "required_with", f"is required when {cond}")]
        return []

    return Rule(
        f"{dependent}_required_with_{trigger}",
        f"{dependent} is required when {trigger} is " + ("given." if when is None else f"{when!r}."),
        "",
        check,
    )


def absent_when(dependent: str, trigger: str, when: Any) -> Rule:
    def check(values: Mapping[str, Any]) -> list[FieldError]:
        if values.get(trigger) == when and dependent in values:
            return [
                FieldError(dependent, values[dependent], "absent_when", f"must be empty when {trigger} is {when!r}")
            ]
        return []

    return Rule(f"{dependent}_absent_when_{trigger}", f"{dependent} is empty when {trigger} is {when!r}.", "", check)


# --------------------------------------------------------------------------- demographics

DEMOGRAPHICS = Instrument(
    name="demographics",
    title="Demographics",
    version="1.0",
    kind="form",
    items=(
        _date("birth_date", "Date of birth"),
        _choice(
            "sex", "Sex", codes(("F", "Female"), ("M", "Male"), ("U", "Unknown")), source="CDISC SDTM codelist SEX"
        ),
        _choice(
            "ethnicity",
            "Ethnicity",
            codes(
                ("HISPANIC OR LATINO", "Hispanic or Latino"),
                ("NOT HISPANIC OR LATINO", "Not Hispanic or Latino"),
                ("NOT REPORTED", "Not reported"),
                ("UNKNOWN", "Unknown"),
            ),
            source="CDISC SDTM codelist ETHNIC",
        ),
        _choice(
            "race",
            "Race",
            codes(
                ("AMERICAN INDIAN OR ALASKA NATIVE", "American Indian or Alaska Native"),
                ("ASIAN", "Asian"),
                ("BLACK OR AFRICAN AMERICAN", "Black or African American"),
                ("NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER", "Native Hawaiian or Other Pacific Islander"),
                ("WHITE", "White"),
                ("MULTIPLE", "More than one race"),
                ("NOT REPORTED", "Not reported"),
                ("UNKNOWN", "Unknown"),
            ),
            source="CDISC SDTM codelist RACE",
        ),
        _choice(
            "handedness",
            "Handedness",
            codes(("right", "Right"), ("left", "Left"), ("ambidextrous", "Ambidextrous")),
            required=False,
        ),
        _integer(
            "education_years",
            "Years of formal education",
            0,
            30,
            required=False,
            unit="years",
            help="Needed to interpret the MMSE.",
        ),
    ),
    description="One record per participant.",
)

# --------------------------------------------------------------------------- stroke history

TOAST = "Adams HP et al., Stroke 1993;24:35-41 (TOAST)"

STROKE_HISTORY = Instrument(
    name="stroke_history",
    title="Stroke history",
    version="1.0",
    kind="form",
    items=(
        _choice(
            "stroke_type",
            "Type of index stroke",
            codes(
                ("ischemic", "Ischemic stroke"),
                ("intracerebral_hemorrhage", "Intracerebral hemorrhage"),
                ("subarachnoid_hemorrhage", "Subarachnoid hemorrhage"),
                ("undetermined", "Undetermined"),
            ),
        ),
        _choice(
            "territory",
            "Vascular territory",
            codes(
                ("anterior_cerebral", "Anterior cerebral artery"),
                ("middle_cerebral", "Middle cerebral artery"),
                ("posterior_cerebral", "Posterior cerebral artery"),
                ("vertebrobasilar", "Vertebrobasilar"),
                ("lacunar", "Lacunar (small vessel)"),
                ("watershed", "Watershed"),
                ("multiple", "Multiple territories"),
                ("undetermined", "Undetermined"),
            ),
        ),
        _choice(
            "side",
            "Side of the lesion",
            codes(
                ("left", "Left hemisphere"),
                ("right", "Right hemisphere"),
                ("bilateral", "Bilateral"),
                ("brainstem", "Brainstem/midline"),
            ),
        ),
        _date("onset_date", "Date of stroke onset (last known well)"),
        _choice(
            "toast",
            "TOAST etiology",
            codes(
                ("large_artery", "Large-artery atherosclerosis"),
                ("cardioembolism", "Cardioembolism"),
                ("small_vessel", "Small-vessel occlusion"),
                ("other_determined", "Stroke of other determined etiology"),
                ("undetermined", "Stroke of undetermined etiology"),
            ),
            required=False,
            source=TOAST,
        ),
        _bool("thrombolysis", "Received intravenous thrombolysis", required=False),
        _bool("thrombectomy", "Received mechanical thrombectomy", required=False),
        _bool("prior_stroke", "Stroke before the index stroke", required=False),
        _integer(
            "premorbid_mrs",
            "Pre-stroke modified Rankin Scale",
            0,
            5,
            required=False,
            source="van Swieten et al., Stroke 1988;19:604-607",
        ),
    ),
    description="The index stroke; one record per participant.",
)

# --------------------------------------------------------------------------- vital signs


def _bp_rule(values: Mapping[str, Any]) -> list[FieldError]:
    sbp, dbp = values.get("systolic_bp"), values.get("diastolic_bp")
    if sbp is not None and dbp is not None and dbp >= sbp:
        return [
            FieldError(
                "diastolic_bp", dbp, "diastolic_below_systolic", f"is not below the systolic pressure ({sbp} mmHg)"
            )
        ]
    return []


VITAL_SIGNS = Instrument(
    name="vital_signs",
    title="Vital signs and body weight",
    version="1.0",
    kind="form",
    items=(
        _date("assessment_date", "Date of assessment", required=False),
        _integer("systolic_bp", "Systolic blood pressure", 50, 300, unit="mmHg"),
        _integer("diastolic_bp", "Diastolic blood pressure", 20, 200, unit="mmHg"),
        _integer("heart_rate", "Heart rate", 20, 250, unit="beats/min"),
        _integer("respiratory_rate", "Respiratory rate", 4, 60, unit="breaths/min", required=False),
        _number("temperature_c", "Body temperature", "°C", 30, 45, required=False),
        _integer("spo2", "Oxygen saturation", 50, 100, unit="%", required=False),
        _number("weight_kg", "Body weight", "kg", 20, 300, help="Used for weight-based dosing."),
        _number("height_cm", "Height", "cm", 100, 250, required=False),
    ),
    rules=(Rule("diastolic_below_systolic", "diastolic_bp is below systolic_bp.", "", _bp_rule),),
    description="Plausibility ranges are our own, to catch unit and digit slips (weight in lb, °F).",
)

# --------------------------------------------------------------------------- medical history

MEDICAL_HISTORY = Instrument(
    repeating=True,
    name="medical_history",
    title="Medical history",
    version="1.0",
    kind="form",
    items=(
        _text("term", "Condition"),
        _choice(
            "category",
            "Category",
            codes(
                ("hypertension", "Hypertension"),
                ("diabetes", "Diabetes mellitus"),
                ("dyslipidemia", "Dyslipidemia"),
                ("atrial_fibrillation", "Atrial fibrillation"),
                ("coronary_artery_disease", "Coronary artery disease"),
                ("heart_failure", "Heart failure"),
                ("prior_stroke", "Stroke or TIA"),
                ("cancer", "Cancer"),
                ("smoking", "Smoking"),
                ("infection", "Chronic infection"),
                ("other", "Other"),
            ),
        ),
        _date("start_date", "Start date", required=False),
        _bool("ongoing", "Ongoing"),
        _date("end_date", "End date", required=False),
    ),
    rules=(not_before("end_date", "start_date"), absent_when("end_date", "ongoing", True)),
    description="One record per condition (repeating).",
)

# --------------------------------------------------------------------------- concomitant medications

# Antiplatelet and anticoagulant medicines are both antithrombotic (WHO ATC group B01 "antithrombotic
# agents": B01AC platelet aggregation inhibitors, B01AA/B01AE/B01AF/B01AB anticoagulants). ASSIST's
# PT/PTT criteria apply only to participants not on antithrombotic therapy.
ANTITHROMBOTIC_CLASSES = frozenset({"antiplatelet", "anticoagulant"})
MEDICATION_CLASSES = codes(
    ("antiplatelet", "Antiplatelet (antithrombotic; ATC B01AC)"),
    ("anticoagulant", "Anticoagulant (antithrombotic; ATC B01AA, B01AB, B01AE, B01AF)"),
    ("rehabilitation", "Rehabilitation medicine (e.g. neurotrophic, spasticity)"),
    ("other", "Other"),
)


def is_antithrombotic(med_class: str) -> bool:
    return med_class in ANTITHROMBOTIC_CLASSES


CON_MEDS = Instrument(
    repeating=True,
    name="con_meds",
    title="Concomitant medications",
    version="1.0",
    kind="form",
    items=(
        _text("name", "Medicine (generic name)"),
        _choice("med_class", "Class", MEDICATION_CLASSES, source="WHO ATC classification, group B01"),
        _text("indication", "Indication", required=False),
        _number("dose", "Dose per administration", "", 0, 1e6, required=False),
        _text("dose_unit", "Dose unit", required=False, max_length=20),
        _choice(
            "route",
            "Route",
            codes(
                ("oral", "Oral"),
                ("intravenous", "Intravenous"),
                ("subcutaneous", "Subcutaneous"),
                ("intramuscular", "Intramuscular"),
                ("topical", "Topical"),
                ("other", "Other"),
            ),
            required=False,
        ),
        _date("start_date", "Start date"),
        _bool("ongoing", "Ongoing"),
        _date("end_date", "End date", required=False),
    ),
    rules=(
        not_before("end_date", "start_date"),
        absent_when("end_date", "ongoing", True),
        required_with("end_date", "ongoing", False),
        required_with("dose_unit", "dose"),
    ),
    description="One record per medicine (repeating). Antiplatelet and anticoagulant are antithrombotic.",
)

# --------------------------------------------------------------------------- serology

_SEROLOGY = codes(
    ("negative", "Negative"), ("positive", "Positive"), ("indeterminate", "Indeterminate"), ("not_done", "Not done")
)

SEROLOGY = Instrument(
    name="serology",
    title="Serology",
    version="1.0",
    kind="form",
    items=(
        _date("sample_date", "Date of sample"),
        _choice("hiv", "HIV antibody/antigen", _SEROLOGY),
        _choice("hbsag", "Hepatitis B surface antigen (HBsAg)", _SEROLOGY),
        _choice("hbcab", "Hepatitis B core antibody (anti-HBc)", _SEROLOGY, required=False),
        _choice("hcv", "Hepatitis C antibody", _SEROLOGY),
        _choice("syphilis", "Syphilis (treponemal test)", _SEROLOGY, required=False),
    ),
)

# --------------------------------------------------------------------------- pregnancy

PREGNANCY = Instrument(
    name="pregnancy",
    title="Pregnancy test",
    version="1.0",
    kind="form",
    items=(
        _bool("childbearing_potential", "Woman of childbearing potential"),
        _bool("test_done", "Pregnancy test done"),
        _choice("test_type", "Test", codes(("serum", "Serum beta-hCG"), ("urine", "Urine beta-hCG")), required=False),
        _date("test_date", "Date of test", required=False),
        _choice("result", "Result", codes(("negative", "Negative"), ("positive", "Positive")), required=False),
    ),
    rules=(
        required_with("test_done", "childbearing_potential", True),
        Rule(
            "test_required_for_wocbp",
            "A woman of childbearing potential has a test (test_done true).",
            "",
            lambda v: (
                [
                    FieldError(
                        "test_done",
                        v.get("test_done"),
                        "test_required_for_wocbp",
                        "must be true for a woman of childbearing potential",
                    )
                ]
                if v.get("childbearing_potential") is True and v.get("test_done") is False
                else []
            ),
        ),
        required_with("result", "test_done", True),
        required_with("test_date", "test_done", True),
        required_with("test_type", "test_done", True),
        absent_when("result", "test_done", False),
    ),
)

# --------------------------------------------------------------------------- imaging

IMAGING = Instrument(
    name="imaging",
    title="Imaging summary",
    version="1.0",
    kind="form",
    items=(
        _date("imaging_date", "Date of imaging"),
        _choice(
            "modality",
            "Modality",
            codes(
                ("ct", "CT"),
                ("mri", "MRI"),
                ("cta", "CT angiography"),
                ("mra", "MR angiography"),
                ("dsa", "Digital subtraction angiography"),
                ("ultrasound", "Carotid/transcranial ultrasound"),
            ),
        ),
        _text("infarct_location", "Infarct location", required=False),
        _number("infarct_volume_ml", "Infarct volume", "mL", 0, 1000, required=False),
        _integer("aspects", "ASPECTS", 0, 10, required=False, source="Barber PA et al., Lancet 2000;355:1670-1674"),
        _bool("hemorrhagic_transformation", "Hemorrhagic transformation"),
        _bool("new_lesion", "New lesion since the previous imaging", required=False),
        _bool("vessel_occlusion", "Large-vessel occlusion or stenosis", required=False),
        _text("findings", "Other findings", required=False, max_length=2000),
    ),
)

# --------------------------------------------------------------------------- biomarkers

BIOMARKERS = Instrument(
    repeating=True,
    name="biomarkers",
    title="Biomarker sample",
    version="1.0",
    kind="form",
    items=(
        _date("sample_date", "Date of sample"),
        _text("biomarker", "Biomarker", max_length=100),
        _choice(
            "specimen",
            "Specimen",
            codes(
                ("serum", "Serum"),
                ("plasma", "Plasma"),
                ("csf", "CSF"),
                ("whole_blood", "Whole blood"),
                ("other", "Other"),
            ),
        ),
        _number("value", "Result", "", 0, 1e9, required=False),
        _text("unit", "Unit", required=False, max_length=30),
        _bool("below_limit_of_quantification", "Below the limit of quantification", required=False),
    ),
    rules=(required_with("unit", "value"),),
    description="One record per biomarker and sample (repeating).",
)

# --------------------------------------------------------------------------- adverse event

ICH_E2A = "ICH E2A (1994), section II.B: serious adverse event criteria"
CTCAE = "NCI CTCAE v5.0 (2017): grades 1-5; grade 5 is death related to the AE"

SERIOUSNESS_CRITERIA = (
    ("sae_death", "Results in death"),
    ("sae_life_threatening", "Is life-threatening"),
    ("sae_hospitalization", "Requires inpatient hospitalization or prolongs existing hospitalization"),
    ("sae_disability", "Results in persistent or significant disability/incapacity"),
    ("sae_congenital_anomaly", "Is a congenital anomaly/birth defect"),
    ("sae_other_important", "Is another important medical event"),
)


def _seriousness_rule(values: Mapping[str, Any]) -> list[FieldError]:
    # ICH E2A: an AE is serious exactly when it meets one of the criteria; so "serious" is true iff
    # at least one criterion is met (answered Yes).
    met = [label for k, label in SERIOUSNESS_CRITERIA if values.get(k) is True]
    serious = values.get("serious")
    if met and serious is False:
        return [
            FieldError(
                "serious",
                serious,
                "serious_if_criterion",
                f"must be Yes when a seriousness criterion is answered Yes ({'; '.join(met)})",
            )
        ]
    if serious is True and not met:
        return [
            FieldError(
                "serious",
                serious,
                "criterion_if_serious",
                "a serious adverse event needs at least one ICH E2A seriousness criterion answered Yes",
            )
        ]
    return []


def _fatal_rule(values: Mapping[str, Any]) -> list[FieldError]:
    # CTCAE v5: grade 5 = death related to AE. So grade 5 <=> outcome fatal, and it is serious by
    # the ICH E2A death criterion.
    errors = []
    grade, outcome = values.get("ctcae_grade"), values.get("outcome")
    if grade == 5 and outcome is not None and outcome != "fatal":
        errors.append(FieldError("outcome", outcome, "grade5_fatal", "must be Fatal when the CTCAE grade is 5"))
    if outcome == "fatal" and grade is not None and grade != 5:
        errors.append(FieldError("ctcae_grade", grade, "grade5_fatal", "must be 5 when the outcome is Fatal"))
    if (grade == 5 or outcome == "fatal") and values.get("sae_death") is not True:
        errors.append(
            FieldError(
                "sae_death", values.get("sae_death"), "grade5_fatal", "must be Yes when the event is fatal (grade 5)"
            )
        )
    return errors


ADVERSE_EVENT = Instrument(
    repeating=True,
    name="adverse_event",
    title="Adverse event",
    version="1.0",
    kind="form",
    items=(
        _text("term", "Adverse event term (verbatim)"),
        _date("onset_date", "Onset date"),
        _date("resolution_date", "Resolution date", required=False),
        Item(
            "ctcae_grade",
            "CTCAE grade",
            ItemType.integer,
            choices=levels(
                "Mild",
                "Moderate",
                "Severe or medically significant",
                "Life-threatening",
                "Death related to AE",
                start=1,
            ),
            source=CTCAE,
        ),
        _bool("serious", "Serious adverse event", help="True exactly when an ICH E2A criterion is met."),
        *(Item(k, label, ItemType.boolean, required=False, source=ICH_E2A) for k, label in SERIOUSNESS_CRITERIA),
        _choice(
            "relatedness",
            "Relationship to study treatment",
            codes(
                ("not_related", "Not related"),
                ("unlikely", "Unlikely related"),
                ("possible", "Possibly related"),
                ("probable", "Probably related"),
                ("definite", "Definitely related"),
            ),
        ),
        Item(
            "dose_limiting",
            "Dose-limiting toxicity (as the protocol defines it)",
            ItemType.boolean,
            required=False,
            help="Counted by the protocol's escalation stopping rules.",
        ),
        _choice(
            "expectedness",
            "Expectedness (against the reference safety information)",
            codes(("expected", "Expected"), ("unexpected", "Unexpected")),
        ),
        _choice(
            "action_taken",
            "Action taken with study treatment",
            codes(
                ("dose_not_changed", "Dose not changed"),
                ("dose_reduced", "Dose reduced"),
                ("drug_interrupted", "Drug interrupted"),
                ("drug_withdrawn", "Drug withdrawn"),
                ("not_applicable", "Not applicable"),
                ("unknown", "Unknown"),
            ),
            source="CDISC SDTM codelist ACN",
        ),
        _choice(
            "outcome",
            "Outcome",
            codes(
                ("recovered", "Recovered/resolved"),
                ("recovering", "Recovering/resolving"),
                ("not_recovered", "Not recovered/not resolved"),
                ("recovered_with_sequelae", "Recovered/resolved with sequelae"),
                ("fatal", "Fatal"),
                ("unknown", "Unknown"),
            ),
            source="CDISC SDTM codelist OUT",
        ),
    ),
    rules=(
        not_before("resolution_date", "onset_date"),
        Rule(
            "serious_iff_criterion",
            "serious is Yes exactly when at least one seriousness criterion is Yes.",
            ICH_E2A,
            _seriousness_rule,
        ),
        Rule(
            "grade5_fatal",
            "CTCAE grade 5 if and only if the outcome is fatal; a fatal event answers Yes to death.",
            CTCAE + "; " + ICH_E2A,
            _fatal_rule,
        ),
    ),
    source=CTCAE + "; " + ICH_E2A,
    description="One record per adverse event (repeating).",
)

# --------------------------------------------------------------------------- laboratory values


def _lab_items() -> tuple[Item, ...]:
    items: list[Item] = [
        _date("collection_date", "Date of sample collection"),
        _text("laboratory", "Laboratory", required=False),
    ]
    for a in ANALYTES.values():
        items.append(
            Item(
                a.key,
                a.label,
                ItemType.number,
                required=False,
                minimum=0,
                help=f"Enter with its unit in {a.key}_unit; canonical unit {a.canonical_unit}.",
                source=a.source,
            )
        )
        items.append(
            Item(
                f"{a.key}_unit",
                f"{a.label}: unit",
                ItemType.choice,
                required=False,
                choices=tuple(Choice(u, u) for u in a.units),
            )
        )
    return tuple(items)


def _lab_unit_rule(values: Mapping[str, Any]) -> list[FieldError]:
    # A value without its unit cannot be compared with anything; a value far outside any living
    # patient's range in the stated unit is a unit slip (albumin 30 "g/dL" is 30 g/L).
    from trialkit.instruments.labs import to_canonical

    errors = []
    for a in ANALYTES.values():
        if a.key not in values:
            continue
        unit = values.get(f"{a.key}_unit")
        if unit is None:
            errors.append(
                FieldError(
                    f"{a.key}_unit",
                    None,
                    "unit_required",
                    f"is required with a {a.key} value (allowed: {', '.join(a.units)})",
                )
            )
            continue
        canonical, cunit = to_canonical(a.key, values[a.key], unit)
        if (a.plausible_max is not None and canonical > a.plausible_max) or (
            a.plausible_min is not None and canonical < a.plausible_min
        ):
            errors.append(
                FieldError(
                    a.key,
                    values[a.key],
                    "implausible_for_unit",
                    f"{values[a.key]:g} {unit} ({canonical:g} {cunit}) is implausible; check the unit",
                )
            )
    return errors


LABS = Instrument(
    name="labs",
    title="Laboratory values",
    version="1.0",
    kind="form",
    items=_lab_items(),
    rules=(
        Rule(
            "unit_required", "Each value has its unit; a value implausible in its unit is rejected.", "", _lab_unit_rule
        ),
    ),
    description="Values in the site's units; conversion and ×ULN in trialkit.instruments.labs.",
)

FORMS = (
    DEMOGRAPHICS,
    STROKE_HISTORY,
    MEDICAL_HISTORY,
    CON_MEDS,
    VITAL_SIGNS,
    LABS,
    SEROLOGY,
    PREGNANCY,
    IMAGING,
    BIOMARKERS,
    ADVERSE_EVENT,
)
