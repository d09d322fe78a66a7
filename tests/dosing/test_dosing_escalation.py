"""Escalation gates: each gate state, the sentinel wait, each stopping rule and the DSMB's decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trialkit.dosing.escalation import (
    Decision,
    Dosing,
    DsmbDecision,
    EscalationError,
    GateState,
    SafetyEvent,
    check_decision,
    evaluate_stopping_rules,
    gate_status,
)
from trialkit.protocol import load_protocol

ASSIST = load_protocol("NCT04590118")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def doses(cohort: str, n: int, start: datetime = T0, step: timedelta = DAY) -> list[Dosing]:
    return [Dosing(cohort, start + i * step) for i in range(n)]


def full_low_cohort() -> list[Dosing]:
    """Two sentinels on day 0 and 1, the other 18 after the 7-day wait (days 8..25)."""
    return doses("cohort-low", 2) + doses("cohort-low", 18, T0 + 8 * DAY)


def status(dosings=(), decisions=(), events=(), now=T0):
    return gate_status(ASSIST, list(dosings), list(decisions), list(events), now)


def test_the_protocol_states_the_gates():
    esc = ASSIST.randomization.escalation
    assert esc.safety_follow_up_days == 28
    assert (esc.sentinel.participants, esc.sentinel.wait_days) == (2, 7)
    assert [r.event for r in esc.stopping_rules] == ["dose_limiting_toxicity", "related_sae"]


def test_the_first_cohort_opens_at_once():
    s = status()
    assert (s.state, s.cohort_id, s.randomization_open) == (GateState.OPEN, "cohort-low", True)


def test_after_the_sentinels_the_rest_of_the_cohort_waits_then_opens():
    sentinels = doses("cohort-low", 2)  # day 0 and day 1
    assert status(sentinels[:1]).state is GateState.OPEN  # the second sentinel may still come
    waiting = status(sentinels, now=T0 + 7 * DAY)
    assert waiting.state is GateState.SENTINEL_WAIT
    assert waiting.until == T0 + DAY + 7 * DAY  # 7 days after the last sentinel
    assert not waiting.randomization_open
    assert status(sentinels, now=T0 + 8 * DAY - timedelta(seconds=1)).state is GateState.SENTINEL_WAIT
    assert status(sentinels, now=T0 + 8 * DAY).state is GateState.OPEN


def test_a_full_cohort_waits_for_the_safety_follow_up_of_its_last_participant():
    last = T0 + 25 * DAY
    s = status(full_low_cohort(), now=last + 27 * DAY)
    assert s.state is GateState.FOLLOW_UP and s.until == last + 28 * DAY
    assert not s.randomization_open


def test_the_next_cohort_opens_only_after_a_recorded_escalate_decision():
    reached = T0 + 25 * DAY + 28 * DAY
    awaiting = status(full_low_cohort(), now=reached)
    assert (awaiting.state, awaiting.cohort_id) == (GateState.AWAITING_DECISION, "cohort-low")
    escalated = status(
        full_low_cohort(), [DsmbDecision("cohort-low", Decision.ESCALATE, reached + DAY)], now=reached + DAY
    )
    assert (escalated.state, escalated.cohort_id) == (GateState.OPEN, "cohort-mid")


def test_stay_holds_the_dose_and_a_later_escalate_opens_the_next_cohort():
    reached = T0 + 53 * DAY
    stay = DsmbDecision("cohort-low", Decision.STAY, reached + DAY)
    assert status(full_low_cohort(), [stay], now=reached + 2 * DAY).state is GateState.HELD
    later = DsmbDecision("cohort-low", Decision.ESCALATE, reached + 30 * DAY)
    assert status(full_low_cohort(), [stay, later], now=reached + 31 * DAY).cohort_id == "cohort-mid"


def test_stop_ends_randomization_for_good():
    stop = DsmbDecision("cohort-low", Decision.STOP, T0 + 60 * DAY)
    s = status(full_low_cohort(), [stop], now=T0 + 61 * DAY)
    assert s.state is GateState.STOPPED
    with pytest.raises(EscalationError, match="stopped"):
        check_decision(ASSIST, s, "cohort-low", Decision.ESCALATE)


def test_the_last_cohort_full_and_followed_up_is_complete():
    dsmb = [
        DsmbDecision("cohort-low", Decision.ESCALATE, T0 + 100 * DAY),
        DsmbDecision("cohort-mid", Decision.ESCALATE, T0 + 200 * DAY),
    ]
    dosings = full_low_cohort() + doses("cohort-mid", 20, T0 + 101 * DAY) + doses("cohort-high", 20, T0 + 201 * DAY)
    assert status(dosings, dsmb, now=T0 + 240 * DAY).state is GateState.FOLLOW_UP
    assert status(dosings, dsmb, now=T0 + 260 * DAY).state is GateState.COMPLETE


def dlt(at, cohort="cohort-low"):
    return SafetyEvent(cohort, at, dose_limiting=True)


def test_two_dose_limiting_toxicities_in_the_cohort_pause_randomization():
    dosings = doses("cohort-low", 2) + doses("cohort-low", 3, T0 + 8 * DAY)
    one = status(dosings, events=[dlt(T0 + 9 * DAY)], now=T0 + 10 * DAY)
    assert one.state is GateState.OPEN
    two = status(dosings, events=[dlt(T0 + 9 * DAY), dlt(T0 + 10 * DAY)], now=T0 + 10 * DAY)
    assert two.state is GateState.PAUSED
    assert [t.rule.id for t in two.triggered] == ["dlt-in-cohort"]
    assert two.blinded() == "paused" and "cohort" not in two.blinded_message()


def test_a_dlt_in_another_cohort_does_not_count_for_a_cohort_rule():
    dosings = full_low_cohort() + doses("cohort-mid", 3, T0 + 60 * DAY)
    dsmb = [DsmbDecision("cohort-low", Decision.ESCALATE, T0 + 59 * DAY)]
    events = [dlt(T0 + 20 * DAY), dlt(T0 + 61 * DAY, "cohort-mid")]
    # The low cohort's DLT was reviewed (escalate came after it); one in mid is below the threshold.
    assert status(dosings, dsmb, events, now=T0 + 62 * DAY).state is GateState.SENTINEL_WAIT


def test_one_related_sae_anywhere_pauses_and_unrelated_or_non_serious_do_not():
    dosings = doses("cohort-low", 2)
    now = T0 + 9 * DAY
    assert status(dosings, events=[SafetyEvent("cohort-low", T0, serious=True)], now=now).state is GateState.OPEN
    assert status(dosings, events=[SafetyEvent("cohort-low", T0, related=True)], now=now).state is GateState.OPEN
    related = SafetyEvent(None, T0 + DAY, serious=True, related=True)
    s = status(dosings, events=[related], now=now)
    assert s.state is GateState.PAUSED and [t.rule.id for t in s.triggered] == ["related-sae"]


def test_a_dsmb_stay_after_the_pause_resumes_until_a_new_event():
    dosings = doses("cohort-low", 2)
    first = SafetyEvent("cohort-low", T0 + DAY, serious=True, related=True)
    s = status(dosings, events=[first], now=T0 + 9 * DAY)
    check_decision(ASSIST, s, "cohort-low", Decision.STAY)
    with pytest.raises(EscalationError, match="stay or stop"):
        check_decision(ASSIST, s, "cohort-low", Decision.ESCALATE)
    stay = DsmbDecision("cohort-low", Decision.STAY, T0 + 9 * DAY)
    assert status(dosings, [stay], [first], now=T0 + 10 * DAY).state is GateState.OPEN
    second = SafetyEvent("cohort-low", T0 + 11 * DAY, serious=True, related=True)
    assert status(dosings, [stay], [first, second], now=T0 + 12 * DAY).state is GateState.PAUSED


def test_escalate_is_refused_before_the_follow_up_and_on_other_cohorts():
    s = status(full_low_cohort(), now=T0 + 30 * DAY)
    with pytest.raises(EscalationError, match="cannot be escalated yet"):
        check_decision(ASSIST, s, "cohort-low", Decision.ESCALATE)
    with pytest.raises(EscalationError, match="current cohort"):
        check_decision(ASSIST, s, "cohort-mid", Decision.ESCALATE)
    with pytest.raises(EscalationError, match="not one of"):
        check_decision(ASSIST, s, "cohort-x", Decision.STOP)
    open_ = status()
    with pytest.raises(EscalationError, match="cannot be escalated now"):
        check_decision(ASSIST, open_, "cohort-low", Decision.ESCALATE)
    with pytest.raises(EscalationError, match="nothing to decide"):
        check_decision(ASSIST, open_, "cohort-low", Decision.STAY)


def test_stopping_rules_report_counts_per_scope():
    esc = ASSIST.randomization.escalation
    events = [dlt(T0), dlt(T0 + DAY, "cohort-mid"), SafetyEvent("cohort-mid", T0, serious=True, related=True)]
    mid = {t.rule.id: t.count for t in evaluate_stopping_rules(esc, events, "cohort-mid")}
    assert mid == {"related-sae": 1}  # one DLT in mid: below two
    low = {t.rule.id: t.count for t in evaluate_stopping_rules(esc, [*events, dlt(T0 + 2 * DAY)], "cohort-low")}
    assert low == {"dlt-in-cohort": 2, "related-sae": 1}
