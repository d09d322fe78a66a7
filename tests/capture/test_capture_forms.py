"""eCRF saves through the service: validation by the instrument, drafts, scores, reasons, signatures, locks."""

from datetime import timedelta

import pytest
from capture_cases import NIHSS_7, NOW

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import FormRecord, Signature, Visit
from trialkit.server.capture.services import (
    CaptureError,
    FormInvalid,
    delete_form,
    ensure_schedule,
    lock_form,
    save_form,
    sign_form,
    sign_visit,
    unlock_form,
    verify_form,
)

pytestmark = pytest.mark.django_db


def test_schedule_is_created_once_from_the_anchor(participant, make_participant):
    visits = list(Visit.objects.filter(participant=participant))
    assert [v.visit_id for v in visits] == ["screening", "baseline", "day7", "month1", "month3", "month6", "month12"]
    month3 = visits[4]
    assert (month3.earliest.isoformat(), month3.target.isoformat(), month3.latest.isoformat()) == (
        "2026-05-17",
        "2026-05-31",
        "2026-06-14",
    )
    ensure_schedule(participant)
    assert Visit.objects.filter(participant=participant).count() == 7
    assert ensure_schedule(make_participant(anchor=None)) == []


def test_a_complete_nihss_is_scored_and_audited(participant, staff):
    form = save_form(participant, "month3", "nihss", NIHSS_7, staff["coordinator"], complete=True, now=NOW)
    assert form.status == "complete" and form.scores["total"] == 7 and form.version == 1
    event = AuditEvent.objects.get(action="form_create", object_id=str(form.pk))
    assert event.actor == "cora" and event.participant_id == participant.pk
    assert event.before is None and event.after["data"]["5a"] == 2
    visit = Visit.objects.get(participant=participant, visit_id="month3")
    assert visit.done_on == NOW.date()


def test_a_rejected_save_changes_nothing_and_names_the_field(participant, staff):
    save_form(participant, "month3", "nihss", {"1a": 0}, staff["coordinator"], complete=False, now=NOW)
    events = AuditEvent.objects.count()
    with pytest.raises(FormInvalid) as caught:
        save_form(participant, "month3", "nihss", {"1a": 0, "5a": 7}, staff["coordinator"], complete=False, now=NOW)
    assert [(e.item, e.rule) for e in caught.value.errors] == [("5a", "allowed_values")]
    form = FormRecord.objects.get()
    assert form.data == {"1a": 0} and form.version == 1
    assert AuditEvent.objects.count() == events


def test_a_draft_may_miss_items_but_complete_may_not(participant, staff):
    save_form(participant, "month3", "mrs", {}, staff["coordinator"], complete=False, now=NOW)
    with pytest.raises(FormInvalid) as caught:
        save_form(participant, "month3", "mrs", {}, staff["coordinator"], complete=True, now=NOW)
    assert caught.value.as_list() == [{"field": "score", "rule": "required", "message": caught.value.errors[0].message}]


def test_a_form_not_assigned_to_the_visit_is_refused(participant, staff):
    with pytest.raises(CaptureError, match="not assigned to visit 'day7'"):
        save_form(participant, "day7", "mmse", {}, staff["coordinator"], complete=False, now=NOW)


def test_only_data_entry_roles_at_the_site_may_save(participant, staff, make_user, ixcell, other_site):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        save_form(participant, "month3", "mrs", {"score": 2}, staff["monitor"], complete=True, now=NOW)
    elsewhere = make_user("coordinator", ixcell, other_site)
    with pytest.raises(PermissionDenied):
        save_form(participant, "month3", "mrs", {"score": 2}, elsewhere, complete=True, now=NOW)


def test_changing_a_complete_form_needs_a_reason_and_clears_verification(participant, staff):
    form = save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    verify_form(form, staff["monitor"], now=NOW)
    with pytest.raises(FormInvalid, match="needs a reason"):
        save_form(participant, "month3", "mrs", {"score": 3}, staff["coordinator"], complete=True, now=NOW)
    form = save_form(
        participant,
        "month3",
        "mrs",
        {"score": 3},
        staff["coordinator"],
        complete=True,
        now=NOW + timedelta(hours=1),
        reason="transcription error",
    )
    assert form.version == 2 and form.scores["total"] == 3 and form.verified_at is None
    event = AuditEvent.objects.get(action="form_update")
    assert event.before["data"] == {"score": 2} and event.after["data"] == {"score": 3}
    assert event.reason == "transcription error"


def test_saving_the_same_values_again_writes_nothing(participant, staff):
    save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    n = AuditEvent.objects.count()
    form = save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    assert form.version == 1 and AuditEvent.objects.count() == n


def test_a_change_after_signing_voids_the_form_and_visit_signatures(participant, staff):
    inv = staff["investigator"]
    form = save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    with pytest.raises(CaptureError, match="password is not correct"):
        sign_form(form, inv, password="wrong", now=NOW)
    assert not Signature.objects.exists()
    sign_form(form, inv, password="pw-for-tests", now=NOW)
    sign_visit(form.visit, inv, password="pw-for-tests", now=NOW)
    assert Signature.objects.filter(voided_at__isnull=True).count() == 2
    with pytest.raises(FormInvalid, match="signed form needs a reason"):
        save_form(participant, "month3", "mrs", {"score": 1}, staff["coordinator"], complete=True, now=NOW)
    assert Signature.objects.filter(voided_at__isnull=True).count() == 2
    save_form(
        participant,
        "month3",
        "mrs",
        {"score": 1},
        staff["coordinator"],
        complete=True,
        now=NOW,
        reason="assessor corrected",
    )
    signatures = list(Signature.objects.all())
    assert all(s.voided_at == NOW and s.void_reason == "form changed: assessor corrected" for s in signatures)
    assert AuditEvent.objects.filter(action="signature_void").count() == 2


def test_a_visit_is_signed_only_when_all_its_forms_are_complete(participant, staff):
    save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    save_form(participant, "month3", "nihss", {"1a": 0}, staff["coordinator"], complete=False, now=NOW)
    visit = Visit.objects.get(participant=participant, visit_id="month3")
    with pytest.raises(CaptureError, match="complete these forms before signing the visit: nihss"):
        sign_visit(visit, staff["investigator"], password="pw-for-tests", now=NOW)


def test_only_an_investigator_signs(participant, staff):
    from django.core.exceptions import PermissionDenied

    form = save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    with pytest.raises(PermissionDenied):
        sign_form(form, staff["coordinator"], password="pw-for-tests", now=NOW)


def test_a_locked_form_refuses_changes_until_unlocked(participant, staff):
    form = save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    with pytest.raises(CaptureError, match="needs a reason"):
        lock_form(form, staff["data_manager"], reason="", now=NOW)
    lock_form(form, staff["data_manager"], reason="database lock for interim analysis", now=NOW)
    with pytest.raises(CaptureError, match="locked"):
        save_form(
            participant,
            "month3",
            "mrs",
            {"score": 3},
            staff["coordinator"],
            complete=True,
            now=NOW,
            reason="late correction",
        )
    with pytest.raises(CaptureError, match="locked"):
        delete_form(form, staff["coordinator"], reason="duplicate", now=NOW)
    unlock_form(form, staff["data_manager"], reason="query 12 needs a correction", now=NOW)
    form = save_form(
        participant,
        "month3",
        "mrs",
        {"score": 3},
        staff["coordinator"],
        complete=True,
        now=NOW,
        reason="late correction",
    )
    assert form.data == {"score": 3}


def test_delete_is_soft_and_needs_a_reason(participant, staff):
    form = save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    with pytest.raises(CaptureError, match="needs a reason"):
        delete_form(form, staff["coordinator"], reason=" ", now=NOW)
    delete_form(form, staff["coordinator"], reason="entered for the wrong participant", now=NOW)
    form.refresh_from_db()
    assert form.deleted_at == NOW and form.data == {"score": 2}
    event = AuditEvent.objects.get(action="form_delete")
    assert event.before["deleted"] is False and event.after["deleted"] is True


def test_verification_is_for_monitors_and_complete_forms(participant, staff):
    from django.core.exceptions import PermissionDenied

    draft = save_form(participant, "month3", "mrs", {}, staff["coordinator"], complete=False, now=NOW)
    with pytest.raises(CaptureError, match="only a complete form"):
        verify_form(draft, staff["monitor"], now=NOW)
    with pytest.raises(PermissionDenied):
        verify_form(draft, staff["coordinator"], now=NOW)


def test_every_protocol_form_has_an_instrument(trials):
    """The form-name map resolves every form of both seed protocols."""
    from trialkit.server.capture.form_names import instrument_for

    for trial in trials.values():
        for visit in trial.protocol.schedule.visits:
            for form in visit.forms:
                assert instrument_for(form).items, (visit.id, form)


def test_repeating_forms_take_several_records_per_visit(participant, staff):
    crp = {"sample_date": "2026-05-30", "biomarker": "hs-CRP", "specimen": "serum"}
    nfl = {"sample_date": "2026-05-30", "biomarker": "NfL", "specimen": "plasma"}
    save_form(participant, "month3", "biomarkers", crp, staff["coordinator"], complete=False, now=NOW, repeat=1)
    save_form(participant, "month3", "biomarkers", nfl, staff["coordinator"], complete=False, now=NOW, repeat=2)
    assert [f.data["biomarker"] for f in FormRecord.objects.filter(instrument="biomarkers")] == ["hs-CRP", "NfL"]
    with pytest.raises(CaptureError, match="entered once per visit"):
        save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW, repeat=2)
