"""Escalation gates in the shell: read the records the core's ``trialkit.dosing.escalation`` needs,
record the DSMB's decisions (audited, restricted), refuse randomization while a gate is closed and
notify when a stopping rule pauses it.

What blinded roles get is :func:`blinded_gate` — "open" or "paused" and a sentence with no cohort,
count or reason; the full status (cohorts, counts by arm, triggered rules) needs
``allocation.escalation`` (DSMB statistician only).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from trialkit.dosing.escalation import (
    Decision,
    Dosing,
    DsmbDecision,
    EscalationError,
    GateState,
    GateStatus,
    SafetyEvent,
    check_decision,
    gate_status,
)
from trialkit.server.accounts.access import require
from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.permissions import roles_with
from trialkit.server.allocation.models import (
    AllocationSlot,
    EscalationAlert,
    EscalationDecision,
    Notification,
)
from trialkit.server.audit.service import record_event

# Told when a stopping rule pauses randomization: those who record the DSMB's decision and those
# who read the trial's notifications (the permission table: DSMB statistician, sponsor administrator).
PAUSE_RECIPIENTS = sorted(roles_with("allocation.escalation") | roles_with("allocation.view_notifications"))

# Causality categories counted as "related" by the related-SAE stopping rule (a reasonable
# possibility of a causal relationship, ICH E2A II.A.1).
RELATED = frozenset({"possible", "probable", "definite"})


class GateClosed(ValueError):
    """Randomization is refused while the gate is closed; the message is safe for blinded staff."""


@dataclass(frozen=True)
class BlindedGate:
    randomization: str  # "open" | "paused"
    message: str


def has_gates(trial) -> bool:
    return trial.protocol.randomization.escalation is not None


def _dosings(trial) -> list[Dosing]:
    rows = AllocationSlot.objects.filter(trial=trial, participant__isnull=False).values_list("cohort", "allocated_at")
    return [Dosing(cohort, at) for cohort, at in rows if cohort and at]


def _decisions(trial) -> list[DsmbDecision]:
    return [
        DsmbDecision(d.cohort_id, Decision(d.decision), d.decided_at)
        for d in EscalationDecision.objects.filter(trial=trial)
    ]


def _events(trial) -> list[SafetyEvent]:
    from trialkit.server.capture.models import AdverseEvent  # capture depends on allocation, not back

    cohort_of = dict(
        AllocationSlot.objects.filter(trial=trial, participant__isnull=False).values_list("participant_id", "cohort")
    )
    out = []
    for ae in AdverseEvent.objects.filter(participant__trial=trial, deleted_at__isnull=True):
        data = ae.data or {}
        out.append(
            SafetyEvent(
                cohort_of.get(ae.participant_id) or None,
                ae.awareness_at,
                dose_limiting=data.get("dose_limiting") is True,
                serious=ae.serious,
                related=data.get("relatedness") in RELATED,
            )
        )
    return out


def current_gate(trial, now: datetime) -> GateStatus | None:
    """The core's gate status from the stored records; None for a trial without gates."""
    if not has_gates(trial):
        return None
    return gate_status(trial.protocol, _dosings(trial), _decisions(trial), _events(trial), now)


def blinded_gate(trial, now: datetime) -> BlindedGate | None:
    status = current_gate(trial, now)
    if status is None:
        return None
    return BlindedGate(status.blinded(), status.blinded_message())


def refuse_while_closed(trial, now: datetime) -> None:
    """Called under the allocation lock before a slot is taken: GateClosed when the gate is shut."""
    status = current_gate(trial, now)
    if status is not None and not status.randomization_open:
        raise GateClosed(status.blinded_message())


def check_stopping_rules(trial, now: datetime) -> int:
    """Evaluate the stopping rules now and notify a newly met one (after an adverse event is saved,
    and before a randomization, in its own transaction so a refusal does not undo the notice)."""
    status = current_gate(trial, now)
    if status is None:
        return 0
    with transaction.atomic():
        return notify_triggered(trial, status, now)


def notify_triggered(trial, status: GateStatus, now: datetime) -> int:
    """Notify the DSMB statisticians and sponsor administrators, once per new trigger, that a
    stopping rule paused randomization. The message names the rule only (no cohort, count or arm)."""
    if status.state is not GateState.PAUSED:
        return 0
    sent = 0
    for t in status.triggered:
        _, created = EscalationAlert.objects.get_or_create(
            trial=trial,
            rule_id=t.rule.id,
            cohort_id=t.cohort_id or "",
            latest_event_at=t.latest_at,
            defaults={"created_at": now},
        )
        if not created:
            continue
        message = (
            f"{trial.short_name}: randomization paused — stopping rule {t.rule.id!r} met ({t.rule.label}). "
            "The DSMB must review and record stay or stop before randomization resumes."
        )
        recipients = (
            Membership.objects.filter(trial=trial, role__in=PAUSE_RECIPIENTS).values_list("user_id", "role").distinct()
        )
        Notification.objects.bulk_create(
            Notification(trial=trial, recipient_role=role, recipient_id=user_id, message=message, created_at=now)
            for user_id, role in recipients
        )
        record_event(
            actor=None,
            action="escalation.paused",
            object_type="trial",
            object_id=trial.nct_id,
            after={"rule": t.rule.id, "cohort": t.cohort_id, "count": t.count, "latest_event_at": t.latest_at},
            trial_id=trial.pk,
            restricted=True,
            at=now,
        )
        sent += 1
    return sent


def dsmb_view(trial, user, now: datetime) -> dict[str, Any]:
    """Everything the DSMB statistician reviews: the gate, each cohort's counts by arm, decisions."""
    require(user, trial, "allocation.escalation")
    status = current_gate(trial, now)
    counts: dict[str, Counter[str]] = {}
    for cohort, arm in AllocationSlot.objects.filter(trial=trial, participant__isnull=False).values_list(
        "cohort", "arm_id"
    ):
        counts.setdefault(cohort, Counter())[arm] += 1
    cohorts = [
        {
            "id": c.id,
            "label": c.label,
            "size": c.size,
            "randomized": sum(counts.get(c.id, Counter()).values()),
            "by_arm": dict(counts.get(c.id, Counter())),
        }
        for c in trial.protocol.randomization.cohorts
    ]
    return {
        "status": status,
        "cohorts": cohorts,
        "decisions": list(EscalationDecision.objects.filter(trial=trial).select_related("decided_by")),
        "escalation": trial.protocol.randomization.escalation,
    }


@transaction.atomic
def record_decision(trial, user, *, cohort_id: str, decision: str, rationale: str, now: datetime) -> EscalationDecision:
    """Record the DSMB's decision on the current cohort (DSMB statistician only), audited."""
    require(user, trial, "allocation.escalation")
    if not has_gates(trial):
        raise EscalationError("this trial has no escalation gates")
    if not (rationale or "").strip():
        raise EscalationError("a DSMB decision needs its rationale")
    try:
        choice = Decision(decision)
    except ValueError as exc:
        raise EscalationError(f"decision must be escalate, stay or stop, got {decision!r}") from exc
    # Serialize with randomization: the same lock the allocation takes first.
    from trialkit.server.allocation.models import AllocationList

    AllocationList.objects.select_for_update().filter(trial=trial).first()
    status = current_gate(trial, now)
    assert status is not None
    check_decision(trial.protocol, status, cohort_id, choice)
    row = EscalationDecision.objects.create(
        trial=trial,
        cohort_id=cohort_id,
        decision=choice.value,
        rationale=rationale.strip(),
        decided_by=user,
        decided_at=now,
    )
    after = current_gate(trial, now)
    record_event(
        actor=user,
        action="escalation.decision",
        object_type="escalation_decision",
        object_id=str(row.pk),
        before={"state": status.state.value, "cohort": status.cohort_id},
        after={
            "cohort": cohort_id,
            "decision": choice.value,
            "state": after.state.value if after else None,
            "open_cohort": after.cohort_id if after else None,
        },
        reason=rationale.strip(),
        trial_id=trial.pk,
        restricted=True,
        at=now,
    )
    return row
