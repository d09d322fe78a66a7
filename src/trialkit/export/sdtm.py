"""SDTM domains (DM, QS, FT, RS, VS, AE, DS) from export records, written as SAS XPORT v5.

Each scale goes to the findings domain its instrument names (`Instrument.sdtm_domain`): QS for
questionnaires, FT for functional tests (MMSE), RS for clinical classifications (mRS), as CDISC
Controlled Terminology classes them. Variable names and labels follow the SDTM Implementation Guide
v3.3 (the FT and RS labels are those of v3.4); study days follow its rule
(--DY = date − RFSTDTC + 1 on or after the reference start, date − RFSTDTC before it: there is no
day 0). Blinded exports (no arm in the records) leave ARMCD/ARM/ACTARMCD/ACTARM empty.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from trialkit.export.records import ExportData
from trialkit.protocol import Protocol

LABELS = {
    "STUDYID": "Study Identifier",
    "DOMAIN": "Domain Abbreviation",
    "USUBJID": "Unique Subject Identifier",
    "SUBJID": "Subject Identifier for the Study",
    "SITEID": "Study Site Identifier",
    "RFSTDTC": "Subject Reference Start Date/Time",
    "RFICDTC": "Date/Time of Informed Consent",
    "BRTHDTC": "Date/Time of Birth",
    "AGE": "Age",
    "AGEU": "Age Units",
    "SEX": "Sex",
    "ARMCD": "Planned Arm Code",
    "ARM": "Description of Planned Arm",
    "ACTARMCD": "Actual Arm Code",
    "ACTARM": "Description of Actual Arm",
    "COUNTRY": "Country",
    "QSSEQ": "Sequence Number",
    "QSTESTCD": "Question Short Name",
    "QSTEST": "Question Name",
    "QSCAT": "Category of Question",
    "QSORRES": "Finding in Original Units",
    "QSSTRESC": "Character Result/Finding in Std Format",
    "QSSTRESN": "Numeric Finding in Standard Units",
    "QSSTAT": "Completion Status",
    "VISITNUM": "Visit Number",
    "VISIT": "Visit Name",
    "VISITDY": "Planned Study Day of Visit",
    "QSDTC": "Date/Time of Finding",
    "QSDY": "Study Day of Finding",
    "FTSEQ": "Sequence Number",
    "FTTESTCD": "Short Name of Test",
    "FTTEST": "Name of Test",
    "FTCAT": "Category",
    "FTORRES": "Result or Finding in Original Units",
    "FTSTRESC": "Result or Finding in Standard Format",
    "FTSTRESN": "Numeric Result/Finding in Standard Units",
    "FTSTAT": "Completion Status",
    "FTDTC": "Date/Time of Test",
    "FTDY": "Study Day of Test",
    "RSSEQ": "Sequence Number",
    "RSTESTCD": "Assessment Short Name",
    "RSTEST": "Assessment Name",
    "RSCAT": "Category for Assessment",
    "RSORRES": "Result or Finding in Original Units",
    "RSSTRESC": "Character Result/Finding in Std Format",
    "RSSTRESN": "Numeric Result/Finding in Standard Units",
    "RSSTAT": "Completion Status",
    "RSDTC": "Date/Time of Assessment",
    "RSDY": "Study Day of Assessment",
    "VSSEQ": "Sequence Number",
    "VSTESTCD": "Vital Signs Test Short Name",
    "VSTEST": "Vital Signs Test Name",
    "VSORRES": "Result or Finding in Original Units",
    "VSORRESU": "Original Units",
    "VSSTRESN": "Numeric Result/Finding in Standard Units",
    "VSDTC": "Date/Time of Measurements",
    "VSDY": "Study Day of Vital Signs",
    "AESEQ": "Sequence Number",
    "AETERM": "Reported Term for the Adverse Event",
    "AEDECOD": "Dictionary-Derived Term",
    "AESTDTC": "Start Date/Time of Adverse Event",
    "AEENDTC": "End Date/Time of Adverse Event",
    "AETOXGR": "Standard Toxicity Grade",
    "AESER": "Serious Event",
    "AEREL": "Causality",
    "AEOUT": "Outcome of Adverse Event",
    "AEACN": "Action Taken with Study Treatment",
    "AESTDY": "Study Day of Start of Adverse Event",
    "DSSEQ": "Sequence Number",
    "DSTERM": "Reported Term for the Disposition Event",
    "DSDECOD": "Standardized Disposition Term",
    "DSCAT": "Category for Disposition Event",
    "DSSTDTC": "Start Date/Time of Disposition Event",
}

DISPOSITION = {
    "completed": "COMPLETED",
    "withdrawn": "WITHDRAWAL BY SUBJECT",
    "lost_to_follow_up": "LOST TO FOLLOW-UP",
    "died": "DEATH",
}


def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def study_day(d: date | None, reference: date | None) -> float:
    if d is None or reference is None:
        return float("nan")
    delta = (d - reference).days
    return float(delta + 1 if delta >= 0 else delta)


def _usubjid(protocol: Protocol, subject_id: str) -> str:
    return f"{protocol.id}-{subject_id}"


def build_dm(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    rows = []
    arms = {a.id: a for a in protocol.arms}
    for s in data.subjects:
        arm = arms.get(s.arm_id) if s.arm_id else None
        armcd = (arm.id.upper().replace("-", "")[:20]) if arm else ""
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "DM",
                "USUBJID": _usubjid(protocol, s.subject_id),
                "SUBJID": s.subject_id,
                "SITEID": s.site_id,
                "RFSTDTC": _iso(s.anchor_date),
                "RFICDTC": _iso(s.consent_date),
                "BRTHDTC": _iso(s.birth_date),
                "AGE": float(s.age) if s.age is not None else float("nan"),
                "AGEU": "YEARS" if s.age is not None else "",
                "SEX": (s.sex or "U").upper()[:1],
                "ARMCD": armcd,
                "ARM": arm.label if arm else "",
                "ACTARMCD": armcd,
                "ACTARM": arm.label if arm else "",
                "COUNTRY": s.country or "",
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "SUBJID",
            "SITEID",
            "RFSTDTC",
            "RFICDTC",
            "BRTHDTC",
            "AGE",
            "AGEU",
            "SEX",
            "ARMCD",
            "ARM",
            "ACTARMCD",
            "ACTARM",
            "COUNTRY",
        ],
    )


def _build_scale_domain(domain: str, protocol: Protocol, data: ExportData) -> pd.DataFrame:
    """One record per scale item in `domain` (QS, FT or RS): the variables are the same in the three
    findings domains, prefixed by the domain code."""
    from trialkit.instruments import get_instrument

    visits = {v.id: (i + 1, v) for i, v in enumerate(protocol.schedule.visits)}
    anchors = {s.subject_id: s.anchor_date for s in data.subjects}
    d = domain
    rows = []
    seq: dict[str, int] = {}
    for f in data.forms:
        inst = get_instrument(f.form)
        if not inst.scored or inst.sdtm_domain != domain:
            continue
        visitnum, visit = visits.get(f.visit_id, (99, None))
        for item in inst.items:
            if not item.qs_testcd or item.key not in f.values:
                continue
            value = f.values[item.key]
            seq[f.subject_id] = seq.get(f.subject_id, 0) + 1
            untestable = isinstance(value, str) and value in item.untestable
            rows.append(
                {
                    "STUDYID": protocol.id,
                    "DOMAIN": domain,
                    "USUBJID": _usubjid(protocol, f.subject_id),
                    f"{d}SEQ": float(seq[f.subject_id]),
                    f"{d}TESTCD": item.qs_testcd[:8],
                    f"{d}TEST": (item.qs_test or item.label)[:40],
                    f"{d}CAT": item.qs_cat or inst.name.upper(),
                    f"{d}ORRES": "" if value is None else str(value),
                    f"{d}STRESC": "" if untestable or value is None else str(value),
                    f"{d}STRESN": float(value)
                    if isinstance(value, (int, float)) and not isinstance(value, bool)
                    else float("nan"),
                    f"{d}STAT": "NOT DONE" if untestable else "",
                    "VISITNUM": float(visitnum),
                    "VISIT": visit.label.upper() if visit else f.visit_id.upper(),
                    "VISITDY": float(visit.day if visit.day < 0 else visit.day + 1) if visit else float("nan"),
                    f"{d}DTC": _iso(f.collected_on),
                    f"{d}DY": study_day(f.collected_on, anchors.get(f.subject_id)),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            f"{d}SEQ",
            f"{d}TESTCD",
            f"{d}TEST",
            f"{d}CAT",
            f"{d}ORRES",
            f"{d}STRESC",
            f"{d}STRESN",
            f"{d}STAT",
            "VISITNUM",
            "VISIT",
            "VISITDY",
            f"{d}DTC",
            f"{d}DY",
        ],
    )


def build_qs(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    return _build_scale_domain("QS", protocol, data)


def build_ft(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    return _build_scale_domain("FT", protocol, data)


def build_rs(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    return _build_scale_domain("RS", protocol, data)


def build_vs(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    from trialkit.instruments import get_instrument

    visits = {v.id: (i + 1, v) for i, v in enumerate(protocol.schedule.visits)}
    anchors = {s.subject_id: s.anchor_date for s in data.subjects}
    rows = []
    seq: dict[str, int] = {}
    for f in data.forms:
        if f.form != "vital_signs":
            continue
        inst = get_instrument(f.form)
        visitnum, visit = visits.get(f.visit_id, (99, None))
        for item in inst.items:
            value = f.values.get(item.key)
            if item.type.value not in ("number", "integer") or value is None:
                continue
            seq[f.subject_id] = seq.get(f.subject_id, 0) + 1
            rows.append(
                {
                    "STUDYID": protocol.id,
                    "DOMAIN": "VS",
                    "USUBJID": _usubjid(protocol, f.subject_id),
                    "VSSEQ": float(seq[f.subject_id]),
                    "VSTESTCD": item.key.upper().replace("_", "")[:8],
                    "VSTEST": item.label[:40],
                    "VSORRES": str(value),
                    "VSORRESU": item.unit or "",
                    "VSSTRESN": float(value),
                    "VISITNUM": float(visitnum),
                    "VISIT": visit.label.upper() if visit else f.visit_id.upper(),
                    "VSDTC": _iso(f.collected_on),
                    "VSDY": study_day(f.collected_on, anchors.get(f.subject_id)),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "VSSEQ",
            "VSTESTCD",
            "VSTEST",
            "VSORRES",
            "VSORRESU",
            "VSSTRESN",
            "VISITNUM",
            "VISIT",
            "VSDTC",
            "VSDY",
        ],
    )


def build_ae(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    anchors = {s.subject_id: s.anchor_date for s in data.subjects}
    rows = []
    for ae in data.adverse_events:
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "AE",
                "USUBJID": _usubjid(protocol, ae.subject_id),
                "AESEQ": float(ae.seq),
                "AETERM": ae.term[:200],
                "AEDECOD": ae.term[:200].upper(),
                "AESTDTC": _iso(ae.onset_date),
                "AEENDTC": _iso(ae.resolution_date),
                "AETOXGR": str(ae.grade) if ae.grade else "",
                "AESER": "Y" if ae.serious else "N",
                "AEREL": (ae.related or "").upper(),
                "AEOUT": (ae.outcome or "").upper(),
                "AEACN": (ae.action_taken or "").upper(),
                "AESTDY": study_day(ae.onset_date, anchors.get(ae.subject_id)),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "AESEQ",
            "AETERM",
            "AEDECOD",
            "AESTDTC",
            "AEENDTC",
            "AETOXGR",
            "AESER",
            "AEREL",
            "AEOUT",
            "AEACN",
            "AESTDY",
        ],
    )


def build_ds(protocol: Protocol, data: ExportData) -> pd.DataFrame:
    rows = []
    seq = 0
    for s in data.subjects:
        if s.status not in DISPOSITION:
            continue
        seq += 1
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "DS",
                "USUBJID": _usubjid(protocol, s.subject_id),
                "DSSEQ": 1.0,
                "DSTERM": DISPOSITION[s.status],
                "DSDECOD": DISPOSITION[s.status],
                "DSCAT": "DISPOSITION EVENT",
                "DSSTDTC": _iso(s.end_date),
            }
        )
    return pd.DataFrame(
        rows, columns=["STUDYID", "DOMAIN", "USUBJID", "DSSEQ", "DSTERM", "DSDECOD", "DSCAT", "DSSTDTC"]
    )


DOMAINS = {
    "DM": build_dm,
    "QS": build_qs,
    "FT": build_ft,
    "RS": build_rs,
    "VS": build_vs,
    "AE": build_ae,
    "DS": build_ds,
}


def build_domains(protocol: Protocol, data: ExportData) -> dict[str, pd.DataFrame]:
    return {name: build(protocol, data) for name, build in DOMAINS.items()}


_XPT_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_XPT_OBS = b"HEADER RECORD*******OBS     HEADER RECORD"


def _stamp_xpt(path: Path, created: datetime) -> None:
    """Set the created and modified times of the XPORT headers (ddMMMyy:hh:mm:ss, before the
    observations) to ``created``: the file then depends on its data and that time only, not on
    the moment it was written."""
    content = path.read_bytes()
    end = content.find(_XPT_OBS)
    end = len(content) if end < 0 else end
    stamp = created.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii")
    path.write_bytes(_XPT_STAMP.sub(stamp, content[:end]) + content[end:])


def write_xpt(domains: dict[str, pd.DataFrame], directory: Path, created: datetime | None = None) -> list[Path]:
    """Write each domain as <domain>.xpt (SAS XPORT version 5, the FDA submission format), its
    header times set to ``created`` when given."""
    import pyreadstat

    from trialkit.export.sdtm_metadata import DATASETS

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in domains.items():
        path = directory / f"{name.lower()}.xpt"
        meta = DATASETS.get(name)
        known = {v.name: v.label for v in meta.variables} if meta else LABELS
        labels = [known.get(col, col)[:40] for col in frame.columns]
        pyreadstat.write_xport(
            frame,
            str(path),
            file_format_version=5,
            table_name=name,
            column_labels=labels,
            file_label=meta.label if meta else "",
        )
        if created is not None:
            _stamp_xpt(path, created)
        written.append(path)
    return written
