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
