"""A row locked with ``rows.lock_first`` keeps its state for its next save in the same transaction,
so the save does not read the row again; the kept state is never used once it may be stale: after
the transaction ends, after a rolled-back savepoint (which releases the lock), or after a first save.

Each case compares the event's "before" with what the row really held, and ``verify_all`` (which
replays the trail against the tables) must find the trail intact."""

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.rows import lock_first
from trialkit.server.audit.verify import verify_all
from trialkit.server.trials.models import Site

pytestmark = pytest.mark.django_db(transaction=True)


def _site(trials) -> Site:
    return trials["NCT07197606"].sites.order_by("code").first()


def _reads_of_site(captured, pk: int) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('SELECT "trials_site"') and f'"trials_site"."id" = {pk}' in q["sql"]
    ]


def _updates(pk: int) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type="trials_site", object_id=str(pk), action="row.update").order_by("seq")
    )


def test_a_locked_row_is_saved_without_being_read_again(trials):
    site = _site(trials)
    old_name = site.name
    with transaction.atomic():
        locked = lock_first(Site.objects.filter(pk=site.pk))
        locked.name = "Locked and renamed"
        with CaptureQueriesContext(connection) as captured:
            locked.save(update_fields=["name"])
    assert _reads_of_site(captured, site.pk) == []
    (event,) = _updates(site.pk)
    assert (event.before, event.after) == ({"name": old_name}, {"name": "Locked and renamed"})
    assert verify_all()["ok"]


def test_the_kept_state_is_not_used_after_the_transaction_ends(trials):
    site = _site(trials)
    with transaction.atomic():
        stale = lock_first(Site.objects.filter(pk=site.pk))  # kept, never saved in this transaction
    with transaction.atomic():
        stale.name = "Saved from a stale instance"
        with CaptureQueriesContext(connection) as captured:
            stale.save(update_fields=["name"])
    assert _reads_of_site(captured, site.pk), "the save trusted a state kept from an ended transaction"
    (event,) = _updates(site.pk)
    assert event.before == {"name": site.name}
    assert verify_all()["ok"]


def test_the_kept_state_is_not_used_after_its_savepoint_rolls_back(trials):
    site = _site(trials)
    with transaction.atomic():
        try:
            with transaction.atomic():
                locked = lock_first(Site.objects.filter(pk=site.pk))
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        locked.name = "After the rollback"
        with CaptureQueriesContext(connection) as captured:
            locked.save(update_fields=["name"])
    assert _reads_of_site(captured, site.pk), "the save trusted a state whose lock was released"
    assert verify_all()["ok"]


def test_the_kept_state_is_used_once(trials):
    site = _site(trials)
    old_name, old_city = site.name, site.city
    with transaction.atomic():
        locked = lock_first(Site.objects.filter(pk=site.pk))
        locked.name = "First save"
        locked.save(update_fields=["name"])
        # Another instance of the same row, saved after the first: its "before" is the first save's result.
        again = Site.objects.get(pk=site.pk)
        again.name, again.city = "Second save", "Elsewhere"
        again.save(update_fields=["name", "city"])
    first, second = _updates(site.pk)
    assert first.before == {"name": old_name}
    assert second.before == {"city": old_city, "name": "First save"}
    assert second.after == {"city": "Elsewhere", "name": "Second save"}
    assert verify_all()["ok"]


def test_states_kept_for_rows_never_saved_do_not_pile_up_on_the_connection(trials):
    """A row locked and not saved (a refusal after the lock) leaves nothing behind once its transaction
    is over: the next lock drops it (a server's connection lives for many requests)."""
    sites = list(Site.objects.order_by("pk"))
    for site in sites:
        with transaction.atomic():
            lock_first(Site.objects.filter(pk=site.pk))
    kept = connections["default"].__dict__.get("_trialkit_locked", {})
    assert list(kept) == [("trials.Site", sites[-1].pk)]
