"""One vocabulary for reading the trail: what each action and each audited table is called.

Row events (``rows.py``) use four verbs over table names; workflow events use the services'
action names. Pages and reports that show the trail take their words from here, so one change
reads the same everywhere.
"""

from __future__ import annotations

from typing import Any

from trialkit.server.audit import rows

ROW_VERBS = {
    rows.INSERT: "created",
    rows.UPDATE: "changed",
    rows.DELETE: "deleted",
    rows.BASELINE: "recorded at audit start",
}

TABLES = {
    "auth_user": "user",
    "accounts_membership": "role membership",
    "accounts_apitoken": "API token",
    "trials_trial": "trial",
    "trials_site": "site",
    "participants_screeningrecord": "screening record",
    "participants_attestation": "eligibility attestation",
    "participants_consent": "consent",
    "participants_participant": "participant",
    "allocation_allocationlist": "allocation list",
    "allocation_allocationslot": "allocation slot",
    "allocation_minimizationstate": "minimization state",
    "allocation_doserecord": "dose preparation",
    "allocation_unblindingevent": "emergency unblinding",
    "allocation_escalationdecision": "DSMB escalation decision",
    "allocation_escalationalert": "escalation stopping-rule alert",
    "capture_visit": "visit",
    "capture_formrecord": "form",
    "capture_signature": "signature",
    "capture_query": "query",
    "capture_querymessage": "query message",
    "capture_adverseevent": "adverse event",
    "capture_adverseeventfollowup": "adverse event follow-up",
    "capture_diaryaccess": "diary code",
    "capture_diaryentry": "diary entry",
    "product_lot": "product lot",
    "product_kit": "kit",
    "product_kitevent": "kit step",
    "product_temperatureexcursion": "temperature excursion",
    "product_temperatureexcursion_kits": "kit of a temperature excursion",
    "product_shipment": "shipment",
    "product_resupplyrequest": "resupply request",
    "product_infusionrecord": "infusion record",
}

ACTIONS = {
    "login": "logged in",
    "login_failed": "login failed",
    "reauth_failed": "failed re-authentication",
    "two_factor_failed": "failed two-factor code",
    "two_factor_enrolled": "two-factor authentication set up",
    "two_factor_reset": "two-factor authentication reset",
    "api_token_create": "API token made",
    "api_token_revoke": "API token revoked",
    "permission_grant": "role granted",
    "permission_change": "role changed",
    "permission_revoke": "role revoked",
    "protocol_load": "protocol loaded",
    "protocol_update": "protocol updated",
    "screening_create": "screening started",
    "screening_facts_update": "screening facts changed",
    "screening_attest": "criterion attested",
    "screening_fail": "screen failed",
    "screening_withdraw": "withdrew before enrolment",
    "consent_record": "consent recorded",
    "participant_enroll": "enrolled",
    "allocation_list.generated": "allocation list generated",
    "allocation_list.regenerated": "allocation list replaced",
    "participant.randomized": "randomized",
    "allocation.slot_used": "allocation slot used",
    "escalation.decision": "DSMB escalation decision recorded",
    "escalation.paused": "randomization paused by a stopping rule",
    "allocation.revealed": "allocation revealed",
    "dose.prepared": "dose prepared",
    "dose.administered": "dose administered",
    "participant.emergency_unblinded": "emergency unblinding",
    "schedule_created": "visit schedule created",
    "schedule_moved": "visit schedule moved",
    "visit_date": "visit date recorded",
    "carried_forms_review": "screening data carried into forms reviewed",
    "form_create": "form entered",
    "form_update": "form changed",
    "form_delete": "form deleted",
    "form_verify": "form verified (SDV)",
    "form_lock": "form locked",
    "form_unlock": "form unlocked",
    "signature": "signed",
    "signature_void": "signature voided",
    "query_open": "query opened",
    "query_answer": "query answered",
    "query_close": "query closed",
    "ae_create": "adverse event entered",
    "ae_update": "adverse event changed",
    "ae_delete": "adverse event deleted",
    "ae_follow_up": "adverse event follow-up",
    "sae_report": "serious adverse event reported",
    "susar_report": "SUSAR reported (expedited)",
    "diary_access_grant": "diary code issued",
    "diary_access_revoke": "diary code revoked",
    "diary_create": "diary entry made",
    "diary_update": "diary entry changed",
    "participation_end": "participation ended",
    "participation_reopen": "participation reopened",
    "export_request": "export requested",
    "export_done": "export finished",
    "export_download": "export downloaded",
    "export_file_removed": "export file removed (retention)",
    "demo_anchor": "demo day 0 set",
    **{action: f"record {verb}" for action, verb in ROW_VERBS.items()},
    "lot.registered": "product lot registered",
    "lot.released": "product lot released",
    "kit.register": "kit registered",
    "kit.ship": "kit shipped",
    "kit.receive": "kit received at site",
    "kit.store": "kit stored",
    "kit.excursion": "kit quarantined (temperature excursion)",
    "kit.release": "kit released from quarantine",
    "kit.assign": "kit assigned to the participant",
    "kit.thaw": "kit thawed",
    "kit.prepare": "kit prepared",
    "kit.infuse": "kit infused",
    "kit.destroy": "kit destroyed",
    "excursion.reviewed": "temperature excursion reviewed",
    "resupply.requested": "resupply requested",
    "infusion.recorded": "infusion recorded",
}


def describe(action: str, object_type: str = "") -> str:
    """'form changed', 'adverse event deleted' ... for an event's action and object type."""
    if action in ROW_VERBS:
        return f"{TABLES.get(object_type, object_type)} {ROW_VERBS[action]}"
    return ACTIONS.get(action, action.replace("_", " ").replace(".", " "))


def field_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for each field an event changed, in field order."""
    before, after = before or {}, after or {}
    names = list(dict.fromkeys([*before, *after]))
    return [(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)]
