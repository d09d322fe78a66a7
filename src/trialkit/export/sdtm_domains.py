"""SDTM EX, LB (with SUPPLB), MH, CM and SV from export records (SDTMIG v3.4).

- EX, one record per administration. An unblinded export names the treatment (EXTRT: the arm's
  intervention), its dose per kg (EXDOSE, EXDOSU "cells/kg" or "mL/kg") and dose form. A blinded
  export writes EXTRT = "BLINDED TREATMENT" and leaves dose, unit and dose form empty: only what
  reads the same in every arm stays, the final infusion volume (EXVAMT, mL; weight x the ml/kg
  the protocol sets equal in all arms) and the route when every arm shares it.
- LB, one record per result: screening labs (from the screening facts) and follow-up labs (the
  labs form), in the laboratory's unit (LBORRES/LBORRESU, LBORNRHI) and in TrialKit's standard
  unit for the analyte (LBSTRESN/LBSTRESU/LBSTNRHI, exact conversions of trialkit.instruments.labs).
  The multiple of the upper limit of normal has no LB variable: it is SUPPLB QNAM "LBXULN",
  derived as LBSTRESN / LBSTNRHI, and LBNRIND is HIGH above the ULN (only the ULN is recorded,
  so nothing is called LOW or NORMAL).
- MH and CM from the medical history and concomitant medication forms; an ongoing entry has
  --ENRTPT "ONGOING" relative to --ENTPT = the end of the study ("END OF STUDY").
- SV, one record per subject and visit that has data, dated by the visit's collection date.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from trialkit.export.records import ExportData
from trialkit.export.sdtm import _iso, _usubjid, study_day
from trialkit.export.sdtm_metadata import columns
from trialkit.protocol import Protocol

BLINDED_TREATMENT = "BLINDED TREATMENT"
# CDISC CT Route of Administration (C66729) for the protocol's route codes.
ROUTES = {
    "IV": "INTRAVENOUS",
    "IA": "INTRA-ARTERIAL",
    "IT": "INTRATHECAL",
    "SC": "SUBCUTANEOUS",
    "IM": "INTRAMUSCULAR",
    "PO": "ORAL",
}
CM_ROUTES = {
    "oral": "ORAL",
    "intravenous": "INTRAVENOUS",
    "subcutaneous": "SUBCUTANEOUS",
    "intramuscular": "INTRAMUSCULAR",
    "topical": "TOPICAL",
    "other": "OTHER",
}
# CDISC CT Pharmaceutical Dosage Form (C66726): cells are a suspension, a dose in ml a solution.
DOSE_FORMS = {"cells": "SUSPENSION", "ml": "SOLUTION", "mg": ""}
DOSE_UNITS = {"cells": "cells/kg", "ml": "mL/kg", "mg": "mg/kg"}
_NAN = float("nan")
# LBCAT by analyte, as the laboratory panels group them.
LB_CATEGORIES = {
    "ast": "CHEMISTRY",
    "alt": "CHEMISTRY",
    "bilirubin": "CHEMISTRY",
    "albumin": "CHEMISTRY",
    "creatinine": "CHEMISTRY",
    "amylase": "CHEMISTRY",
    "lipase": "CHEMISTRY",
    "anc": "HEMATOLOGY",
    "platelets": "HEMATOLOGY",
    "hemoglobin": "HEMATOLOGY",
    "pt": "COAGULATION",
    "inr": "COAGULATION",
    "ptt": "COAGULATION",
}


# CDISC CT Laboratory Test Name (C67154) for each test code.
LB_TEST_NAMES = {
    "AST": "Aspartate Aminotransferase",
    "ALT": "Alanine Aminotransferase",
    "BILI": "Bilirubin",
    "PT": "Prothrombin Time",
    "INR": "Prothrombin Intl. Normalized Ratio",
    "APTT": "Activated Partial Thromboplastin Time",
    "ALB": "Albumin",
    "NEUT": "Neutrophils",
    "PLAT": "Platelets",
    "HGB": "Hemoglobin",
    "CREAT": "Creatinine",
    "AMYLASE": "Amylase",
    "LIPASE": "Lipase",
}


def _screening_visit(protocol: Protocol) -> str | None:
    return next((v.id for v in protocol.schedule.visits if v.kind == "screening"), None)


def labs_from_screening_facts(subject_id: str, facts: dict, collected_on: date | None) -> list:
    """The ``labs`` of a subject's screening facts (``{analyte: {value, unit, uln, uln_unit}}``) as
    export records; an entry without a numeric value or a unit is not a result and is skipped."""
    from trialkit.export.records import ExportLab

    out = []
    for analyte, lab in (facts.get("labs") or {}).items():
        if not isinstance(lab, dict) or not isinstance(lab.get("value"), (int, float)) or not lab.get("unit"):
            continue
        out.append(
            ExportLab(
                subject_id=subject_id,
                analyte=analyte,
                value=lab["value"],
                unit=lab["unit"],
                uln=lab.get("uln"),
                uln_unit=lab.get("uln_unit"),
                collected_on=collected_on,
            )
        )
    return out


def _frame(domain: str, rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns(domain))


def _visits(protocol: Protocol):
    return {v.id: (i + 1, v) for i, v in enumerate(protocol.schedule.visits)}


def _visit_cols(protocol: Protocol, visit_id: str | None) -> dict:
    if visit_id is None:
        return {"VISITNUM": _NAN, "VISIT": ""}
    num, visit = _visits(protocol).get(visit_id, (99, None))
    return {"VISITNUM": float(num), "VISIT": visit.label.upper() if visit else visit_id.upper()}


def _same_in_every_arm(protocol: Protocol, value) -> bool:
    return len({value(a) for a in protocol.arms}) == 1


def build_ex(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    anchors = {s.subject_id: s.anchor_date for s in data.subjects}
    arms = {s.subject_id: s.arm_id for s in data.subjects}
    by_id = {a.id: a for a in protocol.arms}
    interventions = {i.id: i for i in protocol.registry.interventions}
    blinded = data.blinded
    shared_route = _same_in_every_arm(protocol, lambda a: a.dose.route if a.dose else None)
    # The final volume keeps the blind only when every arm infuses the same ml/kg.
    volume_blind = _same_in_every_arm(protocol, lambda a: a.dose.infusion_volume_ml_per_kg if a.dose else None)
    treatment_visit = next((v.id for v in protocol.schedule.visits if v.day == 0), None)
    rows: list[dict[str, Any]] = []
    seq: dict[str, int] = {}
    for i, e in enumerate(data.exposures):
        arm = None if blinded else by_id.get(arms.get(e.subject_id) or "")
        dose = arm.dose if arm else None
        level = next((lv for lv in dose.levels if lv.id == e.dose_level), None) if dose else None
        if e.dose_level is not None and level is None:
            known = ", ".join(lv.id for lv in dose.levels) if dose else "none: the subject has no arm with a dose"
            raise ValueError(
                f"exposures.{i}.dose_level: {e.dose_level!r} is not a dose level of the subject's arm (known: {known})"
            )
        if arm is not None:
            treatment = " + ".join(interventions[i].name for i in arm.interventions if i in interventions).upper()
        else:
            treatment = BLINDED_TREATMENT
        route = ""
        if dose is not None:
            route = ROUTES.get(dose.route, dose.route)
        elif shared_route and protocol.arms[0].dose is not None:
            route = ROUTES.get(protocol.arms[0].dose.route, "")
        volume_shown = e.volume_ml is not None and (not blinded or volume_blind)
        seq[e.subject_id] = seq.get(e.subject_id, 0) + 1
        day = study_day(e.administered_on, anchors.get(e.subject_id))
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "EX",
                "USUBJID": _usubjid(protocol, e.subject_id),
                "EXSEQ": float(seq[e.subject_id]),
                "EXTRT": treatment[:200],
                "EXDOSE": float(level.amount) if level else _NAN,
                "EXDOSU": DOSE_UNITS[dose.unit] if level and dose else "",
                "EXDOSFRM": DOSE_FORMS[dose.unit] if dose else "",
                "EXROUTE": route,
                "EXVAMT": float(e.volume_ml) if volume_shown and e.volume_ml is not None else _NAN,
                "EXVAMTU": "mL" if volume_shown else "",
                **_visit_cols(protocol, treatment_visit),
                "EXSTDTC": _iso(e.administered_on),
                "EXENDTC": _iso(e.administered_on),
                "EXSTDY": day,
                "EXENDY": day,
            }
        )
    return _frame("EX", rows)


def _clean(x: float) -> float:
    return float(f"{x:.10g}")


def _number_text(x: float) -> str:
    x = _clean(float(x))
    return str(int(x)) if x.is_integer() else repr(x)


def _analyte_key(name: str) -> str:
    from trialkit.instruments.labs import get_analyte

    return get_analyte(name).key


def _unit_key(unit: str) -> str:
    from trialkit.instruments.labs import normalize_unit

    return normalize_unit(unit)


def _lab_row(protocol: Protocol, lab, anchors) -> tuple[dict, float | None]:
    from trialkit.instruments.labs import convert, get_analyte

    a = get_analyte(lab.analyte)
    # Converted exactly (fractions) and read back to 10 significant digits: 0.8 mg/dL x 17.104 is
    # 13.6832, not 13.683200000000001.
    std = _clean(convert(a.key, lab.value, lab.unit, a.canonical_unit))
    std_uln = (
        _clean(convert(a.key, lab.uln, lab.uln_unit or lab.unit, a.canonical_unit)) if lab.uln is not None else None
    )
    # LBORNRHI is in the unit of LBORRES: a ULN given in another unit is converted to it.
    orig_uln = convert(a.key, lab.uln, lab.uln_unit, lab.unit) if lab.uln is not None and lab.uln_unit else lab.uln
    multiple = std / std_uln if std_uln else None
    testcd = (a.lbtestcd or a.key.upper())[:8]
    row = {
        "STUDYID": protocol.id,
        "DOMAIN": "LB",
        "USUBJID": _usubjid(protocol, lab.subject_id),
        "LBTESTCD": testcd,
        "LBTEST": LB_TEST_NAMES.get(testcd, a.label)[:40],
        "LBCAT": LB_CATEGORIES.get(a.key, ""),
        "LBORRES": _number_text(lab.value),
        "LBORRESU": _unit_key(lab.unit),
        "LBORNRHI": _number_text(orig_uln) if orig_uln is not None else "",
        "LBSTRESC": _number_text(std),
        "LBSTRESN": std,
        "LBSTRESU": a.canonical_unit,
        "LBSTNRHI": std_uln if std_uln is not None else _NAN,
        "LBNRIND": ("HIGH" if multiple > 1 else "") if multiple is not None else "",
        **_visit_cols(protocol, lab.visit_id or _screening_visit(protocol)),
        "LBDTC": _iso(lab.collected_on),
        "LBDY": study_day(lab.collected_on, anchors.get(lab.subject_id)),
    }
    return row, multiple


def _labs_from_forms(data: ExportData):
    from trialkit.export.records import ExportLab
    from trialkit.instruments.labs import ANALYTES

    for f in data.forms:
        if f.form != "labs":
            continue
        when = f.values.get("collection_date")
        when = date.fromisoformat(when) if isinstance(when, str) else (when or f.collected_on)
        for key in ANALYTES:
            value = f.values.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and f.values.get(f"{key}_unit"):
                yield ExportLab(
                    subject_id=f.subject_id,
                    visit_id=f.visit_id,
                    analyte=key,
                    value=value,
                    unit=f.values[f"{key}_unit"],
                    collected_on=when,
                )


def build_lb_and_supplb(protocol: Protocol, data: ExportData) -> tuple[pd.DataFrame, pd.DataFrame]:
    anchors = {s.subject_id: s.anchor_date for s in data.subjects}
    rows: list[dict[str, Any]] = []
    supp: list[dict[str, Any]] = []
    seq: dict[str, int] = {}
    # A screening fact is carried into the Screening visit's labs form unchanged
    # (trialkit.server.capture.screening_forms): that form result is the same result, kept once,
    # as the fact, which also holds the laboratory's ULN.
    screening = _screening_visit(protocol)
    facts = {(lab.subject_id, _analyte_key(lab.analyte), lab.value, _unit_key(lab.unit)) for lab in data.labs}
    from_forms = [
        lab
        for lab in _labs_from_forms(data)
        if not (
            lab.visit_id == screening
            and (lab.subject_id, _analyte_key(lab.analyte), lab.value, _unit_key(lab.unit)) in facts
        )
    ]
    for lab in [*data.labs, *from_forms]:
        row, multiple = _lab_row(protocol, lab, anchors)
        seq[lab.subject_id] = seq.get(lab.subject_id, 0) + 1
        row["LBSEQ"] = float(seq[lab.subject_id])
        rows.append(row)
        if multiple is not None:
            supp.append(
                {
                    "STUDYID": protocol.id,
                    "RDOMAIN": "LB",
                    "USUBJID": row["USUBJID"],
                    "IDVAR": "LBSEQ",
                    "IDVARVAL": str(seq[lab.subject_id]),
                    "QNAM": "LBXULN",
                    "QLABEL": "Multiple of Upper Limit of Normal",
                    "QVAL": f"{multiple:.4g}",
                    "QORIG": "DERIVED",
                    "QEVAL": "",
                }
            )
    return _frame("LB", rows), _frame("SUPPLB", supp)


def _d(value) -> str:
    return value if isinstance(value, str) else (value.isoformat() if value else "")


def build_mh(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    seq: dict[str, int] = {}
    for f in data.forms:
        if f.form != "medical_history":
            continue
        v = f.values
        seq[f.subject_id] = seq.get(f.subject_id, 0) + 1
        ongoing = v.get("ongoing") is True
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "MH",
                "USUBJID": _usubjid(protocol, f.subject_id),
                "MHSEQ": float(seq[f.subject_id]),
                "MHTERM": str(v.get("term") or "")[:200],
                "MHCAT": str(v.get("category") or "").replace("_", " ").upper(),
                "MHSTDTC": _d(v.get("start_date")),
                "MHENDTC": _d(v.get("end_date")),
                "MHENRTPT": "ONGOING" if ongoing else "",
                "MHENTPT": "END OF STUDY" if ongoing else "",
                **_visit_cols(protocol, f.visit_id),
            }
        )
    return _frame("MH", rows)


def build_cm(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    seq: dict[str, int] = {}
    for f in data.forms:
        if f.form != "con_meds":
            continue
        v = f.values
        seq[f.subject_id] = seq.get(f.subject_id, 0) + 1
        ongoing = v.get("ongoing") is True
        dose = v.get("dose")
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "CM",
                "USUBJID": _usubjid(protocol, f.subject_id),
                "CMSEQ": float(seq[f.subject_id]),
                "CMTRT": str(v.get("name") or "")[:200],
                "CMCLAS": str(v.get("med_class") or "").upper(),
                "CMINDC": str(v.get("indication") or ""),
                "CMDOSE": float(dose) if isinstance(dose, (int, float)) and not isinstance(dose, bool) else _NAN,
                "CMDOSU": str(v.get("dose_unit") or ""),
                "CMROUTE": CM_ROUTES.get(v.get("route") or "", ""),
                **_visit_cols(protocol, f.visit_id),
                "CMSTDTC": _d(v.get("start_date")),
                "CMENDTC": _d(v.get("end_date")),
                "CMENRTPT": "ONGOING" if ongoing else "",
                "CMENTPT": "END OF STUDY" if ongoing else "",
            }
        )
    return _frame("CM", rows)


def build_sv(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    anchors = {s.subject_id: s.anchor_date for s in data.subjects}
    visits = _visits(protocol)
    dates: dict[tuple[str, str], set[date]] = {}
    for f in data.forms:
        if f.collected_on is not None:
            dates.setdefault((f.subject_id, f.visit_id), set()).add(f.collected_on)
    rows = []
    for (subject, visit_id), days in sorted(dates.items(), key=lambda kv: (kv[0][0], visits.get(kv[0][1], (99,))[0])):
        _num, visit = visits.get(visit_id, (99, None))
        start, end = min(days), max(days)
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "SV",
                "USUBJID": _usubjid(protocol, subject),
                **_visit_cols(protocol, visit_id),
                "VISITDY": float(visit.day if visit.day < 0 else visit.day + 1) if visit else _NAN,
                "SVSTDTC": start.isoformat(),
                "SVENDTC": end.isoformat(),
                "SVSTDY": study_day(start, anchors.get(subject)),
                "SVENDY": study_day(end, anchors.get(subject)),
            }
        )
    return _frame("SV", rows)
