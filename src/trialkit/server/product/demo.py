"""Demo supply: each trial's kits from released lots to the sites, through the product services.

Called by the allocation demo once the demo participants are randomized (their kit numbers are
then known) and before any of them is dosed, so custody is tracked from the first dose on:

- two batches of lots, one lot per arm in each (cells and placebo alike, the same dates, so that
  no expiry count hints at an arm), released against the protocol's release specification;
- kits numbered from the allocation list: the randomized participants' kits, and stock for the
  next participants of each site (the next slots of the site's strata; for a cohort list shared
  by the sites, the cohort's next slots, the waiting participants' first, then in turn by site);
- a first shipment to each site after the list is generated and a resupply shipment about two
  months before the demo day (against the site's open automatic request), each received and
  stored;
- one storage temperature excursion per trial, reviewed as usable and its kits released;
- for every dosed participant, the kit assigned, thawed and prepared on day 0 and the infusion
  recorded within the protocol's limits.

Everything happens in time order (``advance``), so the automatic resupply requests and the
excursion see the stock the site held on that day. Deterministic for a given demo day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model

from trialkit.dosing import custody
from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import Role
from trialkit.server.allocation.models import AllocationSlot, DoseRecord
from trialkit.server.participants.models import Participant
from trialkit.server.product import services
from trialkit.server.product.models import Kit, ResupplyRequest, TemperatureExcursion

# A cryopreserved cell product kept in liquid-nitrogen vapour is assumed to keep 24 months (the
# protocols state no shelf life); placebo lots get the same dates.
SHELF_LIFE_DAYS = 730
STOCK_PER_SITE = 2  # kits kept for each site's next participants (per stratum of a site-stratified list)
RESUPPLY_DAYS_BEFORE = 60  # the resupply shipment, days before the demo day
EXCURSION_DAYS_BEFORE = 20  # the storage excursion, days before the demo day
INFUSION_RATE_ML_PER_HOUR = 100.0
STORAGE = "LN2 vapour dewar 1, rack {rack}"
TRANSIT_C = (-188.0, -171.0)  # the shipper's log: inside the storage range


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def depot_user(trial):
    """The depot: an unblinded pharmacist at every site of the trial (lots, kits, shipments)."""
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username="depot", defaults={"first_name": "Drew", "last_name": "Depot (demo)"}
    )
    if created:
        user.set_unusable_password()
        user.save()
    Membership.objects.get_or_create(user=user, trial=trial, site=None, role=Role.UNBLINDED_PHARMACIST)
    return user


@dataclass
class _Shipment:
    at: datetime
    site: object
    kits: list[str]


@dataclass
class Supply:
    trial: object
    today: date
    pharmacist_of: object  # site -> the site's unblinded pharmacist
    depot: object = None
    shipments: list[_Shipment] = field(default_factory=list)
    excursion_at: datetime | None = None
    done: set = field(default_factory=set)

    # ------------------------------------------------------------ plan (kits registered now)

    @classmethod
    def plan(cls, trial, today: date, *, list_generated_at: datetime, need: dict, pharmacist_of) -> Supply | None:
        """``need``: kit number -> (site, first day it is needed) for the randomized participants."""
        if trial.protocol.product is None or services.tracked(trial):
            return None  # no product section, or the supply is already loaded
        supply = cls(trial, today, pharmacist_of, depot=depot_user(trial))
        need = dict(need)
        resupply_day = today - timedelta(days=RESUPPLY_DAYS_BEFORE)
        for number, site in supply._stock_kits(need):
            need[number] = (site, today)
        first = list_generated_at + timedelta(days=2)
        second = _at(resupply_day, 9)
        early = {n for n, (_site, day) in need.items() if day < resupply_day}
        slots = dict(
            AllocationSlot.objects.filter(trial=trial, kit_number__in=need).values_list("kit_number", "arm_id")
        )
        supply._lots_and_kits(first - timedelta(days=1), sorted(early), slots, batch=1)
        supply._lots_and_kits(second - timedelta(days=3), sorted(set(need) - early), slots, batch=2)
        for when, numbers in ((first, early), (second, set(need) - early)):
            for site in sorted({need[n][0] for n in numbers}, key=lambda s: s.code):
                kits = sorted(n for n in numbers if need[n][0] == site)
                supply.shipments.append(_Shipment(when, site, kits))
        supply.excursion_at = _at(today - timedelta(days=EXCURSION_DAYS_BEFORE), 3, 40)
        return supply

    def _stock_kits(self, need: dict) -> list[tuple[object, object]]:
        """Unused slots to keep at the sites: (kit number, site)."""
        trial = self.trial
        sites = list(trial.sites.order_by("code"))
        by_code = {s.code: s for s in sites}
        unused = AllocationSlot.objects.filter(trial=trial, participant__isnull=True).order_by("stratum", "sequence_no")
        out = []
        shared: dict[str, list[str]] = {}
        taken: dict[str, int] = {}
        for stratum, number in unused.values_list("stratum", "kit_number"):
            parts = dict(p.split("=", 1) for p in stratum.split("|") if "=" in p)
            if "site" in parts:  # a site-stratified list: the site's own next slots
                if taken.get(stratum, 0) < STOCK_PER_SITE and parts["site"] in by_code:
                    taken[stratum] = taken.get(stratum, 0) + 1
                    out.append((number, by_code[parts["site"]]))
            else:
                shared.setdefault(stratum, []).append(number)
        if shared:
            # A list shared by the sites (ASSIST's cohorts): the open cohort's next slots, the
            # waiting participants' first (in the order they enrolled), then in turn by site.
            used = AllocationSlot.objects.filter(trial=trial, participant__isnull=False).order_by("-allocated_at")
            current = used.values_list("stratum", flat=True).first() or sorted(shared)[0]
            queue = list(shared.get(current, []))
            waiting = Participant.objects.filter(trial=trial, status=Participant.Status.ENROLLED).order_by(
                "enrolled_at", "participant_number"
            )
            for participant in waiting:
                if queue:
                    out.append((queue.pop(0), participant.site))
            for i, number in enumerate(queue[: STOCK_PER_SITE * len(sites)]):
                out.append((number, sites[i % len(sites)]))
        return [(n, s) for n, s in out if n not in need]

    def _lots_and_kits(self, when: datetime, numbers: list[str], arm_of: dict, *, batch: int) -> None:
        if not numbers:
            return
        trial = self.trial
        manufactured = when.date() - timedelta(days=45)
        prefix = trial.protocol.randomization.kit_prefix
        arms = sorted({a.id for a in trial.protocol.arms if a.dose is not None})
        for k, arm_id in enumerate(arms, start=1):
            rule = trial.protocol.arm(arm_id).dose
            cells = rule.product.units_per_vial if rule.unit == "cells" and rule.product else None
            lot = services.create_lot(
                trial,
                self.depot,
                lot_number=f"{prefix}-{manufactured:%y%m}-{batch}{k:02d}",
                arm_id=arm_id,
                manufactured_on=manufactured,
                expires_on=manufactured + timedelta(days=SHELF_LIFE_DAYS),
                # The certificate of analysis: a cell count within a few percent of the stated
                # content, viability well above the release minimum, sterile.
                cells_per_vial=round(cells * (0.96 + 0.03 * batch)) if cells else None,
                viability_percent=round(91.4 - 2.3 * batch, 1) if cells else None,
                sterility="pass",
                now=when,
            )
            services.release_lot(lot, self.depot, now=when + timedelta(hours=2))
            kits = [n for n in numbers if arm_of[n] == arm_id]
            if kits:
                services.register_kits(lot, kits, self.depot, now=when + timedelta(hours=3))

    # ------------------------------------------------------------ in time order

    def advance(self, until: datetime) -> None:
        """Ship and receive what is due by ``until``, and the excursion when its day has come."""
        for i, shipment in enumerate(self.shipments):
            if i in self.done or shipment.at > until:
                continue
            self.done.add(i)
            request = (
                ResupplyRequest.objects.filter(trial=self.trial, site=shipment.site, status=ResupplyRequest.Status.OPEN)
                .order_by("created_at", "id")
                .first()
            )
            sent = services.ship_kits(
                self.trial,
                shipment.site,
                shipment.kits,
                self.depot,
                now=shipment.at,
                request_id=request.pk if request else None,
            )
            services.confirm_receipt(
                sent,
                self.pharmacist_of(shipment.site),
                now=shipment.at + timedelta(days=1, hours=2),
                storage_location=STORAGE.format(rack="AB"[i % 2]),
                transit_min_c=TRANSIT_C[0],
                transit_max_c=TRANSIT_C[1],
            )
        if self.excursion_at is not None and self.excursion_at <= until:
            when, self.excursion_at = self.excursion_at, None
            self._excursion(when)

    def _excursion(self, when: datetime) -> None:
        """A dewar's reading above the storage range at the site holding the most kits: quarantine,
        review (usable, from the stability data) and release of each kit."""
        trial = self.trial
        sites = list(trial.sites.order_by("code"))
        counts = {
            s.pk: Kit.objects.filter(trial=trial, site=s, status__in=[custody.STORED, custody.ASSIGNED]).count()
            for s in sites
        }
        site = max(sites, key=lambda s: (counts[s.pk], s.code))
        if not counts[site.pk]:
            return
        pharmacist = self.pharmacist_of(site)
        _low, high = trial.protocol.product.storage_temperature_c
        excursion = services.record_excursion(
            trial,
            site,
            pharmacist,
            now=when + timedelta(minutes=50),
            min_c=float(high) + 1.5,
            max_c=float(high) + 7.0,
            duration_minutes=35,
            observed_at=when,
        )
        assert excursion is not None
        reviewed = when + timedelta(hours=5)
        services.review_excursion(
            excursion,
            pharmacist,
            now=reviewed,
            decision=TemperatureExcursion.Decision.USABLE,
            reason=(
                "Dewar lid left ajar during a stock check; 35 minutes above the range, never above "
                f"{float(high) + 7.0:g} °C; the manufacturer's stability data allow 60 minutes up to -100 °C."
            ),
        )
        for kit in excursion.kits.order_by("kit_number"):
            services.release_kit(
                kit, pharmacist, now=reviewed + timedelta(minutes=10), reason="Excursion reviewed as usable"
            )

    # ------------------------------------------------------------ one participant's dose

    def assign_and_thaw(self, participant, day0: date) -> None:
        pharmacist = self.pharmacist_of(participant.site)
        self.advance(_at(day0, 8, 30))
        services.assign_kit(participant, pharmacist, now=_at(day0, 8, 30))
        services.thaw_kit(participant, pharmacist, now=_at(day0, 9), thawed_at=_at(day0, 9))

    def infuse(self, participant, day0: date, nurse, *, interrupted: bool = False) -> None:
        """The infusion of the whole prepared bag at the demo rate, from 10:00 on day 0."""
        dose = DoseRecord.objects.get(participant=participant)
        volume = float(dose.preparation["final_volume_ml"])
        started = _at(day0, 10)
        minutes = math.ceil(volume / INFUSION_RATE_ML_PER_HOUR * 60) + 2
        gaps = []
        if interrupted:
            gaps = [
                {
                    "stopped_at": started + timedelta(minutes=12),
                    "resumed_at": started + timedelta(minutes=20),
                    "reason": "Pump occlusion alarm; line flushed and checked",
                }
            ]
            minutes += 8
        stopped = started + timedelta(minutes=minutes)
        services.record_infusion(
            participant,
            nurse,
            services.InfusionInput(
                started_at=started,
                stopped_at=stopped,
                rate_ml_per_hour=INFUSION_RATE_ML_PER_HOUR,
                volume_given_ml=volume,
                interruptions=gaps,
            ),
            now=stopped + timedelta(minutes=10),
        )
