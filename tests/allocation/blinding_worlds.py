"""Worlds for the differential crawl: the same trials, people, seed and clock, built again with one
thing changed (which participants got which arm, or the efficacy outcomes), so that any page that
differs between two worlds for a principal tells that principal the thing that changed.

Primary keys must be equal in every world (a URL names the same object in each): each world is
built inside a transaction that is rolled back, and on PostgreSQL, whose sequences ignore
rollbacks, every sequence is put back where it was before the next world is built.
"""

from __future__ import annotations

import contextlib
from datetime import date, timedelta

from allocation_cases import NOW
from auth_support import otp_code
from django.db import connection

PASSWORD = "pw-for-tests"
UNBLIND_PASSWORD = "unblind-pw"
# Wall clock of every world while it is built and crawled (time-machine, not ticking).
CLOCK = NOW + timedelta(days=16, hours=1)

SAE = {
    "term": "Headache",
    "onset_date": "2025-03-05",
    "ctcae_grade": 2,
    "serious": False,
    "relatedness": "unlikely",
    "expectedness": "expected",
    "action_taken": "not_applicable",
    "outcome": "recovered",
}

# Principals: a name and memberships per trial as (role, site index: 0 = site 01, 1 = site 02, None = all).
BLINDED_PRINCIPALS = {
    "sponsor_admin": [("sponsor_admin", None)],
    "investigator": [("investigator", 0)],
    "coordinator": [("coordinator", 0)],
    "blinded_assessor": [("blinded_assessor", 0)],
    "monitor": [("monitor", None)],
    "data_manager": [("data_manager", None)],
    # Two roles at once: each grants at its own sites only.
    "investigator@01+monitor": [("investigator", 0), ("monitor", None)],
    "coordinator@01+assessor@02": [("coordinator", 0), ("blinded_assessor", 1)],
    "investigator@02": [("investigator", 1)],
    "data_manager+sponsor_admin": [("data_manager", None), ("sponsor_admin", None)],
}
# Crawled first in every world, from the same state, so their pages compare across worlds.
UNBLINDED_PRINCIPALS = {
    "pharmacist": [("unblinded_pharmacist", 0)],
    "dsmb_statistician": [("dsmb_statistician", None)],
}


@contextlib.contextmanager
def restored_sequences():
    """PostgreSQL sequences as they were on entry (a rolled-back world must not shift the next one's ids)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT schemaname, sequencename, last_value FROM pg_sequences")
        saved = cursor.fetchall()
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for schema, name, last in saved:
                qualified = f'"{schema}"."{name}"'
                if last is None:
                    cursor.execute("SELECT setval(%s, 1, false)", [qualified])
                else:
                    cursor.execute("SELECT setval(%s, %s, true)", [qualified, last])


def _load_trials():
    from trialkit.server.demo import DEMO_SITES
    from trialkit.server.trials.loading import load_protocols
    from trialkit.server.trials.models import Site

    loaded = {t.nct_id: t for t in load_protocols()}
    for nct_id, sites in DEMO_SITES.items():
        for code, name, city, country in sites:
            Site.objects.get_or_create(
                trial=loaded[nct_id], code=code, defaults={"name": name, "city": city, "country": country}
            )
    return loaded


def _enroll(trial, site, number):
    from trialkit.server.participants.models import Consent, Participant, ScreeningRecord

    clerk = _user("enrolment-clerk")
    screening = ScreeningRecord.objects.create(
        trial=trial,
        site=site,
        screening_number=f"S-{number}",
        screening_date=date(2025, 3, 1),
        facts={"nihss_total": 8},
        verdict=ScreeningRecord.Verdict.ELIGIBLE,
        outcome=ScreeningRecord.Outcome.ENROLLED,
        created_by=clerk,
    )
    Consent.objects.create(
        screening=screening,
        document_version="v1",
        consent_date=date(2025, 3, 1),
        signed_by=Consent.Signer.PARTICIPANT,
        recorded_by=clerk,
    )
    return Participant.objects.create(
        trial=trial, site=site, screening=screening, participant_number=number, enrolled_at=NOW
    )


def _referral(trial, site):
    from trialkit.eligibility.prescreen import prescreen
    from trialkit.server.referrals.services import Contact, submit_referral

    result = prescreen(trial.protocol, {"age": "60"}, today=NOW.date())
    contact = Contact(
        name="Referred Person", phone="+86 10 5555 0100", email="", relationship="self", consent_to_contact=True
    )
    return submit_referral(trial, site, result, contact, language="en")


def _user(username, password=PASSWORD):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    user = User.objects.filter(username=username).first()
    return user or User.objects.create_user(username, password=password)


def _member(user, trial, role, site=None):
    from trialkit.server.accounts.models import Membership

    Membership.objects.get_or_create(user=user, trial=trial, site=site, role=role)
    return user


def _permute_arms(allocation_list, stratum: str, used: int) -> None:
    """Reverse the arms (and dose levels) of the first ``used`` slots of ``stratum``, the slots the
    world's participants there will take: the same slots, kits and randomization numbers, the same
    arms in total, given to other participants."""
    from trialkit.server.allocation.models import AllocationSlot

    slots = list(
        AllocationSlot.objects.filter(allocation_list=allocation_list, stratum=stratum).order_by("sequence_no")[:used]
    )
    arms = [(s.arm_id, s.dose_level) for s in slots][::-1]
    assert arms != arms[::-1], "the permutation must move someone"
    for slot, (arm, level) in zip(slots, arms):
        AllocationSlot.objects.filter(pk=slot.pk).update(arm_id=arm, dose_level=level)


def _outcome_visit(protocol):
    for visit in protocol.schedule.visits:
        if visit.kind != "screening" and "nihss" in visit.forms and "mrs" in visit.forms:
            return visit.id
    raise AssertionError("the protocol has no visit with both NIHSS and mRS")


def nihss_values(total_shift: int) -> dict:
    values = {key: 0 for key in ("1a", "1b", "1c", "2", "3", "4", "5a", "5b", "6a", "6b", "7", "8", "9", "10", "11")}
    values.update({"4": 1, "5a": 1 + total_shift, "6a": 1, "8": 1})
    return values


def _product_chain(trial, site, allocation_list, randomized, pharmacist, at) -> dict:
    """Kits through the chain alike in every arm: a released lot per arm, the randomized
    participants' kits and three stock kits registered, shipped, received and stored; the
    participants' kits assigned and thawed after their randomization (``at``: participant pk to
    time); one stock kit quarantined by an excursion."""
    from trialkit.server.allocation.models import AllocationSlot
    from trialkit.server.allocation.services import participant_stratum
    from trialkit.server.product import services as product

    depot = _member(_user(f"depot-{trial.nct_id}"), trial, "unblinded_pharmacist")
    for p in randomized:
        p.refresh_from_db()
    stock = list(
        AllocationSlot.objects.filter(
            allocation_list=allocation_list, stratum=participant_stratum(trial, randomized[0]), participant__isnull=True
        ).order_by("sequence_no")[:3]
    )
    slots = [*AllocationSlot.objects.filter(participant__in=randomized), *stock]
    lots = {}
    for arm in sorted({a.id for a in trial.protocol.arms if a.dose is not None}):
        rule = trial.protocol.arm(arm).dose
        cells = rule.product.units_per_vial if rule.unit == "cells" and rule.product else None
        lot = product.create_lot(
            trial,
            depot,
            lot_number=f"LOT-{arm}",
            arm_id=arm,
            manufactured_on=date(2025, 1, 1),
            expires_on=date(2025, 12, 31),
            cells_per_vial=cells,
            viability_percent=90 if cells else None,
            sterility="pass",
            now=NOW,
        )
        lots[arm] = product.release_lot(lot, depot, now=NOW)
    for arm, lot in lots.items():
        numbers = sorted(s.kit_number for s in slots if s.arm_id == arm)
        if numbers:
            product.register_kits(lot, numbers, depot, now=NOW)
    shipment = product.ship_kits(trial, site, sorted(s.kit_number for s in slots), depot, now=NOW)
    product.confirm_receipt(shipment, pharmacist, now=NOW + timedelta(minutes=5), storage_location="tank 1")
    for p in randomized:
        product.assign_kit(p, pharmacist, now=at[p.pk] + timedelta(minutes=20))
        product.thaw_kit(p, pharmacist, now=at[p.pk] + timedelta(minutes=30))
    excursion = product.record_excursion(
        trial,
        site,
        pharmacist,
        now=NOW + timedelta(minutes=40),
        min_c=-180,
        max_c=-100,
        duration_minutes=30,
        kit_numbers=[sorted(s.kit_number for s in stock)[0]],
    )
    return {
        "nct_id": trial.nct_id,
        "lot_number": "LOT-placebo",
        "shipment_id": shipment.pk,
        "excursion_id": excursion.pk,
        "kit_number": sorted(s.kit_number for s in stock)[1],
    }


def build_world(variant: str) -> dict:
    """One world. ``variant``: "base"; "arms" (the same, but the randomized participants' arms
    permuted); "outcomes" (the same, but other NIHSS and mRS values)."""
    from trialkit.server.allocation import services
    from trialkit.server.allocation.models import AllocationSlot, Notification
    from trialkit.server.capture.models import FormRecord
    from trialkit.server.capture.services import ensure_schedule, open_query, save_adverse_event, save_form
    from trialkit.server.exports.services import create_export
    from trialkit.server.jobs import runner

    trials = _load_trials()
    world = {
        "trials": trials,
        "users": {},
        "participants": [],
        "arms": {},
        "forms": {},
        "aes": {},
        "queries": {},
        "jobs": {},
    }
    # The principals first, so that notifications sent later reach them as members.
    for name, grants in {**BLINDED_PRINCIPALS, **UNBLINDED_PRINCIPALS}.items():
        user = _user(f"crawl-{name}")
        for trial in trials.values():
            sites = list(trial.sites.order_by("code")[:2])
            for role, index in grants:
                _member(user, trial, role, None if index is None else sites[index])
        world["users"][name] = user
    outcome_shift = 1 if variant == "outcomes" else 0
    for nct_id, trial in trials.items():
        site01, site02 = trial.sites.order_by("code")[:2]
        dsmb = _member(_user(f"dsmb-{nct_id}"), trial, "dsmb_statistician")
        allocation_list = services.generate_allocation_list(
            trial, dsmb, now=NOW, seed=f"crawl-{nct_id}"
        ).allocation_list
        coordinator = _member(_user(f"coord-{nct_id}"), trial, "coordinator", site01)
        coordinator02 = _member(_user(f"coord02-{nct_id}"), trial, "coordinator", site02)
        investigator = _member(_user(f"inv-{nct_id}", UNBLIND_PASSWORD), trial, "investigator", site01)
        pharmacist = _member(_user(f"pharm-{nct_id}"), trial, "unblinded_pharmacist", site01)
        monitor = _member(_user(f"mon-{nct_id}"), trial, "monitor")
        code = site01.code.upper()
        randomized = [_enroll(trial, site01, f"{code}-{i:03d}") for i in range(1, 5)]
        if variant == "arms":
            _permute_arms(allocation_list, services.participant_stratum(trial, randomized[0]), used=4)
        # A trial with sentinel dosing (ASSIST) randomizes the rest of a cohort only after the wait.
        sentinel = trial.protocol.randomization.escalation and trial.protocol.randomization.escalation.sentinel
        wait = timedelta(days=sentinel.wait_days + 1) if sentinel else timedelta(0)
        at = {p.pk: NOW if not sentinel or i < sentinel.participants else NOW + wait for i, p in enumerate(randomized)}
        for p in randomized:
            services.randomize(p, coordinator, now=at[p.pk])
        world.setdefault("product", []).append(
            _product_chain(trial, site01, allocation_list, randomized, pharmacist, at)
        )
        # Dosed and given alike (same weight, same times): pages must not differ by arm.
        for p in randomized[:3]:
            services.prepare_dose(p, 70, pharmacist, now=at[p.pk] + timedelta(hours=1))
            services.record_administration(p, coordinator, now=at[p.pk] + timedelta(hours=2))
        services.prepare_dose(randomized[3], 70, pharmacist, now=at[randomized[3].pk] + timedelta(hours=1))
        visit_id = _outcome_visit(trial.protocol)
        for i, p in enumerate(randomized[:3]):
            ensure_schedule(p)
            when = at[p.pk] + timedelta(hours=3)
            nihss = save_form(
                p, visit_id, "nihss", nihss_values(outcome_shift * (i + 1)), coordinator, complete=True, now=when
            )
            mrs = save_form(
                p, visit_id, "mrs", {"score": 2 + outcome_shift * (i % 2 + 1)}, coordinator, complete=True, now=when
            )
            world["forms"][p.pk] = {"nihss": nihss, "mrs": mrs}
            world["aes"][p.pk] = save_adverse_event(p, SAE, coordinator, complete=True, now=when)
            world["queries"][p.pk] = open_query(nihss, "5a", "Please confirm item 5a", monitor, now=when)
        waiting = _enroll(trial, site01, f"{code}-090")
        elsewhere = _enroll(trial, site02, f"{site02.code.upper()}-001")
        services.randomize(elsewhere, coordinator02, now=NOW + wait)
        for p in (*randomized, elsewhere):  # schedules made now, so that crawling (GET) writes nothing
            ensure_schedule(p)
        if nct_id == "NCT07197606":
            services.emergency_unblind(
                randomized[2],
                investigator,
                reason="Severe reaction",
                password=UNBLIND_PASSWORD,
                otp_token=otp_code(investigator),
                now=NOW + timedelta(hours=4),
            )
        world["participants"] += [*randomized, waiting, elsewhere]
        # A referral from the public pre-screener to site 01 (the same in every world).
        world.setdefault("referrals", []).append(_referral(trial, site01))
        # Exports: a blinded one by the crawling data manager (theirs to download), an unblinded
        # one by the statistician (no blinded principal may learn it exists).
        world["jobs"][nct_id] = [
            create_export(trial, world["users"]["data_manager"], now=NOW + timedelta(hours=5)),
            create_export(trial, world["users"]["dsmb_statistician"], unblinded=True, now=NOW + timedelta(hours=5)),
        ]
    # Reports: a blinded one of the crawling monitor and the statistician's unblinded one.
    ixcell = trials["NCT07197606"]
    from trialkit.server.jobs.models import Job

    for owner, unblinded in (("monitor", False), ("dsmb_statistician", True)):
        job = runner.submit(
            "report",
            trial=ixcell,
            requested_by=world["users"][owner],
            unblinded=unblinded,
            requester_role="dsmb_statistician" if unblinded else "",
            queue=False,
        )
        runner.execute(job.pk)
        world.setdefault("report_jobs", []).append(Job.objects.get(pk=job.pk))
    for p in world["participants"]:
        p.refresh_from_db()
    world["arms"] = dict(
        AllocationSlot.objects.filter(participant__isnull=False).values_list(
            "participant__participant_number", "arm_id"
        )
    )
    world["outcomes"] = {
        f.participant.participant_number + ":" + f.instrument: f.data
        for f in FormRecord.objects.filter(instrument__in=("nihss", "mrs")).select_related("participant")
    }
    world["notifications"] = list(Notification.objects.all())
    return world
