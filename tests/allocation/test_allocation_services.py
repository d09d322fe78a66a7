"""Allocation services: the list, randomization, dose preparation, emergency unblinding."""

from datetime import timedelta

import pytest
from allocation_cases import NOW
from auth_support import otp_code
from django.core.exceptions import PermissionDenied

from trialkit import randomization as randomization_core
from trialkit.server.allocation import services
from trialkit.server.allocation.models import AllocationList, AllocationSlot, DoseRecord, Notification, UnblindingEvent
from trialkit.server.audit.models import AuditEvent
from trialkit.server.participants.models import Participant

pytestmark = pytest.mark.django_db

ASSIST, IXCELL = "NCT04590118", "NCT07197606"


def _coordinator(make_user, trial, code):
    return make_user("coordinator", trial, site=trial.sites.get(code=code))


# ------------------------------------------------------------------ the list


def test_only_the_dsmb_statistician_generates_the_list(trials, make_user):
    trial = trials[IXCELL]
    for role in ("sponsor_admin", "investigator", "coordinator", "unblinded_pharmacist", "monitor"):
        with pytest.raises(PermissionDenied):
            services.generate_allocation_list(trial, make_user(role, trial), now=NOW, seed="x")
    assert not AllocationList.objects.exists()


def test_the_list_has_one_stratum_per_site_and_band_and_keeps_only_the_seed_hash(generated, trials):
    ixcell = generated[IXCELL].allocation_list
    # 3 sites × 2 NIHSS bands, each as long as the planned enrollment (86).
    assert len(ixcell.strata) == 6 and "site=ixcell-02|nihss-band=severe" in ixcell.strata
    assert ixcell.slots.count() == 6 * 86
    assert ixcell.seed_sha256 == services.seed_hash(f"seed-{IXCELL}")
    assert f"seed-{IXCELL}" not in str(AllocationList.objects.values().get(pk=ixcell.pk))
    # ASSIST: 3 cohorts, each one list of 20 shared by every site (so 15:5 holds per cohort).
    assist = generated[ASSIST].allocation_list
    assert len(assist.strata) == 3 and assist.slots.count() == 3 * 20


def test_the_stored_list_is_the_cores_list_for_the_seed(generated, trials):
    from trialkit import randomization

    trial = trials[ASSIST]
    core = randomization.generate_list(trial.protocol, f"seed-{ASSIST}", strata=services.trial_strata(trial))
    stored = list(
        AllocationSlot.objects.filter(trial=trial).values_list(
            "stratum", "sequence_no", "arm_id", "dose_level", "kit_number"
        )
    )
    assert sorted(stored) == sorted(
        (s.stratum, s.sequence_no, s.arm_id, s.dose_level or "", s.kit_number) for s in core.slots
    )


def test_a_list_is_generated_once_and_replaced_only_before_any_allocation(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    dsmb = generated[IXCELL].allocation_list.generated_by
    with pytest.raises(services.AllocationProblem, match="already has"):
        services.generate_allocation_list(trial, dsmb, now=NOW, seed="other")
    services.generate_allocation_list(trial, dsmb, now=NOW, seed="other", regenerate=True)
    assert AllocationList.objects.get(trial=trial).seed_sha256 == services.seed_hash("other")
    p = enroll(trial, "ixcell-01")
    services.randomize(p, _coordinator(make_user, trial, "ixcell-01"), now=NOW)
    with pytest.raises(services.AllocationProblem, match="no longer be replaced"):
        services.generate_allocation_list(trial, dsmb, now=NOW, seed="third", regenerate=True)


# ------------------------------------------------------------------ randomize


def test_randomization_gives_the_next_slot_of_the_stratum_and_a_blinded_receipt(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    coordinator = _coordinator(make_user, trial, "ixcell-01")
    receipts = [services.randomize(enroll(trial, "ixcell-01", nihss=n), coordinator, now=NOW) for n in (8, 15, 9)]
    assert [r.randomization_number for r in receipts] == ["IX-R0001", "IX-R0002", "IX-R0003"]
    used = AllocationSlot.objects.filter(participant__isnull=False).order_by("randomization_number")
    assert [(s.stratum, s.sequence_no) for s in used] == [
        ("site=ixcell-01|nihss-band=moderate", 1),
        ("site=ixcell-01|nihss-band=severe", 1),
        ("site=ixcell-01|nihss-band=moderate", 2),
    ]
    assert [r.kit_number for r in receipts] == [s.kit_number for s in used]
    assert set(vars(receipts[0])) == {"randomization_number", "kit_number", "randomized_at"}
    p = Participant.objects.get(randomization_number="IX-R0002")
    assert p.status == "randomized" and p.kit_number == receipts[1].kit_number


def test_the_balance_counts_every_slot_and_the_used_ones_per_arm_in_list_order(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    coordinator = _coordinator(make_user, trial, "ixcell-01")
    for nihss in (8, 15, 9, 10, 7, 16, 12):
        services.randomize(enroll(trial, "ixcell-01", nihss=nihss), coordinator, now=NOW)
    dsmb = make_user("dsmb_statistician", trial)
    # Counted here from the slots themselves, one by one.
    expected = {}
    for slot in AllocationSlot.objects.filter(trial=trial).order_by("stratum", "sequence_no"):
        row = expected.setdefault(
            slot.stratum, {"slots": 0, "used": [], "by_arm": dict.fromkeys(trial.protocol.randomization.ratio, 0)}
        )
        row["slots"] += 1
        if slot.participant_id:
            row["used"].append(slot.arm_id)
            row["by_arm"][slot.arm_id] += 1
    balance = services.balance_summary(trial, dsmb)
    assert [row["stratum"] for row in balance] == list(expected)
    for row in balance:
        want = expected[row["stratum"]]
        assert (row["slots"], row["used"], row["by_arm"]) == (want["slots"], len(want["used"]), want["by_arm"])
        ratio = trial.protocol.randomization.ratio
        imbalance = randomization_core.max_prefix_imbalance(want["used"], ratio) if want["used"] else {}
        assert row["max_imbalance"] == max(imbalance.values(), default=0)
    assert sum(row["used"] for row in balance) == 7
    assert sum(row["slots"] for row in balance) == AllocationSlot.objects.filter(trial=trial).count() > 7


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eligible": False}, "not an eligible"),
        ({"consented": False}, "no valid consent"),
        ({"enrolled": False}, "not an eligible"),
    ],
)
def test_only_eligible_consented_enrolled_participants_are_randomized(
    generated, trials, make_user, enroll, kwargs, message
):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01", **kwargs)
    with pytest.raises(services.AllocationProblem, match=message):
        services.randomize(p, _coordinator(make_user, trial, "ixcell-01"), now=NOW)
    assert not AllocationSlot.objects.filter(participant__isnull=False).exists()
    assert not AuditEvent.objects.filter(action="participant.randomized").exists()


def test_a_participant_is_randomized_once(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    coordinator = _coordinator(make_user, trial, "ixcell-01")
    p = enroll(trial, "ixcell-01")
    services.randomize(p, coordinator, now=NOW)
    with pytest.raises(services.AllocationProblem, match="already randomized"):
        services.randomize(p, coordinator, now=NOW)
    assert AllocationSlot.objects.filter(participant__isnull=False).count() == 1


def test_staff_of_another_site_and_blinded_non_site_roles_cannot_randomize(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    for user in (
        _coordinator(make_user, trial, "ixcell-02"),
        make_user("sponsor_admin", trial),
        make_user("unblinded_pharmacist", trial, site=p.site),
        make_user("dsmb_statistician", trial),
    ):
        with pytest.raises(PermissionDenied):
            services.randomize(p, user, now=NOW)


def test_randomization_needs_a_list_and_an_in_band_nihss(trials, make_user, enroll, generated):
    trial = trials[IXCELL]
    coordinator = _coordinator(make_user, trial, "ixcell-01")
    with pytest.raises(services.AllocationProblem, match="nihss_total = 25 is outside every band"):
        services.randomize(enroll(trial, "ixcell-01", nihss=25), coordinator, now=NOW)
    AllocationSlot.objects.all().delete()
    AllocationList.objects.all().delete()
    with pytest.raises(services.AllocationProblem, match="has not generated"):
        services.randomize(enroll(trial, "ixcell-01"), coordinator, now=NOW)


def test_an_exhausted_stratum_is_a_clear_error_and_nothing_is_written(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    stratum = "site=ixcell-01|nihss-band=moderate"
    AllocationSlot.objects.filter(trial=trial, stratum=stratum, sequence_no__gt=2).delete()
    coordinator = _coordinator(make_user, trial, "ixcell-01")
    for _ in range(2):
        services.randomize(enroll(trial, "ixcell-01"), coordinator, now=NOW)
    p = enroll(trial, "ixcell-01")
    events = AuditEvent.objects.count()  # after enrolment's own row events
    with pytest.raises(services.AllocationProblem, match=r"stratum 'site=ixcell-01\|nihss-band=moderate' is used up"):
        services.randomize(p, coordinator, now=NOW)
    p.refresh_from_db()
    assert p.status == "enrolled" and p.randomization_number == "" and AuditEvent.objects.count() == events
    assert AllocationList.objects.get(trial=trial).allocated_count == 2


@pytest.mark.parametrize("gap", ["a later slot used", "a slot missing"])
def test_a_gap_in_the_stratum_stops_allocation_and_nothing_is_written(generated, trials, make_user, enroll, gap):
    """The first free slot is taken only when exactly the slots before it are used: a later slot
    already used (a skipped allocation) or a slot row missing stops allocation in that stratum."""
    trial = trials[IXCELL]
    stratum = "site=ixcell-01|nihss-band=moderate"
    coordinator = _coordinator(make_user, trial, "ixcell-01")
    services.randomize(enroll(trial, "ixcell-01"), coordinator, now=NOW)  # slot 1
    slots = AllocationSlot.objects.filter(trial=trial, stratum=stratum)
    if gap == "a later slot used":  # slot 3 taken around the service, slot 2 still free
        other = enroll(trial, "ixcell-01")
        slots.filter(sequence_no=3).update(
            participant=other, randomization_number="X", allocated_at=NOW, allocated_by=coordinator
        )
    else:  # slot 2 gone: the first free slot is 3, with one used slot before it
        slots.filter(sequence_no=2).delete()
    p = enroll(trial, "ixcell-01")
    events = AuditEvent.objects.count()
    with pytest.raises(services.AllocationProblem, match=r"has a gap before slot [23]; allocation stopped"):
        services.randomize(p, coordinator, now=NOW)
    p.refresh_from_db()
    assert p.status == "enrolled" and p.randomization_number == "" and AuditEvent.objects.count() == events
    assert AllocationList.objects.get(trial=trial).allocated_count == 1


def test_assist_allocates_the_low_dose_cohort_first_then_the_next(generated, trials, make_user, enroll):
    """Through the escalation gates: two sentinels, the 7-day wait, the rest of the cohort, day 28
    of the last one, the DSMB's escalate — then the next cohort."""
    from trialkit.server.allocation import escalation

    trial = trials[ASSIST]
    coordinators = {code: _coordinator(make_user, trial, code) for code in ("assist-01", "assist-02", "assist-03")}
    times = [NOW, NOW + timedelta(days=1)] + [NOW + timedelta(days=8, hours=i) for i in range(18)]
    times.append(times[-1] + timedelta(days=29))
    for i, at in enumerate(times):
        if i == 20:
            escalation.record_decision(
                trial, make_user("dsmb_statistician", trial), cohort_id="cohort-low", decision="escalate",
                rationale="no dose-limiting toxicity", now=at,
            )  # fmt: skip
        code = ("assist-01", "assist-02", "assist-03")[i % 3]
        services.randomize(enroll(trial, code, screened=at.date()), coordinators[code], now=at)
    used = AllocationSlot.objects.filter(trial=trial, participant__isnull=False).order_by("randomization_number")
    cohorts = [s.cohort for s in used]
    assert cohorts == ["cohort-low"] * 20 + ["cohort-mid"]
    assert sorted(s.arm_id for s in used[:20]).count("placebo") == 5  # 15:5 across three sites
    # Every experimental slot of the low cohort carries the low dose; placebo its own level.
    assert {(s.arm_id, s.dose_level) for s in used[:20]} <= {("it-hmsc", "low"), ("placebo", "placebo")}


def test_the_unrestricted_audit_event_names_no_arm(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    services.randomize(p, _coordinator(make_user, trial, "ixcell-01"), now=NOW)
    open_event = AuditEvent.objects.get(action="participant.randomized", restricted=False)
    assert set(open_event.after) == {"status", "randomization_number", "kit_number"}
    secret = AuditEvent.objects.get(action="allocation.slot_used")
    assert secret.restricted and secret.after["arm_id"] in {"msc", "placebo"}


# ------------------------------------------------------------------ dose


def _randomized_pair(trial, make_user, enroll, site_code):
    """Randomize participants at one site until both arms are present; return one of each."""
    coordinator = _coordinator(make_user, trial, site_code)
    by_arm = {}
    for i in range(12):
        # ASSIST's sentinel wait: after the first two, a week apart (screened on the day).
        at = NOW + timedelta(days=8 * max(0, i - 1))
        p = enroll(trial, site_code, screened=at.date())
        services.randomize(p, coordinator, now=at)
        by_arm.setdefault(AllocationSlot.objects.get(participant=p).arm_id, p)
        if len(by_arm) == 2:
            return by_arm
    raise AssertionError("both arms expected within 12 allocations")


def test_the_pharmacist_prepares_assist_low_dose_and_placebo_from_the_weight(generated, trials, make_user, enroll):
    """ASSIST low cohort, 70 kg: 0.5×10^6 cells/kg × 70 = 3.5×10^7 cells; 1 vial of 1×10^8;
    3.5×10^7 / 1×10^7 per ml = 3.5 ml drawn; final 1 ml/kg × 70 = 70 ml (66.5 ml diluent).
    Placebo: 1 ml/kg × 70 = 70 ml. (Arithmetic from the protocol's dose rule.)"""
    trial = trials[ASSIST]
    pair = _randomized_pair(trial, make_user, enroll, "assist-01")
    pharmacist = make_user("unblinded_pharmacist", trial, site=trial.sites.get(code="assist-01"))
    active = services.prepare_dose(pair["it-hmsc"], "70", pharmacist, now=NOW)
    placebo = services.prepare_dose(pair["placebo"], 70, pharmacist, now=NOW)
    a = active.preparation
    assert (a.dose_level, a.target_amount, a.vials, a.product_volume_ml, a.diluent_volume_ml, a.final_volume_ml) == (
        "low",
        35_000_000,
        1,
        3.5,
        66.5,
        70.0,
    )
    assert (placebo.preparation.product_volume_ml, placebo.preparation.final_volume_ml) == (70.0, 70.0)

    def normalized(label, p):
        p.refresh_from_db()
        return label.replace(p.randomization_number, "R").replace(p.kit_number, "K").replace(p.participant_number, "P")

    assert normalized(active.label, pair["it-hmsc"]) == normalized(placebo.label, pair["placebo"])
    assert "70.0 ml" in active.label and "placebo" not in active.label.lower()
    assert DoseRecord.objects.count() == 2


@pytest.mark.parametrize(
    "weight, message",
    [
        (None, "missing"),
        ("", "missing"),
        ("heavy", "must be a number"),
        (20, "outside the plausible range"),
        (400, "outside"),
    ],
)
def test_a_missing_or_implausible_weight_is_an_error_not_a_default(
    generated, trials, make_user, enroll, weight, message
):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    services.randomize(p, _coordinator(make_user, trial, "ixcell-01"), now=NOW)
    pharmacist = make_user("unblinded_pharmacist", trial, site=p.site)
    with pytest.raises(services.AllocationProblem, match=message) as info:
        services.prepare_dose(p, weight, pharmacist, now=NOW)
    assert info.value.field == "weight_kg" and not DoseRecord.objects.exists()


def test_only_the_pharmacist_of_the_site_prepares_doses(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    services.randomize(p, _coordinator(make_user, trial, "ixcell-01"), now=NOW)
    for user in (
        make_user("unblinded_pharmacist", trial, site=trial.sites.get(code="ixcell-02")),
        make_user("investigator", trial, site=p.site),
        make_user("dsmb_statistician", trial),
    ):
        with pytest.raises(PermissionDenied):
            services.prepare_dose(p, 70, user, now=NOW)


def test_administration_makes_the_participant_treated_and_locks_the_preparation(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    services.randomize(p, _coordinator(make_user, trial, "ixcell-01"), now=NOW)
    pharmacist = make_user("unblinded_pharmacist", trial, site=p.site)
    services.prepare_dose(p, 64.5, pharmacist, now=NOW)
    assert services.doses_to_prepare(trial, pharmacist) == []
    services.record_administration(p, make_user("investigator", trial, site=p.site), now=NOW + timedelta(hours=2))
    p.refresh_from_db()
    assert p.status == "treated" and p.anchor_date == NOW.date()
    with pytest.raises(services.AllocationProblem, match="already been given"):
        services.prepare_dose(p, 65, pharmacist, now=NOW)


def test_no_dose_is_prepared_or_given_once_participation_has_ended(generated, trials, make_user, enroll):
    """A withdrawal between randomization and infusion stops the dose: the status stays withdrawn
    (not overwritten as treated) until an investigator reopens the record."""
    from trialkit.server.capture.services import end_participation, reopen_participation

    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    coordinator = _coordinator(make_user, trial, "ixcell-01")
    services.randomize(p, coordinator, now=NOW)
    pharmacist = make_user("unblinded_pharmacist", trial, site=p.site)
    services.prepare_dose(p, 70, pharmacist, now=NOW)
    end_participation(
        p,
        coordinator,
        outcome="withdrawn",
        ended_on=NOW.date(),
        reason="Declined the infusion",
        now=NOW + timedelta(hours=1),
    )
    with pytest.raises(services.AllocationProblem, match=r"participation ended on 2025-03-03 .withdrawn."):
        services.record_administration(p, coordinator, now=NOW + timedelta(hours=2))
    with pytest.raises(services.AllocationProblem, match="reopen it first"):
        services.prepare_dose(p, 71, pharmacist, now=NOW + timedelta(hours=2))
    p.refresh_from_db()
    record = DoseRecord.objects.get(participant=p)
    assert (p.status, p.anchor_date, record.administered_at, str(record.weight_kg)) == ("withdrawn", None, None, "70.0")
    reopen_participation(
        p,
        make_user("investigator", trial, site=p.site),
        reason="Consent was not withdrawn",
        now=NOW + timedelta(hours=3),
    )
    services.record_administration(p, coordinator, now=NOW + timedelta(hours=4))
    p.refresh_from_db()
    assert p.status == "treated"


# ------------------------------------------------------------------ emergency unblinding


def test_emergency_unblinding_reveals_the_arm_to_the_investigator_and_notifies_the_sponsor(
    generated, trials, make_user, enroll
):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    services.randomize(p, _coordinator(make_user, trial, "ixcell-01"), now=NOW)
    investigator = make_user("investigator", trial, site=p.site, password="secret-pw")
    sponsors = [make_user("sponsor_admin", trial), make_user("sponsor_admin", trial)]
    result = services.emergency_unblind(
        p,
        investigator,
        reason="Anaphylaxis; treatment depends on product",
        password="secret-pw",
        otp_token=otp_code(investigator),
        now=NOW,
    )
    assert result.arm_id == AllocationSlot.objects.get(participant=p).arm_id
    p.refresh_from_db()
    assert p.emergency_unblinded
    assert UnblindingEvent.objects.get().investigator == investigator
    notes = Notification.objects.filter(trial=trial)
    assert {n.recipient for n in notes} == set(sponsors)
    assert all(result.arm_id not in n.message.lower() and result.arm_label not in n.message for n in notes)
    open_event = AuditEvent.objects.get(action="participant.emergency_unblinded")
    assert not open_event.restricted and "arm_id" not in open_event.after
    assert AuditEvent.objects.get(action="allocation.revealed").restricted


@pytest.mark.parametrize(
    "reason, password, field",
    [
        ("", "secret-pw", "reason"),
        ("   ", "secret-pw", "reason"),
        ("Bleeding", "wrong", "password"),
        ("Bleeding", "", "password"),
    ],
)
def test_unblinding_needs_a_reason_and_the_password(generated, trials, make_user, enroll, reason, password, field):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    services.randomize(p, _coordinator(make_user, trial, "ixcell-01"), now=NOW)
    investigator = make_user("investigator", trial, site=p.site, password="secret-pw")
    with pytest.raises(services.AllocationProblem) as info:
        services.emergency_unblind(
            p, investigator, reason=reason, password=password, otp_token=otp_code(investigator), now=NOW
        )
    assert info.value.field == field
    p.refresh_from_db()
    assert not p.emergency_unblinded and not UnblindingEvent.objects.exists()


def test_only_the_investigator_of_the_site_may_unblind(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    services.randomize(p, _coordinator(make_user, trial, "ixcell-01"), now=NOW)
    for user in (
        make_user("investigator", trial, site=trial.sites.get(code="ixcell-02"), password="pw"),
        make_user("coordinator", trial, site=p.site, password="pw"),
        make_user("sponsor_admin", trial, password="pw"),
    ):
        with pytest.raises(PermissionDenied):
            services.emergency_unblind(p, user, reason="r", password="pw", now=NOW)
