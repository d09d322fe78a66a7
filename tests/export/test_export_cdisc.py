"""CDISC exports: ODM 1.3.2 validated against the official XSD (shipped by odmlib), SDTM XPT read back."""

import json
import xml.etree.ElementTree as ET
from datetime import UTC, date

import pandas as pd
import pyreadstat
import pytest
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.export import ExportAdverseEvent, ExportData, ExportForm, ExportSubject
from trialkit.export.odm import NS, build_odm
from trialkit.export.sdtm import build_domains, study_day, write_xpt
from trialkit.protocol import load_protocol

IXCELL = "NCT07197606"
NIHSS_13 = {
    "1a": 0,
    "1b": 1,
    "1c": 0,
    "2": 1,
    "3": 2,
    "4": 2,
    "5a": 0,
    "5b": 3,
    "6a": 0,
    "6b": 2,
    "7": 0,
    "8": 1,
    "9": 1,
    "10": 0,
    "11": 0,
}


def _data(with_arm: bool) -> ExportData:
    return ExportData(
        subjects=[
            ExportSubject(
                subject_id="IX01-001",
                site_id="ixcell-01",
                sex="M",
                age=61,
                consent_date=date(2026, 1, 5),
                anchor_date=date(2026, 1, 10),
                arm_id="msc" if with_arm else None,
                status="completed",
                end_date=date(2027, 1, 12),
                country="CHN",
            ),
            ExportSubject(
                subject_id="IX01-002",
                site_id="ixcell-01",
                sex="F",
                age=55,
                consent_date=date(2026, 1, 7),
                anchor_date=date(2026, 1, 12),
                arm_id="placebo" if with_arm else None,
            ),
        ],
        forms=[
            ExportForm(
                subject_id="IX01-001",
                visit_id="baseline",
                form="nihss",
                values=NIHSS_13,
                collected_on=date(2026, 1, 10),
            ),
            ExportForm(
                subject_id="IX01-001",
                visit_id="month3",
                form="mrs",
                values={"score": 2},
                collected_on=date(2026, 4, 10),
            ),
            ExportForm(
                subject_id="IX01-002",
                visit_id="baseline",
                form="nihss",
                values={**NIHSS_13, "5a": "UN"},
                collected_on=date(2026, 1, 12),
            ),
        ],
        adverse_events=[
            ExportAdverseEvent(
                subject_id="IX01-001",
                seq=1,
                term="Headache",
                onset_date=date(2026, 1, 11),
                grade=1,
                serious=False,
                related="possibly related",
                outcome="recovered",
            )
        ],
    )


@pytest.mark.slow
def test_odm_metadata_and_data_validate_against_the_odm_1_3_2_schema(tmp_path):
    from odmlib.odm_parser import ODMSchemaValidator

    protocol = load_protocol(IXCELL)
    path = tmp_path / "ixcell.xml"
    path.write_text(build_odm(protocol, _data(with_arm=False)), encoding="utf-8")
    ODMSchemaValidator(standard="odm", version="1.3.2").validate_file(str(path))  # raises on any violation

    root = ET.parse(path).getroot()
    q = lambda tag: f"{{{NS}}}{tag}"  # noqa: E731
    events = root.findall(f".//{q('StudyEventDef')}")
    assert [e.get("Name") for e in events] == [v.label for v in protocol.schedule.visits]
    nihss_items = [i for i in root.findall(f".//{q('ItemDef')}") if i.get("OID").startswith("I.NIHSS.")]
    assert len(nihss_items) == 15
    values = {d.get("ItemOID"): d.get("Value") for d in root.findall(f".//{q('ItemData')}")}
    assert values["I.MRS.SCORE"] == "2"
    subject2 = next(s for s in root.findall(f".//{q('SubjectData')}") if s.get("SubjectKey") == "IX01-002")
    assert any(d.get("Value") == "UN" for d in subject2.iter(q("ItemData")))


def test_sdtm_domains_round_trip_through_xport(tmp_path):
    protocol = load_protocol(IXCELL)
    domains = build_domains(protocol, _data(with_arm=True))
    write_xpt(domains, tmp_path)
    dm, meta = pyreadstat.read_xport(str(tmp_path / "dm.xpt"))
    assert meta.table_name == "DM"
    assert list(dm["USUBJID"]) == ["NCT07197606-IX01-001", "NCT07197606-IX01-002"]
    assert list(dm["ARM"]) == ["MSCs treatment", "Placebo"]
    assert meta.column_names_to_labels["RFSTDTC"] == "Subject Reference Start Date/Time"
    qs, _ = pyreadstat.read_xport(str(tmp_path / "qs.xpt"))
    # 15 NIHSS items for each subject at baseline; the mRS is a clinical classification (RS)
    assert len(qs) == 30 and set(qs["QSCAT"]) == {"NIHSS"}
    first = qs[qs["USUBJID"] == "NCT07197606-IX01-001"]
    assert first["QSSTRESN"].sum() == 13
    untestable = qs[(qs["USUBJID"] == "NCT07197606-IX01-002") & (qs["QSORRES"] == "UN")]
    assert list(untestable["QSSTAT"]) == ["NOT DONE"] and untestable["QSSTRESN"].isna().all()
    rs, rs_meta = pyreadstat.read_xport(str(tmp_path / "rs.xpt"))
    assert rs_meta.table_name == "RS" and len(rs) == 1
    mrs = rs.iloc[0]
    assert (mrs["RSTESTCD"], mrs["RSTEST"], mrs["RSSTRESN"]) == ("MRS0101", "MRS01-Modified Rankin Scale Score", 2)
    assert mrs["RSDY"] == 91  # 2026-04-10 is 90 days after day 1 (2026-01-10): day 91
    ae, _ = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    assert list(ae["AESER"]) == ["N"] and list(ae["AESTDY"]) == [2]
    ds, _ = pyreadstat.read_xport(str(tmp_path / "ds.xpt"))
    assert list(ds["DSDECOD"]) == ["COMPLETED"]


def test_each_scale_goes_to_the_findings_domain_cdisc_ct_classes_it_in(tmp_path):
    """CDISC CT: the MMSE is a functional test (MMS1TC, C100142) and the mRS a clinical
    classification (MRS01TC, C111348); the NIHSS stays a questionnaire. SDTMIG v3.4 FT and RS tables:
    FTTESTCD "Short Name of Test", RSTESTCD "Assessment Short Name"."""
    mmse = {
        "orientation_time": 5,
        "orientation_place": 4,
        "registration": 3,
        "attention": 2,
        "recall": 1,
        "naming": 2,
        "naming_pencil": 1,
        "naming_watch": 1,
        "repetition": 1,
        "command": 3,
        "reading": 1,
        "writing": 0,
        "copying": 1,
    }
    data = _data(with_arm=False)
    data.forms.append(
        ExportForm(subject_id="IX01-002", visit_id="month3", form="mmse", values=mmse, collected_on=date(2026, 4, 12))
    )
    domains = build_domains(load_protocol(IXCELL), data)
    assert set(domains["QS"]["QSCAT"]) == {"NIHSS"}
    ft = domains["FT"].set_index("FTTESTCD")
    assert len(ft) == len(mmse) and set(ft["DOMAIN"]) == {"FT"}
    assert ft.loc["MMS104", ["FTTEST", "FTSTRESN"]].tolist() == ["MMS1-Attention and Calculation Subtotal", 2]
    assert ft.loc["MMS106A", "FTTEST"] == "MMS1-Naming Object 1" and ft.loc["TKMMS02", "FTSTRESN"] == 4
    assert list(ft["FTSEQ"]) == [float(n) for n in range(1, len(mmse) + 1)]
    assert list(domains["RS"]["RSTESTCD"]) == ["MRS0101"]
    write_xpt(domains, tmp_path)
    _, ft_meta = pyreadstat.read_xport(str(tmp_path / "ft.xpt"))
    _, rs_meta = pyreadstat.read_xport(str(tmp_path / "rs.xpt"))
    assert ft_meta.column_names_to_labels["FTTESTCD"] == "Short Name of Test"
    assert rs_meta.column_names_to_labels["RSTESTCD"] == "Assessment Short Name"


def test_blinded_sdtm_carries_no_arm():
    domains = build_domains(load_protocol(IXCELL), _data(with_arm=False))
    dm = domains["DM"]
    assert set(dm["ARM"]) == {""} and set(dm["ARMCD"]) == {""}
    text = pd.concat(domains.values()).to_csv()
    assert "MSCs treatment" not in text and "placebo" not in text.lower()


@pytest.mark.parametrize(
    "day, reference, expected",
    [
        (date(2026, 1, 10), date(2026, 1, 10), 1),
        (date(2026, 1, 9), date(2026, 1, 10), -1),
        (date(2026, 1, 11), date(2026, 1, 10), 2),
    ],
)
def test_study_day_has_no_day_zero(day, reference, expected):
    """SDTMIG v3.3 section 4.4.4: --DY = date - RFSTDTC + 1 on or after, date - RFSTDTC before."""
    assert study_day(day, reference) == expected


@pytest.mark.slow
def test_the_cli_writes_odm_and_sdtm(tmp_path):
    data_file = tmp_path / "data.json"
    data_file.write_text(_data(with_arm=False).model_dump_json())
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "export",
            "odm",
            "--protocol",
            IXCELL,
            "--data",
            str(data_file),
            "--output",
            str(tmp_path / "odm.xml"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["subjects"] == 2
    result = runner.invoke(
        app,
        [
            "export",
            "sdtm",
            "--protocol",
            IXCELL,
            "--data",
            str(data_file),
            "--output",
            str(tmp_path / "sdtm"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    # The whole package; blinded, so no TA (one record per element per arm).
    assert out["blinded"] is True and [f["domain"] for f in out["files"]] == [
        "DM",
        "SV",
        "EX",
        "CM",
        "AE",
        "DS",
        "MH",
        "LB",
        "VS",
        "QS",
        "FT",
        "RS",
        "SUPPLB",
        "TS",
        "TE",
        "TV",
        "TI",
    ]
    assert sorted(p.name for p in (tmp_path / "sdtm").iterdir()) == sorted(
        ["define.xml", *(f"{f['domain'].lower()}.{ext}" for f in out["files"] for ext in ("xpt", "json"))]
    )


def test_bad_export_data_names_the_field(tmp_path):
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps({"subjects": [{"site_id": "x"}]}))
    result = CliRunner().invoke(
        app, ["export", "sdtm", "--protocol", IXCELL, "--data", str(data_file), "--output", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "subjects.0.subject_id" in result.output


@pytest.mark.slow
def test_odm_with_signatures_validates_and_names_signer_time_and_meaning(tmp_path):
    from datetime import datetime

    from odmlib.odm_parser import ODMSchemaValidator

    from trialkit.export import ExportSignature

    data = _data(with_arm=False)
    at = datetime(2026, 1, 11, 9, 30, tzinfo=UTC)
    data.forms[0].signatures = [
        ExportSignature(
            signer_id="ines",
            signer_name="Dr Ines Investigator",
            signed_at=at,
            meaning="I confirm the data are accurate and complete",
        )
    ]
    data.forms[1].signatures = [
        ExportSignature(
            signer_id="ines",
            signer_name="Dr Ines Investigator",
            signed_at=at,
            meaning="I confirm the data are accurate and complete",
            valid=False,
            note="no longer valid: the record changed after it was signed",
        )
    ]
    path = tmp_path / "signed.xml"
    path.write_text(build_odm(load_protocol(IXCELL), data), encoding="utf-8")
    ODMSchemaValidator(standard="odm", version="1.3.2").validate_file(str(path))  # raises on any violation
    root = ET.parse(path).getroot()
    q = lambda tag: f"{{{NS}}}{tag}"  # noqa: E731
    assert root.find(f".//{q('User')}/{q('FullName')}").text == "Dr Ines Investigator"
    assert root.find(f".//{q('SignatureDef')}/{q('Meaning')}").text == "I confirm the data are accurate and complete"
    signatures = root.findall(f".//{q('FormData')}/{q('Signature')}")
    assert len(signatures) == 1  # the form whose signature no longer holds carries none ...
    assert signatures[0].find(q("DateTimeStamp")).text == "2026-01-11T09:30:00+00:00"
    comments = [c.text for c in root.iter(q("Comment"))]
    assert any("no longer valid" in c and "Dr Ines Investigator" in c for c in comments)  # ... but says why
