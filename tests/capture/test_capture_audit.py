"""The audit trail through real capture work: chain verification (edited, deleted, inserted event),
`trialkit audit verify`, logins and permission changes, and the audit views."""

import json

import pytest
from audit_insider import insider_sql
from capture_cases import NIHSS_7, NOW
from django.db import transaction
from typer.testing import CliRunner

from trialkit.server.audit.chain import event_mac
from trialkit.server.audit.keys import keyring
from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.service import verify_chain
from trialkit.server.capture.services import save_form

pytestmark = pytest.mark.django_db(transaction=False)


def _tamper(sql, params=()):
    # What a database administrator could do, and what the chain must reveal.
    insider_sql(sql, params)


@pytest.fixture
def saved_forms(participant, staff):
    coordinator = staff["coordinator"]
    save_form(participant, "month3", "nihss", NIHSS_7, coordinator, complete=True, now=NOW)
    save_form(participant, "month3", "mrs", {"score": 3}, coordinator, complete=True, now=NOW)
    save_form(participant, "month3", "mrs", {"score": 2}, coordinator, complete=True, now=NOW, reason="source check")
    return list(AuditEvent.objects.filter(object_type="form").order_by("seq"))


def _run_verify():
    from trialkit.cli.main import app

    return CliRunner().invoke(app, ["audit", "verify", "--format", "json"])


def test_real_form_saves_verify_and_the_cli_says_so(saved_forms):
    checked, problem = verify_chain()
    assert problem is None and checked == AuditEvent.objects.count()
    result = _run_verify()
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["checked"], out["ok"], out["problem"], out["rows"]) == (checked, True, None, [])


def test_an_edited_form_event_is_found(saved_forms):
    update = saved_forms[-1]
    assert update.action == "form_update"
    # Someone rewrites history: the corrected mRS now claims the original value was 2.
    _tamper("UPDATE audit_auditevent SET before = %s WHERE seq = %s", [json.dumps({"data": {"score": 2}}), update.seq])
    _, problem = verify_chain()
    assert (problem.kind, problem.seq) == ("altered", update.seq)
    result = _run_verify()
    assert result.exit_code == 1
    assert json.loads(result.output)["problem"]["kind"] == "altered"


def test_a_deleted_form_event_is_found(saved_forms):
    create_mrs = saved_forms[1]
    _tamper("DELETE FROM audit_auditevent WHERE seq = %s", [create_mrs.seq])
    _, problem = verify_chain()
    assert (problem.kind, problem.seq) == ("deleted", create_mrs.seq)
    assert _run_verify().exit_code == 1


def test_an_inserted_form_event_is_found(saved_forms):
    target = saved_forms[1].seq
    # A forged event is slipped in before the mRS entry, chained to its predecessor with a valid
    # hash of its own, and the later events renumbered to make room.
    _tamper("UPDATE audit_auditevent SET seq = seq + 1000 WHERE seq >= %s", [target])
    previous = AuditEvent.objects.get(seq=target - 1)
    forged = {f.name: getattr(previous, f.name) for f in AuditEvent._meta.fields if f.name != "id"}
    forged.update(seq=target, action="form_delete", prev_hash=previous.hash, reason="forged")
    forged["hash"] = event_mac(forged, keyring().current)  # an insider who also holds the key
    with transaction.atomic():
        AuditEvent.objects.create(**forged)
    _tamper("UPDATE audit_auditevent SET seq = seq - 999 WHERE seq >= 1000")
    _, problem = verify_chain()
    assert (problem.kind, problem.seq) == ("inserted", target)
    result = _run_verify()
    assert result.exit_code == 1 and json.loads(result.output)["problem"]["kind"] == "inserted"


def test_postgres_refuses_to_rewrite_a_form_event(saved_forms, on_postgres):
    from django.db import DatabaseError

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=saved_forms[0].seq).update(reason="hidden")


def test_text_output_names_the_first_problem(saved_forms):
    from trialkit.cli.main import app

    _tamper("DELETE FROM audit_auditevent WHERE seq = %s", [saved_forms[0].seq])
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"event #{saved_forms[0].seq} deleted" in result.output


def test_logins_and_permission_changes_are_audited(client, ixcell, site, make_user):
    from trialkit.server.accounts.models import Membership

    user = make_user("coordinator", ixcell, site, username="newcomer")
    grant = AuditEvent.objects.get(action="permission_grant", object_type="membership")
    assert grant.after == {"user": "newcomer", "role": "coordinator", "site": site.code}
    membership = Membership.objects.get(user=user)
    membership.role = "investigator"
    membership.save()
    assert AuditEvent.objects.get(action="permission_change").after["role"] == "investigator"
    membership.delete()
    assert AuditEvent.objects.get(action="permission_revoke").before["user"] == "newcomer"
    assert client.post("/accounts/login/", {"username": "newcomer", "password": "pw-for-tests"}).status_code == 302
    assert AuditEvent.objects.filter(action="login", actor="newcomer").count() == 1
    client.logout()
    assert client.post("/accounts/login/", {"username": "newcomer", "password": "wrong"}).status_code == 200
    failed = AuditEvent.objects.get(action="login_failed", object_id=str(user.pk))
    assert failed.after["username"] == "newcomer"
    assert verify_chain()[1] is None


def test_audit_views_list_a_participants_and_a_forms_events(client, participant, staff, saved_forms):
    from trialkit.server.audit.service import record_event

    record_event(
        actor=staff["pharmacist"],
        action="dose_prepared",
        object_type="dose",
        object_id="1",
        after={"arm": "msc"},
        participant_id=participant.pk,
        trial_id=participant.trial_id,
        restricted=True,
    )
    client.force_login(staff["monitor"])
    page = client.get(f"/capture/participants/{participant.pk}/audit/").content.decode()
    assert "form_create" in page and "source check" in page
    assert "dose_prepared" not in page  # restricted: blinded roles never see it
    client.force_login(staff["pharmacist"])
    assert "dose_prepared" in client.get(f"/capture/participants/{participant.pk}/audit/").content.decode()
    client.force_login(staff["monitor"])
    form_id = saved_forms[-1].object_id
    form_page = client.get(f"/capture/forms/{form_id}/audit/").content.decode()
    assert "form_update" in form_page
    assert f'data-seq="{saved_forms[-1].seq}"' in form_page
    assert f'data-seq="{saved_forms[0].seq}"' not in form_page  # the NIHSS form's event is another form's
