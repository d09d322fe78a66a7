"""Product API: lots and kits for the unblinded pharmacist, the participant's kit timeline and
infusion record for site staff, stock per site (counts only for blinded roles)."""

# No ``from __future__ import annotations``: django-ninja's pagination reads the views' annotations
# as real types.
from datetime import date, datetime
from typing import Annotated

from django.db.models import Count
from django.http import Http404
from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field, StringConstraints

from trialkit.server.accounts.access import require
from trialkit.server.accounts.lookups import participant_by_number, site_for, trial_for
from trialkit.server.api_contract import Code, ErrorOut, NctId, Number, Pages, RowId, Rows, Text
from trialkit.server.product import services
from trialkit.server.product.models import InfusionRecord, Lot, Shipment, TemperatureExcursion

router = Router(tags=["product"])

KitNumber = Annotated[str, StringConstraints(min_length=1, max_length=32)]
LotNumber = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Temperature = Annotated[float, Field(ge=-273.15, le=200)]


def _trial(request, nct_id: str):
    return trial_for(request.user, nct_id)[0]


def _participant(request, nct_id: str, number: str):
    return participant_by_number(request.user, _trial(request, nct_id), number)[0]


class TimelineEntryOut(Schema):
    step: str
    label: str
    at: datetime
    by: str
    site: str
    detail: dict
    reason: str


class TimelineOut(Schema):
    kit_number: str
    status: str
    status_label: str
    participant: str | None
    lot_number: str | None = Field(description="Unblinded roles only; null for blinded roles.")
    thawed_at: datetime | None
    use_by: datetime | None
    entries: list[TimelineEntryOut]


class SiteStockOut(Schema):
    site_code: str
    site_name: str
    available: int
    quarantined: int
    in_transit: int
    assigned: int
    expiring: int
    open_requests: int
    shipments_awaiting_receipt: int
    below_minimum: bool
    kits: list[dict] = Field(description="Kit numbers and lots: the pharmacist of the site only; empty otherwise.")
    warnings: list[dict] = Field(description="Expiry warnings by kit: the pharmacist of the site only.")


class LotIn(Schema):
    lot_number: LotNumber
    arm_id: Code
    manufactured_on: date
    expires_on: date
    cells_per_vial: Annotated[float, Field(gt=0, le=1e13)] | None = None
    viability_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    sterility: Annotated[str, StringConstraints(max_length=10)] = "pending"


class LotOut(Schema):
    lot_number: str
    arm_id: str
    manufactured_on: date
    expires_on: date
    cells_per_vial: float | None
    viability_percent: float | None
    sterility: str
    status: str
    kits: int


class KitsIn(Schema):
    kit_numbers: list[KitNumber] = Field(min_length=1, max_length=500)


class ShipIn(Schema):
    site_code: Code
    kit_numbers: list[KitNumber] = Field(min_length=1, max_length=500)
    request_id: RowId | None = None


class ShipmentOut(Schema):
    id: int
    site_code: str
    kit_count: int
    shipped_at: datetime
    received_at: datetime | None


class ReceiptIn(Schema):
    storage_location: Annotated[str, StringConstraints(max_length=100)] = ""
    transit_min_c: Temperature | None = None
    transit_max_c: Temperature | None = None


class ExcursionIn(Schema):
    site_code: Code
    min_c: Temperature
    max_c: Temperature
    duration_minutes: Annotated[int, Field(ge=0, le=100_000)]
    observed_at: datetime | None = None
    kit_numbers: list[KitNumber] = Field(default_factory=list, max_length=500)


class ExcursionOut(Schema):
    id: int | None
    quarantined: list[str]


class ReviewIn(Schema):
    decision: Annotated[str, StringConstraints(max_length=10)]
    reason: Text


class ReasonIn(Schema):
    reason: Text = ""


class ThawIn(Schema):
    thawed_at: datetime | None = None


class ResupplyIn(Schema):
    site_code: Code
    quantity: Annotated[int, Field(ge=1, le=500)]


class ResupplyOut(Schema):
    id: int
    site_code: str
    quantity: int
    automatic: bool
    status: str


class InterruptionIn(Schema):
    stopped_at: datetime
    resumed_at: datetime | None = None
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class ReactionIn(Schema):
    at: datetime
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    grade: Annotated[int, Field(ge=1, le=5)] | None = None


class InfusionIn(Schema):
    started_at: datetime
    stopped_at: datetime
    rate_ml_per_hour: Annotated[float, Field(gt=0, le=10_000)]
    volume_given_ml: Annotated[float, Field(ge=0, le=10_000)]
    interruptions: list[InterruptionIn] = Field(default_factory=list, max_length=50)
    reactions: list[ReactionIn] = Field(default_factory=list, max_length=50)


class InfusionOut(Schema):
    participant_number: str
    started_at: datetime
    stopped_at: datetime
    rate_ml_per_hour: float
    volume_given_ml: float
    interruptions: list[dict]
    reactions: list[dict]


def _timeline_out(t: services.Timeline) -> dict:
    return {**t.__dict__, "entries": [e.__dict__ for e in t.entries]}


def _infusion_out(r: InfusionRecord) -> dict:
    return {
        "participant_number": r.participant.participant_number,
        "started_at": r.started_at,
        "stopped_at": r.stopped_at,
        "rate_ml_per_hour": float(r.rate_ml_per_hour),
        "volume_given_ml": float(r.volume_given_ml),
        "interruptions": r.interruptions,
        "reactions": r.reactions,
    }


def _lot(request, trial, lot_number: str) -> Lot:
    require(request.user, trial, "product.manage_lots")
    lot = Lot.objects.filter(trial=trial, lot_number=lot_number).first()
    if lot is None:
        raise Http404("no such lot")
    return lot


def _kit(request, trial, kit_number: str):
    require(request.user, trial, "product.handle_kits")
    kit = services.Kit.objects.filter(trial=trial, kit_number=kit_number).first()
    if kit is None:
        raise Http404("no such kit")
    return kit


# ------------------------------------------------------------------ supply (every role that may see stock)


@router.get("/{nct_id}/supply", response=list[SiteStockOut])
@paginate(Pages)
def supply(request, nct_id: NctId):
    trial = _trial(request, nct_id)
    return [s.__dict__ for s in services.site_supply(trial, request.user, now=timezone.now())]


@router.post("/{nct_id}/resupply", response={201: ResupplyOut})
def resupply(request, nct_id: NctId, payload: ResupplyIn):
    trial = _trial(request, nct_id)
    site, _ = site_for(request.user, trial, payload.site_code, "product.request_resupply")
    r = services.request_resupply(trial, site, request.user, quantity=payload.quantity, now=timezone.now())
    return Status(
        201,
        {"id": r.pk, "site_code": site.code, "quantity": r.quantity, "automatic": r.automatic, "status": r.status},
    )


# ------------------------------------------------------------------ lots and kits (unblinded pharmacist)


@router.get("/{nct_id}/lots", response=list[LotOut])
@paginate(Pages)
def lots(request, nct_id: NctId):
    trial = _trial(request, nct_id)
    require(request.user, trial, "product.manage_lots")
    return Rows(
        Lot.objects.filter(trial=trial).annotate(kit_count=Count("kits")).order_by("lot_number", "pk"),
        show=lambda lot: {**{f: getattr(lot, f) for f in LotOut.model_fields if f != "kits"}, "kits": lot.kit_count},
    )


@router.post("/{nct_id}/lots", response={201: LotOut})
def create_lot(request, nct_id: NctId, payload: LotIn):
    trial = _trial(request, nct_id)
    lot = services.create_lot(trial, request.user, **payload.dict(), now=timezone.now())
    return Status(201, {**{f: getattr(lot, f) for f in LotOut.model_fields if f != "kits"}, "kits": 0})


@router.post("/{nct_id}/lots/{lot_number}/release", response=LotOut)
def release_lot(request, nct_id: NctId, lot_number: LotNumber):
    trial = _trial(request, nct_id)
    lot = services.release_lot(_lot(request, trial, lot_number), request.user, now=timezone.now())
    return {**{f: getattr(lot, f) for f in LotOut.model_fields if f != "kits"}, "kits": lot.kits.count()}


@router.post("/{nct_id}/lots/{lot_number}/kits", response={201: list[str]})
def register_kits(request, nct_id: NctId, lot_number: LotNumber, payload: KitsIn):
    trial = _trial(request, nct_id)
    kits = services.register_kits(
        _lot(request, trial, lot_number), payload.kit_numbers, request.user, now=timezone.now()
    )
    return Status(201, [k.kit_number for k in kits])


@router.post("/{nct_id}/shipments", response={201: ShipmentOut})
def ship(request, nct_id: NctId, payload: ShipIn):
    trial = _trial(request, nct_id)
    require(request.user, trial, "product.manage_lots")
    site = trial.sites.filter(code=payload.site_code).first()
    if site is None:
        raise Http404("no such site")
    s = services.ship_kits(
        trial, site, payload.kit_numbers, request.user, now=timezone.now(), request_id=payload.request_id
    )
    return Status(
        201,
        {"id": s.pk, "site_code": site.code, "kit_count": s.kit_count, "shipped_at": s.shipped_at, "received_at": None},
    )


@router.post("/{nct_id}/shipments/{shipment_id}/receipt", response=ShipmentOut)
def receipt(request, nct_id: NctId, shipment_id: RowId, payload: ReceiptIn):
    trial = _trial(request, nct_id)
    require(request.user, trial, "product.handle_kits")
    shipment = Shipment.objects.filter(trial=trial, pk=shipment_id).select_related("site").first()
    if shipment is None:
        raise Http404("no such shipment")
    s = services.confirm_receipt(shipment, request.user, now=timezone.now(), **payload.dict())
    return {
        "id": s.pk,
        "site_code": s.site.code,
        "kit_count": s.kit_count,
        "shipped_at": s.shipped_at,
        "received_at": s.received_at,
    }


@router.post("/{nct_id}/excursions", response={201: ExcursionOut})
def excursion(request, nct_id: NctId, payload: ExcursionIn):
    trial = _trial(request, nct_id)
    site, _ = site_for(request.user, trial, payload.site_code, "product.handle_kits")
    data = payload.dict()
    data.pop("site_code")
    e = services.record_excursion(trial, site, request.user, now=timezone.now(), **data)
    return Status(
        201, {"id": e.pk if e else None, "quarantined": sorted(k.kit_number for k in e.kits.all()) if e else []}
    )


@router.post("/{nct_id}/excursions/{excursion_id}/review", response=ExcursionOut)
def review(request, nct_id: NctId, excursion_id: RowId, payload: ReviewIn):
    trial = _trial(request, nct_id)
    require(request.user, trial, "product.handle_kits")
    e = TemperatureExcursion.objects.filter(trial=trial, pk=excursion_id).first()
    if e is None:
        raise Http404("no such excursion")
    e = services.review_excursion(e, request.user, now=timezone.now(), decision=payload.decision, reason=payload.reason)
    return {"id": e.pk, "quarantined": sorted(k.kit_number for k in e.kits.filter(status="quarantined"))}


@router.get("/{nct_id}/kits/{kit_number}", response=TimelineOut)
def kit_timeline(request, nct_id: NctId, kit_number: KitNumber):
    trial = _trial(request, nct_id)
    kit = _kit(request, trial, kit_number)
    return _timeline_out(services.kit_timeline_by_number(trial, kit.kit_number, request.user))


@router.post("/{nct_id}/kits/{kit_number}/release", response=TimelineOut)
def release_kit(request, nct_id: NctId, kit_number: KitNumber, payload: ReasonIn):
    trial = _trial(request, nct_id)
    kit = services.release_kit(
        _kit(request, trial, kit_number), request.user, now=timezone.now(), reason=payload.reason
    )
    return _timeline_out(services.kit_timeline_by_number(trial, kit.kit_number, request.user))


@router.post("/{nct_id}/kits/{kit_number}/destroy", response=TimelineOut)
def destroy_kit(request, nct_id: NctId, kit_number: KitNumber, payload: ReasonIn):
    trial = _trial(request, nct_id)
    kit = services.destroy_kit(
        _kit(request, trial, kit_number), request.user, now=timezone.now(), reason=payload.reason
    )
    return _timeline_out(services.kit_timeline_by_number(trial, kit.kit_number, request.user))


# ------------------------------------------------------------------ the participant's kit and infusion


@router.get("/{nct_id}/participants/{participant_number}/kit", response={200: TimelineOut, 409: ErrorOut})
def participant_kit(request, nct_id: NctId, participant_number: Number):
    """The participant's kit and its timeline; 409 while the participant has no kit (not randomized)."""
    participant = _participant(request, nct_id, participant_number)
    return _timeline_out(services.kit_timeline(participant, request.user))


@router.post("/{nct_id}/participants/{participant_number}/kit/assign", response=TimelineOut)
def assign(request, nct_id: NctId, participant_number: Number):
    participant = _participant(request, nct_id, participant_number)
    services.assign_kit(participant, request.user, now=timezone.now())
    return _timeline_out(services.kit_timeline(participant, request.user))


@router.post("/{nct_id}/participants/{participant_number}/kit/thaw", response=TimelineOut)
def thaw(request, nct_id: NctId, participant_number: Number, payload: ThawIn):
    participant = _participant(request, nct_id, participant_number)
    services.thaw_kit(participant, request.user, now=timezone.now(), thawed_at=payload.thawed_at)
    return _timeline_out(services.kit_timeline(participant, request.user))


@router.get("/{nct_id}/participants/{participant_number}/infusion", response=InfusionOut)
def infusion(request, nct_id: NctId, participant_number: Number):
    participant = _participant(request, nct_id, participant_number)
    require(request.user, participant.trial, "product.record_infusion", site_id=participant.site_id)
    record = InfusionRecord.objects.filter(participant=participant).first()
    if record is None:
        raise Http404("no infusion is recorded for this participant")
    return _infusion_out(record)


@router.post("/{nct_id}/participants/{participant_number}/infusion", response={201: InfusionOut})
def record_infusion(request, nct_id: NctId, participant_number: Number, payload: InfusionIn):
    participant = _participant(request, nct_id, participant_number)
    data = services.InfusionInput(
        started_at=payload.started_at,
        stopped_at=payload.stopped_at,
        rate_ml_per_hour=payload.rate_ml_per_hour,
        volume_given_ml=payload.volume_given_ml,
        interruptions=[i.dict() for i in payload.interruptions],
        reactions=[r.dict() for r in payload.reactions],
    )
    record = services.record_infusion(participant, request.user, data, now=timezone.now())
    return Status(201, _infusion_out(record))
