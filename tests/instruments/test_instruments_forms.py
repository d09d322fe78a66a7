"""Case report forms: generic rendering data, cross-item rules (ICH E2A, CTCAE v5, dates)."""

import pytest

from trialkit.instruments import ANTITHROMBOTIC_CLASSES, InstrumentError, get_instrument, list_instruments

PROTOCOL_FORMS = {
    "demographics",
    "stroke_history",
    "medical_history",
    "con_meds",
    "vital_signs",
    "labs",
    "serology",
    "pregnancy",
    "imaging",
    "biomarkers",
    "adverse_event",
    "nihss",
    "mrs",
    "barthel",
    "fma_ue",
    "fma_le",
    "mmse",
}

AE = {
    "term": "Headache",
    "onset_date": "2024-03-01",
    "resolution_date": "2024-03-03",
    "ctcae_grade": 1,
    "serious": False,
    "relatedness": "possible",
    "expectedness": "expected",
    "action_taken": "dose_not_changed",
    "outcome": "recovered",
}


def test_every_form_the_seed_protocols_name_exists():
    """protocols/*.yaml visits list these forms."""
    assert {i.name for i in list_instruments()} >= PROTOCOL_FORMS


def test_every_item_has_a_type_and_a_label_for_a_generated_form():
    for inst in list_instruments():
        for item in inst.items:
            data = item.to_dict()
            assert data["type"] in {"integer", "number", "choice", "date", "text", "boolean"}
            assert data["label"]
            if data["type"] == "choice":
                assert data["choices"]


def test_a_complete_adverse_event_is_valid_and_unscored():
    scored = get_instrument("adverse_event").score(AE)
    assert scored.total is None
    assert scored.values["onset_date"].isoformat() == "2024-03-01"


def test_resolution_cannot_precede_onset():
    errors = get_instrument("adverse_event").validate({**AE, "resolution_date": "2024-02-28"})
    assert [(e.item, e.rule) for e in errors] == [("resolution_date", "date_order")]


def test_a_ticked_seriousness_criterion_makes_the_event_serious():
    """ICH E2A II.B: an AE meeting any criterion is serious; a serious AE meets one."""
    ae = get_instrument("adverse_event")
    errors = ae.validate({**AE, "sae_hospitalization": True})
    assert [(e.item, e.rule) for e in errors] == [("serious", "serious_if_criterion")]
    errors = ae.validate({**AE, "serious": True})
    assert [(e.item, e.rule) for e in errors] == [("serious", "criterion_if_serious")]
    assert ae.validate({**AE, "serious": True, "sae_hospitalization": True, "ctcae_grade": 3}) == []


def test_grade_5_is_a_fatal_outcome():
    """CTCAE v5.0: grade 5 is death related to the AE; ICH E2A: results in death."""
    ae = get_instrument("adverse_event")
    fatal = {**AE, "ctcae_grade": 5, "outcome": "fatal", "serious": True, "sae_death": True}
    assert ae.validate(fatal) == []
    errors = ae.validate({**fatal, "outcome": "recovered"})
    assert ("outcome", "grade5_fatal") in [(e.item, e.rule) for e in errors]
    errors = ae.validate({**fatal, "ctcae_grade": 4})
    assert [(e.item, e.rule) for e in errors] == [("ctcae_grade", "grade5_fatal")]
    with pytest.raises(InstrumentError, match="ctcae_grade = 6"):
        ae.score({**AE, "ctcae_grade": 6})


def test_antiplatelet_and_anticoagulant_are_antithrombotic():
    assert {"antiplatelet", "anticoagulant"} == ANTITHROMBOTIC_CLASSES
    con_meds = get_instrument("con_meds")
    codes = [c.code for c in con_meds.item("med_class").choices]
    assert codes == ["antiplatelet", "anticoagulant", "rehabilitation", "other"]
    record = {"name": "clopidogrel", "med_class": "antiplatelet", "start_date": "2024-01-10", "ongoing": True}
    assert con_meds.validate(record) == []
    errors = con_meds.validate({**record, "ongoing": False})
    assert [(e.item, e.rule) for e in errors] == [("end_date", "required_with")]


def test_vital_signs_catch_unit_and_order_slips():
    vs = get_instrument("vital_signs")
    ok = {"systolic_bp": 142, "diastolic_bp": 86, "heart_rate": 72, "weight_kg": 71.5}
    assert vs.score(ok).values["weight_kg"] == 71.5
    errors = vs.validate({**ok, "weight_kg": 350, "diastolic_bp": 150})
    assert {(e.item, e.rule) for e in errors} == {("weight_kg", "range"), ("diastolic_bp", "diastolic_below_systolic")}
    assert "kg" in next(e for e in errors if e.item == "weight_kg").message


def test_a_woman_of_childbearing_potential_needs_a_negative_or_positive_test_result():
    preg = get_instrument("pregnancy")
    errors = preg.validate({"childbearing_potential": True, "test_done": False})
    assert [(e.item, e.rule) for e in errors] == [("test_done", "test_required_for_wocbp")]
    done = {
        "childbearing_potential": True,
        "test_done": True,
        "test_type": "serum",
        "test_date": "2024-01-02",
        "result": "negative",
    }
    assert preg.validate(done) == []


def test_stroke_history_and_demographics_validate_dates_and_codes():
    sh = get_instrument("stroke_history")
    record = {"stroke_type": "ischemic", "territory": "middle_cerebral", "side": "left", "onset_date": "2024-02-30"}
    errors = sh.validate(record)
    assert [(e.item, e.rule) for e in errors] == [("onset_date", "type")]
    dm = get_instrument("demographics")
    errors = dm.validate({"birth_date": "1950-01-01", "sex": "female", "ethnicity": "UNKNOWN", "race": "ASIAN"})
    assert [(e.item, e.value) for e in errors] == [("sex", "female")]
    assert "allowed: F, M, U" in errors[0].message
