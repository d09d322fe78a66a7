"""Dose-escalation gates: which cohort may randomize now, and why not.

Pure functions over the protocol's ``randomization.escalation`` section and plain records the
application passes in (doses given, DSMB decisions, safety events), with the clock passed in.

The rules (ASSIST's protocol section states the numbers):

* Cohorts open in protocol order. The first cohort opens at once; cohort *k+1* opens only after
  the DSMB has recorded ``escalate`` for cohort *k*, and the DSMB may record that only once every
  participant of cohort *k* has reached the safety follow-up (``safety_follow_up_days`` after
  their dosing).
* ``stay`` holds at the current dose: it resumes a cohort paused part-way (by a stopping rule) and,
  on a full cohort, keeps the next one closed until a later decision. ``stop`` ends randomization.
* Sentinel dosing: the first ``participants`` of a cohort are dosed; the rest wait until
  ``wait_days`` after the last sentinel's dosing.
* Stopping rules count dose-limiting toxicities or related serious adverse events (per cohort or
  trial-wide); at the threshold randomization pauses until the DSMB records a decision after the
  newest counted event.

Blinded staff see only :meth:`GateStatus.blinded` ("open" / "paused"), never a cohort, a count or
a reason that could carry an arm.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from trialkit.protocol.schema import Cohort, Escalation, Protocol, StoppingRule


class Decision(str, Enum):
    ESCALATE = "escalate"
    STAY = "stay"
    STOP = "stop"


class GateState(str, Enum):
    OPEN = "open"
    SENTINEL_WAIT = "sentinel_wait"  # sentinels dosed; the rest wait
    FOLLOW_UP = "follow_up"  # cohort full; its participants have not all reached the safety follow-up
    AWAITING_DECISION = "awaiting_decision"  # follow-up reached; the DSMB has not decided
    HELD = "held"  # the DSMB decided "stay" on a full cohort
    PAUSED = "paused"  # a stopping rule was met and not yet reviewed
    STOPPED = "stopped"  # the DSMB decided "stop"
    COMPLETE = "complete"  # every cohort is full and the last one needs no further gate


class EscalationError(ValueError):
    """A DSMB decision that the rules do not allow now (the message says why)."""


@dataclass(frozen=True)
class Dosing:
    """One participant dosed (randomized) in a cohort."""

    cohort_id: str
    at: datetime


@dataclass(frozen=True)
class DsmbDecision:
    cohort_id: str
    decision: Decision
    at: datetime


@dataclass(frozen=True)
class SafetyEvent:
    """An adverse event that a stopping rule may count."""

    cohort_id: str | None
    at: datetime  # when it became known (the awareness time)
    dose_limiting: bool = False
    serious: bool = False
    related: bool = False

    def counts_for(self, rule: StoppingRule) -> bool:
        if rule.event == "dose_limiting_toxicity":
            return self.dose_limiting
        return self.serious and self.related


@dataclass(frozen=True)
class TriggeredRule:
    rule: StoppingRule
    cohort_id: str | None
    count: int
    latest_at: datetime

    def describe(self) -> str:
        where = f" in {self.cohort_id}" if self.cohort_id else ""
        return f"stopping rule {self.rule.id!r} met{where}: {self.count} of {self.rule.threshold} ({self.rule.label})"


@dataclass(frozen=True)
class GateStatus:
    state: GateState
    cohort_id: str | None  # the cohort the state is about
    reason: str
    until: datetime | None = None  # when a time-bound wait ends
    triggered: tuple[TriggeredRule, ...] = field(default=())

    @property
    def randomization_open(self) -> bool:
        return self.state is GateState.OPEN

    def blinded(self) -> str:
        """All a blinded role learns: whether randomization is open."""
        return "open" if self.randomization_open else "paused"

    def blinded_message(self) -> str:
        if self.randomization_open:
            return "Randomization is open."
        if self.state is GateState.STOPPED:
            return "Randomization has ended on the safety committee's decision."
        return "Randomization is paused pending a safety review; no participant can be randomized now."


def _cohort_counts(dosings: Iterable[Dosing]) -> dict[str, list[datetime]]:
    out: dict[str, list[datetime]] = {}
    for d in dosings:
        out.setdefault(d.cohort_id, []).append(d.at)
    for times in out.values():
        times.sort()
    return out


def evaluate_stopping_rules(
    escalation: Escalation, events: Iterable[SafetyEvent], cohort_id: str | None
) -> list[TriggeredRule]:
    """Every stopping rule whose threshold is reached: per cohort (``cohort_id``'s events) or trial-wide."""
    events = list(events)
    out = []
    for rule in escalation.stopping_rules:
        counted = [e for e in events if e.counts_for(rule) and (rule.scope == "trial" or e.cohort_id == cohort_id)]
        if len(counted) >= rule.threshold:
            out.append(
                TriggeredRule(
                    rule, cohort_id if rule.scope == "cohort" else None, len(counted), max(e.at for e in counted)
                )
            )
    return out


def _last(decisions: Sequence[DsmbDecision], cohort_id: str | None = None) -> DsmbDecision | None:
    chosen = [d for d in decisions if cohort_id is None or d.cohort_id == cohort_id]
    return max(chosen, key=lambda d: d.at) if chosen else None


def follow_up_reached_at(escalation: Escalation, cohort: Cohort, dosed: Sequence[datetime]) -> datetime | None:
    """When the cohort's last participant reaches the safety follow-up; None while it is not full."""
    if len(dosed) < cohort.size:
        return None
    return max(dosed) + timedelta(days=escalation.safety_follow_up_days)


def gate_status(
    protocol: Protocol,
    dosings: Iterable[Dosing],
    decisions: Iterable[DsmbDecision],
    events: Iterable[SafetyEvent],
    now: datetime,
) -> GateStatus:
    """Whether the next participant may be randomized now, in which cohort, and if not why."""
    spec = protocol.randomization
    escalation = spec.escalation
    if escalation is None or not spec.cohorts:
        raise EscalationError("this protocol has no escalation gates")
    decisions = sorted(decisions, key=lambda d: d.at)
    events = list(events)
    dosed = _cohort_counts(dosings)

    last = _last(decisions)
    if last is not None and last.decision is Decision.STOP:
        return GateStatus(GateState.STOPPED, last.cohort_id, f"the DSMB decided to stop after {last.cohort_id}")

    # The current cohort: the first one not escalated beyond.
    current = spec.cohorts[0]
    for index, cohort in enumerate(spec.cohorts[:-1]):
        decided = _last(decisions, cohort.id)
        if decided is not None and decided.decision is Decision.ESCALATE:
            current = spec.cohorts[index + 1]
        else:
            break
    times = dosed.get(current.id, [])

    # Stopping rules: paused until a DSMB decision newer than the newest counted event.
    triggered = evaluate_stopping_rules(escalation, events, current.id)
    unreviewed = tuple(t for t in triggered if last is None or last.at < t.latest_at)
    if unreviewed:
        reason = "; ".join(t.describe() for t in unreviewed)
        return GateStatus(GateState.PAUSED, current.id, reason, triggered=unreviewed)

    if len(times) >= current.size:
        reached = follow_up_reached_at(escalation, current, times)
        assert reached is not None
        is_last = current is spec.cohorts[-1]
        if now < reached:
            return GateStatus(
                GateState.FOLLOW_UP,
                current.id,
                f"{current.id} is full; its last participant reaches day {escalation.safety_follow_up_days} "
                f"on {reached.isoformat()}",
                until=reached,
            )
        if is_last:
            return GateStatus(GateState.COMPLETE, current.id, "every cohort is full and followed up")
        decided = _last(decisions, current.id)
        if decided is not None and decided.decision is Decision.STAY and decided.at >= reached:
            return GateStatus(GateState.HELD, current.id, f"the DSMB decided to stay at {current.id}'s dose")
        return GateStatus(
            GateState.AWAITING_DECISION, current.id, f"{current.id} awaits the DSMB's escalation decision"
        )

    sentinel = escalation.sentinel
    if sentinel is not None and sentinel.participants <= len(times) < current.size:
        until = times[sentinel.participants - 1] + timedelta(days=sentinel.wait_days)
        if now < until:
            return GateStatus(
                GateState.SENTINEL_WAIT,
                current.id,
                f"{current.id}: {sentinel.participants} sentinel participants dosed; the rest wait until "
                f"{until.isoformat()}",
                until=until,
            )
    return GateStatus(GateState.OPEN, current.id, f"{current.id} is open")


def check_decision(
    protocol: Protocol,
    status: GateStatus,
    cohort_id: str,
    decision: Decision,
) -> None:
    """EscalationError unless the DSMB may record ``decision`` on ``cohort_id`` in this state.

    ``escalate`` needs a full, followed-up cohort (awaiting decision or held) that is not the last;
    ``stay`` answers a stopping-rule pause or a full, followed-up cohort; ``stop`` is always allowed
    until randomization has ended."""
    ids = [c.id for c in protocol.randomization.cohorts]
    if cohort_id not in ids:
        raise EscalationError(f"cohort {cohort_id!r} is not one of {', '.join(ids)}")
    if status.state is GateState.STOPPED:
        raise EscalationError("randomization has been stopped; no further decision can be recorded")
    if cohort_id != status.cohort_id:
        raise EscalationError(f"decisions concern the current cohort {status.cohort_id!r}, not {cohort_id!r}")
    if decision is Decision.STOP:
        return
    reviewable = {GateState.AWAITING_DECISION, GateState.HELD}
    if decision is Decision.ESCALATE:
        if status.state is GateState.PAUSED:
            raise EscalationError("a stopping rule is met: the DSMB must record stay or stop, not escalate")
        if status.state not in reviewable:
            raise EscalationError(
                f"{cohort_id} cannot be escalated yet: {status.reason}"
                if status.state is GateState.FOLLOW_UP
                else f"{cohort_id} cannot be escalated now ({status.state.value}): every participant must first "
                "reach the safety follow-up"
            )
        return
    if status.state not in reviewable | {GateState.PAUSED}:
        raise EscalationError(f"there is nothing to decide on {cohort_id} now ({status.state.value})")
