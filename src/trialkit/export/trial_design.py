"""SDTM trial design datasets TS, TE, TA, TV and TI from the protocol file (SDTMIG v3.4 §7).

Parameter codes and names (TSPARMCD/TSPARM) and their values are CDISC Controlled Terminology:
Trial Summary Parameter Test Code C66738, Trial Phase C66737, Trial Blinding Schema C66735,
Intervention Model C99076, Control Type C66785, Trial Intent Type C66736; ages are ISO 8601
durations (P18Y).

Blinded exports carry no arm: the arm-specific elements (TE), the arms (TA), and the parameters
that name a treatment or the control (TS TRT, TCNTRL) are left out, and TE has one element
"BLINDED TREATMENT" in their place. Everything else in these datasets is the public protocol.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from trialkit.export.sdtm_metadata import columns
from trialkit.protocol import Protocol

PHASES = {
    ("PHASE1",): "PHASE I TRIAL",
    ("PHASE2",): "PHASE II TRIAL",
    ("PHASE3",): "PHASE III TRIAL",
    ("PHASE4",): "PHASE IV TRIAL",
    ("PHASE1", "PHASE2"): "PHASE I/II TRIAL",
    ("PHASE2", "PHASE3"): "PHASE II/III TRIAL",
    ("EARLY_PHASE1",): "PHASE 0 TRIAL",
    ("NA",): "NOT APPLICABLE",
}
BLINDING = {
    "NONE": "OPEN LABEL",
    "SINGLE": "SINGLE BLIND",
    "DOUBLE": "DOUBLE BLIND",
    "TRIPLE": "TRIPLE BLIND",
    "QUADRUPLE": "QUADRUPLE BLIND",
}
INTENT = {
    "TREATMENT": "TREATMENT",
    "PREVENTION": "PREVENTION",
    "DIAGNOSTIC": "DIAGNOSIS",
    "SUPPORTIVE_CARE": "SUPPORTIVE CARE",
    "OTHER": "OTHER",
}
CONTROL = {
    "PLACEBO_COMPARATOR": "PLACEBO",
    "ACTIVE_COMPARATOR": "ACTIVE",
    "NO_INTERVENTION": "NONE",
    "SHAM_COMPARATOR": "PLACEBO",
}
SEXPOP = {"ALL": "BOTH", "FEMALE": "F", "MALE": "M"}
TSPARM = {
    "TITLE": "Trial Title",
    "ACRONYM": "Trial Acronym",
    "REGID": "Registry Identifier",
    "SPONSOR": "Clinical Study Sponsor",
    "TPHASE": "Trial Phase Classification",
    "STYPE": "Study Type",
    "INDIC": "Trial Disease/Condition Indication",
    "TINDTP": "Trial Intent Type",
    "RANDOM": "Trial is Randomized",
    "TBLIND": "Trial Blinding Schema",
    "INTMODEL": "Intervention Model",
    "TCNTRL": "Control Type",
    "TRT": "Investigational Therapy or Treatment",
    "NARMS": "Planned Number of Arms",
    "PLANSUB": "Planned Number of Subjects",
    "AGEMIN": "Planned Minimum Age of Subjects",
    "AGEMAX": "Planned Maximum Age of Subjects",
    "SEXPOP": "Sex of Participants",
    "HLTSUBJI": "Healthy Subject Indicator",
    "OUTMSPRI": "Primary Outcome Measure",
    "OUTMSSEC": "Secondary Outcome Measure",
    "SSTDTC": "Study Start Date",
}
# Parameters that name a treatment or the control: never in a blinded export.
ARM_PARAMETERS = frozenset({"TRT", "TCNTRL"})
BLINDED_ELEMENT = "BLINDED TREATMENT"


def armcd(arm_id: str) -> str:
    """ARMCD as DM writes it (sdtm.build_dm)."""
    return arm_id.upper().replace("-", "")[:20]


def build_ts(protocol: Protocol, *, blinded: bool) -> pd.DataFrame:
    r, design = protocol.registry, protocol.design
    params: list[tuple[str, str, str] | None] = [  # (code, value, reference terminology); None: not known
        ("TITLE", r.official_title or r.brief_title, ""),
        *([("ACRONYM", r.acronym, "")] if r.acronym else []),
        ("REGID", r.nct_id, "ClinicalTrials.gov"),
        ("SPONSOR", r.sponsor, ""),
        ("TPHASE", PHASES.get(tuple(r.phases), " / ".join(r.phases)), "CDISC CT"),
        ("STYPE", r.study_type, "CDISC CT"),
        *[("INDIC", c, "") for c in r.conditions],
        ("TINDTP", INTENT[design.primary_purpose], "CDISC CT"),
        ("RANDOM", "Y" if design.allocation == "RANDOMIZED" else "N", "CDISC CT"),
        ("TBLIND", BLINDING[design.masking.masking], "CDISC CT"),
        ("INTMODEL", design.intervention_model, "CDISC CT"),
        *[("TCNTRL", CONTROL[a.type], "CDISC CT") for a in protocol.arms if a.type in CONTROL][:1],
        *[
            ("TRT", i.name, "")
            for i in r.interventions
            if any(i.id in a.interventions and a.type == "EXPERIMENTAL" for a in protocol.arms)
        ],
        ("NARMS", str(len(protocol.arms)), ""),
        ("PLANSUB", str(r.enrollment.count), "") if r.enrollment else None,
        ("AGEMIN", f"P{r.minimum_age_years}Y", "ISO 8601") if r.minimum_age_years is not None else None,
        ("AGEMAX", f"P{r.maximum_age_years}Y", "ISO 8601") if r.maximum_age_years is not None else None,
        ("SEXPOP", SEXPOP.get(r.sex, r.sex), "CDISC CT"),
        ("HLTSUBJI", "Y" if r.healthy_volunteers else "N", "CDISC CT"),
        *[
            ("OUTMSPRI" if e.kind == "primary" else "OUTMSSEC", e.title, "")
            for e in protocol.endpoints
            if e.kind in ("primary", "secondary")
        ],
        ("SSTDTC", r.start_date.isoformat(), "ISO 8601") if r.start_date else None,
    ]
    rows: list[dict[str, Any]] = []
    seq: dict[str, int] = {}
    for entry in params:
        if entry is None or (blinded and entry[0] in ARM_PARAMETERS):
            continue
        code, value, ref = entry
        seq[code] = seq.get(code, 0) + 1
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "TS",
                "TSSEQ": float(seq[code]),
                "TSPARMCD": code,
                "TSPARM": TSPARM[code],
                "TSVAL": str(value)[:200],
                "TSVALCD": "",
                "TSVCDREF": ref,
                "TSVCDVER": "",
            }
        )
    return pd.DataFrame(rows, columns=columns("TS"))


def _elements(protocol: Protocol, blinded: bool) -> list[dict]:
    last = protocol.schedule.visits[-1]
    screening = {
        "ETCD": "SCRN",
        "ELEMENT": "Screening",
        "TESTRL": "Informed consent",
        "TEENRL": "Randomization",
        "TEDUR": "",
    }
    follow_up = {
        "ETCD": "FU",
        "ELEMENT": "Follow-up",
        "TESTRL": "End of the treatment visit",
        "TEENRL": f"{last.label} (day {last.day})",
        "TEDUR": f"P{last.day}D",
    }
    if blinded:
        treatments = [
            {
                "ETCD": "TRT",
                "ELEMENT": BLINDED_ELEMENT,
                "TESTRL": "Start of study treatment (day 0)",
                "TEENRL": "End of the treatment visit",
                "TEDUR": "P1D",
            }
        ]
    else:
        treatments = [
            {
                "ETCD": f"T{i}",
                "ELEMENT": f"{a.label}"[:200],
                "TESTRL": f"Start of {a.description}"[:200],
                "TEENRL": "End of the treatment visit",
                "TEDUR": "P1D",
                "_arm": a.id,
            }
            for i, a in enumerate(protocol.arms, start=1)
        ]
    return [screening, *treatments, follow_up]


def build_te(protocol: Protocol, *, blinded: bool) -> pd.DataFrame:
    rows = [
        {"STUDYID": protocol.id, "DOMAIN": "TE", **{k: v for k, v in e.items() if not k.startswith("_")}}
        for e in _elements(protocol, blinded)
    ]
    return pd.DataFrame(rows, columns=columns("TE"))


def build_ta(protocol: Protocol, *, blinded: bool) -> pd.DataFrame | None:
    """None for a blinded export: TA is one record per element per arm."""
    if blinded:
        return None
    elements = _elements(protocol, blinded=False)
    screening, follow_up = elements[0], elements[-1]
    rows = []
    for arm in protocol.arms:
        treatment = next(e for e in elements if e.get("_arm") == arm.id)
        for order, (element, epoch) in enumerate(
            ((screening, "SCREENING"), (treatment, "TREATMENT"), (follow_up, "FOLLOW-UP")), start=1
        ):
            rows.append(
                {
                    "STUDYID": protocol.id,
                    "DOMAIN": "TA",
                    "ARMCD": armcd(arm.id),
                    "ARM": arm.label,
                    "TAETORD": float(order),
                    "ETCD": element["ETCD"],
                    "ELEMENT": element["ELEMENT"],
                    "TABRANCH": f"Randomized to {arm.label}"[:200] if order == 1 else "",
                    "TATRANS": "",
                    "EPOCH": epoch,
                }
            )
    return pd.DataFrame(rows, columns=columns("TA"))


def build_tv(protocol: Protocol) -> pd.DataFrame:
    rows = []
    for i, v in enumerate(protocol.schedule.visits, start=1):
        lo, hi = v.window
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "TV",
                "VISITNUM": float(i),
                "VISIT": v.label.upper(),
                "VISITDY": float(v.day if v.day < 0 else v.day + 1),
                "TVSTRL": f"Day {v.day} after {protocol.schedule.anchor} (window day {lo} to {hi})",
                "TVENRL": "",
            }
        )
    return pd.DataFrame(rows, columns=columns("TV"))


def ie_codes(protocol: Protocol) -> dict[str, str]:
    """Criterion id -> IETESTCD (INCL01, EXCL01, ...: 8 characters at most)."""
    counts = {"inclusion": 0, "exclusion": 0}
    out = {}
    for c in protocol.eligibility.criteria:
        counts[c.type] += 1
        out[c.id] = f"{'INCL' if c.type == 'inclusion' else 'EXCL'}{counts[c.type]:02d}"
    return out


def build_ti(protocol: Protocol) -> pd.DataFrame:
    codes = ie_codes(protocol)
    rows = [
        {
            "STUDYID": protocol.id,
            "DOMAIN": "TI",
            "IETESTCD": codes[c.id],
            "IETEST": c.text[:200],
            "IECAT": c.type.upper(),
            "TIVERS": "1",
        }
        for c in protocol.eligibility.criteria
    ]
    return pd.DataFrame(rows, columns=columns("TI"))


def build_trial_design(protocol: Protocol, *, blinded: bool) -> dict[str, pd.DataFrame]:
    out = {"TS": build_ts(protocol, blinded=blinded), "TE": build_te(protocol, blinded=blinded)}
    ta = build_ta(protocol, blinded=blinded)
    if ta is not None:
        out["TA"] = ta
    out["TV"] = build_tv(protocol)
    out["TI"] = build_ti(protocol)
    return out
