"""Allocation workflows: generate the list, randomize, prepare the dose, break the code.

The rules (strata, cohorts, the list itself, the dose) come from ``trialkit.randomization`` and
``trialkit.dosing``; this module stores, serializes, authorizes and audits. Every function takes
the actor and the time, checks the actor's role and site, and raises ``AllocationDenied`` (a
PermissionDenied) or ``AllocationProblem`` with a message that never names an arm.

Serialization: each randomization locks the trial's ``AllocationList`` row (``SELECT … FOR
UPDATE`` on PostgreSQL; on SQLite every write transaction is ``BEGIN IMMEDIATE``, see settings,
so it holds the database write lock from its first statement). The lock covers the trial-wide
randomization number, the open dose cohort and the next free slot of the stratum, so two
sites can never take the same slot, skip one, or overfill a cohort.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from trialkit import dosing, randomization
from trialkit.dosing.preparation import validated_weight
from trialkit.eligibility import FactsError
from trialkit.eligibility.timing import Step, recheck
from trialkit.randomization.strata import key_from_levels
from trialkit.server.accounts.access import access_for, require
from trialkit.server.accounts.authn import ReauthenticationFailed, reauthenticate
from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import Role
from trialkit.server.allocation import escalation
from trialkit.server.allocation.models import (
    AllocationList,
    AllocationSlot,
    DoseRecord,
    MinimizationState,
    Notification,
    UnblindingEvent,
)
from trialkit.server.audit.context import audited_service
from trialkit.server.audit.rows import lock_first, record_bulk_created
from trialkit.server.audit.service import batch as audit_batch
from trialkit.server.audit.service import record_event
from trialkit.server.participants.facts import derived_facts
from trialkit.server.participants.models import Participant, ScreeningRecord
from trialkit.server.product import hooks as product


class AllocationDenied(PermissionDenied):
    """The actor's role or site does not allow this."""


class AllocationProblem(ValueError):
    """A workflow step that must not happen now (the API answers 409); ``field`` names the input at
    fault, if any (then 422, with ``rule``)."""

    def __init__(self, message: str, field: str | None = None, rule: str = "invalid"):
        self.field = field
        self.rule = rule
        super().__init__(message)


@dataclass(frozen=True)
class RandomizationReceipt:
    """The whole result of a randomization as anyone but the unblinded roles sees it."""

    randomization_number: str
    kit_number: str
    randomized_at: datetime


@dataclass(frozen=True)
class GeneratedList:
    allocation_list: AllocationList
    seed: str  # shown once to the statistician, never stored
    slots: int


# ---------------------------------------------------------------- the list


def trial_site_codes(trial) -> list[str]:
    """The trial's active sites: the database holds them, often more than the registry names."""
    return list(trial.sites.filter(active=True).order_by("code").values_list("code", flat=True))


def trial_strata(trial) -> list[str]:
    """Every stratum of the trial (cohorts × sites × the levels of the other factors), by the
    core's rules, with the sites from the database."""
    try:
        return randomization.all_strata(trial.protocol, sites=trial_site_codes(trial))
    except randomization.StratumError as exc:
        raise AllocationProblem(str(exc), field="stratify_by") from exc


def seed_hash(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


@transaction.atomic
def generate_allocation_list(
    trial, actor, *, now: datetime, seed: str | None = None, regenerate: bool = False
) -> GeneratedList:
    """Generate and store the trial's concealed list (DSMB statistician only).

    Once per trial; ``regenerate`` replaces it only while no participant has been allocated.
    """
    require(actor, trial, "allocation.manage_list")
    spec = trial.protocol.randomization
    existing = AllocationList.objects.select_for_update().filter(trial=trial).first()
    if existing is not None:
        if not regenerate:
            raise AllocationProblem(_("this trial already has an allocation list; regenerate it explicitly"))
        if existing.slots.filter(participant__isnull=False).exists() or existing.allocated_count:
            raise AllocationProblem(_("participants have been randomized from this list; it can no longer be replaced"))
    seed = seed or secrets.token_hex(16)
    if spec.method == "minimization":
        return _set_up_minimization(trial, actor, now, seed, existing)
    strata = trial_strata(trial)
    try:
        generated = randomization.generate_list(trial.protocol, seed, strata=strata)
    except (randomization.StratumError, ValueError) as exc:
        raise AllocationProblem(str(exc)) from exc
    before = _discard(existing)
    allocation_list = AllocationList.objects.create(
        trial=trial,
        method=spec.method,
        seed_sha256=seed_hash(seed),
        generated_by=actor,
        created_at=now,
        strata=strata,
    )
    slots = AllocationSlot.objects.bulk_create(
        AllocationSlot(
            allocation_list=allocation_list,
            trial=trial,
            stratum=s.stratum,
            sequence_no=s.sequence_no,
            cohort=s.cohort or "",
            arm_id=s.arm_id,
            dose_level=s.dose_level or "",
            block_no=s.block_no,
            block_size=s.block_size,
            kit_number=s.kit_number,
        )
        for s in generated.slots
    )
    record_bulk_created(slots)  # bulk_create sends no signals: audit each slot row here
    record_event(
        actor=actor,
        action="allocation_list.generated" if before is None else "allocation_list.regenerated",
        object_type="allocation_list",
        object_id=allocation_list.pk,
        before=before,
        after={
            "method": spec.method,
            "seed_sha256": allocation_list.seed_sha256,
            "strata": strata,
            "slots": len(generated.slots),
        },
        trial_id=trial.pk,
        restricted=True,
        at=now,
    )
    return GeneratedList(allocation_list, seed, len(generated.slots))


def _discard(existing: AllocationList | None) -> dict[str, Any] | None:
    """Remove an unused list (and any minimization state) before it is replaced."""
    if existing is None:
        return None
    before = {"seed_sha256": existing.seed_sha256, "slots": existing.slots.count()}
    existing.slots.all().delete()
    MinimizationState.objects.filter(trial_id=existing.trial_id).delete()
    existing.delete()
    return before


def _set_up_minimization(trial, actor, now: datetime, seed: str, existing: AllocationList | None) -> GeneratedList:
    """Minimization has no list: the seed and the empty counts are stored, unblinded, in one row
    that each randomization locks. The kit list is drawn from the same seed as it is used."""
    try:
        minimizer = randomization.Minimizer(trial.protocol, seed)
    except ValueError as exc:
        raise AllocationProblem(str(exc), field="minimization") from exc
    before = _discard(existing)
    allocation_list = AllocationList.objects.create(
        trial=trial,
        method=AllocationList.Method.MINIMIZATION,
        seed_sha256=seed_hash(seed),
        generated_by=actor,
        created_at=now,
        strata=[],
    )
    MinimizationState.objects.create(trial=trial, seed=seed, state=minimizer.empty_state(), updated_at=now)
    spec = trial.protocol.randomization
    record_event(
        actor=actor,
        action="allocation_list.generated" if before is None else "allocation_list.regenerated",
        object_type="allocation_list",
        object_id=allocation_list.pk,
        before=before,
        after={
            "method": spec.method,
            "seed_sha256": allocation_list.seed_sha256,
            "factors": minimizer.factors,
            "probability": minimizer.probability,
        },
        trial_id=trial.pk,
        restricted=True,
        at=now,
    )
    return GeneratedList(allocation_list, seed, 0)


def allocation_list_rows(trial, actor):
    """The full code list (kit -> arm) for the statistician."""
    require(actor, trial, "allocation.manage_list")
    return AllocationSlot.objects.filter(trial=trial).select_related("participant").order_by("stratum", "sequence_no")


def balance_summary(trial, actor) -> list[dict[str, Any]]:
    """Per stratum: slots, used, and used per arm; with the core's prefix-imbalance measure.

    The slots are counted by the database and only the used slots' arms are read, in list order: a
    list is generated for the planned enrollment and more, so reading every slot grew the page with
    the list, not with the randomized."""
    require(actor, trial, "allocation.manage_list")
    ratio = trial.protocol.randomization.ratio
    slots = AllocationSlot.objects.filter(trial=trial)
    rows: dict[str, dict[str, Any]] = {
        stratum: {"stratum": stratum, "slots": n, "used": 0, "by_arm": dict.fromkeys(ratio, 0)}
        for stratum, n in slots.values_list("stratum").annotate(n=Count("id")).order_by("stratum")
    }
    used_arms: dict[str, list[str]] = {}
    used = slots.filter(participant__isnull=False).order_by("stratum", "sequence_no")
    for stratum, arm_id in used.values_list("stratum", "arm_id"):
        rows[stratum]["used"] += 1
        rows[stratum]["by_arm"][arm_id] += 1
        used_arms.setdefault(stratum, []).append(arm_id)
    for stratum, row in rows.items():
        sequence = used_arms.get(stratum, [])
        imbalance = randomization.max_prefix_imbalance(sequence, ratio) if sequence else {}
        row["max_imbalance"] = max(imbalance.values(), default=0)
    return list(rows.values())


def arms_by_participant(trial, actor, *, system: bool = False) -> dict[int, str]:
    """Participant pk -> arm id of every allocated slot, for an unblinded data export.

    Only a user whose roles may see allocation gets this; ``system`` is the command-line export,
    run by someone with the database in hand, who asked for an unblinded export explicitly.
    """
    if not system and not access_for(actor, trial).can_see_allocation:
        raise AllocationDenied("your role does not allow seeing allocation")
    return dict(
        AllocationSlot.objects.filter(trial=trial, participant__isnull=False).values_list("participant_id", "arm_id")
    )


# ---------------------------------------------------------------- randomize


def _enrollment_problem(participant: Participant) -> str | None:
    if participant.status != Participant.Status.ENROLLED:
        if participant.randomization_number:
            return _("participant %(participant)s is already randomized; allocation happens once") % {
                "participant": participant.participant_number
            }
        return _("participant %(participant)s is %(status)s, not enrolled") % {
            "participant": participant.participant_number,
            "status": participant.get_status_display().lower(),
        }
    return None


def _consented(screening: ScreeningRecord) -> bool:
    return screening.consents.filter(withdrawn_on__isnull=True).exists()


def _cohort_counts(trial, allocation_list: AllocationList) -> dict[str, int]:
    if not trial.protocol.randomization.cohorts:
        return {}
    return dict(allocation_list.slots.filter(participant__isnull=False).values_list("cohort").annotate(n=Count("id")))


def participant_stratum(
    trial,
    participant: Participant,
    cohort_counts: dict[str, int] | None = None,
    facts: dict | None = None,
    sites: list[str] | None = None,
) -> str:
    """The participant's stratum key (and enrolling cohort) from the core, with the trial's sites
    (``sites``: ``trial_site_codes`` already read)."""
    facts = derived_facts(participant.screening) if facts is None else facts
    try:
        return randomization.allocation_stratum(
            trial.protocol,
            participant.site.code,
            facts,
            cohort_counts or {},
            sites=trial_site_codes(trial) if sites is None else sites,
        )
    except randomization.StratumError as exc:
        raise AllocationProblem(str(exc), field="facts") from exc
    except randomization.AllocationError as exc:
        raise AllocationProblem(str(exc)) from exc


def participant_levels(
    trial, participant: Participant, facts: dict | None = None, sites: list[str] | None = None
) -> dict[str, str]:
    """Factor id -> level for minimization: the core's factor rules over the screening facts and site."""
    facts = derived_facts(participant.screening) if facts is None else facts
    try:
        return randomization.stratum_levels(
            trial.protocol, participant.site.code, facts, sites=trial_site_codes(trial) if sites is None else sites
        )
    except randomization.StratumError as exc:
        raise AllocationProblem(str(exc), field="facts") from exc


def randomization_number(trial, n: int) -> str:
    """Trial-wide and sequential across sites: it tells the order of randomization, not the arm."""
    return f"{trial.protocol.randomization.kit_prefix}-R{n:04d}"


@audited_service
def randomize(participant: Participant, actor, *, now: datetime, facts: dict | None = None) -> RandomizationReceipt:
    """Allocate the next slot of the participant's stratum, once, to an enrolled participant.

    Returns only what blinded staff may see. Raises AllocationProblem (nothing written) when
    the participant is not enrolled, eligible and consented, is already randomized, or the
    stratum's list is used up.
    """
    trial = participant.trial
    require(actor, trial, "allocation.randomize", site_id=participant.site_id)
    escalation.check_stopping_rules(trial, now)
    try:
        # The audit events of the allocation (rows, schedule, workflow) are appended in one insert
        # at the end of the transaction: the trial's chain is locked once, for the insert and commit.
        with transaction.atomic(), audit_batch():
            return _randomize_locked(trial, participant.pk, actor, now, facts)
    except IntegrityError as exc:  # a second line of defence behind the locks
        raise AllocationProblem(
            _("the allocation could not be recorded (%(error)s); try again") % {"error": exc.__class__.__name__}
        ) from exc


def _randomize_locked(trial, participant_pk: int, actor, now: datetime, facts: dict | None) -> RandomizationReceipt:
    # Lock order, always the same: the participant, then the list row (or the minimization state
    # after it), then the slot. What does not depend on the list — the checks, day 0, the schedule and
    # the screening visit's forms — is done before the list is locked, so a trial's randomizations
    # wait on each other only for taking a slot, the numbers and the audit append.
    participant = lock_first(Participant.objects.select_related("screening", "site").filter(pk=participant_pk))
    if participant is None:
        raise Participant.DoesNotExist(f"participant {participant_pk} does not exist")
    participant.trial = trial
    if not AllocationList.objects.filter(trial=trial).exists():
        raise AllocationProblem(_("the statistician has not generated this trial's allocation list yet"))
    problem = _enrollment_problem(participant)
    screening = participant.screening
    if problem is None and (
        screening.verdict != ScreeningRecord.Verdict.ELIGIBLE or screening.outcome != ScreeningRecord.Outcome.ENROLLED
    ):
        problem = f"participant {participant.participant_number} is not an eligible, enrolled participant"
    if problem is None and not _consented(screening):
        problem = f"participant {participant.participant_number} has no valid consent on record"
    if problem:
        raise AllocationProblem(problem)
    refuse_outside_windows(participant, now, "randomization")
    _place_day_zero(trial, participant, actor, now)
    sites = trial_site_codes(trial)

    allocation_list = lock_first(AllocationList.objects.filter(trial=trial))
    if allocation_list is None:  # replaced or removed since the check above
        raise AllocationProblem(_("the statistician has not generated this trial's allocation list yet"))
    try:
        escalation.refuse_while_closed(trial, now)
    except escalation.GateClosed as exc:
        raise AllocationProblem(str(exc), rule="gate_closed") from exc

    if allocation_list.method == AllocationList.Method.MINIMIZATION:
        return _minimize_locked(trial, allocation_list, participant, actor, now, facts, sites)
    stratum = participant_stratum(trial, participant, _cohort_counts(trial, allocation_list), facts, sites)
    # The first free slot, with the number of used slots in its stratum (read with it: one statement
    # under the lock).
    used_in_stratum = (
        AllocationSlot.objects.filter(
            allocation_list=OuterRef("allocation_list"), stratum=OuterRef("stratum"), participant__isnull=False
        )
        .order_by()
        .values("allocation_list")
        .annotate(n=Count("pk"))
        .values("n")
    )
    slot = lock_first(
        AllocationSlot.objects.filter(allocation_list=allocation_list, stratum=stratum, participant__isnull=True)
        .annotate(used_in_stratum=Coalesce(Subquery(used_in_stratum), 0))
        .order_by("sequence_no")
    )
    if slot is None:
        if not allocation_list.slots.filter(stratum=stratum).exists():
            raise AllocationProblem(
                _("the allocation list has no stratum %(stratum)s; the statistician must extend it")
                % {"stratum": repr(stratum)}
            )
        raise AllocationProblem(
            _("the list for stratum %(stratum)s is used up; the statistician must extend it")
            % {"stratum": repr(stratum)}
        )
    # The slots before this one must all be used, and none after it: a gap would mean a skipped allocation.
    if slot.used_in_stratum != slot.sequence_no - 1:
        raise AllocationProblem(
            _("stratum %(stratum)s has a gap before slot %(slot)s; allocation stopped")
            % {"stratum": repr(stratum), "slot": slot.sequence_no}
        )

    number = _next_number(trial, allocation_list)
    slot.participant = participant
    slot.randomization_number = number
    slot.allocated_at = now
    slot.allocated_by = actor
    slot.save(update_fields=["participant", "randomization_number", "allocated_at", "allocated_by"])
    return _record_allocation(trial, participant, slot, actor, now, restricted={"stratum": stratum})


def refuse_outside_windows(participant: Participant, now: datetime, step: Step) -> None:
    """Raise AllocationProblem naming each time-dependent criterion that no longer holds on the day of
    ``step`` (the core's ``eligibility.timing.recheck`` over the stored screening facts), and a
    screening older than the protocol allows. Called before anything is written."""
    screening = participant.screening
    facts = {key: value for key, value in (screening.facts or {}).items() if key not in ("id", "screening_date")}
    try:
        result = recheck(
            participant.trial.protocol, facts, screening_date=screening.screening_date, on=local_date(now), step=step
        )
    except FactsError as exc:
        raise AllocationProblem(
            _(
                "the screening facts of %(participant)s cannot be re-checked for %(step)s: %(error)s; correct them in screening"
            )
            % {"participant": participant.participant_number, "step": step, "error": exc},
            field="facts",
        ) from exc
    except ValueError as exc:
        raise AllocationProblem(f"{participant.participant_number}: {exc}", field="screening_date") from exc
    if not result.ok:
        raise AllocationProblem(
            _("participant %(participant)s is %(refusal)s")
            % {"participant": participant.participant_number, "refusal": result.refusal()},
            field=f"eligibility.{result.problems[0].criterion_id}",
            rule="eligible_on_the_day",
        )


def _next_number(trial, allocation_list: AllocationList) -> str:
    allocation_list.allocated_count += 1
    allocation_list.save(update_fields=["allocated_count"])
    return randomization_number(trial, allocation_list.allocated_count)


def local_date(now: datetime):
    """The calendar date of ``now`` where the trial runs (the server's time zone)."""
    return timezone.localtime(now).date() if timezone.is_aware(now) else now.date()


def _place_day_zero(trial, participant: Participant, actor, now: datetime) -> None:
    """Before the list is locked: the randomization time, day 0 when the schedule counts from
    randomization, and the schedule placed from it (saved with the numbers by ``_record_allocation``;
    a refusal after this point rolls the schedule back with everything else)."""
    participant.randomized_at = now
    if trial.protocol.schedule.anchor == "randomization":
        participant.anchor_date = local_date(now)  # day 0 is the day of randomization
    _place_schedule(participant, actor, now)


def _record_allocation(
    trial, participant: Participant, slot: AllocationSlot, actor, now: datetime, restricted: dict[str, Any]
) -> RandomizationReceipt:
    """Give the participant the slot's numbers (with the day 0 ``_place_day_zero`` set), and write the
    open and the restricted audit events."""
    before = {"status": participant.status}
    participant.randomization_number = slot.randomization_number
    participant.kit_number = slot.kit_number
    participant.status = Participant.Status.RANDOMIZED
    fields = ["randomization_number", "kit_number", "randomized_at", "status"]
    if trial.protocol.schedule.anchor == "randomization":
        fields.append("anchor_date")
    participant.save(update_fields=fields)
    common = dict(
        actor=actor,
        object_type="participant",
        object_id=participant.participant_number,
        trial_id=trial.pk,
        site_id=participant.site_id,
        participant_id=participant.pk,
        at=now,
    )
    record_event(
        action="participant.randomized",
        before=before,
        after={
            "status": participant.status,
            "randomization_number": slot.randomization_number,
            "kit_number": slot.kit_number,
            **({"anchor_date": participant.anchor_date} if "anchor_date" in fields else {}),
        },
        **common,
    )
    record_event(
        action="allocation.slot_used",
        restricted=True,
        after={
            **restricted,
            "sequence_no": slot.sequence_no,
            "cohort": slot.cohort,
            "arm_id": slot.arm_id,
            "dose_level": slot.dose_level,
            "kit_number": slot.kit_number,
            "randomization_number": slot.randomization_number,
        },
        **common,
    )
    return RandomizationReceipt(slot.randomization_number, slot.kit_number, now)


def _minimize_locked(
    trial,
    allocation_list: AllocationList,
    participant: Participant,
    actor,
    now: datetime,
    facts: dict | None,
    sites: list[str] | None = None,
) -> RandomizationReceipt:
    """Pocock–Simon minimization under the lock of the trial's state row.

    The core's Minimizer chooses the arm from the running counts and the seed; the state row is
    locked (``SELECT … FOR UPDATE``; on SQLite the transaction already holds the write lock), so
    two randomizations never read the same counts. The assignment is stored as a used slot whose
    stratum is the participant's factor levels and whose sequence number is the assignment
    number: replaying the slots in order from the seed reproduces every arm.
    """
    state_row = lock_first(MinimizationState.objects.filter(trial=trial))
    if state_row is None:
        raise AllocationProblem(_("the statistician has not set up this trial's minimization yet"))
    levels = participant_levels(trial, participant, facts, sites)
    try:
        minimizer = randomization.Minimizer(trial.protocol, state_row.seed)
        result = minimizer.assign(state_row.state, levels)
    except (randomization.StratumError, ValueError) as exc:
        raise AllocationProblem(str(exc), field="facts") from exc
    kit = randomization.minimization_kit_codes(trial.protocol, state_row.seed, result.assignment_no)[-1]
    state_row.state = result.state
    state_row.updated_at = now
    state_row.save(update_fields=["state", "updated_at"])
    arm = trial.protocol.arm(result.arm_id)
    dose_level = arm.dose.levels[0].id if arm.dose and len(arm.dose.levels) == 1 else ""
    number = _next_number(trial, allocation_list)
    slot = AllocationSlot.objects.create(
        allocation_list=allocation_list,
        trial=trial,
        stratum=key_from_levels(levels),
        sequence_no=result.assignment_no,
        arm_id=result.arm_id,
        dose_level=dose_level,
        block_no=0,
        block_size=0,
        kit_number=kit,
        participant=participant,
        randomization_number=number,
        allocated_at=now,
        allocated_by=actor,
    )
    return _record_allocation(
        trial,
        participant,
        slot,
        actor,
        now,
        restricted={
            "method": "minimization",
            "factor_levels": levels,
            "assignment_no": result.assignment_no,
            "imbalance": result.imbalance,
            "probabilities": result.probabilities,
            "draw": result.draw,
        },
    )


# ---------------------------------------------------------------- dose


def _refuse_ended(participant: Participant) -> None:
    """No dose is prepared or given once participation has ended (the status would be overwritten)."""
    if participant.has_ended:
        raise AllocationProblem(
            _(
                "participant %(participant)s's participation ended on %(date)s (%(status)s); "
                "an investigator must reopen it first"
            )
            % {
                "participant": participant.participant_number,
                "date": participant.ended_on,
                "status": participant.get_status_display().lower(),
            }
        )


def _slot_of(participant: Participant) -> AllocationSlot:
    slot = AllocationSlot.objects.filter(participant=participant).first()
    if slot is None:
        raise AllocationProblem(
            _("participant %(participant)s is not randomized") % {"participant": participant.participant_number}
        )
    return slot


def doses_to_prepare(trial, actor) -> list[Participant]:
    """Randomized participants at the pharmacist's sites with no dose prepared yet."""
    access = require(actor, trial, "allocation.prepare_dose")
    qs = (
        Participant.objects.filter(trial=trial, status=Participant.Status.RANDOMIZED, dose_record__isnull=True)
        .select_related("site")
        .order_by("randomized_at", "randomization_number")
    )
    pharmacy_sites = access.sites("allocation.prepare_dose")
    if pharmacy_sites is not None:
        qs = qs.filter(site_id__in=pharmacy_sites)
    return list(qs)


@dataclass(frozen=True)
class PreparedDose:
    record: DoseRecord
    preparation: dosing.DosePreparation
    label: str


def recorded_weight(participant: Participant):
    """The weight entered at the dosing visit in data capture (``vital_signs.weight_kg``), or None."""
    from trialkit.server.capture.services import dosing_visit_weight

    return dosing_visit_weight(participant)


def _same_weight(a: Any, b: float) -> bool:
    try:
        return validated_weight(a, (0.001, 10_000.0)) == validated_weight(b, (0.001, 10_000.0))
    except dosing.DosingError:
        return False


@transaction.atomic
def prepare_dose(
    participant: Participant, weight_kg: Any, actor, *, now: datetime, weight_reason: str = ""
) -> PreparedDose:
    """The unblinded preparation and the blinded label, from the weight at the dosing visit.

    ``weight_kg`` None (or blank) takes the weight recorded at the dosing visit in data capture;
    a typed weight that differs from the recorded one needs ``weight_reason``, which the audit
    trail keeps. With no weight recorded and none typed the preparation is refused: there is no
    default weight.
    """
    trial = participant.trial
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    plan = plan_dose(participant, weight_kg, actor, now=now, weight_reason=weight_reason)
    preparation, label, weight_source, existing = plan.preparation, plan.label, plan.weight_source, plan.existing
    before = {"weight_kg": str(existing.weight_kg)} if existing else None
    record = existing or DoseRecord(participant=participant)
    record.weight_kg = Decimal(str(preparation.weight_kg))
    record.preparation = preparation.as_dict()
    record.label_text = label
    record.prepared_by = actor
    record.prepared_at = now
    record.save()
    product.kit_prepared(participant, actor, now=now)
    record_event(
        actor=actor,
        action="dose.prepared",
        object_type="participant",
        object_id=participant.participant_number,
        before=before,
        after={"weight_kg": str(record.weight_kg), "weight_source": weight_source, **preparation.as_dict()},
        reason=plan.weight_reason,
        trial_id=trial.pk,
        site_id=participant.site_id,
        participant_id=participant.pk,
        restricted=True,
        at=now,
    )
    return PreparedDose(record, preparation, label)


@dataclass(frozen=True)
class DosePlan:
    """A preparation computed and checked but not recorded: what the pharmacist confirms."""

    preparation: Any
    label: str
    weight_source: dict
    existing: DoseRecord | None
    weight_reason: str


def plan_dose(participant: Participant, weight_kg: Any, actor, *, now: datetime, weight_reason: str = "") -> DosePlan:
    """The preparation ``prepare_dose`` would record, with every check it makes, recording nothing
    (the pharmacist's confirmation step). Unblinded: the pharmacist of the site only."""
    trial = participant.trial
    require(actor, trial, "allocation.prepare_dose", site_id=participant.site_id)
    _refuse_ended(participant)
    slot = _slot_of(participant)
    existing = DoseRecord.objects.filter(participant=participant).first()
    if existing is not None and existing.administered_at is not None:
        raise AllocationProblem(_("this participant's dose has already been given; it cannot be prepared again"))
    protocol = trial.protocol
    recorded = recorded_weight(participant)
    weight_reason = (weight_reason or "").strip()
    if weight_kg is None or (isinstance(weight_kg, str) and not weight_kg.strip()):
        if recorded is None:
            raise AllocationProblem(
                _(
                    "weight_kg: is missing; no weight is recorded at the dosing visit (vital signs) and none was entered"
                ),
                field="weight_kg",
            )
        weight_kg = recorded.weight_kg
    if recorded is not None and not _same_weight(weight_kg, recorded.weight_kg) and not weight_reason:
        raise AllocationProblem(
            _("weight_reason: the weight differs from the %(weight)s kg recorded at %(visit)s; say why")
            % {"weight": f"{recorded.weight_kg:g}", "visit": recorded.visit_label},
            field="weight_reason",
        )
    if recorded is not None:
        weight_source = {
            "source": "dosing_visit",
            **recorded.as_dict(),
            "overridden": not _same_weight(weight_kg, recorded.weight_kg),
        }
    else:
        weight_source = {"source": "entered_at_preparation"}
    try:
        preparation = dosing.prepare_dose(protocol, slot.arm_id, slot.dose_level or None, weight_kg)
        thawed_at = product.thawed_at_for_label(participant, preparation)
        label = dosing.blinded_label(
            protocol,
            participant.randomization_number,
            participant.kit_number,
            weight_kg,
            preparation=preparation,
            participant_id=participant.participant_number,
            prepared_at=now,
            prepared_by=actor.get_full_name() or actor.get_username(),
            thawed_at=thawed_at,
        )
    except dosing.DosingError as exc:
        raise AllocationProblem(str(exc), field=exc.field) from exc
    return DosePlan(preparation, label, weight_source, existing, weight_reason)


def preparation_for(participant: Participant, actor) -> PreparedDose | None:
    """The stored preparation (unblinded) for the pharmacist of the participant's site."""
    require(actor, participant.trial, "allocation.prepare_dose", site_id=participant.site_id)
    record = DoseRecord.objects.filter(participant=participant).first()
    if record is None:
        return None
    return PreparedDose(record, dosing.DosePreparation(**record.preparation), record.label_text)


def blinded_label_for(participant: Participant, actor) -> str:
    """The printed label: the same words for every arm, so blinded site staff may see it."""
    require(actor, participant.trial, "allocation.administer", site_id=participant.site_id)
    record = DoseRecord.objects.filter(participant=participant).first()
    if record is None:
        raise AllocationProblem(_("no dose has been prepared for this participant yet"))
    return record.label_text


@transaction.atomic
def record_administration(participant: Participant, actor, *, now: datetime) -> DoseRecord:
    """The infusion was given: the participant is treated and day 0 is the infusion date."""
    require(actor, participant.trial, "allocation.administer", site_id=participant.site_id)
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    _refuse_ended(participant)
    record = DoseRecord.objects.select_for_update().filter(participant=participant).first()
    if record is None:
        raise AllocationProblem(_("no dose has been prepared for this participant yet"))
    if record.administered_at is not None:
        raise AllocationProblem(_("the administration is already recorded"))
    refuse_outside_windows(participant, now, "infusion")
    product.kit_infused(participant, actor, now=now)  # refused after the kit's use-by
    record.administered_at = now
    record.administered_by = actor
    record.save(update_fields=["administered_at", "administered_by"])
    before = {"status": participant.status, "anchor_date": participant.anchor_date}
    participant.status = Participant.Status.TREATED
    fields = ["status"]
    if participant.trial.protocol.schedule.anchor == "infusion":
        participant.anchor_date = local_date(now)  # day 0 is the day of the infusion
        fields.append("anchor_date")
    participant.save(update_fields=fields)
    record_event(
        actor=actor,
        action="dose.administered",
        object_type="participant",
        object_id=participant.participant_number,
        before=before,
        after={"status": participant.status, "anchor_date": participant.anchor_date, "administered_at": now},
        trial_id=participant.trial_id,
        site_id=participant.site_id,
        participant_id=participant.pk,
        at=now,
    )
    _place_schedule(participant, actor, now)
    return record


def _place_schedule(participant: Participant, actor, now: datetime) -> None:
    """Create or move the participant's visits to day 0 in the same transaction, so that the
    schedule, the dose record and the anchor date never disagree."""
    from trialkit.server.capture.services import ensure_schedule

    ensure_schedule(participant, actor, now=now)


# ---------------------------------------------------------------- emergency unblinding


@dataclass(frozen=True)
class UnblindingResult:
    participant_number: str
    arm_id: str
    arm_label: str
    dose_label: str | None
    at: datetime


@audited_service
def emergency_unblind(
    participant: Participant,
    investigator,
    *,
    reason: str,
    password: str,
    now: datetime,
    otp_token: str = "",
    request=None,
) -> UnblindingResult:
    """Reveal one participant's arm to the investigator of their site, and to no one else.

    The reason, the investigator's own password and a current code of their authenticator app
    are required (re-authentication, 21 CFR 11.300; a failure is audited and counts towards the
    lockout). The event is audited (restricted), the participant is flagged everywhere, and the
    trial's sponsor administrators are notified in the app (without the arm).
    """
    trial = participant.trial
    require(investigator, trial, "allocation.unblind", site_id=participant.site_id)
    reason = (reason or "").strip()
    if not reason:
        raise AllocationProblem(_("a reason is required to break the code"), field="reason")
    try:
        reauthenticate(
            investigator,
            password,
            otp_token=otp_token or "",
            request=request,
            attempted=f"emergency unblinding of {participant.participant_number}",
            where={"trial_id": trial.pk, "site_id": participant.site_id, "participant_id": participant.pk},
        )
    except ReauthenticationFailed as exc:
        raise AllocationProblem(str(exc), field=exc.field) from None
    return _emergency_unblind(participant, investigator, reason=reason, now=now)


@transaction.atomic
def _emergency_unblind(participant: Participant, investigator, *, reason: str, now: datetime) -> UnblindingResult:
    trial = participant.trial
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    slot = _slot_of(participant)
    arm = trial.protocol.arm(slot.arm_id)
    dose_label = None
    if arm.dose and slot.dose_level:
        dose_label = next((lvl.label for lvl in arm.dose.levels if lvl.id == slot.dose_level), None)
    UnblindingEvent.objects.create(participant=participant, investigator=investigator, reason=reason, at=now)
    first_time = not participant.emergency_unblinded
    participant.emergency_unblinded = True
    participant.save(update_fields=["emergency_unblinded"])
    common = dict(
        actor=investigator,
        object_type="participant",
        object_id=participant.participant_number,
        trial_id=trial.pk,
        site_id=participant.site_id,
        participant_id=participant.pk,
        at=now,
        reason=reason,
    )
    # The unrestricted event says that the code was broken; the restricted one what it showed.
    record_event(
        action="participant.emergency_unblinded",
        before={"emergency_unblinded": not first_time},
        after={"emergency_unblinded": True},
        **common,
    )
    record_event(
        action="allocation.revealed",
        restricted=True,
        after={
            "arm_id": slot.arm_id,
            "dose_level": slot.dose_level,
            "kit_number": slot.kit_number,
            "revealed_to": investigator.get_username(),
        },
        **common,
    )
    who = investigator.get_full_name() or investigator.get_username()
    message = (
        f"{trial.short_name}: participant {participant.participant_number} "
        f"({participant.randomization_number}, site {participant.site.code}) was emergency-unblinded by "
        f"{who} on {now:%Y-%m-%d %H:%M} UTC. Reason: {reason}"
    )
    sponsor_ids = (
        Membership.objects.filter(trial=trial, role=Role.SPONSOR_ADMIN).values_list("user_id", flat=True).distinct()
    )
    Notification.objects.bulk_create(
        Notification(
            trial=trial,
            recipient_role=Role.SPONSOR_ADMIN,
            recipient_id=user_id,
            participant=participant,
            message=message,
            created_at=now,
        )
        for user_id in sponsor_ids
    )
    return UnblindingResult(participant.participant_number, slot.arm_id, arm.label, dose_label, now)


# ---------------------------------------------------------------- notifications


def notifications_for(user, trial=None):
    qs = Notification.objects.filter(recipient=user).select_related("trial", "participant")
    if trial is not None:
        qs = qs.filter(trial=trial)
    return qs


@transaction.atomic
def mark_read(notification_id: int, user, *, now: datetime) -> Notification:
    notification = Notification.objects.select_for_update().filter(pk=notification_id, recipient=user).first()
    if notification is None:
        raise AllocationDenied("no such notification for you")
    if notification.read_at is None:
        notification.read_at = now
        notification.save(update_fields=["read_at"])
    return notification


# ---------------------------------------------------------------- blinded listings


def randomized_participants(trial, actor):
    """Participants with a randomization number at the actor's sites, in randomization order.

    Ordered by randomization number, never by anything a slot holds, so the order tells nothing.
    """
    access = access_for(actor, trial)
    if not access.roles:
        raise AllocationDenied("you hold no role in this trial")
    qs = (
        Participant.objects.filter(trial=trial)
        .exclude(randomization_number="")
        .select_related("site", "dose_record")
        .order_by("randomized_at", "randomization_number")
    )
    if access.site_ids is not None:
        qs = qs.filter(site_id__in=access.site_ids)
    return qs


def awaiting_randomization(trial, actor) -> list[Participant]:
    access = access_for(actor, trial)
    if not access.roles:
        raise AllocationDenied("you hold no role in this trial")
    qs = (
        Participant.objects.filter(trial=trial, status=Participant.Status.ENROLLED)
        .select_related("site")
        .order_by("participant_number")
    )
    if access.site_ids is not None:
        qs = qs.filter(site_id__in=access.site_ids)
    return list(qs)
