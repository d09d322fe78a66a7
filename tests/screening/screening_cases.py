"""Facts and helpers shared by the screening tests (a module with its own name: conftest names collide)."""

from __future__ import annotations

from datetime import UTC, date, datetime

SCREENING_DATE = date(2025, 3, 3)
TODAY = date(2025, 3, 10)
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)

# A candidate who meets every computable ASSIST criterion: ischemic stroke 14 months before screening,
# NIHSS 9, organ function within limits (ASSIST inc-organ-function), all serology negative.
ELIGIBLE_ASSIST = {
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


def attest_favourably(record, investigator):
    """The investigator answers every attestation criterion: inclusions met, exclusions do not apply."""
    from trialkit.server.screening import services

    criteria = {c.id: c for c in record.trial.protocol.eligibility.criteria}
    for criterion_id in services.attestable_criteria(record.trial.protocol):
        services.record_attestation(
            record, criterion_id, criteria[criterion_id].type == "inclusion", investigator, now=NOW
        )
