"""One randomization's cost: the schedule is placed with one insert, the audit chain is locked and
its head read once, so the number of queries stays small (it was ~128 before)."""

from collections import Counter

from allocation_cases import NOW
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trialkit.server.allocation.services import randomize
from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import Visit

MAX_QUERIES = 36


def test_one_randomization_stays_under_its_query_bound(generated, trials, make_user, enroll):
    trial = trials["NCT07197606"]
    coordinator = make_user("coordinator", trial, site=trial.sites.get(code="ixcell-01"))
    first, participant = enroll(trial, "ixcell-01"), enroll(trial, "ixcell-01")
    randomize(first, coordinator, now=NOW)  # warm caches (protocol, permissions) as a running server has them
    events_before = AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as captured:
        randomize(participant, coordinator, now=NOW)
    kinds = Counter(q["sql"].split()[0] for q in captured.captured_queries)
    print(f"{len(captured)} queries: {dict(kinds)}")
    assert len(captured) <= MAX_QUERIES, "\n".join(q["sql"][:160] for q in captured.captured_queries)
    # Nothing left out: the schedule is there and audited row by row.
    visits = Visit.objects.filter(participant=participant)
    assert visits.count() == len(trial.protocol.schedule.visits)
    audited = set(
        AuditEvent.objects.filter(object_type="capture_visit", action="row.insert").values_list("object_id", flat=True)
    )
    assert {str(pk) for pk in visits.values_list("pk", flat=True)} <= audited
    assert AuditEvent.objects.count() > events_before
    # Every audit insert of the randomization was a batch or a single row; the chain lock once.
    locks = [q for q in captured.captured_queries if "pg_advisory_xact_lock" in q["sql"]]
    assert len(locks) <= (1 if connection.vendor == "postgresql" else 0)


# Statements a randomization runs while it holds the trial's list lock: the list, the first free slot
# of the stratum with the count of its used slots, the numbers, the participant, and the audit append.
# The rows saved were locked by the randomization, so their audit "before" is not read again
# (``audit.rows.lock_first``), and the sites of the stratum are read before the lock. 7 at the time
# of writing; 13 when the locked rows were read again; 33 when the schedule was placed under the lock.
MAX_UNDER_LIST_LOCK = 7


def test_the_list_lock_is_taken_after_the_schedule_and_held_briefly(generated, trials, make_user, enroll):
    trial = trials["NCT07197606"]
    coordinator = make_user("coordinator", trial, site=trial.sites.get(code="ixcell-01"))
    first, participant = enroll(trial, "ixcell-01"), enroll(trial, "ixcell-01")
    randomize(first, coordinator, now=NOW)
    with CaptureQueriesContext(connection) as captured:
        randomize(participant, coordinator, now=NOW)
    statements = [q["sql"] for q in captured.captured_queries]

    def locks_the_list(sql: str) -> bool:
        # The full row (not the existence check), FOR UPDATE where the database has row locks.
        reads_list = sql.startswith('SELECT "allocation_allocationlist"."id"')
        return reads_list and ("FOR UPDATE" in sql or connection.vendor == "sqlite")

    lock_at = next(i for i, sql in enumerate(statements) if locks_the_list(sql))
    visit_inserts = [i for i, sql in enumerate(statements) if sql.startswith('INSERT INTO "capture_visit"')]
    assert visit_inserts, "the schedule was not placed"
    assert max(visit_inserts) < lock_at, "the schedule is placed while the trial's list is locked"
    under_lock = statements[lock_at:]
    print(f"{len(under_lock)} statements under the list lock")
    assert len(under_lock) <= MAX_UNDER_LIST_LOCK, "\n".join(s[:160] for s in under_lock)
    assert Visit.objects.filter(participant=participant).count() == len(trial.protocol.schedule.visits)
