"""Allocation API. ``randomize`` answers every caller with the same three fields whatever the
arm; the list, the preparation and the unblinding answer only the roles that may see an arm."""

# No ``from __future__ import annotations`` here: django-ninja's ``paginate`` reads the views'
# parameter annotations, which must be real types, not strings.
from datetime import datetime
from typing import Annotated

from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StringConstraints

from trialkit.server.accounts.lookups import participant_by_number, trial_for
from trialkit.server.allocation import escalation, services
from trialkit.server.api_contract import NctId, Number, Pages, RowId, Rows, Secret, Text
from trialkit.server.participants.models import Participant
from trialkit.server.trials.models import Trial

router = Router(tags=["allocation"])


class ReceiptOut(Schema):
    randomization_number: str
    kit_number: str
    randomized_at: datetime


class RandomizedOut(Schema):
    participant_number: str
    site: str
    randomization_number: str
    kit_number: str
    randomized_at: datetime
    dose_status: str  # awaiting_preparation, prepared, given: the same steps in every arm
    emergency_unblinded: bool


class SlotOut(Schema):
    stratum: str
    sequence_no: int
    cohort: str
    arm_id: str
    dose_level: str
    block_no: int
    block_size: int
    kit_number: str
    randomization_number: str
    participant_number: str | None


class GenerateIn(Schema):
    seed: Annotated[str, StringConstraints(max_length=128)] | None = None  # MinimizationState.seed
    regenerate: bool = False


class GeneratedOut(Schema):
    slots: int
    strata: list[str]
    seed: str
    seed_sha256: str


class DoseIn(Schema):
    # None: the weight recorded at the dosing visit
    weight_kg: float | Annotated[str, StringConstraints(max_length=32)] | None = None
    weight_reason: Text = ""  # required when weight_kg differs from the recorded weight


class DoseOut(Schema):
    preparation: dict
    steps: list[str]
    label: str


class AdministeredOut(Schema):
    participant_number: str
    administered_at: datetime


class UnblindIn(Schema):
    reason: Text
    password: Secret
    otp_token: Secret = ""  # the current code of the investigator's authenticator app


class UnblindOut(Schema):
    participant_number: str
    arm_id: str
    arm_label: str
    dose_label: str | None
    at: datetime


class NotificationOut(Schema):
    id: int
    trial: str
    message: str
    created_at: datetime
    read_at: datetime | None


def _trial(request, nct_id: str) -> Trial:
    return trial_for(request.user, nct_id)[0]


def _participant(request, nct_id: str, participant_number: str) -> Participant:
    return participant_by_number(request.user, _trial(request, nct_id), participant_number)[0]


def _dose_status(participant: Participant) -> str:
    record = getattr(participant, "dose_record", None)
    if record is None:
        return "awaiting_preparation"
    return "given" if record.administered_at else "prepared"


@router.get("/{nct_id}/randomized", response=list[RandomizedOut])
@paginate(Pages)
def randomized(request, nct_id: NctId):
    """Randomized participants at your sites: randomization and kit numbers only."""
    trial = _trial(request, nct_id)
    return Rows(
        services.randomized_participants(trial, request.user),
        show=lambda p: RandomizedOut(
            participant_number=p.participant_number,
            site=p.site.code,
            randomization_number=p.randomization_number,
            kit_number=p.kit_number,
            randomized_at=p.randomized_at,
            dose_status=_dose_status(p),
            emergency_unblinded=p.emergency_unblinded,
        ),
    )


@router.post("/{nct_id}/participants/{participant_number}/randomize", response={200: ReceiptOut})
def randomize(request, nct_id: NctId, participant_number: Number):
    """Randomize an enrolled participant (coordinator or investigator of the site)."""
    participant = _participant(request, nct_id, participant_number)
    receipt = services.randomize(participant, request.user, now=timezone.now())
    return Status(200, ReceiptOut(**vars(receipt)))


@router.get("/{nct_id}/list", response=list[SlotOut])
@paginate(Pages)
def allocation_list(request, nct_id: NctId):
    """The concealed list (DSMB statistician only)."""
    trial = _trial(request, nct_id)
    return Rows(
        services.allocation_list_rows(trial, request.user),
        show=lambda s: SlotOut(
            stratum=s.stratum,
            sequence_no=s.sequence_no,
            cohort=s.cohort,
            arm_id=s.arm_id,
            dose_level=s.dose_level,
            block_no=s.block_no,
            block_size=s.block_size,
            kit_number=s.kit_number,
            randomization_number=s.randomization_number,
            participant_number=s.participant.participant_number if s.participant else None,
        ),
    )


@router.post("/{nct_id}/list", response={201: GeneratedOut})
def generate(request, nct_id: NctId, payload: GenerateIn):
    """Generate the list (DSMB statistician). The seed is returned once and not stored."""
    trial = _trial(request, nct_id)
    generated = services.generate_allocation_list(
        trial, request.user, now=timezone.now(), seed=payload.seed, regenerate=payload.regenerate
    )
    return Status(
        201,
        GeneratedOut(
            slots=generated.slots,
            strata=generated.allocation_list.strata,
            seed=generated.seed,
            seed_sha256=generated.allocation_list.seed_sha256,
        ),
    )


@router.get("/{nct_id}/balance", response=list[dict])
@paginate(Pages)
def balance(request, nct_id: NctId):
    """Used slots per arm and stratum (DSMB statistician only)."""
    return services.balance_summary(_trial(request, nct_id), request.user)


@router.post("/{nct_id}/participants/{participant_number}/dose", response={200: DoseOut})
def prepare_dose(request, nct_id: NctId, participant_number: Number, payload: DoseIn):
    """Compute and record the preparation from the dosing-visit weight (unblinded pharmacist)."""
    participant = _participant(request, nct_id, participant_number)
    prepared = services.prepare_dose(
        participant, payload.weight_kg, request.user, now=timezone.now(), weight_reason=payload.weight_reason
    )
    return Status(
        200,
        DoseOut(preparation=prepared.preparation.as_dict(), steps=prepared.preparation.steps(), label=prepared.label),
    )


@router.post("/{nct_id}/participants/{participant_number}/administered", response={200: AdministeredOut})
def administered(request, nct_id: NctId, participant_number: Number):
    """Record that the prepared infusion was given."""
    participant = _participant(request, nct_id, participant_number)
    record = services.record_administration(participant, request.user, now=timezone.now())
    return Status(
        200, AdministeredOut(participant_number=participant.participant_number, administered_at=record.administered_at)
    )


@router.post("/{nct_id}/participants/{participant_number}/unblind", response={200: UnblindOut})
def unblind(request, nct_id: NctId, participant_number: Number, payload: UnblindIn):
    """Emergency unblinding by the site investigator, with a reason and the password."""
    participant = _participant(request, nct_id, participant_number)
    result = services.emergency_unblind(
        participant,
        request.user,
        reason=payload.reason,
        password=payload.password,
        otp_token=payload.otp_token,
        now=timezone.now(),
        request=request,
    )
    return Status(200, UnblindOut(**vars(result)))


@router.get("/notifications", response=list[NotificationOut])
@paginate(Pages)
def notifications(request):
    """Your in-app notifications (emergency unblinding notices for sponsor administrators), newest first."""
    return Rows(
        services.notifications_for(request.user).order_by("-created_at", "-id"),
        show=lambda n: NotificationOut(
            id=n.pk, trial=n.trial.nct_id, message=n.message, created_at=n.created_at, read_at=n.read_at
        ),
    )


@router.post("/notifications/{notification_id}/read", response=NotificationOut)
def notification_read(request, notification_id: RowId):
    n = services.mark_read(notification_id, request.user, now=timezone.now())
    return NotificationOut(id=n.pk, trial=n.trial.nct_id, message=n.message, created_at=n.created_at, read_at=n.read_at)


class GateOut(Schema):
    """What every member of the trial may know: open or paused, and a sentence without any cohort or count."""

    randomization: str  # open | paused
    message: str


class CohortOut(Schema):
    id: str
    label: str
    size: int
    randomized: int
    by_arm: dict[str, int]


class DecisionOut(Schema):
    cohort_id: str
    decision: str
    rationale: str
    decided_by: str
    decided_at: datetime


class EscalationOut(Schema):
    state: str
    cohort_id: str | None
    reason: str
    until: datetime | None
    triggered: list[str]
    cohorts: list[CohortOut]
    decisions: list[DecisionOut]


class DecisionIn(Schema):
    cohort_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    decision: Annotated[str, StringConstraints(pattern=r"^(escalate|stay|stop)$")]
    rationale: Text


@router.get("/{nct_id}/gate", response=GateOut)
def gate(request, nct_id: NctId):
    """Whether randomization is open (any member of the trial); the same two words whatever the arms."""
    trial = _trial(request, nct_id)
    blinded = escalation.blinded_gate(trial, timezone.now())
    if blinded is None:
        return GateOut(randomization="open", message="Randomization is open.")
    return GateOut(randomization=blinded.randomization, message=blinded.message)


def _escalation_out(trial, user) -> EscalationOut:
    view = escalation.dsmb_view(trial, user, timezone.now())
    status = view["status"]
    return EscalationOut(
        state=status.state.value if status else "none",
        cohort_id=status.cohort_id if status else None,
        reason=status.reason if status else "this trial has no escalation gates",
        until=status.until if status else None,
        triggered=[t.describe() for t in status.triggered] if status else [],
        cohorts=[CohortOut(**c) for c in view["cohorts"]],
        decisions=[
            DecisionOut(
                cohort_id=d.cohort_id,
                decision=d.decision,
                rationale=d.rationale,
                decided_by=d.decided_by.get_username(),
                decided_at=d.decided_at,
            )
            for d in view["decisions"]
        ],
    )


@router.get("/{nct_id}/escalation", response=EscalationOut)
def escalation_status(request, nct_id: NctId):
    """The escalation gates with cohorts and counts by arm (DSMB statistician only)."""
    trial = _trial(request, nct_id)
    return _escalation_out(trial, request.user)


@router.post("/{nct_id}/escalation/decisions", response={201: EscalationOut})
def escalation_decide(request, nct_id: NctId, payload: DecisionIn):
    """Record the DSMB's decision on the current cohort (DSMB statistician only); 409 when the gate
    rules do not allow it now."""
    trial = _trial(request, nct_id)
    escalation.record_decision(
        trial,
        request.user,
        cohort_id=payload.cohort_id,
        decision=payload.decision,
        rationale=payload.rationale,
        now=timezone.now(),
    )
    return Status(201, _escalation_out(trial, request.user))
