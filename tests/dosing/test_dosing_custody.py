"""The kit's chain of custody (state machine), infusion limits, release checks, supply thresholds,
expiry warnings and the use-by on the label: pure core, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from trialkit.dosing import blinded_label, prepare_dose
from trialkit.dosing.custody import (
    ASSIGNED,
    IN_TRANSIT,
    INFUSED,
    PREPARED,
    QUARANTINED,
    RECEIVED,
    REGISTERED,
    STORED,
    THAWED,
    CustodyRefused,
    KitFacts,
    LotFacts,
    excursion_outside,
    next_state,
)
from trialkit.dosing.infusion import (
    InfusionRecord,
    Interruption,
    concentration_problems,
    infusion_problems,
    release_problems,
)
from trialkit.dosing.supply import expiry_warnings, resupply_quantity
from trialkit.protocol import load_protocol
from trialkit.protocol.schema import InfusionLimits, ReleaseSpec, Supply

ASSIST = load_protocol("NCT04590118")
NOW = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
GOOD_LOT = LotFacts(released=True, expires_on=date(2026, 12, 31))


def kit(status, **kw):
    return KitFacts(kit_number="K-0001", status=status, lot=kw.pop("lot", GOOD_LOT), **kw)


def test_every_step_of_the_chain_in_order():
    state = REGISTERED
    thawed = NOW
    for step, expected in [
        ("ship", IN_TRANSIT),
        ("receive", RECEIVED),
        ("store", STORED),
        ("assign", ASSIGNED),
        ("thaw", THAWED),
        ("prepare", PREPARED),
        ("infuse", INFUSED),
    ]:
        state = next_state(
            kit(state, thawed_at=thawed), step, now=NOW + timedelta(hours=1), max_thaw_to_infusion_hours=3
        )
        assert state == expected


@pytest.mark.parametrize(
    ("status", "step", "rule"),
    [
        (REGISTERED, "assign", "state"),
        (STORED, "infuse", "state"),
        (QUARANTINED, "assign", "quarantined"),
        (QUARANTINED, "thaw", "quarantined"),
        (INFUSED, "destroy", "state"),
    ],
)
def test_steps_out_of_order_are_refused(status, step, rule):
    with pytest.raises(CustodyRefused) as err:
        next_state(kit(status, thawed_at=NOW), step, now=NOW)
    assert err.value.rule == rule


def test_infusing_after_use_by_is_refused():
    thawed = NOW - timedelta(hours=3, minutes=1)
    with pytest.raises(CustodyRefused) as err:
        next_state(kit(PREPARED, thawed_at=thawed), "infuse", now=NOW, max_thaw_to_infusion_hours=3)
    assert err.value.rule == "past_use_by"
    assert (
        next_state(kit(PREPARED, thawed_at=NOW - timedelta(hours=3)), "infuse", now=NOW, max_thaw_to_infusion_hours=3)
        == INFUSED
    )


def test_release_needs_a_reviewed_usable_excursion_and_goes_back():
    with pytest.raises(CustodyRefused) as err:
        next_state(kit(QUARANTINED, status_before_quarantine=STORED), "release", now=NOW)
    assert err.value.rule == "excursion_not_reviewed"
    with pytest.raises(CustodyRefused) as err:
        next_state(kit(QUARANTINED, excursion_reviewed_usable=False), "release", now=NOW)
    assert err.value.rule == "excursion_unusable"
    back = next_state(
        kit(QUARANTINED, status_before_quarantine=ASSIGNED, excursion_reviewed_usable=True), "release", now=NOW
    )
    assert back == ASSIGNED


def test_expired_or_unreleased_lot_refuses_assignment():
    expired = LotFacts(released=True, expires_on=date(2026, 3, 3))
    with pytest.raises(CustodyRefused) as err:
        next_state(kit(STORED, lot=expired), "assign", now=NOW)
    assert err.value.rule == "expired"
    with pytest.raises(CustodyRefused) as err:
        next_state(kit(REGISTERED, lot=LotFacts(released=False, expires_on=date(2027, 1, 1))), "ship", now=NOW)
    assert err.value.rule == "lot_not_released"


def test_excursion_range():
    assert excursion_outside((-196, -135), -190, -120)
    assert not excursion_outside((-196, -135), -190, -150)


LIMITS = InfusionLimits(max_rate_ml_per_hour=200, max_volume_ml=150, max_volume_ml_per_kg=1.0)


def record(**kw):
    base = dict(started_at=NOW, stopped_at=NOW + timedelta(minutes=30), rate_ml_per_hour=150, volume_given_ml=70)
    base.update(kw)
    return InfusionRecord(**base)


def problems(rec, **kw):
    args = dict(weight_kg=70, prepared_volume_ml=70, thawed_at=NOW - timedelta(hours=1), max_thaw_to_infusion_hours=3)
    args.update(kw)
    return {p.rule for p in infusion_problems(LIMITS, rec, **args)}


def test_a_good_infusion_passes():
    assert problems(record()) == set()


def test_infusion_limits():
    assert "max_rate" in problems(record(rate_ml_per_hour=250))
    assert "max_volume_per_kg" in problems(record(volume_given_ml=75), prepared_volume_ml=None)
    assert "max_volume" in problems(
        record(volume_given_ml=160, stopped_at=NOW + timedelta(hours=1)), weight_kg=None, prepared_volume_ml=None
    )
    assert "prepared_volume" in problems(record(volume_given_ml=71), weight_kg=100)
    assert "past_use_by" in problems(record(stopped_at=NOW + timedelta(hours=2, minutes=1)))
    assert "before_thaw" in problems(record(), thawed_at=NOW + timedelta(minutes=5))
    assert "order" in problems(record(stopped_at=NOW))
    # 70 ml cannot run in 10 minutes at 150 ml/h
    assert "rate_time" in problems(record(stopped_at=NOW + timedelta(minutes=10)))


def test_interruptions_count_against_running_time_and_must_lie_inside():
    pause = Interruption(NOW + timedelta(minutes=5), NOW + timedelta(minutes=20), "reaction")
    assert "rate_time" in problems(record(interruptions=[pause]))
    outside = Interruption(NOW - timedelta(minutes=5), NOW, "")
    assert "order" in problems(record(interruptions=[outside]))


def test_concentration_limit_at_preparation():
    high = prepare_dose(ASSIST, "it-hmsc", "high", 70)  # 2e6 cells/ml
    assert concentration_problems(InfusionLimits(max_concentration_per_ml=3e6), high) == []
    assert [p.rule for p in concentration_problems(InfusionLimits(max_concentration_per_ml=1.5e6), high)] == [
        "max_concentration"
    ]
    assert (
        concentration_problems(InfusionLimits(max_concentration_per_ml=1), prepare_dose(ASSIST, "placebo", None, 70))
        == []
    )


def test_release_checks():
    spec = ReleaseSpec(min_viability_percent=70, cell_count_tolerance_percent=20)
    ok = dict(
        cells_per_vial=1e8, stated_cells_per_vial=1e8, viability_percent=85, sterility="pass", expires_on_passed=False
    )
    assert release_problems(spec, cell_product=True, **ok) == []
    assert {p.rule for p in release_problems(spec, cell_product=True, **{**ok, "viability_percent": 60})} == {"range"}
    assert {p.field for p in release_problems(spec, cell_product=True, **{**ok, "cells_per_vial": 7e7})} == {
        "cells_per_vial"
    }
    assert {p.field for p in release_problems(spec, cell_product=True, **{**ok, "sterility": "pending"})} == {
        "sterility"
    }
    assert release_problems(spec, cell_product=False, **{**ok, "viability_percent": None, "cells_per_vial": None}) == []


def test_resupply_thresholds():
    spec = Supply(min_stock_per_site=2, resupply_quantity=4)
    assert resupply_quantity(spec, available=2, in_transit=0, requested=0) == 0
    assert resupply_quantity(spec, available=1, in_transit=0, requested=0) == 4
    assert resupply_quantity(spec, available=1, in_transit=1, requested=0) == 0
    assert resupply_quantity(spec, available=0, in_transit=0, requested=4) == 0
    assert (
        resupply_quantity(Supply(min_stock_per_site=6, resupply_quantity=2), available=1, in_transit=0, requested=0)
        == 5
    )


def test_expiry_warnings():
    spec = Supply(expiry_warning_days=30)
    today = date(2026, 3, 4)
    kits = [("K-3", date(2026, 5, 1)), ("K-2", date(2026, 4, 3)), ("K-1", date(2026, 3, 1)), ("K-4", date(2026, 4, 2))]
    warned = expiry_warnings(spec, kits, today)
    assert [(w.kit_number, w.expired) for w in warned] == [("K-1", True), ("K-4", False), ("K-2", False)]
    assert warned[1].days_left == 29


def test_use_by_on_the_label_is_thaw_plus_the_protocols_limit():
    prep = prepare_dose(ASSIST, "it-hmsc", "mid", 70)
    thawed = datetime(2026, 3, 4, 8, 15)
    text = blinded_label(
        ASSIST, "R1", "K-1", 70, preparation=prep, prepared_at=NOW.replace(tzinfo=None), thawed_at=thawed
    )
    assert "Use by:             4 Mar 2026 11:15" in text  # 08:15 + 3 h (ASSIST)
    assert "Masking:            opaque bag" in text
    placebo = blinded_label(
        ASSIST,
        "R1",
        "K-1",
        70,
        preparation=prepare_dose(ASSIST, "placebo", None, 70),
        prepared_at=NOW.replace(tzinfo=None),
        thawed_at=thawed,
    )
    assert placebo == text
    assert "Use by:             ________________" in blinded_label(ASSIST, "R1", "K-1", 70, preparation=prep)
