"""One audit chain per trial (and the global chain 0): trials' writes do not wait for each other,
each transaction locks a chain once, and tampering is found in whichever chain it is."""

import threading

import pytest
from audit_insider import insider_sql
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.service import batch, chain_head, record_event, verify_chains

pytestmark = pytest.mark.django_db


def _event(trial_id, n=0):
    return record_event(
        actor=None,
        action="test_write",
        object_type="thing",
        object_id=str(n),
        after={"n": n},
        trial_id=trial_id,
    )


def _three_chains(trials):
    a, b = trials["NCT07197606"].pk, trials["NCT04590118"].pk
    start = {chain: chain_head(chain)[0] for chain in (a, b, 0)}
    for n in range(4):
        for chain in (a, b, None):
            _event(chain, n)
    return a, b, start


def _problems():
    _checked, problems = verify_chains()
    return {(p.chain, p.kind, p.seq) for p in problems}


def test_events_go_to_their_trials_chain_numbered_from_one(trials):
    a, b, start = _three_chains(trials)
    for chain in (a, b, 0):
        seqs = list(AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, start[chain] + 5))
    assert set(AuditEvent.objects.filter(chain=a).values_list("trial_id", flat=True)) == {a}
    assert _problems() == set()


@pytest.mark.parametrize("which", ["a", "b", "global"])
def test_an_edited_event_is_found_in_its_chain_only(trials, which):
    a, b, start = _three_chains(trials)
    chain = {"a": a, "b": b, "global": 0}[which]
    seq = start[chain] + 2
    insider_sql("UPDATE audit_auditevent SET after = %s WHERE chain = %s AND seq = %s", ['{"n": 99}', chain, seq])
    assert _problems() == {(chain, "altered", seq)}


@pytest.mark.parametrize("which", ["a", "b", "global"])
def test_a_deleted_event_is_found_in_its_chain_only(trials, which):
    a, b, start = _three_chains(trials)
    chain = {"a": a, "b": b, "global": 0}[which]
    seq = start[chain] + 2
    insider_sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq = %s", [chain, seq])
    assert _problems() == {(chain, "deleted", seq)}


def test_an_event_moved_to_another_chain_is_found(trials):
    # The chain is part of the MAC: relabelling the last event of A as B's next one is found in B
    # (its MAC no longer matches), and A's checkpoint would miss it.
    a, b, _start = _three_chains(trials)
    head_a, head_b = chain_head(a)[0], chain_head(b)
    insider_sql(
        "UPDATE audit_auditevent SET chain = %s, seq = %s, prev_hash = %s WHERE chain = %s AND seq = %s",
        [b, head_b[0] + 1, head_b[1], a, head_a],
    )
    assert _problems() == {(b, "altered", head_b[0] + 1)}


def test_a_trial_chains_tail_removed_is_found_against_its_checkpoint(trials, tmp_path):
    from trialkit.server.audit.checkpoint import check_against_checkpoints, write_checkpoint

    _a, b, _start = _three_chains(trials)
    path = tmp_path / "checkpoints.jsonl"
    write_checkpoint(path)
    head = chain_head(b)[0]
    insider_sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq = %s", [b, head])
    assert _problems() == set()  # what is left of every chain is intact ...
    problems = check_against_checkpoints(path).problems
    assert len(problems) == 1 and f"event #{head} of trial {b}'s chain" in problems[0]  # ... but B is short


def test_the_kept_head_is_dropped_with_a_rolled_back_savepoint(trials):
    # The head kept for the transaction must not point at an event a savepoint rollback removed.
    a = trials["NCT07197606"].pk
    with transaction.atomic():
        _event(a, 1)
        try:
            with transaction.atomic():
                _event(a, 2)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        _event(a, 3)
    assert list(AuditEvent.objects.filter(chain=a, object_type="thing").values_list("object_id", flat=True)) == [
        "1",
        "3",
    ]
    assert _problems() == set()


def test_a_batch_appends_once_and_drops_events_of_a_rolled_back_savepoint(trials):
    a, b = trials["NCT07197606"].pk, trials["NCT04590118"].pk
    with transaction.atomic(), CaptureQueriesContext(connection) as captured, batch():
        _event(a, 1)
        _event(b, 1)
        try:
            with transaction.atomic():
                _event(a, 2)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        _event(a, 3)
        assert AuditEvent.objects.filter(object_type="thing").count() == 0  # kept until the end
    inserts = [q for q in captured.captured_queries if q["sql"].startswith('INSERT INTO "audit_auditevent"')]
    assert len(inserts) == 1
    assert list(AuditEvent.objects.filter(chain=a, object_type="thing").values_list("object_id", flat=True)) == [
        "1",
        "3",
    ]
    assert _problems() == set()


@pytest.mark.django_db(transaction=True)  # the transaction below is the outermost one
def test_a_transaction_locks_each_chain_once(trials, on_postgres):
    a, b = trials["NCT07197606"].pk, trials["NCT04590118"].pk
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        for n in range(5):
            _event(a, n)
            _event(b, n)
    locks = [q for q in captured.captured_queries if "pg_advisory_xact_lock" in q["sql"]]
    assert len(locks) == 2
    assert _problems() == set()


@pytest.mark.django_db(transaction=True)
def test_a_write_to_trial_b_completes_while_trial_a_is_being_written(trials, on_postgres):
    """Two connections: one holds a transaction open after writing trial A; a write to trial B
    completes meanwhile, and a second write to trial A waits (the control)."""
    from django.db import connections

    a, b = trials["NCT07197606"].pk, trials["NCT04590118"].pk
    written, release, errors = threading.Event(), threading.Event(), []

    def holder():
        try:
            with transaction.atomic():
                _event(a, 1)
                written.set()
                release.wait(30)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert written.wait(30)

        def write_with_timeout(trial_id):
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '2s'")
                _event(trial_id, 2)

        write_with_timeout(b)  # not blocked by A's open transaction
        assert AuditEvent.objects.filter(chain=b, object_id="2").exists()
        from django.db import OperationalError

        with pytest.raises(OperationalError, match="lock timeout"):
            write_with_timeout(a)  # the same trial's chain is held: this one waits
    finally:
        release.set()
        thread.join(30)
    assert not errors, errors
    assert _problems() == set()


def test_a_whole_chain_relabelled_as_another_trials_is_found(trials):
    # The chain id is in every MAC outside chain 0: a trial's events cannot be passed off as
    # another (here: an unused) trial's chain, even with their numbers and links intact.
    a, _b, _start = _three_chains(trials)
    other = a + 1000
    insider_sql("UPDATE audit_auditevent SET chain = %s, trial_id = trial_id WHERE chain = %s", [other, a])
    assert _problems() == {(other, "altered", 1)}
