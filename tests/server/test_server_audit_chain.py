"""The audit chain: every event hash-chained; editing, deleting or inserting one is found."""

import pytest
from audit_insider import insider_sql
from django.db import transaction

from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.service import record_event, verify_chain

pytestmark = pytest.mark.django_db


def _write(n):
    for i in range(n):
        record_event(
            actor=None,
            action="form_save",
            object_type="form",
            object_id=str(i),
            before={"value": i},
            after={"value": i + 1},
            reason="test",
        )


def _raw(sql, params=()):
    # Tampering goes around the ORM, as an attacker with database access would.
    insider_sql(sql, params)


def test_an_untouched_chain_verifies():
    _write(5)
    checked, problem = verify_chain()
    assert problem is None
    assert checked == 5
    assert list(AuditEvent.objects.values_list("seq", flat=True)) == [1, 2, 3, 4, 5]


def test_it_reports_an_edited_event():
    _write(5)
    _raw("UPDATE audit_auditevent SET after = %s WHERE seq = 3", ['{"value": 99}'])
    _, problem = verify_chain()
    assert problem is not None and (problem.kind, problem.seq) == ("altered", 3)


def test_it_reports_a_deleted_event():
    _write(5)
    _raw("DELETE FROM audit_auditevent WHERE seq = 2")
    _, problem = verify_chain()
    assert problem is not None and (problem.kind, problem.seq) == ("deleted", 2)


def test_it_reports_a_deleted_last_event_against_the_checkpoint():
    # The rest of the chain is valid on its own: the checkpoint outside the database is what
    # remembers there was an event #4.
    from trialkit.server.audit.checkpoint import check_against_checkpoints, write_checkpoint

    _write(4)
    write_checkpoint()
    _raw("DELETE FROM audit_auditevent WHERE seq = 4")
    assert verify_chain()[1] is None
    problems = check_against_checkpoints().problems
    assert len(problems) == 1 and "event #4" in problems[0] and "chain ends at #3" in problems[0]


def test_it_reports_an_inserted_event():
    _write(4)
    from trialkit.server.audit.chain import event_mac
    from trialkit.server.audit.keys import keyring

    # Shift events 3 and 4 up and insert a forged event #3 whose own hash is valid.
    _raw("UPDATE audit_auditevent SET seq = seq + 100 WHERE seq >= 3")
    e2 = AuditEvent.objects.get(seq=2)
    forged = {f.name: getattr(e2, f.name) for f in AuditEvent._meta.fields if f.name != "id"}
    forged.update(seq=3, object_id="forged", prev_hash=e2.hash)
    forged["hash"] = event_mac(forged, keyring().current)  # an insider who also holds the key
    AuditEvent.objects.create(**forged)
    _raw("UPDATE audit_auditevent SET seq = seq - 99 WHERE seq >= 100")
    _, problem = verify_chain()
    assert problem is not None and (problem.kind, problem.seq) == ("inserted", 3)


def test_postgres_forbids_update_and_delete(on_postgres):
    from django.db import DatabaseError

    _write(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(reason="changed")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=2).delete()
    assert AuditEvent.objects.get(seq=1).reason == "test"
