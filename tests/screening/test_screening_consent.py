"""eConsent by version: the version in effect is recorded with its language, signer, witness and time;
the signed copy is a PDF of exactly what was signed, for the site's staff only; an amendment approved
by the ethics committee blocks the forms it names until the participant re-consents; a withdrawal of
consent blocks further data entry and leaves the end of participation alone."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from auth_support import api_token
from django.core.exceptions import PermissionDenied
from pypdf import PdfReader

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import FormRecord
from trialkit.server.capture.services import ConsentRequired, end_participation, ensure_schedule, save_form
from trialkit.server.participants.models import Consent, Participant, ScreeningRecord
from trialkit.server.screening import services

BEFORE_V2 = date(2026, 3, 1)  # IxCell version 1.0 is in effect (version 2.0: approved 2026-05-01)
AFTER_V2 = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
CRP = {"sample_date": "2026-06-14", "biomarker": "hs-CRP", "specimen": "serum"}


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def ix_site(ixcell):
    return ixcell.sites.order_by("code").first()


@pytest.fixture
def ix_other_site(ixcell):
    return ixcell.sites.order_by("code").last()


@pytest.fixture
def xia(make_user, ixcell, ix_site):
    return make_user("coordinator", ixcell, ix_site, username="xia")


def _record(trial, site, actor, on=BEFORE_V2) -> ScreeningRecord:
    return services.create_screening(trial, site, actor, on)


def _enrolled(trial, site, actor, *, consent_on=BEFORE_V2, number="IX-001", **consent) -> Participant:
    """A participant of ``trial`` who consented on ``consent_on`` (the version in effect that day)."""
    record = _record(trial, site, actor, consent_on)
    services.record_consent(record, consent_on, "participant", actor, today=consent_on, **consent)
    ScreeningRecord.objects.filter(pk=record.pk).update(outcome=ScreeningRecord.Outcome.ENROLLED)
    participant = Participant.objects.create(
        trial=trial,
        site=site,
        screening=record,
        participant_number=number,
        status=Participant.Status.TREATED,
        enrolled_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        anchor_date=date(2026, 3, 2),
    )
    ensure_schedule(participant)
    return participant


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _refused(call, field: str, rule: str | None = None) -> services.ScreeningError:
    with pytest.raises(services.ScreeningError) as caught:
        call()
    problem = caught.value.errors[0]
    assert caught.value.status == 422 and problem.field == field, caught.value.as_dict()
    if rule:
        assert problem.rule == rule, caught.value.as_dict()
    return caught.value


# --------------------------------------------------------------------------- consent by version


def test_the_version_in_effect_on_the_day_is_recorded_with_language_signer_time_and_snapshot(ixcell, ix_site, xia):
    before = _record(ixcell, ix_site, xia)
    signed_at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    first = services.record_consent(
        before,
        BEFORE_V2,
        "legal_representative",
        xia,
        today=BEFORE_V2,
        signer_name="李伟",
        language="zh-Hans",
        signed_at=signed_at,
    )
    assert (first.document_version, first.language, first.signed_by, first.signer_name) == (
        "1.0",
        "zh-Hans",
        "legal_representative",
        "李伟",
    )
    assert first.signed_at == signed_at and first.recorded_by == xia and len(first.snapshot_sha256) == 64
    after = _record(ixcell, ix_site, xia, AFTER_V2.date())
    second = services.record_consent(after, AFTER_V2.date(), "participant", xia, today=AFTER_V2.date())
    assert (second.document_version, second.language) == ("2.0", "en")
    event = AuditEvent.objects.get(action="consent_record", object_id=str(first.pk))
    assert event.after["document_version"] == "1.0" and event.after["language"] == "zh-Hans"
    assert event.after["snapshot_sha256"] == first.snapshot_sha256


def test_unknown_unapproved_and_superseded_versions_are_refused_and_nothing_is_written(ixcell, ix_site, xia):
    record = _record(ixcell, ix_site, xia)
    sign = services.record_consent
    _refused(
        lambda: sign(record, BEFORE_V2, "participant", xia, today=BEFORE_V2, document_version="9.9"),
        "document_version",
        "known_version",
    )
    # Version 2.0 exists but the ethics committee approved it only on 2026-05-01.
    error = _refused(
        lambda: sign(record, BEFORE_V2, "participant", xia, today=BEFORE_V2, document_version="2.0"),
        "document_version",
        "approved",
    )
    assert "2026-05-01" in error.message
    late = _record(ixcell, ix_site, xia, AFTER_V2.date())
    error = _refused(
        lambda: sign(late, AFTER_V2.date(), "participant", xia, today=AFTER_V2.date(), document_version="1.0"),
        "document_version",
        "in_effect",
    )
    assert "superseded by version 2.0" in error.message
    # Before the first approval there is nothing to sign.
    early = _record(ixcell, ix_site, xia, date(2024, 1, 2))
    _refused(lambda: sign(early, date(2024, 1, 2), "participant", xia, today=BEFORE_V2), "consent_date", "approved")
    _refused(lambda: sign(record, BEFORE_V2, "participant", xia, today=BEFORE_V2, language="fr"), "language")
    _refused(
        lambda: sign(record, BEFORE_V2 + timedelta(days=1), "participant", xia, today=BEFORE_V2),
        "consent_date",
        "not_future",
    )
    assert not Consent.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="consent_").exists()


def test_only_the_signers_the_trial_allows_may_sign(ixcell, assist, ix_site, xia, make_user):
    record = _record(ixcell, ix_site, xia)
    for signer in ("spouse", "legal_guardian"):  # IxCell: the participant or a legal representative
        _refused(
            lambda: services.record_consent(record, BEFORE_V2, signer, xia, today=BEFORE_V2, signer_name="Wang Fang"),
            "signed_by",
            "allowed_values",
        )
    site = assist.sites.get(code="assist-01")
    cora = make_user("coordinator", assist, site)
    assist_record = services.create_screening(assist, site, cora, BEFORE_V2)
    _refused(
        lambda: services.record_consent(
            assist_record, BEFORE_V2, "legal_representative", cora, today=BEFORE_V2, signer_name="Zhao Lei"
        ),
        "signed_by",
    )
    spouse = services.record_consent(assist_record, BEFORE_V2, "spouse", cora, today=BEFORE_V2, signer_name="Zhao Li")
    assert spouse.document_version == "1.0"


def test_a_signer_who_cannot_read_needs_an_impartial_witness(ixcell, ix_site, xia):
    record = _record(ixcell, ix_site, xia)
    sign = services.record_consent
    _refused(
        lambda: sign(record, BEFORE_V2, "participant", xia, today=BEFORE_V2, unable_to_read=True),
        "witness_name",
        "required",
    )
    _refused(
        lambda: sign(
            record,
            BEFORE_V2,
            "legal_representative",
            xia,
            today=BEFORE_V2,
            signer_name="Li Wei",
            unable_to_read=True,
            witness_name="li wei",
        ),
        "witness_name",
        "impartial",
    )
    assert not Consent.objects.exists()
    consent = sign(
        record, BEFORE_V2, "participant", xia, today=BEFORE_V2, unable_to_read=True, witness_name="Chen Jing"
    )
    assert consent.witness_name == "Chen Jing" and consent.unable_to_read


# --------------------------------------------------------------------------- the PDF snapshot


def test_the_snapshot_holds_the_text_of_the_version_the_signer_and_the_witness(ixcell, ix_site, xia):
    record = _record(ixcell, ix_site, xia)
    consent = services.record_consent(
        record,
        BEFORE_V2,
        "participant",
        xia,
        today=BEFORE_V2,
        unable_to_read=True,
        witness_name="Chen Jing",
        signed_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )
    _consent, data = services.consent_snapshot(xia, ixcell, consent.pk)
    text = _pdf_text(data)
    assert "IxCell informed consent form, version 1.0" in text
    assert "Version 1.0 (en), approved on 2024-03-18" in text
    assert "human umbilical cord mesenchymal stem cells" in text
    assert "Chen Jing" in text and "Participant" in text and "2026-03-01 09:30:00" in text
    assert "biomarkers (hs-CRP" not in text  # version 2.0's new paragraph is not in what was signed


def test_the_chinese_snapshot_renders_with_the_builtin_cid_font(ixcell, ix_site, xia):
    record = _record(ixcell, ix_site, xia, AFTER_V2.date())
    consent = services.record_consent(
        record,
        AFTER_V2.date(),
        "legal_representative",
        xia,
        today=AFTER_V2.date(),
        signer_name="李伟",
        language="zh-Hans",
    )
    _consent, data = services.consent_snapshot(xia, ixcell, consent.pk)
    assert b"STSong-Light" in data and b"FontFile" not in data  # the font is named, no font file embedded
    text = _pdf_text(data)
    assert "IxCell 知情同意书，第 2.0 版" in text and "李伟" in text
    assert "神经丝轻链" in text  # version 2.0's paragraph on biomarkers, in Chinese


def test_only_the_site_s_staff_download_the_signed_copy(client, ixcell, ix_site, ix_other_site, xia, make_user):
    record = _record(ixcell, ix_site, xia)
    consent = services.record_consent(record, BEFORE_V2, "participant", xia, today=BEFORE_V2)
    investigator = make_user("investigator", ixcell, ix_site)
    url = f"/screening/{ixcell.nct_id}/{record.screening_number}/consent/{consent.pk}/pdf/"
    for allowed in (xia, investigator):
        client.force_login(allowed)
        answer = client.get(url)
        assert answer.status_code == 200 and answer["Content-Type"] == "application/pdf"
        assert answer.content.startswith(b"%PDF") and answer["Cache-Control"] == "no-store"
    refused = [
        make_user("coordinator", ixcell, ix_other_site),
        make_user("sponsor_admin", ixcell),
        make_user("monitor", ixcell, ix_other_site),
        make_user("monitor", ixcell, ix_site),  # reads the record, but the signed copy is the site's
        make_user("data_manager", ixcell),
    ]
    for user in refused:
        client.force_login(user)
        assert client.get(url).status_code in (403, 404), user.username
        with pytest.raises((PermissionDenied, services.ScreeningError)):
            services.consent_snapshot(user, ixcell, consent.pk)
        client.logout()
        api = client.get(f"/api/screening/{ixcell.nct_id}/consents/{consent.pk}/pdf", **api_token(user, "read"))
        assert api.status_code in (403, 404) and "error" in api.json()
    client.logout()
    answer = client.get(f"/api/screening/{ixcell.nct_id}/consents/{consent.pk}/pdf", **api_token(xia, "read"))
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF"), answer.content[:300]


# --------------------------------------------------------------------------- re-consent


def test_an_approved_amendment_blocks_the_forms_it_names_until_re_consent(client, ixcell, ix_site, xia):
    participant = _enrolled(ixcell, ix_site, xia)
    with pytest.raises(ConsentRequired) as caught:
        save_form(participant, "month3", "biomarkers", CRP, xia, complete=False, now=AFTER_V2)
    assert "version 2.0" in str(caught.value) and "signed version 1.0" in str(caught.value)
    assert not FormRecord.objects.filter(instrument="biomarkers").exists()
    # Forms the amendment does not name are still entered.
    assert save_form(participant, "month1", "mrs", {}, xia, complete=False, now=AFTER_V2).version == 1
    # The API refuses the same way, in the error contract, naming the version.
    api = client.post(
        f"/api/capture/participants/{participant.pk}/forms",
        json.dumps({"visit_id": "month3", "instrument": "biomarkers", "values": CRP}),
        content_type="application/json",
        **api_token(xia),
    )
    assert api.status_code == 409 and "version 2.0" in api.json()["error"]
    assert api.json()["errors"][0]["field"] == "consent" and api.json()["errors"][0]["rule"] == "reconsent_required"
    # The form page says why before anyone types, and links to the consent page.
    client.force_login(xia)
    page = client.get(f"/capture/participants/{participant.pk}/visits/month3/forms/biomarkers/").content.decode()
    consent_url = f"/screening/{ixcell.nct_id}/{participant.screening.screening_number}/informed-consent/"
    assert 'id="consent-block"' in page and "version 2.0" in page and consent_url in page
    timeline = client.get(f"/capture/participants/{participant.pk}/").content.decode()
    assert 'id="reconsent-needed"' in timeline
    # Re-consent at the visit: version 2.0, then the form saves.
    again = services.record_consent(
        participant.screening, AFTER_V2.date(), "participant", xia, today=AFTER_V2.date(), language="zh-Hans"
    )
    assert again.document_version == "2.0"
    event = AuditEvent.objects.get(action="consent_reconsent")
    assert event.participant_id == participant.pk and event.after["previous_version"] == "1.0"
    form = save_form(participant, "month3", "biomarkers", CRP, xia, complete=False, now=AFTER_V2)
    assert form.version == 1 and form.data["biomarker"] == "hs-CRP"


def test_the_block_does_not_hold_before_the_amendment_is_approved(ixcell, ix_site, xia):
    participant = _enrolled(ixcell, ix_site, xia)
    april = datetime(2026, 4, 20, 10, tzinfo=UTC)
    crp = {**CRP, "sample_date": "2026-04-20"}
    assert save_form(participant, "day7", "biomarkers", crp, xia, complete=False, now=april).version == 1


# --------------------------------------------------------------------------- withdrawal


def test_withdrawal_blocks_data_entry_and_leaves_the_end_of_participation_to_its_own_workflow(
    client, ixcell, ix_site, xia
):
    participant = _enrolled(ixcell, ix_site, xia, consent_on=AFTER_V2.date() - timedelta(days=30))
    save_form(participant, "month3", "mrs", {}, xia, complete=False, now=AFTER_V2)
    withdrawn = services.withdraw_consent(
        participant.screening,
        xia,
        withdrawn_on=AFTER_V2.date(),
        scope="no_further_contact",
        reason="moved away",
        today=AFTER_V2.date(),
        now=AFTER_V2,
    )
    assert (withdrawn.withdrawal_scope, withdrawn.withdrawal_recorded_by, withdrawn.withdrawal_reason) == (
        "no_further_contact",
        xia,
        "moved away",
    )
    participant.refresh_from_db()
    assert participant.status == Participant.Status.TREATED and participant.ended_on is None
    assert AuditEvent.objects.filter(action="consent_withdraw", participant_id=participant.pk).exists()
    for form in ("mrs", "vital_signs"):
        with pytest.raises(ConsentRequired, match="withdrawn"):
            save_form(participant, "month3", form, {}, xia, complete=False, now=AFTER_V2 + timedelta(hours=1))
    assert FormRecord.objects.filter(participant=participant).count() == 1  # the data already collected stay
    client.force_login(xia)
    timeline = client.get(f"/capture/participants/{participant.pk}/").content.decode()
    assert 'id="consent-withdrawn"' in timeline and "No further contact" in timeline
    # Ending the participation is its own step, still open and still recorded separately.
    ended = end_participation(
        participant, xia, outcome="withdrawn", ended_on=AFTER_V2.date(), reason="withdrew consent", now=AFTER_V2
    )
    assert ended.ended_on == AFTER_V2.date()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scope": "everything"}, "scope"),
        ({"withdrawn_on": "2999-01-01"}, "withdrawn_on"),
        ({"withdrawn_on": ""}, "withdrawn_on"),
        ({"reason": "moved\x00away"}, "reason"),
        ({"reason": "x" * 10_000}, "reason"),
    ],
)
def test_a_bad_withdrawal_names_its_field_and_writes_nothing(client, ixcell, ix_site, xia, change, field):
    participant = _enrolled(ixcell, ix_site, xia)
    number = participant.screening.screening_number
    body = {"withdrawn_on": "2026-06-01", "scope": "no_further_data", "reason": "", **change}
    client.force_login(xia)
    page = client.post(f"/screening/{ixcell.nct_id}/{number}/consent/withdraw/", body)
    assert page.status_code in (400, 422) and "Traceback" not in page.content.decode()
    api = client.post(
        f"/api/screening/{ixcell.nct_id}/records/{number}/consent/withdraw",
        json.dumps(body),
        content_type="application/json",
        **api_token(xia),
    )
    assert api.status_code == 422, api.content
    assert field in {e["field"] for e in api.json()["errors"]} or field in api.json()["error"]
    assert not Consent.objects.filter(withdrawn_on__isnull=False).exists()
    assert not AuditEvent.objects.filter(action="consent_withdraw").exists()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"signer_name": "Li\x00Wei"}, "signer_name"),
        ({"signer_name": "L" * 10_000}, "signer_name"),
        ({"witness_name": "W" * 10_000}, "witness_name"),
        ({"witness_name": "Chen\x00Jing", "unable_to_read": True}, "witness_name"),
        ({"consent_date": ""}, "consent_date"),
        ({"consent_date": "2999-01-01"}, "consent_date"),
        ({"signed_by": ""}, "signed_by"),
        ({"document_version": "v\x00"}, "document_version"),
        ({"language": "klingon"}, "language"),
        ({"unable_to_read": "perhaps"}, "unable_to_read"),
    ],
)
def test_bad_consent_input_names_its_field_and_writes_nothing(client, ixcell, ix_site, xia, change, field):
    record = _record(ixcell, ix_site, xia, date(2026, 3, 1))
    body = {"consent_date": "2026-03-01", "signed_by": "legal_representative", "signer_name": "Li Wei", **change}
    api = client.post(
        f"/api/screening/{ixcell.nct_id}/records/{record.screening_number}/consent",
        json.dumps(body),
        content_type="application/json",
        **api_token(xia),
    )
    assert api.status_code == 422, api.content
    fields = {e["field"] for e in api.json().get("errors", [])}
    assert any(f == field or f.endswith(f".{field}") for f in fields), api.json()
    client.force_login(xia)
    page = client.post(
        f"/screening/{ixcell.nct_id}/{record.screening_number}/consent/",
        {k: ("true" if v is True else v) for k, v in body.items()},
    )
    assert page.status_code in (400, 422) and "Traceback" not in page.content.decode()
    assert not Consent.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="consent_").exists()


def test_the_participant_reads_the_document_in_their_language(client, ixcell, ix_site, xia):
    record = _record(ixcell, ix_site, xia)
    client.force_login(xia)
    base = f"/screening/{ixcell.nct_id}/{record.screening_number}/informed-consent/document/"
    chinese = client.get(base + "?version=2.0&lang=zh-Hans").content.decode()
    assert 'lang="zh-Hans"' in chinese and "IxCell 知情同意书，第 2.0 版" in chinese and "神经丝轻链" in chinese
    english = client.get(base + "?version=1.0&lang=en").content.decode()
    assert "IxCell informed consent form, version 1.0" in english
    assert client.get(base + "?version=9.9&lang=en").status_code == 404
    assert client.get(base + "?version=1.0&lang=fr").status_code == 404


def test_two_processes_writing_one_snapshot_name_do_not_meet_in_a_temporary_file(ixcell, ix_site, xia, monkeypatch):
    """Two writers of the same file name (two test databases' consent 3 in one data folder did): each
    writes its own temporary file, both renames succeed, and the file is one whole PDF."""
    import os
    import threading

    from trialkit.server.participants import snapshot

    record = _record(ixcell, ix_site, xia)
    consent = services.record_consent(record, BEFORE_V2, "participant", xia, today=BEFORE_V2)
    document = ixcell.protocol.consent.document(consent.document_version, consent.language)
    both_written = threading.Barrier(2, timeout=10)
    real_fsync = os.fsync

    def fsync_then_wait(descriptor):  # both writers have written before either renames
        real_fsync(descriptor)
        both_written.wait()

    monkeypatch.setattr(snapshot.os, "fsync", fsync_then_wait)
    results, errors = [], []

    def write():
        try:
            results.append(snapshot.store(consent, document))
        except Exception as exc:  # the test reports what a writer met
            errors.append(exc)

    writers = [threading.Thread(target=write) for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert not errors, errors
    path, digest = results[0]
    assert results[1][0] == path
    folder = snapshot.consents_dir() / ixcell.nct_id
    assert sorted(p.name for p in folder.iterdir()) == [f"consent-{consent.pk}.pdf"]  # no temporary left
    data = (folder / f"consent-{consent.pk}.pdf").read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest and PdfReader(io.BytesIO(data)).pages
