"""Product workflows: lots and their release, kits from the depot to the vein, temperature
excursions, the infusion record and site supply.

The rules come from ``trialkit.dosing`` (``custody``: the kit's state machine; ``infusion``:
release, concentration and infusion checks; ``supply``: resupply and expiry); this module stores,
authorizes and audits. Every kit step is one ``KitEvent`` (the kit's timeline) and one audit event
in the same transaction. Kit steps, their times and reasons are the same for placebo and cells:
the lot, which names the arm, is kept out of the timeline and out of every answer to a blinded
role.

Custody is tracked for a trial once its first kit is registered: from then on a dose is prepared
only from the participant's thawed kit, and given only before the kit's use-by.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from trialkit.dosing import custody
from trialkit.dosing.infusion import (
    InfusionRecord as InfusionFacts,
)
from trialkit.dosing.infusion import (
    Interruption,
    concentration_problems,
    infusion_problems,
    release_problems,
)
from trialkit.dosing.supply import expiry_warnings, resupply_quantity
from trialkit.server.accounts.access import access_for, require
from trialkit.server.audit.service import record_event
from trialkit.server.participants.models import Participant
from trialkit.server.product.models import (
    KIT_STATE_LABELS,
    InfusionRecord,
    Kit,
    KitEvent,
    Lot,
    ResupplyRequest,
    Shipment,
    TemperatureExcursion,
)


class ProductProblem(ValueError):
    """A step the kit's chain, the lot or the protocol refuses (409), or invalid input naming
    ``field`` (422, with ``rule``); ``errors`` lists every field at fault."""

    def __init__(self, message: str, field: str | None = None, rule: str = "invalid", errors: list | None = None):
        self.field = field
        self.rule = rule
        self.errors = errors or []
        super().__init__(message)


def handling(trial):
    product = trial.protocol.product
    if product is None:
        raise ProductProblem(
            _("%(trial)s's protocol has no product section (product.max_thaw_to_infusion_hours)")
            % {"trial": trial.nct_id}
        )
    return product


def tracked(trial) -> bool:
    """Whether the trial keeps the chain of custody (once its first kit is registered)."""
    return Kit.objects.filter(trial=trial).exists()


def _lot_facts(lot: Lot) -> custody.LotFacts:
    return custody.LotFacts(released=lot.status == Lot.Status.RELEASED, expires_on=lot.expires_on)


def _open_excursions(kit: Kit) -> list[TemperatureExcursion]:
    """The excursions that quarantined the kit since it was last released."""
    events = kit.events.filter(step="excursion")
    last_release = kit.events.filter(step="release").order_by("-id").first()
    if last_release is not None:
        events = events.filter(id__gt=last_release.id)
    ids = [e.detail.get("excursion") for e in events]
    return list(TemperatureExcursion.objects.filter(pk__in=[i for i in ids if i]))


def _review_state(kit: Kit) -> bool | None:
    """True: every open excursion reviewed as usable; False: one as discard; None: one not reviewed."""
    open_ = _open_excursions(kit)
    if not open_ or any(not e.decision for e in open_):
        return None
    return all(e.decision == TemperatureExcursion.Decision.USABLE for e in open_)


def _facts(kit: Kit) -> custody.KitFacts:
    return custody.KitFacts(
        kit_number=kit.kit_number,
        status=kit.status,
        lot=_lot_facts(kit.lot),
        status_before_quarantine=kit.status_before_quarantine or None,
        excursion_reviewed_usable=_review_state(kit) if kit.status == custody.QUARANTINED else None,
        thawed_at=kit.thawed_at,
    )


def _step(kit: Kit, step: str, actor, now: datetime, *, detail: dict | None = None, reason: str = "", at=None) -> Kit:
    """Apply one step of the chain (refused by the core with its reason), with its event and audit row."""
    trial = kit.trial
    hours = trial.protocol.product.max_thaw_to_infusion_hours if trial.protocol.product else None
    when = at or now
    try:
        target = custody.next_state(_facts(kit), step, now=when, max_thaw_to_infusion_hours=hours)
    except custody.CustodyRefused as exc:
        raise ProductProblem(str(exc), rule=exc.rule) from exc
    before = kit.status
    if step == "excursion":
        kit.status_before_quarantine = before
    elif step == "release":
        kit.status_before_quarantine = ""
    kit.status = target
    kit.updated_at = now
    kit.save()
    KitEvent.objects.create(
        kit=kit,
        step=step,
        from_status=before,
        to_status=target,
        at=when,
        by=actor,
        site=kit.site,
        detail=detail or {},
        reason=reason,
    )
    record_event(
        actor=actor,
        action=f"kit.{step}",
        object_type="kit",
        object_id=kit.kit_number,
        before={"status": before},
        after={"status": target, "at": when, **(detail or {})},
        reason=reason,
        trial_id=trial.pk,
        site_id=kit.site_id,
        participant_id=kit.participant_id,
        at=now,
    )
    return kit


# ---------------------------------------------------------------- lots


def _number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise ProductProblem(_("%(field)s: must be a number") % {"field": name}, field=name) from None


@transaction.atomic
def create_lot(
    trial,
    actor,
    *,
    lot_number: str,
    arm_id: str,
    manufactured_on: date,
    expires_on: date,
    cells_per_vial: Any = None,
    viability_percent: Any = None,
    sterility: str = "pending",
    now: datetime,
) -> Lot:
    require(actor, trial, "product.manage_lots")
    handling(trial)
    arms = {a.id for a in trial.protocol.arms if a.dose is not None}
    if arm_id not in arms:
        raise ProductProblem(
            _("arm_id: %(arm)s is not a dosed arm (%(arms)s)") % {"arm": repr(arm_id), "arms": ", ".join(sorted(arms))},
            field="arm_id",
        )
    lot_number = (lot_number or "").strip()
    if not lot_number:
        raise ProductProblem(_("lot_number: is missing"), field="lot_number", rule="missing")
    if Lot.objects.filter(trial=trial, lot_number=lot_number).exists():
        raise ProductProblem(_("lot %(lot)s is already registered") % {"lot": lot_number})
    if sterility not in Lot.Sterility.values:
        raise ProductProblem(
            _("sterility: must be one of %(choices)s") % {"choices": ", ".join(Lot.Sterility.values)},
            field="sterility",
            rule="choice",
        )
    if expires_on <= manufactured_on:
        raise ProductProblem(_("expires_on: must be after the manufacturing date"), field="expires_on", rule="order")
    lot = Lot.objects.create(
        trial=trial,
        lot_number=lot_number,
        arm_id=arm_id,
        manufactured_on=manufactured_on,
        expires_on=expires_on,
        cells_per_vial=_number(cells_per_vial, "cells_per_vial"),
        viability_percent=_number(viability_percent, "viability_percent"),
        sterility=sterility,
        created_by=actor,
        created_at=now,
    )
    record_event(
        actor=actor,
        action="lot.registered",
        object_type="lot",
        object_id=lot.lot_number,
        after={
            "arm_id": arm_id,
            "expires_on": expires_on,
            "cells_per_vial": lot.cells_per_vial,
            "viability_percent": lot.viability_percent,
            "sterility": sterility,
        },
        trial_id=trial.pk,
        restricted=True,
        at=now,
    )
    return lot


@transaction.atomic
def release_lot(lot: Lot, actor, *, now: datetime) -> Lot:
    """Release the lot if its results meet the protocol's release specification, else 422 naming each field."""
    trial = lot.trial
    require(actor, trial, "product.manage_lots")
    spec = handling(trial).release
    lot = Lot.objects.select_for_update().get(pk=lot.pk)
    if lot.status != Lot.Status.PENDING:
        raise ProductProblem(
            _("lot %(lot)s is already %(status)s") % {"lot": lot.lot_number, "status": lot.get_status_display().lower()}
        )
    arm = trial.protocol.arm(lot.arm_id)
    rule = arm.dose
    cell_product = rule is not None and rule.unit == "cells"
    stated = rule.product.units_per_vial if rule is not None and rule.product is not None and cell_product else None
    problems = release_problems(
        spec,
        cell_product=cell_product,
        cells_per_vial=lot.cells_per_vial,
        stated_cells_per_vial=stated,
        viability_percent=lot.viability_percent,
        sterility=lot.sterility,
        expires_on_passed=lot.expires_on < timezone.localdate(now),
    )
    if problems:
        message = "; ".join(f"{p.field}: {p.message}" for p in problems)
        raise ProductProblem(
            _("lot %(lot)s may not be released: %(problems)s") % {"lot": lot.lot_number, "problems": message},
            field=problems[0].field,
            rule=problems[0].rule,
            errors=[p.as_dict() for p in problems],
        )
    lot.status = Lot.Status.RELEASED
    lot.released_by = actor
    lot.released_at = now
    lot.save()
    record_event(
        actor=actor,
        action="lot.released",
        object_type="lot",
        object_id=lot.lot_number,
        before={"status": Lot.Status.PENDING},
        after={"status": lot.status},
        trial_id=trial.pk,
        restricted=True,
        at=now,
    )
    return lot


@transaction.atomic
def register_kits(lot: Lot, kit_numbers: list[str], actor, *, now: datetime) -> list[Kit]:
    """Kits of the lot, numbered from the allocation list: each number must be a slot of the lot's arm,
    so the kit a participant is given is the arm the list gave them."""
    from trialkit.server.allocation.models import AllocationSlot

    trial = lot.trial
    require(actor, trial, "product.manage_lots")
    numbers = [n.strip() for n in kit_numbers if n and n.strip()]
    if not numbers:
        raise ProductProblem(_("kit_numbers: name at least one kit"), field="kit_numbers", rule="missing")
    slots = {s.kit_number: s for s in AllocationSlot.objects.filter(trial=trial, kit_number__in=numbers)}
    kits = []
    for number in numbers:
        slot = slots.get(number)
        if slot is None:
            raise ProductProblem(_("kit %(kit)s is not on the allocation list") % {"kit": number}, field="kit_numbers")
        if slot.arm_id != lot.arm_id:
            raise ProductProblem(
                _("kit %(kit)s belongs to another arm than lot %(lot)s") % {"kit": number, "lot": lot.lot_number},
                field="kit_numbers",
            )
        if Kit.objects.filter(trial=trial, kit_number=number).exists():
            raise ProductProblem(
                _("kit %(kit)s is already registered") % {"kit": number}, field="kit_numbers", rule="duplicate"
            )
        kit = Kit.objects.create(trial=trial, lot=lot, kit_number=number, status=custody.REGISTERED, updated_at=now)
        KitEvent.objects.create(
            kit=kit, step="register", from_status="", to_status=custody.REGISTERED, at=now, by=actor
        )
        record_event(
            actor=actor,
            action="kit.register",
            object_type="kit",
            object_id=number,
            after={"status": custody.REGISTERED, "lot": lot.lot_number},
            trial_id=trial.pk,
            restricted=True,
            at=now,
        )
        kits.append(kit)
    return kits


# ---------------------------------------------------------------- shipments, storage, excursions


def _kits(trial, numbers: list[str]) -> list[Kit]:
    found = {k.kit_number: k for k in Kit.objects.select_for_update().filter(trial=trial, kit_number__in=numbers)}
    missing = [n for n in numbers if n not in found]
    if missing:
        raise ProductProblem(_("no kit %(kits)s is registered") % {"kits": ", ".join(missing)}, field="kit_numbers")
    return [found[n] for n in numbers]


@transaction.atomic
def ship_kits(trial, site, kit_numbers: list[str], actor, *, now: datetime, request_id: int | None = None) -> Shipment:
    require(actor, trial, "product.manage_lots")
    kits = _kits(trial, kit_numbers)
    request = None
    if request_id is not None:
        request = ResupplyRequest.objects.filter(pk=request_id, trial=trial, site=site).first()
        if request is None:
            raise ProductProblem(_("request_id: no such open request for this site"), field="request_id")
    shipment = Shipment.objects.create(
        trial=trial, site=site, request=request, shipped_by=actor, shipped_at=now, kit_count=len(kits)
    )
    for kit in kits:
        kit.site = site
        kit.shipment = shipment
        _step(kit, "ship", actor, now, detail={"shipment": shipment.pk, "site": site.code})
    if request is not None:
        request.status = ResupplyRequest.Status.SHIPPED
        request.save(update_fields=["status"])
    return shipment


@transaction.atomic
def confirm_receipt(
    shipment: Shipment,
    actor,
    *,
    now: datetime,
    storage_location: str = "",
    transit_min_c: float | None = None,
    transit_max_c: float | None = None,
) -> Shipment:
    """The site confirms the shipment arrived: each kit is received and stored, or quarantined when
    the transit temperature log left the storage range."""
    trial = shipment.trial
    require(actor, trial, "product.handle_kits", site_id=shipment.site_id)
    shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
    if shipment.received_at is not None:
        raise ProductProblem(_("this shipment's receipt is already confirmed"))
    spec = handling(trial)
    shipment.received_at = now
    shipment.received_by = actor
    shipment.save(update_fields=["received_at", "received_by"])
    kits = list(Kit.objects.select_for_update().filter(shipment=shipment).order_by("kit_number"))
    for kit in kits:
        _step(kit, "receive", actor, now, detail={"shipment": shipment.pk})
    outside = (
        transit_min_c is not None
        and transit_max_c is not None
        and custody.excursion_outside(spec.storage_temperature_c, transit_min_c, transit_max_c)
    )
    if outside:
        assert transit_min_c is not None and transit_max_c is not None
        _excursion(trial, shipment.site, kits, actor, now, transit_min_c, transit_max_c, 0, now)
    else:
        for kit in kits:
            kit.storage_location = storage_location[:100]
            _step(kit, "store", actor, now, detail={"storage_location": kit.storage_location})
    check_resupply(trial, shipment.site, now=now)
    return shipment


@transaction.atomic
def store_kit(kit: Kit, actor, *, now: datetime, storage_location: str = "") -> Kit:
    require(actor, kit.trial, "product.handle_kits", site_id=kit.site_id)
    kit = Kit.objects.select_for_update().get(pk=kit.pk)
    kit.storage_location = storage_location[:100]
    return _step(kit, "store", actor, now, detail={"storage_location": kit.storage_location})


def _excursion(trial, site, kits, actor, now, min_c, max_c, duration, observed_at) -> TemperatureExcursion:
    excursion = TemperatureExcursion.objects.create(
        trial=trial,
        site=site,
        min_c=min_c,
        max_c=max_c,
        duration_minutes=duration,
        observed_at=observed_at,
        recorded_by=actor,
    )
    excursion.kits.set(kits)
    for kit in kits:
        _step(
            kit,
            "excursion",
            actor,
            now,
            detail={
                "excursion": excursion.pk,
                "min_c": min_c,
                "max_c": max_c,
                "duration_minutes": duration,
                "observed_at_iso": observed_at.isoformat(),
            },
        )
    return excursion


@transaction.atomic
def record_excursion(
    trial,
    site,
    actor,
    *,
    now: datetime,
    min_c: float,
    max_c: float,
    duration_minutes: int,
    observed_at: datetime | None = None,
    kit_numbers: list[str] | None = None,
) -> TemperatureExcursion | None:
    """A storage reading outside the protocol's range quarantines the site's stored and assigned
    kits (or those named); a reading inside the range changes nothing (None)."""
    require(actor, trial, "product.handle_kits", site_id=site.pk)
    spec = handling(trial)
    if min_c > max_c:
        raise ProductProblem(_("min_c: must not be above max_c"), field="min_c", rule="order")
    if not custody.excursion_outside(spec.storage_temperature_c, min_c, max_c):
        return None
    if kit_numbers:
        kits = _kits(trial, kit_numbers)
        if any(k.site_id != site.pk for k in kits):
            raise ProductProblem(_("a named kit is not at this site"), field="kit_numbers")
    else:
        kits = list(
            Kit.objects.select_for_update()
            .filter(trial=trial, site=site, status__in=[custody.STORED, custody.ASSIGNED, custody.RECEIVED])
            .order_by("kit_number")
        )
    observed = _dt(observed_at, "observed_at") if observed_at is not None else now
    excursion = _excursion(trial, site, kits, actor, now, min_c, max_c, duration_minutes, observed)
    check_resupply(trial, site, now=now)
    return excursion


@transaction.atomic
def review_excursion(
    excursion: TemperatureExcursion, actor, *, now: datetime, decision: str, reason: str
) -> TemperatureExcursion:
    require(actor, excursion.trial, "product.handle_kits", site_id=excursion.site_id)
    if decision not in TemperatureExcursion.Decision.values:
        raise ProductProblem(_("decision: must be 'usable' or 'discard'"), field="decision", rule="choice")
    reason = (reason or "").strip()
    if not reason:
        raise ProductProblem(
            _("reason: say on what the decision rests (e.g. the stability data)"), field="reason", rule="missing"
        )
    excursion = TemperatureExcursion.objects.select_for_update().get(pk=excursion.pk)
    if excursion.decision:
        raise ProductProblem(_("this excursion has already been reviewed"))
    excursion.decision = decision
    excursion.reviewed_by = actor
    excursion.reviewed_at = now
    excursion.review_reason = reason
    excursion.save()
    record_event(
        actor=actor,
        action="excursion.reviewed",
        object_type="excursion",
        object_id=str(excursion.pk),
        after={"decision": decision, "kits": sorted(k.kit_number for k in excursion.kits.all())},
        reason=reason,
        trial_id=excursion.trial_id,
        site_id=excursion.site_id,
        at=now,
    )
    if decision == TemperatureExcursion.Decision.DISCARD:
        for kit in excursion.kits.select_for_update().filter(status=custody.QUARANTINED):
            _step(kit, "destroy", actor, now, detail={"excursion": excursion.pk}, reason=reason)
    return excursion


@transaction.atomic
def release_kit(kit: Kit, actor, *, now: datetime, reason: str = "") -> Kit:
    """Back to the state before quarantine, only after the excursion was reviewed as usable."""
    require(actor, kit.trial, "product.handle_kits", site_id=kit.site_id)
    kit = Kit.objects.select_for_update().get(pk=kit.pk)
    kit = _step(kit, "release", actor, now, reason=reason)
    return kit


@transaction.atomic
def destroy_kit(kit: Kit, actor, *, now: datetime, reason: str) -> Kit:
    require(actor, kit.trial, "product.handle_kits", site_id=kit.site_id)
    if not (reason or "").strip():
        raise ProductProblem(_("reason: say why the kit is destroyed"), field="reason", rule="missing")
    kit = Kit.objects.select_for_update().get(pk=kit.pk)
    kit = _step(kit, "destroy", actor, now, reason=reason.strip())
    if kit.site_id:
        check_resupply(kit.trial, kit.site, now=now)
    return kit


# ---------------------------------------------------------------- the participant's kit


def participant_kit(participant: Participant, *, lock: bool = False) -> Kit | None:
    qs = Kit.objects.filter(trial=participant.trial, kit_number=participant.kit_number)
    if lock:
        qs = qs.select_for_update()
    return qs.first() if participant.kit_number else None


def _required_kit(participant: Participant, *, lock: bool = True) -> Kit:
    if not participant.kit_number:
        raise ProductProblem(
            _("participant %(participant)s is not randomized") % {"participant": participant.participant_number}
        )
    kit = participant_kit(participant, lock=lock)
    if kit is None:
        raise ProductProblem(
            _("kit %(kit)s is not registered in the chain of custody; register and ship it first")
            % {"kit": participant.kit_number}
        )
    return kit


@transaction.atomic
def assign_kit(participant: Participant, actor, *, now: datetime) -> Kit:
    """The participant's kit (the allocation list's kit number) is taken from the site's stock."""
    require(actor, participant.trial, "product.handle_kits", site_id=participant.site_id)
    kit = _required_kit(participant)
    if kit.site_id != participant.site_id:
        raise ProductProblem(
            _("kit %(kit)s is not at %(site)s; ship it there first")
            % {"kit": kit.kit_number, "site": participant.site.code}
        )
    kit.participant = participant
    _step(kit, "assign", actor, now, detail={"participant": participant.participant_number})
    check_resupply(participant.trial, participant.site, now=now)
    return kit


@transaction.atomic
def thaw_kit(participant: Participant, actor, *, now: datetime, thawed_at: datetime | None = None) -> Kit:
    require(actor, participant.trial, "product.handle_kits", site_id=participant.site_id)
    kit = _required_kit(participant)
    when = _dt(thawed_at, "thawed_at") if thawed_at is not None else now
    if when > now:
        raise ProductProblem(_("thawed_at: cannot be in the future"), field="thawed_at", rule="range")
    kit = _step(kit, "thaw", actor, now, at=when)
    kit.thawed_at = when
    kit.save(update_fields=["thawed_at"])
    return kit


# Hooks called by the allocation services (dose preparation and administration).


def thawed_at_for_label(participant: Participant, preparation) -> datetime | None:
    """Before a dose is prepared in a tracked trial: the kit must be thawed and within its use-by,
    and the bag within the protocol's concentration limit. Returns the thaw time for the label."""
    trial = participant.trial
    if not tracked(trial):
        return None
    kit = _required_kit(participant, lock=False)
    if kit.status not in (custody.THAWED, custody.PREPARED):
        raise ProductProblem(
            _("kit %(kit)s is %(status)s; thaw it before preparing the dose")
            % {"kit": kit.kit_number, "status": str(KIT_STATE_LABELS[kit.status]).lower()}
        )
    product = trial.protocol.product
    if product is not None:
        problems = concentration_problems(product.infusion, preparation)
        if problems:
            raise ProductProblem(problems[0].message, field=problems[0].field, rule=problems[0].rule)
    return kit.thawed_at


def kit_prepared(participant: Participant, actor, *, now: datetime) -> None:
    """After the dose is recorded: the kit's 'prepare' step (checked against its use-by)."""
    if not tracked(participant.trial):
        return
    kit = _required_kit(participant)
    if kit.status == custody.PREPARED:
        return  # prepared again (a corrected weight) before it was given: the kit's step stands
    _step(kit, "prepare", actor, now)
    kit.prepared_at = now
    kit.save(update_fields=["prepared_at"])


def kit_infused(participant: Participant, actor, *, now: datetime) -> None:
    """When the administration is recorded: the kit's 'infuse' step, refused after its use-by."""
    if not tracked(participant.trial):
        return
    kit = _required_kit(participant)
    _step(kit, "infuse", actor, now)
    kit.infused_at = now
    kit.save(update_fields=["infused_at"])


# ---------------------------------------------------------------- infusion record


def _dt(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        out = value
    else:
        try:
            out = datetime.fromisoformat(str(value))
        except (TypeError, ValueError):
            raise ProductProblem(
                _("%(field)s: must be a date and time (ISO 8601)") % {"field": name}, field=name, rule="datetime"
            ) from None
    if timezone.is_naive(out):
        out = timezone.make_aware(out)
    return out


@dataclass
class InfusionInput:
    started_at: Any
    stopped_at: Any
    rate_ml_per_hour: Any
    volume_given_ml: Any
    interruptions: list[dict] = field(default_factory=list)
    reactions: list[dict] = field(default_factory=list)


@transaction.atomic
def record_infusion(participant: Participant, actor, data: InfusionInput, *, now: datetime) -> InfusionRecord:
    """The infusion as given, checked against the protocol's rate and volume limits and the kit's
    use-by; records the administration (day 0) if it is not recorded yet."""
    from trialkit.server.allocation import services as allocation
    from trialkit.server.allocation.models import DoseRecord

    trial = participant.trial
    require(actor, trial, "product.record_infusion", site_id=participant.site_id)
    product = handling(trial)
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    if InfusionRecord.objects.filter(participant=participant).exists():
        raise ProductProblem(_("this participant's infusion is already recorded"))
    dose = DoseRecord.objects.filter(participant=participant).first()
    if dose is None:
        raise ProductProblem(_("no dose has been prepared for this participant yet"))
    started, stopped = _dt(data.started_at, "started_at"), _dt(data.stopped_at, "stopped_at")
    if stopped > now:
        raise ProductProblem(_("stopped_at: cannot be in the future"), field="stopped_at", rule="range")
    rate = _number(data.rate_ml_per_hour, "rate_ml_per_hour")
    volume = _number(data.volume_given_ml, "volume_given_ml")
    if rate is None:
        raise ProductProblem(_("rate_ml_per_hour: is missing"), field="rate_ml_per_hour", rule="missing")
    if volume is None:
        raise ProductProblem(_("volume_given_ml: is missing"), field="volume_given_ml", rule="missing")
    gaps = []
    for i, gap in enumerate(data.interruptions or []):
        gaps.append(
            Interruption(
                _dt(gap.get("stopped_at"), f"interruptions.{i}.stopped_at"),
                _dt(gap["resumed_at"], f"interruptions.{i}.resumed_at") if gap.get("resumed_at") else None,
                str(gap.get("reason", ""))[:500],
            )
        )
    reactions = []
    for i, reaction in enumerate(data.reactions or []):
        description = str(reaction.get("description", "")).strip()
        if not description:
            raise ProductProblem(
                _("%(field)s: is missing") % {"field": f"reactions.{i}.description"},
                field=f"reactions.{i}.description",
                rule="missing",
            )
        reactions.append(
            {
                "at": _dt(reaction.get("at"), f"reactions.{i}.at").isoformat(),
                "description": description[:500],
                "grade": reaction.get("grade"),
            }
        )
    kit = participant_kit(participant) if tracked(trial) else None
    if tracked(trial) and kit is None:
        _required_kit(participant)
    problems = infusion_problems(
        product.infusion,
        InfusionFacts(started, stopped, rate, volume, gaps),
        weight_kg=float(dose.weight_kg),
        prepared_volume_ml=float(dose.preparation.get("final_volume_ml")) if dose.preparation else None,
        thawed_at=kit.thawed_at if kit is not None else None,
        max_thaw_to_infusion_hours=product.max_thaw_to_infusion_hours if kit is not None else None,
    )
    if problems:
        raise ProductProblem(
            "; ".join(f"{p.field}: {p.message}" for p in problems),
            field=problems[0].field,
            rule=problems[0].rule,
            errors=[p.as_dict() for p in problems],
        )
    if dose.administered_at is None:
        allocation.record_administration(participant, actor, now=started)
    record = InfusionRecord.objects.create(
        participant=participant,
        kit=kit,
        started_at=started,
        stopped_at=stopped,
        rate_ml_per_hour=Decimal(str(rate)).quantize(Decimal("0.1")),
        volume_given_ml=Decimal(str(volume)).quantize(Decimal("0.1")),
        interruptions=[
            {
                "stopped_at": g.stopped_at.isoformat(),
                "resumed_at": g.resumed_at.isoformat() if g.resumed_at else None,
                "reason": g.reason,
            }
            for g in gaps
        ],
        reactions=reactions,
        recorded_by=actor,
        recorded_at=now,
    )
    record_event(
        actor=actor,
        action="infusion.recorded",
        object_type="participant",
        object_id=participant.participant_number,
        after={
            "started_at": started,
            "stopped_at": stopped,
            "rate_ml_per_hour": rate,
            "volume_given_ml": volume,
            "interruptions": record.interruptions,
            "reactions": reactions,
        },
        trial_id=trial.pk,
        site_id=participant.site_id,
        participant_id=participant.pk,
        at=now,
    )
    return record


# ---------------------------------------------------------------- timeline


@dataclass(frozen=True)
class TimelineEntry:
    step: str
    label: str
    at: datetime
    by: str
    site: str
    detail: dict
    reason: str


@dataclass(frozen=True)
class Timeline:
    kit_number: str
    status: str
    status_label: str
    participant: str | None
    lot_number: str | None  # unblinded roles only
    thawed_at: datetime | None
    use_by: datetime | None
    entries: list[TimelineEntry]


STEP_LABELS = {
    "register": "Registered at the depot",
    "ship": "Shipped",
    "receive": "Received at site",
    "store": "Stored",
    "excursion": "Temperature excursion: quarantined",
    "release": "Released from quarantine",
    "assign": "Assigned to the participant",
    "thaw": "Thawed",
    "prepare": "Prepared",
    "infuse": "Infused",
    "destroy": "Destroyed",
}


def kit_timeline(participant: Participant, actor) -> Timeline:
    """The participant's kit, step by step. Blinded roles that may record the infusion see it
    without its lot; the pharmacist sees the lot too."""
    trial = participant.trial
    access = access_for(actor, trial)
    if not (
        access.can("product.record_infusion", participant.site_id)
        or access.can("product.handle_kits", participant.site_id)
    ):
        require(actor, trial, "product.record_infusion", site_id=participant.site_id)
    kit = _required_kit(participant, lock=False)
    return _timeline(kit, show_lot=access.can("product.handle_kits", kit.site_id))


def kit_timeline_by_number(trial, kit_number: str, actor) -> Timeline:
    """Any kit by number: the pharmacist's view (lot included)."""
    require(actor, trial, "product.handle_kits")
    kit = Kit.objects.filter(trial=trial, kit_number=kit_number).select_related("lot", "site").first()
    if kit is None:
        raise ProductProblem(_("no kit %(kits)s is registered") % {"kits": kit_number})
    access = access_for(actor, trial)
    if kit.site_id is not None and not access.can("product.handle_kits", kit.site_id):
        require(actor, trial, "product.manage_lots")
    return _timeline(kit, show_lot=True)


def _timeline(kit: Kit, *, show_lot: bool) -> Timeline:
    product = kit.trial.protocol.product
    use_by = (
        custody.use_by(kit.thawed_at, product.max_thaw_to_infusion_hours)
        if kit.thawed_at and product is not None
        else None
    )
    entries = [
        TimelineEntry(
            step=e.step,
            label=STEP_LABELS.get(e.step, e.step),
            at=e.at,
            by=e.by.get_full_name() or e.by.get_username(),
            site=e.site.code if e.site_id else "",
            detail={k: v for k, v in e.detail.items() if not k.endswith("_iso")},
            reason=e.reason,
        )
        for e in kit.events.select_related("by", "site").order_by("at", "id")
    ]
    return Timeline(
        kit_number=kit.kit_number,
        status=kit.status,
        status_label=custody.STATE_LABELS[kit.status],
        participant=kit.participant.participant_number if kit.participant_id else None,
        lot_number=kit.lot.lot_number if show_lot else None,
        thawed_at=kit.thawed_at,
        use_by=use_by,
        entries=entries,
    )


# ---------------------------------------------------------------- site supply


@dataclass(frozen=True)
class SiteStock:
    site_code: str
    site_name: str
    available: int
    quarantined: int
    in_transit: int
    assigned: int
    expiring: int  # available kits within the warning days (or expired)
    open_requests: int
    shipments_awaiting_receipt: int
    below_minimum: bool
    kits: list[dict] = field(default_factory=list)  # unblinded roles only
    warnings: list[dict] = field(default_factory=list)  # unblinded roles only


def check_resupply(trial, site, *, now: datetime) -> ResupplyRequest | None:
    """Raise an automatic resupply request when the site's stock (with what is on the way) is below the minimum."""
    product = trial.protocol.product
    if product is None:
        return None
    today = timezone.localdate(now)
    # Counted in the database: the kits a site has had grow with the trial, its stock does not.
    counts = Kit.objects.filter(trial=trial, site=site).aggregate(
        available=Count("pk", filter=Q(status=custody.STORED, lot__expires_on__gte=today)),
        in_transit=Count("pk", filter=Q(status=custody.IN_TRANSIT)),
    )
    available, in_transit = counts["available"], counts["in_transit"]
    requested = (
        ResupplyRequest.objects.filter(trial=trial, site=site, status=ResupplyRequest.Status.OPEN).aggregate(
            n=Sum("quantity")
        )["n"]
        or 0
    )
    quantity = resupply_quantity(product.supply, available=available, in_transit=in_transit, requested=requested)
    if quantity == 0:
        return None
    request = ResupplyRequest.objects.create(trial=trial, site=site, quantity=quantity, automatic=True, created_at=now)
    record_event(
        actor=None,
        action="resupply.requested",
        object_type="site",
        object_id=site.code,
        after={"quantity": quantity, "automatic": True, "available": available},
        trial_id=trial.pk,
        site_id=site.pk,
        at=now,
    )
    return request


@transaction.atomic
def request_resupply(trial, site, actor, *, quantity: int, now: datetime) -> ResupplyRequest:
    require(actor, trial, "product.request_resupply", site_id=site.pk)
    handling(trial)
    if not 1 <= quantity <= 500:
        raise ProductProblem(_("quantity: must be 1 to 500 kits"), field="quantity", rule="range")
    request = ResupplyRequest.objects.create(
        trial=trial, site=site, quantity=quantity, automatic=False, created_by=actor, created_at=now
    )
    record_event(
        actor=actor,
        action="resupply.requested",
        object_type="site",
        object_id=site.code,
        after={"quantity": quantity, "automatic": False},
        trial_id=trial.pk,
        site_id=site.pk,
        at=now,
    )
    return request


def site_supply(trial, actor, *, now: datetime) -> list[SiteStock]:
    """Stock per site the actor may see. Counts only for blinded roles; kit numbers, lots and
    expiry warnings by kit for the pharmacist (product.handle_kits at that site).

    Five queries whatever the number of sites and kits: the kits counted by site and state in the
    database (assigned kits grow with the trial), the kits in store read with their lot's expiry
    (the stock), open requests and shipments counted by site, and every kit of the sites whose
    kits the actor handles."""
    access = require(actor, trial, "product.view_supply")
    product = handling(trial)
    today = timezone.localdate(now)
    sites = access.sites("product.view_supply")
    qs = trial.sites.order_by("code")
    if sites is not None:
        qs = qs.filter(pk__in=sites)
    shown = list(qs)
    kits = Kit.objects.filter(trial=trial, site__in=[site.pk for site in shown])
    states: dict[int, Counter[str]] = defaultdict(Counter)
    for site_id, state, count in kits.order_by().values_list("site_id", "status").annotate(n=Count("pk")):
        states[site_id][state] = count
    stored: dict[int, list[Kit]] = defaultdict(list)
    for kit in kits.filter(status=custody.STORED).select_related("lot"):
        stored[kit.site_id].append(kit)
    open_requests = _count_by_site(
        ResupplyRequest.objects.filter(trial=trial, status=ResupplyRequest.Status.OPEN, site__in=shown)
    )
    awaiting = _count_by_site(Shipment.objects.filter(trial=trial, received_at__isnull=True, site__in=shown))
    handled = [site.pk for site in shown if access.can("product.handle_kits", site.pk)]
    listed: dict[int, list[Kit]] = defaultdict(list)
    if handled:
        for kit in Kit.objects.filter(trial=trial, site__in=handled).select_related("lot"):
            listed[kit.site_id].append(kit)
    out = []
    for site in shown:
        available = [k for k in stored[site.pk] if k.lot.expires_on >= today]
        expired = [k for k in stored[site.pk] if k.lot.expires_on < today]
        warnings = expiry_warnings(product.supply, [(k.kit_number, k.lot.expires_on) for k in available], today)
        count = states[site.pk]
        unblinded = site.pk in handled
        stock = SiteStock(
            site_code=site.code,
            site_name=site.name,
            available=len(available),
            quarantined=count[custody.QUARANTINED],
            in_transit=count[custody.IN_TRANSIT],
            assigned=count[custody.ASSIGNED] + count[custody.THAWED] + count[custody.PREPARED],
            expiring=len(warnings) + len(expired),
            open_requests=open_requests.get(site.pk, 0),
            shipments_awaiting_receipt=awaiting.get(site.pk, 0),
            below_minimum=len(available) < product.supply.min_stock_per_site,
            kits=[
                {
                    "kit_number": k.kit_number,
                    "lot": k.lot.lot_number,
                    "status": k.status,
                    "expires_on": k.lot.expires_on.isoformat(),
                    "storage_location": k.storage_location,
                }
                for k in listed[site.pk]
            ]
            if unblinded
            else [],
            warnings=[
                {"kit_number": w.kit_number, "expires_on": w.expires_on.isoformat(), "days_left": w.days_left}
                for w in expiry_warnings(
                    product.supply,
                    [(k.kit_number, k.lot.expires_on) for k in [*available, *expired]],
                    today,
                )
            ]
            if unblinded
            else [],
        )
        out.append(stock)
    return out


def _count_by_site(queryset) -> dict[int, int]:
    return dict(queryset.order_by().values_list("site_id").annotate(n=Count("pk")))
