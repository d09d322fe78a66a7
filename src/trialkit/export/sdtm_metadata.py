"""The SDTM variable table: every dataset TrialKit writes, every variable's name, label, type,
origin and code list, in one place. The XPT writer, Define-XML and Dataset-JSON all read it.

Names, labels, classes and structures are those of the SDTM Implementation Guide v3.4 (CDISC,
2021-11-29; the domain specification tables of sections 5-7) and the SDTM v2.0 model; code list
codes are NCI EVS CDISC Controlled Terminology (SDTM CT, e.g. C66731 Sex). Labels are at most 40
characters (the SAS XPORT v5 limit, FDA Study Data Technical Conformance Guide §3.3.2).

Lengths are not in the IG: the FDA Technical Conformance Guide (§4.1.1.3 "variable length") asks
that character lengths be the longest value actually present; ``variable_length`` computes that
(minimum 1), the XPT writer (pyreadstat) stores the same width, and Define-XML states it. Numbers
are 8-byte floats in XPT.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

SDTMIG_VERSION = "3.4"
CT_VERSION = "2024-03-29"  # the SDTM CT package the codes below were taken from


@dataclass(frozen=True)
class Var:
    name: str
    label: str
    type: str = "Char"  # "Char" or "Num"
    origin: str = "Collected"  # Define-XML 2.1 def:Origin Type: Collected, Derived, Assigned, Protocol
    codelist: str | None = None  # NCI code of the CDISC CT code list, or "SPONSOR" for our own


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    klass: str  # Define-XML 2.1 def:Class (SDTM observation class)
    structure: str
    keys: tuple[str, ...]
    variables: tuple[Var, ...]


def _ident(domain: str) -> tuple[Var, ...]:
    return (
        Var("STUDYID", "Study Identifier", origin="Assigned"),
        Var("DOMAIN", "Domain Abbreviation", origin="Assigned"),
        Var("USUBJID", "Unique Subject Identifier", origin="Assigned"),
    )


def _seq(d: str) -> Var:
    return Var(f"{d}SEQ", "Sequence Number", "Num", "Derived")


_VISIT = (Var("VISITNUM", "Visit Number", "Num", "Assigned"), Var("VISIT", "Visit Name", origin="Assigned"))


def _scale(d: str, testcd: str, test: str, cat: str, orres: str, stresc: str, stresn: str, dtc: str, dy: str):
    return (
        *_ident(d),
        _seq(d),
        Var(f"{d}TESTCD", testcd, origin="Assigned", codelist="SPONSOR"),
        Var(f"{d}TEST", test, origin="Assigned"),
        Var(f"{d}CAT", cat, origin="Assigned"),
        Var(f"{d}ORRES", orres),
        Var(f"{d}STRESC", stresc, origin="Derived"),
        Var(f"{d}STRESN", stresn, "Num", "Derived"),
        Var(f"{d}STAT", "Completion Status", codelist="C66789"),
        *_VISIT,
        Var("VISITDY", "Planned Study Day of Visit", "Num", "Protocol"),
        Var(f"{d}DTC", dtc),
        Var(f"{d}DY", dy, "Num", "Derived"),
    )


_DATASETS = (
    Dataset(
        "DM",
        "Demographics",
        "SPECIAL PURPOSE",
        "One record per subject",
        ("STUDYID", "USUBJID"),
        (
            *_ident("DM"),
            Var("SUBJID", "Subject Identifier for the Study", origin="Assigned"),
            Var("SITEID", "Study Site Identifier", origin="Assigned"),
            Var("RFSTDTC", "Subject Reference Start Date/Time", origin="Derived"),
            Var("RFICDTC", "Date/Time of Informed Consent"),
            Var("BRTHDTC", "Date/Time of Birth"),
            Var("AGE", "Age", "Num", "Derived"),
            Var("AGEU", "Age Units", origin="Assigned", codelist="C66781"),
            Var("SEX", "Sex", codelist="C66731"),
            Var("ARMCD", "Planned Arm Code", origin="Assigned", codelist="ARM"),
            Var("ARM", "Description of Planned Arm", origin="Assigned", codelist="ARM"),
            Var("ACTARMCD", "Actual Arm Code", origin="Assigned", codelist="ARM"),
            Var("ACTARM", "Description of Actual Arm", origin="Assigned", codelist="ARM"),
            Var("COUNTRY", "Country", origin="Assigned", codelist="ISO3166"),
        ),
    ),
    Dataset(
        "QS",
        "Questionnaires",
        "FINDINGS",
        "One record per questionnaire per question per time point per visit per subject",
        ("STUDYID", "USUBJID", "QSCAT", "QSTESTCD", "VISITNUM"),
        _scale(
            "QS",
            "Question Short Name",
            "Question Name",
            "Category of Question",
            "Finding in Original Units",
            "Character Result/Finding in Std Format",
            "Numeric Finding in Standard Units",
            "Date/Time of Finding",
            "Study Day of Finding",
        ),
    ),
    Dataset(
        "FT",
        "Functional Tests",
        "FINDINGS",
        "One record per Functional Test finding per time point per visit per subject",
        ("STUDYID", "USUBJID", "FTCAT", "FTTESTCD", "VISITNUM"),
        _scale(
            "FT",
            "Short Name of Test",
            "Name of Test",
            "Category",
            "Result or Finding in Original Units",
            "Result or Finding in Standard Format",
            "Numeric Result/Finding in Standard Units",
            "Date/Time of Test",
            "Study Day of Test",
        ),
    ),
    Dataset(
        "RS",
        "Disease Response and Clin Classification",
        "FINDINGS",
        "One record per response assessment or clinical classification assessment per time point per visit per subject",
        ("STUDYID", "USUBJID", "RSCAT", "RSTESTCD", "VISITNUM"),
        _scale(
            "RS",
            "Assessment Short Name",
            "Assessment Name",
            "Category for Assessment",
            "Result or Finding in Original Units",
            "Character Result/Finding in Std Format",
            "Numeric Result/Finding in Standard Units",
            "Date/Time of Assessment",
            "Study Day of Assessment",
        ),
    ),
    Dataset(
        "VS",
        "Vital Signs",
        "FINDINGS",
        "One record per vital sign measurement per time point per visit per subject",
        ("STUDYID", "USUBJID", "VSTESTCD", "VISITNUM"),
        (
            *_ident("VS"),
            _seq("VS"),
            Var("VSTESTCD", "Vital Signs Test Short Name", origin="Assigned", codelist="SPONSOR"),
            Var("VSTEST", "Vital Signs Test Name", origin="Assigned"),
            Var("VSORRES", "Result or Finding in Original Units"),
            Var("VSORRESU", "Original Units", codelist="C66770"),
            Var("VSSTRESN", "Numeric Result/Finding in Standard Units", "Num", "Derived"),
            *_VISIT,
            Var("VSDTC", "Date/Time of Measurements"),
            Var("VSDY", "Study Day of Vital Signs", "Num", "Derived"),
        ),
    ),
    Dataset(
        "AE",
        "Adverse Events",
        "EVENTS",
        "One record per adverse event per subject",
        ("STUDYID", "USUBJID", "AESEQ"),
        (
            *_ident("AE"),
            _seq("AE"),
            Var("AETERM", "Reported Term for the Adverse Event"),
            Var("AEDECOD", "Dictionary-Derived Term", origin="Derived"),
            Var("AESTDTC", "Start Date/Time of Adverse Event"),
            Var("AEENDTC", "End Date/Time of Adverse Event"),
            Var("AETOXGR", "Standard Toxicity Grade"),
            Var("AESER", "Serious Event", codelist="C66742"),
            Var("AEREL", "Causality"),
            Var("AEOUT", "Outcome of Adverse Event", codelist="C66768"),
            Var("AEACN", "Action Taken with Study Treatment", codelist="C66767"),
            Var("AESTDY", "Study Day of Start of Adverse Event", "Num", "Derived"),
        ),
    ),
    Dataset(
        "DS",
        "Disposition",
        "EVENTS",
        "One record per disposition status or protocol milestone per subject",
        ("STUDYID", "USUBJID", "DSDECOD", "DSSTDTC"),
        (
            *_ident("DS"),
            _seq("DS"),
            Var("DSTERM", "Reported Term for the Disposition Event"),
            Var("DSDECOD", "Standardized Disposition Term", origin="Assigned", codelist="C66727"),
            Var("DSCAT", "Category for Disposition Event", origin="Assigned", codelist="C74558"),
            Var("DSSTDTC", "Start Date/Time of Disposition Event"),
        ),
    ),
    # --- SDTMIG 3.4 §6.1 Interventions
    Dataset(
        "EX",
        "Exposure",
        "INTERVENTIONS",
        "One record per protocol-specified study treatment, constant-dosing interval, per subject",
        ("STUDYID", "USUBJID", "EXTRT", "EXSTDTC"),
        (
            *_ident("EX"),
            _seq("EX"),
            Var("EXTRT", "Name of Treatment", origin="Assigned"),
            Var("EXDOSE", "Dose", "Num", "Derived"),
            Var("EXDOSU", "Dose Units", origin="Protocol", codelist="C71620"),
            Var("EXDOSFRM", "Dose Form", origin="Protocol", codelist="C66726"),
            Var("EXROUTE", "Route of Administration", origin="Protocol", codelist="C66729"),
            Var("EXVAMT", "Treatment Vehicle Amount", "Num", "Derived"),
            Var("EXVAMTU", "Treatment Vehicle Amount Units", origin="Assigned", codelist="C71620"),
            *_VISIT,
            Var("EXSTDTC", "Start Date/Time of Treatment"),
            Var("EXENDTC", "End Date/Time of Treatment"),
            Var("EXSTDY", "Study Day of Start of Treatment", "Num", "Derived"),
            Var("EXENDY", "Study Day of End of Treatment", "Num", "Derived"),
        ),
    ),
    Dataset(
        "CM",
        "Concomitant/Prior Medications",
        "INTERVENTIONS",
        "One record per recorded intervention occurrence or constant-dosing interval per subject",
        ("STUDYID", "USUBJID", "CMTRT", "CMSTDTC"),
        (
            *_ident("CM"),
            _seq("CM"),
            Var("CMTRT", "Reported Name of Drug, Med, or Therapy"),
            Var("CMCLAS", "Medication Class"),
            Var("CMINDC", "Indication"),
            Var("CMDOSE", "Dose per Administration", "Num"),
            Var("CMDOSU", "Dose Units"),
            Var("CMROUTE", "Route of Administration", codelist="C66729"),
            *_VISIT,
            Var("CMSTDTC", "Start Date/Time of Medication"),
            Var("CMENDTC", "End Date/Time of Medication"),
            Var("CMENRTPT", "End Relative to Reference Time Point", origin="Derived", codelist="C99074"),
            Var("CMENTPT", "End Reference Time Point", origin="Assigned"),
        ),
    ),
    # --- §6.2 Events
    Dataset(
        "MH",
        "Medical History",
        "EVENTS",
        "One record per medical history event per subject",
        ("STUDYID", "USUBJID", "MHTERM", "MHSTDTC"),
        (
            *_ident("MH"),
            _seq("MH"),
            Var("MHTERM", "Reported Term for the Medical History"),
            Var("MHCAT", "Category for Medical History", origin="Assigned"),
            Var("MHSTDTC", "Start Date/Time of Medical History Event"),
            Var("MHENDTC", "End Date/Time of Medical History Event"),
            Var("MHENRTPT", "End Relative to Reference Time Point", origin="Derived", codelist="C99074"),
            Var("MHENTPT", "End Reference Time Point", origin="Assigned"),
            *_VISIT,
        ),
    ),
    # --- §6.3 Findings
    Dataset(
        "LB",
        "Laboratory Test Results",
        "FINDINGS",
        "One record per lab test per time point per visit per subject",
        ("STUDYID", "USUBJID", "LBTESTCD", "VISITNUM"),
        (
            *_ident("LB"),
            _seq("LB"),
            Var("LBTESTCD", "Lab Test or Examination Short Name", origin="Assigned", codelist="C65047"),
            Var("LBTEST", "Lab Test or Examination Name", origin="Assigned", codelist="C67154"),
            Var("LBCAT", "Category for Lab Test", origin="Assigned"),
            Var("LBORRES", "Result or Finding in Original Units"),
            Var("LBORRESU", "Original Units", codelist="C71620"),
            Var("LBORNRHI", "Reference Range Upper Limit in Orig Unit"),
            Var("LBSTRESC", "Character Result/Finding in Std Format", origin="Derived"),
            Var("LBSTRESN", "Numeric Result/Finding in Standard Units", "Num", "Derived"),
            Var("LBSTRESU", "Standard Units", origin="Assigned", codelist="C71620"),
            Var("LBSTNRHI", "Reference Range Upper Limit-Std Units", "Num", "Derived"),
            Var("LBNRIND", "Reference Range Indicator", origin="Derived", codelist="C78736"),
            *_VISIT,
            Var("LBDTC", "Date/Time of Specimen Collection"),
            Var("LBDY", "Study Day of Specimen Collection", "Num", "Derived"),
        ),
    ),
    # --- §8.4 Supplemental qualifiers: the multiple of the ULN, which LB has no variable for
    Dataset(
        "SUPPLB",
        "Supplemental Qualifiers for LB",
        "RELATIONSHIP",
        "One record per IDVAR, IDVARVAL, and QNAM value per subject",
        ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"),
        (
            Var("STUDYID", "Study Identifier", origin="Assigned"),
            Var("RDOMAIN", "Related Domain Abbreviation", origin="Assigned"),
            Var("USUBJID", "Unique Subject Identifier", origin="Assigned"),
            Var("IDVAR", "Identifying Variable", origin="Assigned"),
            Var("IDVARVAL", "Identifying Variable Value", origin="Assigned"),
            Var("QNAM", "Qualifier Variable Name", origin="Assigned"),
            Var("QLABEL", "Qualifier Variable Label", origin="Assigned"),
            Var("QVAL", "Data Value", origin="Derived"),
            Var("QORIG", "Origin", origin="Assigned"),
            Var("QEVAL", "Evaluator", origin="Assigned"),
        ),
    ),
    # --- §5.4 Subject Visits
    Dataset(
        "SV",
        "Subject Visits",
        "SPECIAL PURPOSE",
        "One record per actual or planned visit per subject",
        ("STUDYID", "USUBJID", "VISITNUM"),
        (
            *_ident("SV"),
            *_VISIT,
            Var("VISITDY", "Planned Study Day of Visit", "Num", "Protocol"),
            Var("SVSTDTC", "Start Date/Time of Observation"),
            Var("SVENDTC", "End Date/Time of Observation"),
            Var("SVSTDY", "Study Day of Start of Observation", "Num", "Derived"),
            Var("SVENDY", "Study Day of End of Observation", "Num", "Derived"),
        ),
    ),
    # --- §7 Trial design (origin: the protocol)
    Dataset(
        "TE",
        "Trial Elements",
        "TRIAL DESIGN",
        "One record per planned Element",
        ("STUDYID", "ETCD"),
        (
            Var("STUDYID", "Study Identifier", origin="Protocol"),
            Var("DOMAIN", "Domain Abbreviation", origin="Protocol"),
            Var("ETCD", "Element Code", origin="Protocol"),
            Var("ELEMENT", "Description of Element", origin="Protocol"),
            Var("TESTRL", "Rule for Start of Element", origin="Protocol"),
            Var("TEENRL", "Rule for End of Element", origin="Protocol"),
            Var("TEDUR", "Planned Duration of Element", origin="Protocol"),
        ),
    ),
    Dataset(
        "TA",
        "Trial Arms",
        "TRIAL DESIGN",
        "One record per planned Element per Arm",
        ("STUDYID", "ARMCD", "TAETORD"),
        (
            Var("STUDYID", "Study Identifier", origin="Protocol"),
            Var("DOMAIN", "Domain Abbreviation", origin="Protocol"),
            Var("ARMCD", "Planned Arm Code", origin="Protocol", codelist="ARM"),
            Var("ARM", "Description of Planned Arm", origin="Protocol", codelist="ARM"),
            Var("TAETORD", "Planned Order of Element within Arm", "Num", "Protocol"),
            Var("ETCD", "Element Code", origin="Protocol"),
            Var("ELEMENT", "Description of Element", origin="Protocol"),
            Var("TABRANCH", "Branch", origin="Protocol"),
            Var("TATRANS", "Transition Rule", origin="Protocol"),
            Var("EPOCH", "Epoch", origin="Protocol", codelist="C99079"),
        ),
    ),
    Dataset(
        "TV",
        "Trial Visits",
        "TRIAL DESIGN",
        "One record per planned Visit per Arm",
        ("STUDYID", "VISITNUM"),
        (
            Var("STUDYID", "Study Identifier", origin="Protocol"),
            Var("DOMAIN", "Domain Abbreviation", origin="Protocol"),
            Var("VISITNUM", "Visit Number", "Num", "Protocol"),
            Var("VISIT", "Visit Name", origin="Protocol"),
            Var("VISITDY", "Planned Study Day of Visit", "Num", "Protocol"),
            Var("TVSTRL", "Visit Start Rule", origin="Protocol"),
            Var("TVENRL", "Visit End Rule", origin="Protocol"),
        ),
    ),
    Dataset(
        "TI",
        "Trial Inclusion/Exclusion Criteria",
        "TRIAL DESIGN",
        "One record per I/E criterion",
        ("STUDYID", "IETESTCD"),
        (
            Var("STUDYID", "Study Identifier", origin="Protocol"),
            Var("DOMAIN", "Domain Abbreviation", origin="Protocol"),
            Var("IETESTCD", "Incl/Excl Criterion Short Name", origin="Protocol"),
            Var("IETEST", "Inclusion/Exclusion Criterion", origin="Protocol"),
            Var("IECAT", "Inclusion/Exclusion Category", origin="Protocol", codelist="C66797"),
            Var("TIVERS", "Protocol Criteria Versions", origin="Protocol"),
        ),
    ),
    Dataset(
        "TS",
        "Trial Summary",
        "TRIAL DESIGN",
        "One record per trial summary parameter value",
        ("STUDYID", "TSPARMCD", "TSSEQ"),
        (
            Var("STUDYID", "Study Identifier", origin="Protocol"),
            Var("DOMAIN", "Domain Abbreviation", origin="Protocol"),
            Var("TSSEQ", "Sequence Number", "Num", "Protocol"),
            Var("TSPARMCD", "Trial Summary Parameter Short Name", origin="Protocol", codelist="C66738"),
            Var("TSPARM", "Trial Summary Parameter", origin="Protocol", codelist="C67152"),
            Var("TSVAL", "Parameter Value", origin="Protocol"),
            Var("TSVALCD", "Parameter Value Code", origin="Protocol"),
            Var("TSVCDREF", "Name of the Reference Terminology", origin="Protocol"),
            Var("TSVCDVER", "Version of the Reference Terminology", origin="Protocol"),
        ),
    ),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in _DATASETS}

# The CDISC CT code lists named above (NCI code -> code list name in SDTM CT).
CODELISTS: dict[str, str] = {
    "C66731": "Sex",
    "C66781": "Age Unit",
    "C66789": "Not Done",
    "C66770": "Units for Vital Signs Results",
    "C66742": "No Yes Response",
    "C66768": "Outcome of Event",
    "C66767": "Action Taken with Study Treatment",
    "C66727": "Completion/Reason for Non-Completion",
    "C74558": "Category of Disposition Event",
    "C71620": "Unit",
    "C66726": "Pharmaceutical Dosage Form",
    "C66729": "Route of Administration Response",
    "C99074": "Relation to Reference Period",
    "C65047": "Laboratory Test Code",
    "C67154": "Laboratory Test Name",
    "C78736": "Reference Range Indicator",
    "C99079": "Epoch",
    "C66797": "Category of Inclusion/Exclusion",
    "C66738": "Trial Summary Parameter Test Code",
    "C67152": "Trial Summary Parameter Test Name",
}


def variables(domain: str) -> tuple[Var, ...]:
    return DATASETS[domain].variables


def columns(domain: str) -> list[str]:
    return [v.name for v in DATASETS[domain].variables]


def label(domain: str, name: str) -> str:
    for v in DATASETS[domain].variables:
        if v.name == name:
            return v.label
    raise KeyError(f"{domain}.{name} is not in the SDTM variable table")


def variable_length(frame: pd.DataFrame, var: Var) -> int:
    """Character: the longest value present (FDA TCG §4.1.1.3), at least 1; numeric: 8 bytes."""
    if var.type == "Num":
        return 8
    if var.name not in frame.columns or frame.empty:
        return 1
    return max(1, int(frame[var.name].astype(str).map(lambda s: len(s.encode("utf-8"))).max()))
