"""The SDTM package (EX, LB/SUPPLB, MH, CM, SV, TS/TE/TA/TV/TI beside DM, QS, FT, RS, VS, AE, DS):
values checked against hand computations, XPT read back by pyreadstat and by pandas, Define-XML
2.1 validated against the CDISC XSD shipped by odmlib, Dataset-JSON v1.1 read back, and every
dataset's variables equal to Define's. Blinded packages name no arm in any file."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from datetime import date

import pandas as pd
import pyreadstat
import pytest
from pydantic import ValidationError

from trialkit.export import ExportData, ExportExposure, ExportForm, ExportLab, ExportSubject
from trialkit.export.sdtm_metadata import DATASETS
from trialkit.export.sdtm_package import build_package, write_package
from trialkit.protocol import load_protocol

ASSIST = "NCT04590118"
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
DEF = "{http://www.cdisc.org/ns/def/v2.1}"


def _data(unblinded: bool) -> ExportData:
    return ExportData(
        subjects=[
            ExportSubject(
                subject_id="AS01-001",
                site_id="assist-01",
                sex="M",
                age=64,
                consent_date=date(2026, 2, 1),
                anchor_date=date(2026, 2, 10),
                arm_id="it-hmsc" if unblinded else None,
            ),
            ExportSubject(
                subject_id="AS01-002",
                site_id="assist-01",
                sex="F",
                age=58,
                consent_date=date(2026, 2, 2),
                anchor_date=date(2026, 2, 11),
                arm_id="placebo" if unblinded else None,
            ),
        ],
        exposures=[
            ExportExposure(
                subject_id="AS01-001",
                administered_on=date(2026, 2, 10),
                weight_kg=72.5,
                volume_ml=72.5,
                dose_level="high" if unblinded else None,
            ),
            ExportExposure(
                subject_id="AS01-002",
                administered_on=date(2026, 2, 11),
                weight_kg=60,
                volume_ml=60,
                dose_level="placebo" if unblinded else None,
            ),
        ],
        labs=[
            # The example: AST 6 µkat/L with a ULN of 40 U/L is 360 U/L, 9 × ULN.
            ExportLab(
                subject_id="AS01-001",
                analyte="ast",
                value=6,
                unit="µkat/L",
                uln=40,
                uln_unit="U/L",
                collected_on=date(2026, 2, 3),
            ),
            ExportLab(
                subject_id="AS01-001",
                analyte="bilirubin",
                value=17.104,
                unit="umol/L",
                uln=20.5248,
                collected_on=date(2026, 2, 3),
            ),
        ],
        forms=[
            # carried from the screening facts: the same AST result, kept once
            ExportForm(
                subject_id="AS01-001",
                visit_id="screening",
                form="labs",
                collected_on=date(2026, 2, 3),
                values={"collection_date": "2026-02-03", "ast": 6, "ast_unit": "ukat/L"},
            ),
            ExportForm(
                subject_id="AS01-001",
                visit_id="day7",
                form="labs",
                collected_on=date(2026, 2, 17),
                values={
                    "collection_date": "2026-02-17",
                    "alt": 0.5,
                    "alt_unit": "ukat/L",
                    "platelets": 210,
                    "platelets_unit": "10^9/L",
                },
            ),
            ExportForm(
                subject_id="AS01-001",
                visit_id="screening",
                form="medical_history",
                repeat=1,
                collected_on=date(2026, 2, 3),
                values={
                    "term": "Hypertension",
                    "category": "hypertension",
                    "start_date": "2015-04-01",
                    "ongoing": True,
                },
            ),
            ExportForm(
                subject_id="AS01-001",
                visit_id="screening",
                form="con_meds",
                repeat=1,
                collected_on=date(2026, 2, 3),
                values={
                    "name": "Aspirin",
                    "med_class": "antiplatelet",
                    "dose": 100,
                    "dose_unit": "mg",
                    "route": "oral",
                    "start_date": "2024-01-01",
                    "ongoing": True,
                },
            ),
        ],
    )


@pytest.fixture(scope="module")
def assist():
    return load_protocol(ASSIST)


def test_ex_unblinded_gives_treatment_dose_per_kg_and_volume(assist):
    ex = build_package(assist, _data(unblinded=True))["EX"]
    first, second = ex.to_dict("records")
    # ASSIST's "high" level is 2×10^6 cells/kg (protocols/NCT04590118.yaml); the placebo 1 ml/kg.
    # EXTRT is the arm's intervention (registry name "it-hMSC"), upper case
    assert (first["EXTRT"], first["EXDOSE"], first["EXDOSU"], first["EXDOSFRM"]) == (
        "IT-HMSC",
        2e6,
        "cells/kg",
        "SUSPENSION",
    )
    assert (second["EXTRT"], second["EXDOSFRM"]) == ("PLACEBO", "SOLUTION")
    assert (second["EXDOSE"], second["EXDOSU"]) == (1.0, "mL/kg")
    assert (first["EXVAMT"], first["EXVAMTU"], first["EXROUTE"]) == (72.5, "mL", "INTRAVENOUS")
    assert (first["EXSTDTC"], first["EXSTDY"], first["VISIT"]) == ("2026-02-10", 1.0, "BASELINE AND INFUSION")


def test_ex_blinded_masks_the_treatment_and_keeps_only_what_every_arm_shares(assist):
    ex = build_package(assist, _data(unblinded=False))["EX"]
    assert set(ex.EXTRT) == {"BLINDED TREATMENT"}
    assert ex.EXDOSE.isna().all() and set(ex.EXDOSU) == {""} and set(ex.EXDOSFRM) == {""}
    assert list(ex.EXVAMT) == [72.5, 60.0] and set(ex.EXROUTE) == {"INTRAVENOUS"}


def test_a_dose_level_in_a_blinded_export_is_refused_by_field():
    data = _data(unblinded=False).model_dump()
    data["exposures"][0]["dose_level"] = "high"
    with pytest.raises(ValidationError, match=r"exposures\.0\.dose_level: only allowed in an unblinded export"):
        ExportData.model_validate(data)


def test_lb_keeps_original_and_standard_units_and_the_uln_multiple(assist):
    package = build_package(assist, _data(unblinded=False))
    lb, supp = package["LB"], package["SUPPLB"]
    rows = {(r["LBTESTCD"], r["VISIT"]): r for r in lb.to_dict("records")}
    # The carried screening form result is the screening fact, kept once: 2 facts + 2 day-7 results.
    assert len(lb) == 4
    ast = rows[("AST", "SCREENING")]
    # 6 ukat/L × 60 (1 ukat/L = 60 U/L) = 360 U/L; ULN 40 U/L given in U/L is 2/3 ukat/L in the original unit.
    assert (ast["LBORRES"], ast["LBORRESU"], ast["LBSTRESN"], ast["LBSTRESU"], ast["LBSTNRHI"]) == (
        "6",
        "ukat/L",
        360.0,
        "U/L",
        40.0,
    )
    assert ast["LBORNRHI"] == repr(float(f"{40 / 60:.10g}")) and ast["LBNRIND"] == "HIGH"
    bili = rows[("BILI", "SCREENING")]
    # 17.104 umol/L = 1 mg/dL (AMA SI table); ULN 20.5248 umol/L = 1.2 mg/dL
    assert (bili["LBSTRESN"], bili["LBSTNRHI"], bili["LBNRIND"]) == (1.0, 1.2, "")
    alt = rows[("ALT", "DAY 7")]
    assert (alt["LBSTRESN"], alt["LBSTRESU"], alt["LBDY"]) == (30.0, "U/L", 8.0)
    assert rows[("PLAT", "DAY 7")]["LBSTRESN"] == 210000.0  # 10^9/L × 1000 = /uL
    xuln = {r["IDVARVAL"]: r["QVAL"] for r in supp.to_dict("records")}
    seq = {r["LBTESTCD"]: str(int(r["LBSEQ"])) for r in lb.to_dict("records") if r["VISIT"] == "SCREENING"}
    assert xuln == {seq["AST"]: "9", seq["BILI"]: "0.8333"}
    assert set(supp.QNAM) == {"LBXULN"}


def test_mh_cm_and_sv(assist):
    package = build_package(assist, _data(unblinded=False))
    mh = package["MH"].iloc[0]
    assert (mh.MHTERM, mh.MHCAT, mh.MHSTDTC, mh.MHENRTPT, mh.MHENTPT) == (
        "Hypertension",
        "HYPERTENSION",
        "2015-04-01",
        "ONGOING",
        "END OF STUDY",
    )
    cm = package["CM"].iloc[0]
    assert (cm.CMTRT, cm.CMCLAS, cm.CMDOSE, cm.CMDOSU, cm.CMROUTE, cm.CMENRTPT) == (
        "Aspirin",
        "ANTIPLATELET",
        100.0,
        "mg",
        "ORAL",
        "ONGOING",
    )
    sv = package["SV"]
    assert list(zip(sv.VISIT, sv.SVSTDTC, sv.SVSTDY)) == [
        ("SCREENING", "2026-02-03", -7.0),
        ("DAY 7", "2026-02-17", 8.0),
    ]


def test_trial_design_from_the_protocol(assist):
    unblinded = build_package(assist, _data(unblinded=True))
    ts = {(r["TSPARMCD"]): r["TSVAL"] for r in unblinded["TS"].to_dict("records")}
    assert ts["REGID"] == ASSIST and ts["TPHASE"] == "PHASE I/II TRIAL" and ts["TBLIND"] == "TRIPLE BLIND"
    assert ts["RANDOM"] == "Y" and ts["AGEMIN"] == "P18Y" and "AGEMAX" not in ts and ts["PLANSUB"] == "60"
    assert ts["TCNTRL"] == "PLACEBO" and ts["NARMS"] == str(len(assist.arms))
    assert len(unblinded["TV"]) == len(assist.schedule.visits)
    assert list(unblinded["TI"].IECAT).count("INCLUSION") == sum(
        c.type == "inclusion" for c in assist.eligibility.criteria
    )
    assert unblinded["TI"].IETESTCD.is_unique and unblinded["TI"].IETESTCD.str.len().max() <= 8
    ta = unblinded["TA"]
    assert len(ta) == 3 * len(assist.arms) and set(ta.EPOCH) == {"SCREENING", "TREATMENT", "FOLLOW-UP"}
    blinded = build_package(assist, _data(unblinded=False))
    assert "TA" not in blinded and not {"TRT", "TCNTRL"} & set(blinded["TS"].TSPARMCD)
    assert "BLINDED TREATMENT" in set(blinded["TE"].ELEMENT)


def _arm_words(protocol) -> list[str]:
    words = set()
    for arm in protocol.arms:
        words |= {arm.id, arm.label, arm.description, arm.id.upper().replace("-", "")}
        if arm.dose:
            words |= {lv.label for lv in arm.dose.levels} | {lv.id for lv in arm.dose.levels if lv.id == "placebo"}
    for i in protocol.registry.interventions:
        words |= {i.id, i.name}
    return sorted(words)


def _mentions(text: str, words) -> list[str]:
    return [w for w in words if re.search(r"(?<![\w-])" + re.escape(w) + r"(?![\w-])", text, re.IGNORECASE)]


@pytest.mark.slow
def test_a_blinded_package_names_no_arm_in_any_file_define_included(assist, tmp_path):
    written = write_package(assist, _data(unblinded=False), tmp_path / "blinded")
    words = _arm_words(assist)
    for name, path in written.items():
        assert _mentions(path.read_bytes().decode("latin-1"), words) == [], name
    define = ET.parse(written["define.xml"]).getroot()
    codelists = {cl.get("OID") for cl in define.iter(f"{ODM}CodeList")}
    assert codelists and not {oid.rsplit(".", 1)[1] for oid in codelists} & {"ARMCD", "ARM", "ACTARMCD", "ACTARM"}
    # the same package unblinded does name them (the scan can see arms)
    written = write_package(assist, _data(unblinded=True), tmp_path / "unblinded")
    assert _mentions(written["define.xml"].read_text(), words)
    assert {"CL.DM.ARMCD", "CL.TA.ARM"} <= {
        cl.get("OID") for cl in ET.parse(written["define.xml"]).getroot().iter(f"{ODM}CodeList")
    }


def _define(path):
    root = ET.parse(path).getroot()
    items = {i.get("OID"): i for i in root.iter(f"{ODM}ItemDef")}
    groups = {}
    for g in root.iter(f"{ODM}ItemGroupDef"):
        refs = sorted(g.iter(f"{ODM}ItemRef"), key=lambda r: int(r.get("OrderNumber")))
        groups[g.get("Name")] = (g, [items[r.get("ItemOID")] for r in refs])
    return root, groups


@pytest.mark.slow
@pytest.mark.parametrize("unblinded", [True, False])
def test_the_package_validates_and_reads_back(assist, tmp_path, unblinded):
    """XPT read back by pyreadstat and pandas equals the frames written (values, labels, lengths);
    Define-XML is valid against the Define-XML 2.1 XSD (odmlib ships CDISC's schema); each XPT's
    and each Dataset-JSON's variables are those Define lists for the dataset, in its order, with
    its labels and lengths; every CodeListRef resolves, every ItemDef has an origin."""
    from odmlib.dataset_json_1_1.model import DatasetJSON
    from odmlib.odm_parser import ODMSchemaValidator

    data = _data(unblinded)
    frames = build_package(assist, data)
    written = write_package(assist, data, tmp_path)
    ODMSchemaValidator(standard="define", version="2.1").validate_file(str(written["define.xml"]))
    root, groups = _define(written["define.xml"])
    assert sorted(groups) == sorted(frames)
    codelists = {cl.get("OID") for cl in root.iter(f"{ODM}CodeList")}
    leaves = {leaf.get("ID"): leaf.get("{http://www.w3.org/1999/xlink}href") for leaf in root.iter(f"{DEF}leaf")}
    for name, frame in frames.items():
        group, items = groups[name]
        assert leaves[group.get(f"{DEF}ArchiveLocationID")] == f"{name.lower()}.xpt"
        assert all(i.find(f"{DEF}Origin") is not None for i in items)
        for ref in (i.find(f"{ODM}CodeListRef") for i in items):
            assert ref is None or ref.get("CodeListOID") in codelists
        names = [i.get("Name") for i in items]
        labels = [i.find(f"{ODM}Description/{ODM}TranslatedText").text for i in items]
        lengths = [int(i.get("Length")) for i in items]
        assert names == [v.name for v in DATASETS[name].variables]

        xpt, meta = pyreadstat.read_xport(str(written[f"{name.lower()}.xpt"]))
        assert list(xpt.columns) == names and meta.column_labels == labels
        assert meta.file_label == DATASETS[name].label and meta.table_name == name
        char = [n for n, i in zip(names, items) if i.get("DataType") in ("text", "date")]
        assert [meta.variable_storage_width[n] for n in char] == [ln for n, ln in zip(names, lengths) if n in char]
        readers = [xpt]
        if len(frame):  # pandas' XPORT reader raises StopIteration on a dataset with no rows
            readers.append(pd.read_sas(written[f"{name.lower()}.xpt"], format="xport", encoding="ascii"))
        for column in names:
            want = frame[column].tolist()
            for got in (r[column].tolist() for r in readers):
                if column in char:
                    assert [g if isinstance(g, str) else "" for g in got] == want, (name, column)
                else:
                    assert [math.isnan(g) if math.isnan(w) else g == w for g, w in zip(got, want)] == [True] * len(want)

        doc = json.loads(written[f"{name.lower()}.json"].read_text())
        dsj = DatasetJSON.from_dict(doc)  # odmlib's typed model: required fields, types, value sets
        assert (doc["datasetJSONVersion"], doc["itemGroupOID"], doc["records"]) == ("1.1.0", f"IG.{name}", len(frame))
        assert dsj.column_names == names and [c["label"] for c in doc["columns"]] == labels
        assert [c["itemOID"] for c in doc["columns"]] == [i.get("OID") for i in items]
        for row, want in zip(doc["rows"], frame.itertuples(index=False)):
            assert [
                ("" if v is None else v) if n in char else (math.nan if v is None else v) for n, v in zip(names, row)
            ] == pytest.approx(list(want), nan_ok=True)


@pytest.mark.slow
def test_define_refuses_what_the_schema_refuses(assist, tmp_path):
    """The schema check can fail: a dataset without its def:Structure is invalid."""
    from odmlib.odm_parser import ODMSchemaValidator

    written = write_package(assist, _data(unblinded=False), tmp_path)
    broken = tmp_path / "broken.xml"
    broken.write_text(re.sub(r' def:Structure="[^"]*"', "", written["define.xml"].read_text(), count=1))
    with pytest.raises(Exception, match="Structure"):
        ODMSchemaValidator(standard="define", version="2.1").validate_file(str(broken))


def test_a_blinded_ex_leaves_out_a_volume_that_differs_by_arm(assist):
    """If the arms infused different ml/kg, the volume would name the arm: blinded EX leaves it out."""
    arms = [
        a.model_copy(update={"dose": a.dose.model_copy(update={"infusion_volume_ml_per_kg": v})})
        for a, v in zip(assist.arms, (1.0, 2.0))
    ]
    other = assist.model_copy(update={"arms": arms})
    assert build_package(other, _data(unblinded=False))["EX"].EXVAMT.isna().all()
    assert list(build_package(other, _data(unblinded=True))["EX"].EXVAMT) == [72.5, 60.0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"labs": [{"subject_id": "AS01-001", "analyte": "glucose", "value": 5, "unit": "mmol/L"}]},
            r"labs\.0\.analyte.*unknown analyte 'glucose'",
        ),
        (
            {"labs": [{"subject_id": "AS01-001", "analyte": "AST", "value": 5, "unit": "mg/dL"}]},
            r"labs\.0.*unit: 'mg/dL' is not a unit of ast",
        ),
        (
            {"labs": [{"subject_id": "AS01-001", "analyte": "ast", "value": 5, "unit": "furlongs"}]},
            r"labs\.0\.unit.*unknown unit 'furlongs'",
        ),
    ],
)
def test_bad_lab_records_are_refused_by_the_cli_naming_the_field(tmp_path, change, message):
    from typer.testing import CliRunner

    from trialkit.cli.main import app

    data = {**json.loads(_data(unblinded=False).model_dump_json()), **change}
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(
        app,
        [
            "export",
            "sdtm",
            "--protocol",
            ASSIST,
            "--data",
            str(path),
            "--output",
            str(tmp_path / "out"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 2 and re.search(message, result.output), result.output
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_dose_level_of_no_arm_is_refused_naming_it(tmp_path, assist):
    data = _data(unblinded=True).model_copy()
    data.exposures[0] = data.exposures[0].model_copy(update={"dose_level": "huge"})
    with pytest.raises(ValueError, match=r"exposures\.0\.dose_level: 'huge' is not a dose level .*low, mid, high"):
        build_package(assist, data)
