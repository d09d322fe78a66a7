"""E-signatures show name, time (UTC) and meaning wherever the signed record is shown or exported
(21 CFR 11.50) and are bound to the signed version (11.70); the audit trail reads as people speak."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from capture_cases import NIHSS_7, NOW
from django.db import connection

from trialkit.export.odm import build_odm
from trialkit.server.capture.models import FormRecord, Signature
from trialkit.server.capture.services import open_query, save_form, sign_form, sign_visit
from trialkit.server.capture.signatures import current_signature
from trialkit.server.exports import services as exports

PASSWORD = "pw-for-tests"
MEANING = "I confirm the data are accurate and complete"


@pytest.fixture
def signed_form(participant, staff):
    staff["investigator"].first_name, staff["investigator"].last_name = "Ines", "Investigator"
    staff["investigator"].save()
    form = save_form(participant, "month3", "nihss", NIHSS_7, staff["coordinator"], complete=True, now=NOW)
    sign_form(form, staff["investigator"], password=PASSWORD, now=NOW)
    return form


def _ecrf(client, form) -> str:
    url = f"/capture/participants/{form.participant_id}/visits/{form.visit.visit_id}/forms/{form.instrument}/"
    return client.get(url).content.decode()


def _odm(trial, user) -> str:
    return build_odm(trial.protocol, exports.export_data(trial, user, unblinded=False))


def test_a_signature_shows_the_signers_name_the_utc_time_and_the_meaning(client, signed_form, staff):
    client.force_login(staff["monitor"])
    page = _ecrf(client, signed_form)
    assert "Ines Investigator" in page and "2026-06-15 10:00:00 UTC" in page and MEANING in page
    assert 'data-signature-state="valid"' in page
    timeline = client.get(f"/capture/participants/{signed_form.participant_id}/").content.decode()
    assert "Ines Investigator · 2026-06-15 10:00:00 UTC · " + MEANING in timeline
    api = client.get(f"/api/capture/forms/{signed_form.pk}").json()
    assert api["signed"] and api["signatures"][0]["signer_name"] == "Ines Investigator"
    assert api["signatures"][0]["meaning"] == MEANING and api["signatures"][0]["valid"]


def test_the_odm_export_carries_the_signature_with_the_signer_and_the_meaning(signed_form, staff, ixcell):
    odm = _odm(ixcell, staff["data_manager"])
    assert "<FullName>Ines Investigator</FullName>" in odm and f"<Meaning>{MEANING}</Meaning>" in odm
    assert re.search(r"<Signature>\s*<UserRef UserOID=\"USR\.INES\" />", odm)
    assert "<DateTimeStamp>2026-06-15T10:00:00+00:00</DateTimeStamp>" in odm


def test_a_change_behind_the_applications_back_invalidates_the_signature(client, signed_form, staff, ixcell):
    # Someone with database access changes a value; the signature is not carried over to it.
    with connection.cursor() as cursor:
        data = dict(signed_form.data, **{"5a": 4})
        import json

        cursor.execute("UPDATE capture_formrecord SET data = %s WHERE id = %s", [json.dumps(data), signed_form.pk])
    view = current_signature(form=signed_form)
    assert not view.valid and view.state == "changed"
    client.force_login(staff["monitor"])
    page = _ecrf(client, signed_form)
    assert "signature no longer valid" in page and 'data-signature-state="changed"' in page
    api = client.get(f"/api/capture/forms/{signed_form.pk}").json()
    assert api["signed"] is False and api["signatures"][0]["valid"] is False
    odm = _odm(ixcell, staff["data_manager"])
    assert "<Signature>" not in odm and "no longer valid" in odm


def test_a_change_through_the_application_voids_the_signature_with_its_reason(signed_form, staff, participant):
    save_form(
        participant,
        "month3",
        "nihss",
        dict(NIHSS_7, **{"5a": 3}),
        staff["coordinator"],
        complete=True,
        now=NOW,
        reason="transcription error",
    )
    view = current_signature(form=FormRecord.objects.get(pk=signed_form.pk))
    assert view.state == "voided" and "transcription error" in view.note


def test_a_form_added_to_a_signed_visit_voids_the_visit_signature(participant, staff):
    save_form(participant, "month3", "nihss", NIHSS_7, staff["coordinator"], complete=True, now=NOW)
    visit = FormRecord.objects.get(instrument="nihss").visit
    others = [f for f in visit.forms if f != "nihss"]
    for name in others:
        FormRecord.objects.filter(visit=visit, instrument=name).delete()
    if not others:
        pytest.skip("month3 has one form only")
    sign_visit(visit, staff["investigator"], password=PASSWORD, now=NOW)
    assert current_signature(visit=visit).valid
    save_form(participant, "month3", others[0], {}, staff["coordinator"], complete=False, now=NOW)
    assert not current_signature(visit=visit).valid
    assert Signature.objects.get(visit=visit).voided_at is not None


# --------------------------------------------------------------------------- the readable trail


def test_the_form_trail_names_fields_participants_and_events_in_words(client, participant, staff, signed_form):
    save_form(
        participant,
        "month3",
        "nihss",
        dict(NIHSS_7, **{"5a": 3}),
        staff["coordinator"],
        complete=True,
        now=NOW,
        reason="transcription error",
    )
    open_query(
        FormRecord.objects.get(pk=signed_form.pk), "5a", "Please confirm the left arm score", staff["monitor"], now=NOW
    )
    client.force_login(staff["monitor"])
    page = client.get(f"/capture/forms/{signed_form.pk}/audit/").content.decode()
    assert "5a Motor Arm - Left</span>: 2 → 3" in page  # NIHSS_7 has 5a = 2
    assert "Total score</span>: 7 → 8" in page
    for words in (
        "Form entered",
        "Form changed",
        "Signed",
        "Signature voided",
        "Query opened",
        "transcription error",
        participant.participant_number,
        "NIH Stroke Scale",
    ):
        assert words in page, words
    assert "form_update" not in re.sub(r'data-action="[^"]*"', "", page)
    assert f"participant #{participant.pk}" not in page and f"user:{staff['coordinator'].pk}" not in page
    assert "Cora" in page or "cora" in page


def test_the_participant_trail_uses_the_participant_number(client, participant, staff, signed_form):
    client.force_login(staff["data_manager"])
    page = client.get(f"/capture/participants/{participant.pk}/audit/").content.decode()
    assert (
        f"{participant.participant_number} · NIH Stroke Scale · Month 3" in page
        or f"{participant.participant_number} · NIH Stroke Scale" in page
    )
    assert "printable audit report" in page


@pytest.mark.parametrize("role", ["monitor", "data_manager", "investigator"])
def test_the_printable_report_is_for_monitor_data_manager_and_investigator(
    client, participant, staff, signed_form, role
):
    client.force_login(staff[role])
    page = client.get(f"/capture/participants/{participant.pk}/audit/report/")
    assert page.status_code == 200
    text = page.content.decode()
    # The print layout is the page's own style sheet (a file: the Content-Security-Policy forbids <style>).
    from django.contrib.staticfiles import finders

    assert (
        "trialkit/audit-report.css" in text
        and "@media print" in Path(finders.find("trialkit/audit-report.css")).read_text()
    )
    assert f"participant {participant.participant_number}" in text
    assert "Ines Investigator" in text and MEANING in text and "Form entered" in text


@pytest.mark.parametrize("role", ["coordinator", "sponsor", "pharmacist"])
def test_other_roles_cannot_print_the_report(client, participant, staff, role):
    client.force_login(staff[role])
    assert client.get(f"/capture/participants/{participant.pk}/audit/report/").status_code == 403


def test_an_investigator_of_another_site_cannot_print_the_report(client, participant, ixcell, other_site, make_user):
    client.force_login(make_user("investigator", ixcell, other_site))
    assert client.get(f"/capture/participants/{participant.pk}/audit/report/").status_code == 403


def test_database_ids_in_recorded_values_are_left_out_of_the_changes():
    from trialkit.server.capture.trail import _diff

    changes = _diff({"status": "in_screening"}, {"status": "enrolled", "consent_id": 21, "arm_id": "msc"}, {})
    assert [str(c) for c in changes] == ["Status: in_screening → enrolled", "Arm id: — → msc"]
