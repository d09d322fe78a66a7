"""A third trial runs from its protocol file alone: the fictional NCT09999999 (minimization 2:1 over
site, sex and NIHSS band; day 0 at randomization; a drug dosed in mg/kg; its own forms and criteria)
goes through the real services from screening to a scored form, with a site only the database knows."""

from datetime import timedelta

import pytest
from integration_cases import NOW, THIRD, acute_facts

from trialkit import randomization
from trialkit.randomization.strata import parse_stratum_key
from trialkit.server.allocation import services as allocation
from trialkit.server.allocation.models import AllocationSlot, MinimizationState
from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.service import verify_chain
from trialkit.server.capture import services as capture
from trialkit.server.capture.models import Visit
from trialkit.server.participants.models import Participant

pytestmark = pytest.mark.django_db

# (site, sex, NIHSS total): every site, both sexes and all three bands.
CANDIDATES = [
    ("fict-01", "female", 5),
    ("fict-02", "male", 9),
    ("fict-03", "female", 16),
    ("fict-03", "male", 12),
    ("fict-01", "male", 18),
    ("fict-02", "female", 6),
]


def test_the_third_trial_runs_end_to_end_from_its_protocol_file(third_trial, screen_and_enroll, site_staff, make_user):
    trial = third_trial
    assert trial.protocol.randomization.method == "minimization"
    dsmb = make_user("dsmb_statistician", trial)
    generated = allocation.generate_allocation_list(trial, dsmb, now=NOW - timedelta(days=1), seed="fictus-seed")
    assert generated.slots == 0 and generated.allocation_list.method == "minimization"

    people = []
    for i, (code, sex, nihss) in enumerate(CANDIDATES):
        participant = screen_and_enroll(trial, code, acute_facts(sex=sex, nihss_total=nihss))
        coordinator, _, _ = site_staff(trial, code)
        when = NOW + timedelta(days=i, hours=1)
        receipt = allocation.randomize(participant, coordinator, now=when)
        assert receipt.randomization_number == f"FX-R{i + 1:04d}"
        participant.refresh_from_db()
        # anchor: randomization -> day 0 is the day of randomization, and the visits are placed from it.
        assert participant.anchor_date == when.date()
        visits = {v.visit_id: v for v in Visit.objects.filter(participant=participant)}
        assert list(visits) == ["screening", "dosing", "day7", "day90"]
        assert visits["dosing"].target == when.date()
        assert visits["day90"].target == when.date() + timedelta(days=90)
        people.append(participant)

    # The minimization state counts exactly the assignments, and the trial's levels come from the
    # screening facts (sex, NIHSS band) and the site, including the database-only fict-03.
    slots = list(AllocationSlot.objects.filter(trial=trial).order_by("sequence_no"))
    assert [s.participant_id for s in slots] == [p.pk for p in people]
    state = MinimizationState.objects.get(trial=trial).state
    assert state["assigned"] == len(CANDIDATES)
    for factor in ("site", "sex", "nihss-band"):
        assert sum(sum(arms.values()) for arms in state["counts"][factor].values()) == len(CANDIDATES)
    assert state["counts"]["site"]["fict-03"] == {
        arm: sum(1 for s in slots if s.arm_id == arm and "site=fict-03" in s.stratum)
        for arm in state["counts"]["site"]["fict-03"]
    }
    assert parse_stratum_key(slots[2].stratum) == {"site": "fict-03", "sex": "female", "nihss-band": "severe"}
    # Replaying the recorded levels from the seed reproduces every arm.
    arms, replayed = randomization.Minimizer(trial.protocol, "fictus-seed").replay(
        [parse_stratum_key(s.stratum) for s in slots]
    )
    assert arms == [s.arm_id for s in slots]
    assert replayed == state
    # Kit numbers come from the seeded kit list in assignment order, whatever the arm.
    assert [s.kit_number for s in slots] == randomization.minimization_kit_codes(trial.protocol, "fictus-seed", 6)

    # The dosing visit's vital signs give the weight; the pharmacist prepares from it.
    first = people[0]
    coordinator, investigator, pharmacist = site_staff(trial, "fict-01")
    capture.save_form(
        first,
        "dosing",
        "vital_signs",
        {"systolic_bp": 138, "diastolic_bp": 82, "heart_rate": 71, "weight_kg": 72.4},
        coordinator,
        complete=True,
        now=NOW + timedelta(hours=2),
    )
    prepared = allocation.prepare_dose(first, None, pharmacist, now=NOW + timedelta(hours=3))
    slot = AllocationSlot.objects.get(participant=first)
    # Hand computation at 72.4 kg, 2 ml/kg final volume in both arms: FX-101 0.5 mg/kg = 36.2 mg at
    # 5 mg/ml = 7.24 ml, drawn as 7.2 ml (36.0 mg) from one 50 mg vial; placebo 0.1 ml/kg = 7.2 ml.
    assert prepared.preparation.weight_kg == 72.4
    assert prepared.preparation.product_volume_ml == 7.2
    assert prepared.preparation.final_volume_ml == 144.8
    assert prepared.preparation.diluent_volume_ml == 137.6
    if slot.arm_id == "fx101":
        assert (prepared.preparation.vials, prepared.preparation.delivered_amount) == (1, 36.0)
    assert "72.4 kg" in prepared.label and "144.8 ml" in prepared.label
    event = AuditEvent.objects.filter(action="dose.prepared").latest("seq")
    assert event.restricted and event.after["weight_source"]["source"] == "dosing_visit"

    # The administration keeps day 0 at randomization (the schedule's anchor), and the visits agree.
    allocation.record_administration(first, investigator, now=NOW + timedelta(days=1, hours=5))
    first.refresh_from_db()
    assert first.status == Participant.Status.TREATED
    assert first.anchor_date == (NOW + timedelta(hours=1)).date()
    assert Visit.objects.get(participant=first, visit_id="dosing").target == first.anchor_date

    # A scored form at the dosing visit.
    nihss = acute_facts(nihss_total=5)["nihss"]
    form = capture.save_form(first, "dosing", "nihss", nihss, coordinator, complete=True, now=NOW + timedelta(hours=4))
    assert form.scores["total"] == 5

    checked, problem = verify_chain()
    assert problem is None and checked > 30


def test_a_site_missing_from_the_registry_is_a_stratum_of_the_database(third_trial):
    """The core accepts the trial's sites from the caller: fict-03 is in the database, not the registry."""
    protocol = third_trial.protocol
    facts = {"sex": "male", "nihss_total": 12}
    with pytest.raises(randomization.StratumError, match="fict-03"):
        randomization.stratum_levels(protocol, "fict-03", facts)
    sites = allocation.trial_site_codes(third_trial)
    assert sites == ["fict-01", "fict-02", "fict-03"]
    assert randomization.stratum_levels(protocol, "fict-03", facts, sites=sites) == {
        "site": "fict-03",
        "sex": "male",
        "nihss-band": "moderate",
    }


def test_allocation_check_simulates_a_minimization_trial():
    """Counts per level add up to the simulated participants; 2:1 overall within one participant
    (minimization keeps every margin near the ratio, Pocock and Simon 1975)."""
    import json

    from integration_cases import REPO
    from typer.testing import CliRunner

    from trialkit.cli.main import app

    path = REPO / "tests" / "integration" / "protocols" / f"{THIRD}.yaml"
    result = CliRunner().invoke(
        app, ["allocation", "check", "--protocol", str(path), "--seed", "7", "--n", "60", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["method"] == "minimization" and sum(report["overall_counts"].values()) == 60
    assert abs(report["overall_counts"]["fx101"] - 2 * report["overall_counts"]["placebo"]) <= 3
    for per_level in report["counts"].values():
        assert sum(sum(arms.values()) for arms in per_level.values()) == 60
    bad = CliRunner().invoke(app, ["allocation", "check", "--protocol", str(path), "--n", "0"])
    assert bad.exit_code == 2 and "--n" in bad.output
