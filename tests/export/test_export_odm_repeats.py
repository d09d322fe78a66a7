"""ODM clinical data: repeating forms carry repeat keys, drafts are marked, every FormData has
its metadata; the result stays valid against the ODM 1.3.2 XSD."""

import xml.etree.ElementTree as ET
from datetime import date

import pytest
from pydantic import ValidationError

from trialkit.export import ExportData, ExportForm, ExportSubject
from trialkit.export.odm import DRAFT_COMMENT, NS, build_odm
from trialkit.protocol import load_protocol

IXCELL = "NCT07197606"
ASPIRIN = {"name": "aspirin", "med_class": "antiplatelet", "start_date": "2025-11-02", "ongoing": True}
ATORVASTATIN = {"name": "atorvastatin", "med_class": "other", "start_date": "2025-11-03", "ongoing": True}
HEADACHE = {
    "term": "Headache",
    "onset_date": "2026-01-11",
    "ctcae_grade": 1,
    "serious": False,
    "relatedness": "possible",
    "expectedness": "expected",
    "action_taken": "dose_not_changed",
    "outcome": "recovered",
    "resolution_date": "2026-01-12",
}


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _data(forms) -> ExportData:
    return ExportData(
        subjects=[ExportSubject(subject_id="IX01-001", site_id="ixcell-01", anchor_date=date(2026, 1, 10))], forms=forms
    )


def _odm(tmp_path, forms) -> ET.Element:
    from odmlib.odm_parser import ODMSchemaValidator

    path = tmp_path / "odm.xml"
    path.write_text(build_odm(load_protocol(IXCELL), _data(forms)), encoding="utf-8")
    ODMSchemaValidator(standard="odm", version="1.3.2").validate_file(str(path))  # raises on any violation
    return ET.parse(path).getroot()


@pytest.mark.slow
def test_each_record_of_a_repeating_form_has_its_repeat_key(tmp_path):
    root = _odm(
        tmp_path,
        [
            ExportForm(subject_id="IX01-001", visit_id="screening", form="con_meds", values=ATORVASTATIN, repeat=2),
            ExportForm(subject_id="IX01-001", visit_id="screening", form="con_meds", values=ASPIRIN, repeat=1),
            ExportForm(subject_id="IX01-001", visit_id="screening", form="mrs", values={"score": 3}),
        ],
    )
    form_defs = {f.get("OID"): f.get("Repeating") for f in root.iter(q("FormDef"))}
    assert form_defs["F.CON_MEDS"] == "Yes" and form_defs["F.MRS"] == "No"
    screening = root.find(f".//{q('StudyEventData')}[@StudyEventOID='SE.SCREENING']")
    meds = [
        (
            f.get("FormRepeatKey"),
            [d.get("Value") for d in f.iter(q("ItemData")) if d.get("ItemOID") == "I.CON_MEDS.NAME"],
        )
        for f in screening.findall(q("FormData"))
        if f.get("FormOID") == "F.CON_MEDS"
    ]
    assert meds == [("1", ["aspirin"]), ("2", ["atorvastatin"])]
    mrs = screening.find(f"{q('FormData')}[@FormOID='F.MRS']")
    assert mrs.get("FormRepeatKey") is None  # a form entered once per visit has no key


@pytest.mark.slow
def test_a_draft_record_is_marked_and_a_complete_one_is_not(tmp_path):
    root = _odm(
        tmp_path,
        [
            ExportForm(subject_id="IX01-001", visit_id="screening", form="mrs", values={"score": 3}, status="draft"),
            ExportForm(subject_id="IX01-001", visit_id="baseline", form="mrs", values={"score": 2}),
        ],
    )
    by_event = {e.get("StudyEventOID"): e.find(q("FormData")) for e in root.iter(q("StudyEventData"))}
    draft, complete = by_event["SE.SCREENING"], by_event["SE.BASELINE"]
    assert [c.text for c in draft.iter(q("Comment"))] == [DRAFT_COMMENT]
    assert next(iter(draft)).tag == q("Annotation")  # before the item data, as the XSD orders it
    assert complete.find(q("Annotation")) is None


@pytest.mark.slow
def test_a_form_recorded_outside_its_schedule_has_its_form_ref(tmp_path):
    """An adverse event at the baseline visit (the schedule lists it from day 7 on)."""
    root = _odm(
        tmp_path, [ExportForm(subject_id="IX01-001", visit_id="baseline", form="adverse_event", values=HEADACHE)]
    )
    baseline = root.find(f".//{q('StudyEventDef')}[@OID='SE.BASELINE']")
    assert "F.ADVERSE_EVENT" in [r.get("FormOID") for r in baseline.findall(q("FormRef"))]
    refs = [r.get("FormOID") for r in baseline.findall(q("FormRef"))]
    assert len(refs) == len(set(refs))
    assert [r.get("OrderNumber") for r in baseline.findall(q("FormRef"))] == [str(i) for i in range(1, len(refs) + 1)]


def test_a_repeat_number_on_a_form_entered_once_per_visit_is_refused():
    forms = [ExportForm(subject_id="IX01-001", visit_id="screening", form="mrs", values={"score": 3}, repeat=2)]
    with pytest.raises(ValueError, match=r"forms\[0\].*mrs is entered once per visit"):
        build_odm(load_protocol(IXCELL), _data(forms))


def test_the_same_record_twice_is_refused_naming_both():
    forms = [
        ExportForm(subject_id="IX01-001", visit_id="screening", form="con_meds", values=ASPIRIN),
        ExportForm(subject_id="IX01-001", visit_id="screening", form="con_meds", values=ATORVASTATIN),
    ]
    with pytest.raises(ValueError, match=r"forms\[1\].*same record as forms\[0\]"):
        build_odm(load_protocol(IXCELL), _data(forms))


def test_an_unknown_status_or_repeat_below_one_is_refused_by_field():
    with pytest.raises(ValidationError, match="status"):
        ExportForm(subject_id="S", visit_id="v", form="mrs", values={}, status="final")
    with pytest.raises(ValidationError, match="repeat"):
        ExportForm(subject_id="S", visit_id="v", form="mrs", values={}, repeat=0)
