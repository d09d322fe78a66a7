"""A row event stores the row as the database holds it, whether it was read back or taken from the
saved instance (``audit.rows._stored_state``), and the trial and site an event is filed under are the
row's own, even when they were looked up earlier in the transaction (``audit.rows._placement``)."""

from datetime import date
from decimal import Decimal

import pytest
from capture_cases import NIHSS_7, NOW
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from trialkit.server.audit import rows
from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.reconcile import reconcile
from trialkit.server.capture.services import save_form
from trialkit.server.participants.models import Participant

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_every_audited_save_of_the_demo_records_what_the_database_holds(monkeypatch):
    """The whole demo (both trials, every stage, every audited table it writes): after each save the
    row is read back and compared, field by field, with the state the event was given."""
    from trialkit.server.demo import load_demo

    original = rows._stored_state
    seen = {"saves": 0, "from_instance": 0, "tables": set()}
    mismatches = []
    real_read = rows._read

    def counting_read(model, pk, using, lock=False):
        if not lock:
            seen["read_back"] = seen.get("read_back", 0) + 1
        return real_read(model, pk, using, lock)

    def checked(sender, instance, spec, using, before, update_fields):
        reads = seen.get("read_back", 0)
        state = original(sender, instance, spec, using, before, update_fields)
        seen["saves"] += 1
        seen["from_instance"] += seen.get("read_back", 0) == reads
        seen["tables"].add(spec.label)
        stored = rows.snapshot(sender._base_manager.using(using).get(pk=instance.pk), spec)
        if stored != state:
            differ = {k: (state.get(k), stored.get(k)) for k in stored if stored.get(k) != state.get(k)}
            mismatches.append((spec.label, instance.pk, differ))
        return state

    from trialkit.server.audit import service

    real_record_events = service.record_events
    tables = {model._meta.db_table: (model, spec) for model, spec in rows.audited_models()}
    bulk = {"rows": 0}

    def checked_bulk(events):
        # Rows inserted with bulk_create (rows.record_bulk_created): each event against its stored row.
        for event in events:
            model, spec = tables[event["object_type"]]
            stored = rows.snapshot(model._base_manager.get(pk=event["object_id"]), spec)
            bulk["rows"] += 1
            if stored != event["after"]:
                mismatches.append((spec.label, event["object_id"], "bulk"))
        return real_record_events(events)

    monkeypatch.setattr(service, "record_events", checked_bulk)
    monkeypatch.setattr(rows, "_read", counting_read)
    monkeypatch.setattr(rows, "_stored_state", checked)
    load_demo(today=date(2026, 6, 1))
    assert mismatches == []
    assert bulk["rows"] > 100  # the schedules' visits, among others
    # Not vacuous: most saves skipped the read, across many tables.
    assert seen["saves"] > 500 and seen["from_instance"] > seen["saves"] * 0.8
    assert len(seen["tables"]) >= 15
    assert reconcile() == []


def test_a_value_the_database_changes_is_read_back(dose_participant):
    """A decimal with more places than the column's one: the database rounds it, and the event holds
    the rounded value it stores, not the one the instance was given."""
    dose = dose_participant
    dose.weight_kg = Decimal("61.240")
    dose.save()
    event = AuditEvent.objects.filter(object_type="allocation_doserecord", object_id=str(dose.pk)).latest("seq")
    dose.refresh_from_db()
    assert event.after["weight_kg"] == str(dose.weight_kg) == "61.2"


def _dose(participant, staff, weight_kg: str):
    from trialkit.server.allocation.models import DoseRecord

    return DoseRecord(
        participant=participant,
        weight_kg=Decimal(weight_kg),
        preparation={},
        label_text="Investigational product",
        prepared_by=staff["pharmacist"],
        prepared_at=NOW,
    )


@pytest.fixture
def dose_participant(participant, staff):
    dose = _dose(participant, staff, "60.0")
    dose.save()
    return dose


def _site_of_last_form_event(participant):
    return (
        AuditEvent.objects.filter(object_type="capture_formrecord", participant_id=participant.pk).latest("seq").site_id
    )


@pytest.mark.django_db(transaction=True)  # real transactions, committed one after the other
def test_a_placement_looked_up_in_one_transaction_is_not_used_in_the_next(participant, staff, other_site):
    coordinator = staff["coordinator"]
    with transaction.atomic():
        save_form(participant, "month3", "mrs", {"score": 3}, coordinator, complete=False, now=NOW)
    assert _site_of_last_form_event(participant) == participant.site_id
    # The participant's site changes around the application (no signal): the next transaction's
    # events must name the site the row has then, not the one kept from the transaction before.
    Participant.objects.filter(pk=participant.pk).update(site=other_site)
    with transaction.atomic():
        save_form(participant, "month3", "nihss", NIHSS_7, coordinator, complete=False, now=NOW)
    assert _site_of_last_form_event(participant) == other_site.pk


@pytest.mark.django_db(transaction=True)
def test_a_placement_kept_in_a_rolled_back_savepoint_is_dropped_with_it(participant, staff, other_site):
    """Placements first kept inside a savepoint that rolls back go with it; the rest of the transaction
    looks them up again (here after the site changed between the two)."""
    coordinator = staff["coordinator"]
    with transaction.atomic():
        try:
            with transaction.atomic():
                save_form(participant, "month3", "mrs", {"score": 3}, coordinator, complete=False, now=NOW)
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        Participant.objects.filter(pk=participant.pk).update(site=other_site)
        save_form(participant, "month3", "nihss", NIHSS_7, coordinator, complete=False, now=NOW)
    assert _site_of_last_form_event(participant) == other_site.pk


def test_a_form_save_reads_its_participant_placement_once(participant, staff):
    coordinator = staff["coordinator"]
    save_form(participant, "month3", "mrs", {"score": 2}, coordinator, complete=False, now=NOW)
    with CaptureQueriesContext(connection) as captured:
        save_form(participant, "month3", "nihss", NIHSS_7, coordinator, complete=True, now=NOW)
    placement_reads = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('SELECT "participants_participant"."trial_id"')
    ]
    re_reads = [
        q["sql"]
        for q in captured.captured_queries
        if 'FROM "capture_formrecord" WHERE "capture_formrecord"."id" =' in q["sql"]
    ]
    assert len(placement_reads) <= 1
    assert re_reads == []


def test_a_bulk_inserted_value_the_database_changes_is_read_back(participant, staff):
    from trialkit.server.allocation.models import DoseRecord
    from trialkit.server.audit.service import batch as audit_batch

    with transaction.atomic(), audit_batch():
        (dose,) = DoseRecord.objects.bulk_create([_dose(participant, staff, "61.240")])
        rows.record_bulk_created([dose])
    event = AuditEvent.objects.get(object_type="allocation_doserecord", object_id=str(dose.pk))
    assert event.after["weight_kg"] == "61.2"
