"""Screening services: numbering, facts, attestations, consent, screen failure, withdrawal, enrollment."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied
from screening_cases import ELIGIBLE_ASSIST, NOW, SCREENING_DATE, TODAY, attest_favourably

from trialkit.server.audit.models import AuditEvent
from trialkit.server.participants.models import Consent, Participant, ScreeningRecord
from trialkit.server.screening import services

pytestmark = pytest.mark.django_db


def new_record(assist, site, user):
    return services.create_screening(assist, site, user, SCREENING_DATE)


def eligible_record(assist, site, coordinator, investigator):
    record = new_record(assist, site, coordinator)
    services.update_facts(record, copy.deepcopy(ELIGIBLE_ASSIST), coordinator)
    attest_favourably(record, investigator)
    return services.get_record(assist, record.screening_number)


def test_numbers_run_per_site_and_are_audited(assist, site1, site2, coordinator, make_user):
    other = make_user("coordinator", assist, site2)
    first = new_record(assist, site1, coordinator)
    second = new_record(assist, site1, coordinator)
    elsewhere = new_record(assist, site2, other)
    assert [first.screening_number, second.screening_number, elsewhere.screening_number] == [
        "ASSIST-01-S0001",
        "ASSIST-01-S0002",
        "ASSIST-02-S0001",
    ]
    event = AuditEvent.objects.get(action="screening_create", object_id="ASSIST-01-S0001")
    assert event.actor == "cora" and event.site_id == site1.id
    assert event.after["screening_date"] == "2025-03-03"
    assert first.verdict == "incomplete" and first.facts["id"] == "ASSIST-01-S0001"


def test_the_next_number_follows_the_highest_past_9999_in_few_queries(assist, site1, coordinator):
    """Numbers are read with one MAX per number length, not one row per number: 10000 follows 9999
    (which sorts after it as text), a number with letters after the prefix is not counted, and the
    queries do not grow with the site's records."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def make(number):
        ScreeningRecord.objects.create(
            trial=assist, site=site1, screening_number=number, screening_date=SCREENING_DATE, created_by=coordinator
        )

    for n in (1, 2, 9999):
        make(f"ASSIST-01-S{n:04d}")
    make("ASSIST-01-SX99999")  # not a number of the series
    with CaptureQueriesContext(connection) as few:
        assert new_record(assist, site1, coordinator).screening_number == "ASSIST-01-S10000"
    for n in range(3, 40):
        make(f"ASSIST-01-S{n:04d}")
    with CaptureQueriesContext(connection) as more:
        assert new_record(assist, site1, coordinator).screening_number == "ASSIST-01-S10001"
    assert len(more.captured_queries) == len(few.captured_queries)
    reads = [q["sql"] for q in more.captured_queries if "MAX(" in q["sql"].upper()]
    assert len(reads) == 1


def test_facts_are_screened_and_stored_with_before_and_after_in_the_audit(assist, site1, coordinator):
    record = new_record(assist, site1, coordinator)
    services.update_facts(
        record, {"nihss": {**ELIGIBLE_ASSIST["nihss"], "5a": 0, "6a": 0}}, coordinator, reason="entered from the source"
    )
    record.refresh_from_db()
    nihss = next(c for c in record.criteria_results if c["id"] == "inc-nihss")
    # Items sum to 4 once the motor items are 0: below ASSIST's 6-20 (inc-nihss).
    assert nihss["status"] == "fail" and "4" in nihss["reason"]
    assert record.verdict == "ineligible"
    event = AuditEvent.objects.filter(action="screening_facts_update").latest("seq")
    assert event.before == {"facts": {"nihss": None, "nihss_total": None}, "verdict": "incomplete"}
    assert event.after["facts"]["nihss"]["5a"] == 0 and event.after["verdict"] == "ineligible"
    assert event.reason == "entered from the source"


def test_a_merge_patch_changes_only_what_it_names(assist, site1, coordinator):
    record = new_record(assist, site1, coordinator)
    services.update_facts(record, copy.deepcopy(ELIGIBLE_ASSIST), coordinator)
    services.update_facts(
        record, {"labs": {"albumin": {"value": 2.6, "unit": "g/dL"}}, "conditions": None}, coordinator
    )
    record.refresh_from_db()
    assert record.facts["labs"]["albumin"] == {"value": 2.6, "unit": "g/dL"}
    assert record.facts["labs"]["ast"]["value"] == 32
    assert "conditions" not in record.facts
    organ = next(c for c in record.criteria_results if c["id"] == "inc-organ-function")
    assert organ["status"] == "fail" and "albumin" in organ["reason"]


def test_a_rejected_update_changes_nothing_and_names_the_field(assist, site1, coordinator):
    record = new_record(assist, site1, coordinator)
    services.update_facts(record, {"sex": "female"}, coordinator)
    record.refresh_from_db()
    before = (copy.deepcopy(record.facts), record.verdict, copy.deepcopy(record.criteria_results))
    events = AuditEvent.objects.count()
    with pytest.raises(services.ScreeningError) as caught:
        services.update_facts(
            record, {"sex": "male", "nihss": {"5a": 7}, "labs": {"ast": {"value": 30, "unit": "mg"}}}, coordinator
        )
    assert caught.value.status == 422
    fields = {p.field: p for p in caught.value.errors}
    assert fields["nihss.5a"].rule == "allowed_values"
    assert "labs.ast.unit" in fields
    record.refresh_from_db()
    assert (record.facts, record.verdict, record.criteria_results) == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("key", ["id", "screening_date", "attestations"])
def test_the_records_own_facts_cannot_be_patched(assist, site1, coordinator, key):
    record = new_record(assist, site1, coordinator)
    with pytest.raises(services.ScreeningError) as caught:
        services.update_facts(record, {key: {}}, coordinator)
    assert caught.value.errors[0].field == key and caught.value.errors[0].rule == "read_only"


def test_only_investigators_attest_and_the_answer_decides_the_criterion(assist, site1, coordinator, investigator):
    record = new_record(assist, site1, coordinator)
    with pytest.raises(PermissionDenied):
        services.record_attestation(record, "inc-imaging", True, coordinator, now=NOW)
    services.record_attestation(record, "inc-imaging", True, investigator, now=NOW)
    services.record_attestation(record, "exc-other-safety-risk", True, investigator, now=NOW)
    record.refresh_from_db()
    status = {c["id"]: c["status"] for c in record.criteria_results}
    assert status["inc-imaging"] == "pass"
    assert status["exc-other-safety-risk"] == "fail"  # the exclusion applies
    assert record.attestations.get(criterion_id="inc-imaging").attested_by == investigator
    event = AuditEvent.objects.filter(action="screening_attest").latest("seq")
    assert event.after["criterion_id"] == "exc-other-safety-risk" and event.after["verdict"] == "ineligible"


def test_a_criterion_decided_by_a_rule_alone_takes_no_attestation(assist, site1, coordinator, investigator):
    record = new_record(assist, site1, coordinator)
    with pytest.raises(services.ScreeningError) as caught:
        services.record_attestation(record, "inc-nihss", True, investigator, now=NOW)
    assert caught.value.errors[0].field == "criterion_id"


def test_consent_signers_follow_the_protocol(ixcell, make_user):
    site = ixcell.sites.get(code="ixcell-01")
    coordinator = make_user("coordinator", ixcell, site)
    record = services.create_screening(ixcell, site, coordinator, SCREENING_DATE)
    # IxCell allows the participant or a legal representative; a spouse may sign for ASSIST only.
    with pytest.raises(services.ScreeningError) as caught:
        services.record_consent(record, SCREENING_DATE, "spouse", coordinator, today=TODAY, signer_name="A. Spouse")
    assert caught.value.errors[0].field == "signed_by"
    with pytest.raises(services.ScreeningError) as caught:
        services.record_consent(record, SCREENING_DATE, "legal_representative", coordinator, today=TODAY)
    assert caught.value.errors[0].field == "signer_name"
    with pytest.raises(services.ScreeningError) as caught:
        services.record_consent(record, date(2025, 3, 11), "participant", coordinator, today=TODAY)
    assert caught.value.errors[0].field == "consent_date"
    consent = services.record_consent(
        record, SCREENING_DATE, "legal_representative", coordinator, today=TODAY, signer_name="Li Wei"
    )
    assert consent.document_version == "1.0"
    event = AuditEvent.objects.get(action="consent_record")
    assert event.after["signed_by"] == "legal_representative" and event.after["document_version"] == "1.0"


def test_assist_accepts_a_spouse_and_a_given_document_version(assist, site1, coordinator):
    record = new_record(assist, site1, coordinator)
    consent = services.record_consent(
        record,
        SCREENING_DATE,
        "spouse",
        coordinator,
        today=TODAY,
        signer_name="Wang Fang",
        document_version="1.0",
    )
    assert (consent.signed_by, consent.document_version) == ("spouse", "1.0")


def test_enrollment_needs_eligibility_and_consent(assist, site1, coordinator, investigator):
    record = new_record(assist, site1, coordinator)
    services.update_facts(record, copy.deepcopy(ELIGIBLE_ASSIST), coordinator)
    with pytest.raises(services.ScreeningError, match="not yet decided"):
        services.enroll(record, coordinator, NOW)
    attest_favourably(record, investigator)
    record = services.get_record(assist, record.screening_number)
    assert record.verdict == "eligible"
    assert services.enrollment_blockers(record) == ["no informed consent recorded"]
    with pytest.raises(services.ScreeningError, match="no informed consent"):
        services.enroll(record, coordinator, NOW)
    services.record_consent(record, TODAY, "participant", coordinator, today=TODAY)
    participant = services.enroll(record, coordinator, NOW)
    assert participant.participant_number == "ASSIST-01-001"
    assert participant.status == Participant.Status.ENROLLED and participant.randomization_number == ""
    record.refresh_from_db()
    assert record.outcome == ScreeningRecord.Outcome.ENROLLED
    event = AuditEvent.objects.get(action="participant_enroll")
    assert event.participant_id == participant.pk and event.object_id == "ASSIST-01-001"
    with pytest.raises(services.ScreeningError, match="already enrolled"):
        services.enroll(record, coordinator, NOW)
    # A closed record takes no more facts.
    with pytest.raises(services.ScreeningError, match="closed"):
        services.update_facts(record, {"sex": "female"}, coordinator)


def test_an_ineligible_candidate_is_not_enrolled_even_with_consent(assist, site1, coordinator, investigator):
    record = eligible_record(assist, site1, coordinator, investigator)
    services.update_facts(record, {"serology": {"hcv": "positive"}}, coordinator)
    services.record_consent(record, TODAY, "participant", coordinator, today=TODAY)
    with pytest.raises(services.ScreeningError, match="fails exc-serology"):
        services.enroll(record, coordinator, NOW)
    assert not Participant.objects.exists()


def test_a_stored_condition_the_vocabulary_does_not_list_blocks_enrollment(assist, site1, coordinator, investigator):
    # Facts stored before the vocabulary listed them (or under an amended protocol): the record still
    # opens, the investigator can still attest, and the history criteria wait for a recognised name.
    record = eligible_record(assist, site1, coordinator, investigator)
    services.record_consent(record, TODAY, "participant", coordinator, today=TODAY)
    stale = {**record.facts, "conditions": [{"name": "hypertension"}, {"name": "fits"}]}
    ScreeningRecord.objects.filter(pk=record.pk).update(facts=stale)
    record = services.get_record(assist, record.screening_number)
    attest_favourably(record, investigator)
    with pytest.raises(services.ScreeningError) as caught:
        services.enroll(services.get_record(assist, record.screening_number), coordinator, NOW)
    assert "eligibility not yet decided: exc-epilepsy, exc-cancer" in caught.value.message
    assert not Participant.objects.exists()
    record.refresh_from_db()
    epilepsy = next(c for c in record.criteria_results if c["id"] == "exc-epilepsy")
    assert epilepsy["status"] == "unknown" and epilepsy["missing"] == ["conditions.1.name"]
    assert "'fits' (conditions.1)" in epilepsy["reason"]
    # Entering the history again goes through the vocabulary check.
    with pytest.raises(services.ScreeningError) as refused:
        services.update_facts(record, {"conditions": [{"name": "fits"}]}, coordinator)
    assert refused.value.errors[0].field == "conditions.0.name"
    services.update_facts(record, {"conditions": [{"name": "hypertension"}]}, coordinator)
    assert services.enroll(services.get_record(assist, record.screening_number), coordinator, NOW)


def test_participant_numbers_run_per_site(assist, site1, coordinator, investigator):
    numbers = []
    for _ in range(2):
        record = eligible_record(assist, site1, coordinator, investigator)
        services.record_consent(record, TODAY, "participant", coordinator, today=TODAY)
        numbers.append(services.enroll(record, coordinator, NOW).participant_number)
    assert numbers == ["ASSIST-01-001", "ASSIST-01-002"]


def test_screen_failure_reasons_default_to_the_failing_criteria(assist, site1, coordinator):
    record = new_record(assist, site1, coordinator)
    with pytest.raises(services.ScreeningError) as caught:
        services.mark_screen_failed(record, coordinator)
    assert caught.value.errors[0].field == "reasons"
    services.update_facts(record, {"stroke": {"type": "ischemic", "onset_date": "2024-11-03"}}, coordinator)
    record = services.mark_screen_failed(record, coordinator)
    # Onset 4 months before screening: ASSIST needs more than 6 months (inc-stroke-over-6-months).
    assert [r["criterion_id"] for r in record.fail_reasons] == ["inc-stroke-over-6-months"]
    assert record.outcome == "screen_failed"
    event = AuditEvent.objects.get(action="screening_fail")
    assert event.before == {"outcome": "in_screening"} and event.after["fail_reasons"] == record.fail_reasons


def test_screen_failure_with_a_stated_reason(assist, site1, coordinator):
    record = services.mark_screen_failed(
        new_record(assist, site1, coordinator), coordinator, ["moved out of the region"]
    )
    assert record.fail_reasons == [{"criterion_id": None, "reason": "moved out of the region"}]


def test_withdrawal_before_enrollment_withdraws_the_consent(assist, site1, coordinator, investigator):
    record = eligible_record(assist, site1, coordinator, investigator)
    services.record_consent(record, TODAY, "participant", coordinator, today=TODAY)
    services.withdraw(record, coordinator, TODAY, "changed their mind")
    assert Consent.objects.get(screening=record).withdrawn_on == TODAY
    record.refresh_from_db()
    assert record.outcome == "withdrawn"
    assert services.current_consent(record) is None
    with pytest.raises(services.ScreeningError):
        services.enroll(record, coordinator, NOW)


def test_staff_of_another_site_cannot_touch_the_record(assist, site1, site2, coordinator, make_user):
    record = new_record(assist, site1, coordinator)
    stranger = make_user("coordinator", assist, site2)
    with pytest.raises(PermissionDenied):
        services.update_facts(record, {"sex": "male"}, stranger)
    with pytest.raises(PermissionDenied):
        services.create_screening(assist, site1, stranger, SCREENING_DATE)
    with pytest.raises(PermissionDenied):
        services.create_screening(assist, site1, make_user("blinded_assessor", assist, site1), SCREENING_DATE)


def test_the_log_lists_every_record_with_outcome_and_reasons(assist, site1, site2, coordinator, make_user):
    failed = new_record(assist, site1, coordinator)
    services.update_facts(failed, {"nihss": {k: 0 for k in ELIGIBLE_ASSIST["nihss"]}}, coordinator)
    services.mark_screen_failed(failed, coordinator)
    new_record(assist, site1, coordinator)
    other_site = new_record(assist, site2, make_user("coordinator", assist, site2))
    log = services.screening_log(coordinator, assist)
    assert [r.screening_number for r in log.rows] == ["ASSIST-01-S0001", "ASSIST-01-S0002"]
    assert log.counts["screen_failed"] == 1 and log.counts["in_screening"] == 1
    assert log.reason_counts == [("inc-nihss", 1)]
    assert log.rows[0].fail_reasons[0]["criterion_id"] == "inc-nihss"
    only_failed = services.screening_log(coordinator, assist, outcome="screen_failed")
    assert [r.screening_number for r in only_failed.rows] == ["ASSIST-01-S0001"]
    monitor = make_user("monitor", assist)
    assert other_site.screening_number in [r.screening_number for r in services.screening_log(monitor, assist).rows]
    sponsor_log = services.screening_log(make_user("sponsor_admin", assist), assist)
    assert len(sponsor_log.rows) == 3 and not sponsor_log.details_visible
    with pytest.raises(PermissionDenied):
        services.screening_log(make_user("blinded_assessor", assist, site1), assist)


def test_the_nihss_total_is_stored_for_later_stages_and_cannot_be_entered(assist, site1, coordinator):
    record = new_record(assist, site1, coordinator)
    services.update_facts(record, {"nihss": dict(list(ELIGIBLE_ASSIST["nihss"].items())[:10])}, coordinator)
    record.refresh_from_db()
    assert "nihss_total" not in record.facts  # not every item scored yet
    services.update_facts(record, {"nihss": ELIGIBLE_ASSIST["nihss"]}, coordinator)
    record.refresh_from_db()
    # 1b 1 + 3 1 + 4 1 + 5a 3 + 6a 2 + 8 1 = 9 (NIHSS total: the sum of the 15 item scores, Brott 1989).
    assert record.facts["nihss_total"] == 9
    with pytest.raises(services.ScreeningError) as caught:
        services.update_facts(record, {"nihss_total": 12}, coordinator)
    assert caught.value.errors[0].rule == "read_only"
