"""A small ASSIST trial built through the real services: screening, consent, enrollment,
randomization, dosing, forms (complete, draft, deleted) and adverse events (complete, draft, deleted)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
SCREENING_DATE = date(2025, 3, 3)

# Eligible for ASSIST (every computable criterion met; see tests/screening/screening_cases.py).
ELIGIBLE = {
    "birth_date": "1958-07-14",
    "sex": "male",
    "stroke": {"type": "ischemic", "territory": "anterior", "onset_date": "2024-01-05"},
    "nihss": {
        "1a": 0,
        "1b": 1,
        "1c": 0,
        "2": 0,
        "3": 1,
        "4": 1,
        "5a": 3,
        "5b": 0,
        "6a": 2,
        "6b": 0,
        "7": 0,
        "8": 1,
        "9": 0,
        "10": 0,
        "11": 0,
    },
    "premorbid_mrs": 0,
    "labs": {
        "ast": {"value": 32, "unit": "U/L", "uln": 40},
        "alt": {"value": 28, "unit": "U/L", "uln": 40},
        "bilirubin": {"value": 0.8, "unit": "mg/dL", "uln": 1.2},
        "albumin": {"value": 41, "unit": "g/L"},
        "anc": {"value": 3.9, "unit": "10^9/L"},
        "platelets": {"value": 236, "unit": "10^9/L"},
        "hemoglobin": {"value": 13.6, "unit": "g/dL"},
        "creatinine": {"value": 84, "unit": "umol/L", "uln": 97},
        "amylase": {"value": 64, "unit": "U/L", "uln": 110},
    },
    "serology": {t: "negative" for t in ("hbsag", "hbeag", "anti_hbe", "anti_hbc", "hcv", "hiv", "rpr")},
    "conditions": [{"name": "hypertension"}],
    "medications": [{"name": "aspirin", "class": "antiplatelet"}],
    "allergies": [],
}
NIHSS_9 = ELIGIBLE["nihss"]
NIHSS_5 = {**NIHSS_9, "5a": 1, "6a": 0, "3": 0}
VITALS = {"systolic_bp": 132, "diastolic_bp": 84, "heart_rate": 71, "weight_kg": 70}
AE = {
    "term": "Headache",
    "onset_date": "2025-03-12",
    "ctcae_grade": 1,
    "serious": False,
    "relatedness": "possible",
    "expectedness": "expected",
    "action_taken": "dose_not_changed",
    "outcome": "recovered",
    "resolution_date": "2025-03-13",
}

# What the world holds, for the tests' expected counts.
ENROLLED = 4
SCREEN_FAILED = 1


def build_world(trials, make_user):
    from trialkit.server.allocation import services as allocation
    from trialkit.server.allocation.models import AllocationSlot
    from trialkit.server.capture import services as capture
    from trialkit.server.screening import services as screening

    trial = trials["NCT04590118"]
    site = trial.sites.get(code="assist-01")
    coordinator = make_user("coordinator", trial, site, username="cora")
    investigator = make_user("investigator", trial, site, username="ines")
    pharmacist = make_user("unblinded_pharmacist", trial, site, username="phil")
    dsmb = make_user("dsmb_statistician", trial, username="dora")
    allocation.generate_allocation_list(trial, dsmb, now=NOW, seed="exports-world")
    criteria = {c.id: c for c in trial.protocol.eligibility.criteria}

    participants = []
    for i in range(ENROLLED):
        record = screening.create_screening(trial, site, coordinator, SCREENING_DATE)
        facts = copy.deepcopy(ELIGIBLE)
        facts["sex"] = "female" if i % 2 else "male"
        facts["birth_date"] = f"19{50 + i}-07-14"
        if i % 2:
            facts.update(pregnant=False, lactating=False)  # ASSIST's exclusion asks this of women
        screening.update_facts(record, facts, coordinator)
        for criterion_id in screening.attestable_criteria(trial.protocol):
            screening.record_attestation(
                record, criterion_id, criteria[criterion_id].type == "inclusion", investigator, now=NOW
            )
        screening.record_consent(record, SCREENING_DATE, "participant", coordinator, today=SCREENING_DATE)
        p = screening.enroll(record, coordinator, now=NOW)
        # ASSIST's escalation gate: two sentinels, then the rest of the cohort after the 7-day wait.
        at = NOW + timedelta(minutes=i) + (timedelta(days=8) if i >= 2 else timedelta(0))
        allocation.randomize(p, coordinator, now=at)
        allocation.prepare_dose(p, 70, pharmacist, now=at + timedelta(hours=1))
        allocation.record_administration(p, coordinator, now=at + timedelta(hours=2))
        p.refresh_from_db()
        capture.ensure_schedule(p, coordinator)
        participants.append(p)
    failed = screening.create_screening(trial, site, coordinator, SCREENING_DATE)
    screening.mark_screen_failed(failed, coordinator, reasons=["withdrew interest before consent"])

    later = NOW + timedelta(days=1)
    first, second = participants[0], participants[1]
    for p in participants:
        capture.save_form(p, "baseline", "nihss", NIHSS_9, coordinator, complete=True, now=later)
        capture.save_form(p, "baseline", "mrs", {"score": 3}, coordinator, complete=True, now=later)
        capture.save_form(p, "baseline", "vital_signs", VITALS, coordinator, complete=True, now=later)
    capture.save_form(first, "day7", "nihss", NIHSS_5, coordinator, complete=True, now=later)
    capture.save_form(second, "day7", "nihss", {"1a": 0}, coordinator, complete=False, now=later)  # draft
    gone = capture.save_form(second, "day7", "vital_signs", VITALS, coordinator, complete=True, now=later)
    capture.delete_form(gone, coordinator, reason="entered for the wrong participant", now=later)
    capture.save_adverse_event(first, AE, coordinator, complete=True, now=later)
    capture.save_adverse_event(
        second, {**AE, "term": "Fatigue", "relatedness": "not_related"}, coordinator, complete=True, now=later
    )
    draft_ae = capture.save_adverse_event(second, {"term": "Nausea"}, coordinator, complete=False, now=later)
    wrong_ae = capture.save_adverse_event(first, {**AE, "term": "Dizziness"}, coordinator, complete=True, now=later)
    capture.delete_adverse_event(wrong_ae, coordinator, reason="duplicate entry", now=later)

    arms = {AllocationSlot.objects.get(participant=p).arm_id for p in participants}
    assert len(arms) == 2, "the world needs both arms"
    return {
        "trial": trial,
        "site": site,
        "participants": participants,
        "dsmb": dsmb,
        "draft_ae": draft_ae,
        "coordinator": coordinator,
        "investigator": investigator,
        "pharmacist": pharmacist,
    }
