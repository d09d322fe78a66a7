"""The product's chain of identity and custody in the shell: every step stored, audited and shown
as one timeline; the refusals (quarantined kit, release without review, infusing after use-by);
the use-by printed on the label; the infusion record's limits; site supply and expiry warnings,
with no arm for blinded roles (services and API)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from allocation_cases import NOW
from django.core.exceptions import PermissionDenied
from django.test import Client

from trialkit.server.accounts.models import ApiToken  # noqa: F401  (the API's token model is migrated)
from trialkit.server.allocation import services as allocation
from trialkit.server.allocation.models import AllocationSlot
from trialkit.server.audit.models import AuditEvent
from trialkit.server.product import services
from trialkit.server.product.models import InfusionRecord, Kit, KitEvent, Lot, ResupplyRequest, Shipment

pytestmark = pytest.mark.django_db

IXCELL = "NCT07197606"
SITE = "ixcell-01"


@pytest.fixture
def chain(generated, trials, make_user, enroll):
    """IxCell at one site: two participants randomized (one per arm), a released lot per arm, every
    kit of the site's list registered, shipped, received and stored."""
    trial = trials[IXCELL]
    site = trial.sites.get(code=SITE)
    coordinator = make_user("coordinator", trial, site=site)
    by_arm = {}
    for _ in range(12):
        p = enroll(trial, SITE)
        allocation.randomize(p, coordinator, now=NOW)
        p.refresh_from_db()
        by_arm.setdefault(AllocationSlot.objects.get(participant=p).arm_id, p)
        if len(by_arm) == 2:
            break
    depot = make_user("unblinded_pharmacist", trial, username="depot")
    pharmacist = make_user("unblinded_pharmacist", trial, site=site, username="pharmacist")
    lots = {}
    for arm, cells in (("msc", 5e7), ("placebo", None)):
        lot = services.create_lot(
            trial,
            depot,
            lot_number=f"L-{arm}",
            arm_id=arm,
            manufactured_on=date(2025, 1, 1),
            expires_on=date(2025, 12, 31),
            cells_per_vial=cells,
            viability_percent=90 if cells else None,
            sterility="pass",
            now=NOW,
        )
        lots[arm] = services.release_lot(lot, depot, now=NOW)
    slots = AllocationSlot.objects.filter(trial=trial, stratum__contains=SITE)
    numbers = {arm: [s.kit_number for s in slots if s.arm_id == arm][:4] for arm in lots}
    for p in by_arm.values():
        numbers[AllocationSlot.objects.get(participant=p).arm_id].append(p.kit_number)
    numbers = {arm: sorted(set(n)) for arm, n in numbers.items()}
    for arm, lot in lots.items():
        services.register_kits(lot, numbers[arm], depot, now=NOW)
    shipment = services.ship_kits(trial, site, [n for ns in numbers.values() for n in ns], depot, now=NOW)
    services.confirm_receipt(shipment, pharmacist, now=NOW, storage_location="LN2 tank 1")
    return {
        "trial": trial,
        "site": site,
        "by_arm": by_arm,
        "depot": depot,
        "pharmacist": pharmacist,
        "coordinator": coordinator,
        "investigator": make_user("investigator", trial, site=site),
        "lots": lots,
        "numbers": numbers,
    }


def _to_prepared(c, p, thawed_at):
    services.assign_kit(p, c["pharmacist"], now=thawed_at - timedelta(minutes=10))
    services.thaw_kit(p, c["pharmacist"], now=thawed_at, thawed_at=thawed_at)
    return allocation.prepare_dose(p, 70, c["pharmacist"], now=thawed_at + timedelta(minutes=20))


def test_every_step_is_a_timeline_entry_and_an_audit_event_the_same_for_both_arms(chain):
    c = chain
    thawed = NOW + timedelta(hours=1)
    steps = {}
    for arm, p in c["by_arm"].items():
        prepared = _to_prepared(c, p, thawed)
        allocation.record_administration(p, c["investigator"], now=thawed + timedelta(hours=1))
        timeline = services.kit_timeline(p, c["investigator"])
        steps[arm] = [e.step for e in timeline.entries]
        assert timeline.status == "infused" and timeline.lot_number is None  # blinded: no lot
        assert services.kit_timeline(p, c["pharmacist"]).lot_number == f"L-{arm}"
        audited = list(
            AuditEvent.objects.filter(object_type="kit", object_id=p.kit_number).values_list("action", flat=True)
        )
        assert audited == [f"kit.{s}" for s in steps[arm]]
        assert "Use by:             3 Mar 2025 14:00" in prepared.label  # thawed 10:00 UTC + 4 h (IxCell)
    assert (
        steps["msc"]
        == steps["placebo"]
        == [
            "register",
            "ship",
            "receive",
            "store",
            "assign",
            "thaw",
            "prepare",
            "infuse",
        ]
    )


def test_a_dose_is_not_prepared_from_a_kit_not_thawed_and_not_given_after_use_by(chain):
    c = chain
    p = c["by_arm"]["msc"]
    services.assign_kit(p, c["pharmacist"], now=NOW)
    with pytest.raises(allocation.AllocationProblem, match="thaw it before preparing"):
        allocation.prepare_dose(p, 70, c["pharmacist"], now=NOW)
    services.thaw_kit(p, c["pharmacist"], now=NOW, thawed_at=NOW)
    allocation.prepare_dose(p, 70, c["pharmacist"], now=NOW + timedelta(minutes=30))
    with pytest.raises(allocation.AllocationProblem, match="use-by") as err:
        allocation.record_administration(p, c["investigator"], now=NOW + timedelta(hours=4, minutes=1))
    assert err.value.rule == "past_use_by"
    p.refresh_from_db()
    assert p.status == "randomized"
    assert Kit.objects.get(kit_number=p.kit_number).status == "prepared"


def test_quarantined_kit_cannot_be_assigned_and_release_needs_a_review(chain):
    c = chain
    p = c["by_arm"]["placebo"]
    excursion = services.record_excursion(
        c["trial"], c["site"], c["pharmacist"], now=NOW, min_c=-180, max_c=-120, duration_minutes=40
    )
    assert excursion is not None
    kit = Kit.objects.get(kit_number=p.kit_number)
    assert kit.status == "quarantined"
    with pytest.raises(services.ProductProblem, match="quarantined") as err:
        services.assign_kit(p, c["pharmacist"], now=NOW)
    assert err.value.rule == "quarantined"
    with pytest.raises(services.ProductProblem) as err:
        services.release_kit(kit, c["pharmacist"], now=NOW)
    assert err.value.rule == "excursion_not_reviewed"
    services.review_excursion(excursion, c["pharmacist"], now=NOW, decision="usable", reason="stability data allow 1 h")
    services.release_kit(kit, c["pharmacist"], now=NOW, reason="reviewed")
    assert Kit.objects.get(pk=kit.pk).status == "stored"
    services.assign_kit(p, c["pharmacist"], now=NOW)
    assert {"excursion", "release"} <= set(KitEvent.objects.filter(kit=kit).values_list("step", flat=True))
    assert AuditEvent.objects.filter(action="excursion.reviewed").count() == 1


def test_a_reading_inside_the_range_quarantines_nothing_and_discard_destroys(chain):
    c = chain
    assert (
        services.record_excursion(
            c["trial"], c["site"], c["pharmacist"], now=NOW, min_c=-190, max_c=-150, duration_minutes=5
        )
        is None
    )
    excursion = services.record_excursion(
        c["trial"], c["site"], c["pharmacist"], now=NOW, min_c=-190, max_c=-20, duration_minutes=300
    )
    services.review_excursion(excursion, c["pharmacist"], now=NOW, decision="discard", reason="thawed")
    assert set(excursion.kits.values_list("status", flat=True)) == {"destroyed"}


def test_lot_release_refused_with_reasons(chain):
    c = chain
    lot = services.create_lot(
        c["trial"],
        c["depot"],
        lot_number="L-bad",
        arm_id="msc",
        manufactured_on=date(2025, 1, 1),
        expires_on=date(2025, 12, 31),
        cells_per_vial=3e7,
        viability_percent=55,
        sterility="pending",
        now=NOW,
    )
    with pytest.raises(services.ProductProblem) as err:
        services.release_lot(lot, c["depot"], now=NOW)
    assert {e["field"] for e in err.value.errors} == {"sterility", "viability_percent", "cells_per_vial"}
    assert Lot.objects.get(pk=lot.pk).status == "pending"
    # a kit of an unreleased lot cannot ship
    slot = AllocationSlot.objects.filter(trial=c["trial"], arm_id="msc", participant__isnull=True).exclude(
        kit_number__in=Kit.objects.values("kit_number")
    )[0]
    services.register_kits(lot, [slot.kit_number], c["depot"], now=NOW)
    with pytest.raises(services.ProductProblem, match="release testing"):
        services.ship_kits(c["trial"], c["site"], [slot.kit_number], c["depot"], now=NOW)


def test_kits_must_match_the_lots_arm_on_the_list(chain):
    c = chain
    slot = AllocationSlot.objects.filter(trial=c["trial"], arm_id="placebo").exclude(
        kit_number__in=Kit.objects.values("kit_number")
    )[0]
    with pytest.raises(services.ProductProblem, match="another arm"):
        services.register_kits(c["lots"]["msc"], [slot.kit_number], c["depot"], now=NOW)


def _infusion(**kw):
    base = dict(
        started_at=NOW + timedelta(hours=1),
        stopped_at=NOW + timedelta(hours=1, minutes=30),
        rate_ml_per_hour=150,
        volume_given_ml=70,
    )
    base.update(kw)
    return services.InfusionInput(**base)


def test_infusion_record_checks_limits_and_records_the_administration(chain):
    c = chain
    p = c["by_arm"]["msc"]
    _to_prepared(c, p, NOW + timedelta(minutes=30))
    later = NOW + timedelta(hours=6)
    with pytest.raises(services.ProductProblem) as err:
        services.record_infusion(p, c["coordinator"], _infusion(rate_ml_per_hour=250), now=later)
    assert err.value.rule == "max_rate"
    with pytest.raises(services.ProductProblem) as err:
        services.record_infusion(p, c["coordinator"], _infusion(volume_given_ml=71), now=later)
    assert {e["rule"] for e in err.value.errors} >= {"max_volume_per_kg", "prepared_volume"}
    with pytest.raises(services.ProductProblem) as err:
        services.record_infusion(
            p,
            c["coordinator"],
            _infusion(started_at=NOW + timedelta(hours=4), stopped_at=NOW + timedelta(hours=4, minutes=40)),
            now=later,
        )
    assert "past_use_by" in {e["rule"] for e in err.value.errors}
    assert not InfusionRecord.objects.exists()
    record = services.record_infusion(
        p,
        c["coordinator"],
        _infusion(
            stopped_at=NOW + timedelta(hours=1, minutes=45),
            interruptions=[
                {
                    "stopped_at": NOW + timedelta(hours=1, minutes=10),
                    "resumed_at": NOW + timedelta(hours=1, minutes=20),
                    "reason": "chills",
                }
            ],
            reactions=[{"at": NOW + timedelta(hours=1, minutes=10), "description": "chills", "grade": 1}],
        ),
        now=later,
    )
    p.refresh_from_db()
    assert p.status == "treated" and record.reactions[0]["grade"] == 1
    assert Kit.objects.get(kit_number=p.kit_number).status == "infused"
    assert AuditEvent.objects.filter(action="infusion.recorded", participant_id=p.pk).count() == 1
    from trialkit.server.audit.verify import verify_all

    assert verify_all()["ok"]  # the product tables' rows agree with their row-level trail


def test_supply_counts_resupply_and_expiry_warnings(chain):
    c = chain
    stored = Kit.objects.filter(site=c["site"], status="stored").count()
    assert ResupplyRequest.objects.count() == 0
    # assign kits until the site falls below the minimum (2): an automatic request appears
    for p in c["by_arm"].values():
        services.assign_kit(p, c["pharmacist"], now=NOW)
    kits = list(Kit.objects.filter(site=c["site"], status="stored").order_by("kit_number"))
    for kit in kits[: max(0, len(kits) - 1)]:
        services.destroy_kit(kit, c["pharmacist"], now=NOW, reason="damaged vial")
    assert stored > 2
    request = ResupplyRequest.objects.get()
    assert request.automatic and request.quantity == 4
    assert AuditEvent.objects.filter(action="resupply.requested").count() == 1
    # expiry: 31 Dec 2025 is within 30 days on 5 Dec 2025
    late = NOW.replace(year=2025, month=12, day=5)
    blinded = services.site_supply(c["trial"], c["coordinator"], now=late)
    unblinded = services.site_supply(c["trial"], c["pharmacist"], now=late)
    mine = next(s for s in blinded if s.site_code == SITE)
    assert mine.available == 1 and mine.expiring == 1 and mine.kits == [] and mine.warnings == []
    theirs = next(s for s in unblinded if s.site_code == SITE)
    assert [w["days_left"] for w in theirs.warnings] == [26]
    assert {k["lot"] for k in theirs.kits} == {"L-msc", "L-placebo"}
    # Every count, at every site, as the kits, requests and shipments stand (counted one by one here).
    for stocks, user in ((blinded, c["coordinator"]), (unblinded, c["pharmacist"])):
        assert stocks, user
        for stock in stocks:
            kits = Kit.objects.filter(trial=c["trial"], site__code=stock.site_code)
            stored = [k for k in kits if k.status == "stored"]
            assert stock.available == sum(k.lot.expires_on >= late.date() for k in stored)
            assert stock.quarantined == kits.filter(status="quarantined").count()
            assert stock.in_transit == kits.filter(status="in_transit").count()
            assert stock.assigned == kits.filter(status__in=["assigned", "thawed", "prepared"]).count()
            assert (
                stock.open_requests == ResupplyRequest.objects.filter(site__code=stock.site_code, status="open").count()
            )
            assert (
                stock.shipments_awaiting_receipt
                == Shipment.objects.filter(site__code=stock.site_code, received_at__isnull=True).count()
            )
            if user == c["pharmacist"] and stock.site_code == SITE:
                assert [k["kit_number"] for k in stock.kits] == sorted(k.kit_number for k in kits)
    assert theirs.assigned == len(c["by_arm"]) and theirs.open_requests == 1


def test_blinded_roles_are_refused_lots_and_kits_and_see_no_arm(chain, client):
    c = chain
    for user in (c["coordinator"], c["investigator"]):
        with pytest.raises(PermissionDenied):
            services.kit_timeline_by_number(c["trial"], c["numbers"]["msc"][0], user)
        with pytest.raises(PermissionDenied):
            services.create_lot(
                c["trial"],
                user,
                lot_number="X",
                arm_id="msc",
                manufactured_on=date(2025, 1, 1),
                expires_on=date(2026, 1, 1),
                now=NOW,
            )
    client.force_login(c["coordinator"])
    answer = client.get(f"/api/product/{IXCELL}/supply")
    assert answer.status_code == 200
    text = json.dumps(answer.json())
    assert "msc" not in text and "placebo" not in text and "L-" not in text
    assert client.get(f"/api/product/{IXCELL}/lots").status_code == 403
    for p in c["by_arm"].values():
        page = client.get(f"/product/{IXCELL}/participants/{p.participant_number}/")
        assert page.status_code == 200
        body = page.content.decode()
        assert p.kit_number in body and "L-msc" not in body and "L-placebo" not in body
    assert client.get(f"/product/{IXCELL}/").status_code == 200
    assert client.get(f"/product/{IXCELL}/lots/").status_code == 403
    pharmacist = Client()
    pharmacist.force_login(c["pharmacist"])
    assert "L-msc" in pharmacist.get(f"/product/{IXCELL}/lots/").content.decode()


def test_api_infusion_refusal_follows_the_error_contract(chain, client):
    c = chain
    p = c["by_arm"]["placebo"]
    _to_prepared(c, p, NOW + timedelta(minutes=30))
    client.force_login(c["coordinator"])
    body = {
        "started_at": (NOW + timedelta(hours=1)).isoformat(),
        "stopped_at": (NOW + timedelta(hours=1, minutes=30)).isoformat(),
        "rate_ml_per_hour": 300,
        "volume_given_ml": 70,
    }
    url = f"/api/product/{IXCELL}/participants/{p.participant_number}/infusion"
    answer = client.post(url, json.dumps(body), content_type="application/json")
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["rule"] == "max_rate"


def test_the_pharmacist_s_lot_and_kit_statuses_are_chinese_for_a_chinese_browser(chain):
    # Stored statuses stay English codes; the pharmacist's pages show the reader's words.
    c = chain
    pharmacist = Client()
    pharmacist.force_login(c["pharmacist"])
    lots = pharmacist.get(f"/product/{IXCELL}/lots/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "已放行" in lots and "合格" in lots and ">Released<" not in lots
    kits = pharmacist.get(f"/product/{IXCELL}/lots/L-msc/kits/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "储存中" in kits and "In storage" not in kits
    english = pharmacist.get(f"/product/{IXCELL}/lots/L-msc/kits/").content.decode()
    assert "In storage" in english and Lot.objects.get(lot_number="L-msc").status == "released"


def test_refusals_follow_the_reader_s_language_and_read_the_same_for_both_arms(chain):
    # Field and rule codes stay; the message is the reader's; with the kit and participant numbers
    # taken out, the refusal reads the same in both arms (it adds no arm word).
    from django.utils import translation

    c = chain
    said = {}
    for arm, p in c["by_arm"].items():
        services.assign_kit(p, c["pharmacist"], now=NOW)
        with translation.override("zh-hans"), pytest.raises(allocation.AllocationProblem) as err:
            allocation.prepare_dose(p, 70, c["pharmacist"], now=NOW)
        said[arm] = str(err.value).replace(p.kit_number, "K").replace(p.participant_number, "P")
        with translation.override("zh-hans"), pytest.raises(allocation.AllocationProblem) as again:
            allocation.randomize(p, c["coordinator"], now=NOW)
        said[arm] += str(again.value).replace(p.participant_number, "P")
    assert said["msc"] == said["placebo"]
    assert "药盒 K 的状态为“已分配给受试者”；配制前请先解冻" in said["msc"]
    assert "受试者 P 已完成随机化；每人只分配一次" in said["msc"]
    assert "msc" not in said["msc"] and "placebo" not in said["msc"]


def test_api_refusal_in_chinese_for_a_chinese_client_and_english_without_accept_language(chain):
    c = chain
    depot = Client()
    depot.force_login(c["depot"])
    body = json.dumps(
        {"lot_number": "L-msc", "arm_id": "msc", "manufactured_on": "2025-01-01", "expires_on": "2025-12-31"}
    )
    url = f"/api/product/{IXCELL}/lots"
    chinese = depot.post(url, body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    english = depot.post(url, body, content_type="application/json")
    assert chinese.status_code == english.status_code == 409
    assert "批次 L-msc 已登记" in json.dumps(chinese.json(), ensure_ascii=False)
    assert "lot L-msc is already registered" in json.dumps(english.json())


def test_the_automatic_resupply_counts_the_site_stock_as_the_kits_stand(chain):
    """check_resupply counts in the database; the request it raises is the core's rule applied to the
    site's kits and open requests counted one by one, before and after a lot expires."""
    from django.utils import timezone

    from trialkit.dosing.supply import resupply_quantity

    c = chain
    trial, site = c["trial"], c["site"]
    supply = trial.protocol.product.supply
    first_lot = Lot.objects.filter(trial=trial).order_by("lot_number").first()
    Lot.objects.filter(pk=first_lot.pk).update(expires_on=date(2025, 11, 30))  # this lot expires first

    def one_by_one(today):
        kits = list(Kit.objects.filter(trial=trial, site=site).select_related("lot"))
        requests = ResupplyRequest.objects.filter(trial=trial, site=site, status="open")
        return resupply_quantity(
            supply,
            available=sum(k.status == "stored" and k.lot.expires_on >= today for k in kits),
            in_transit=sum(k.status == "in_transit" for k in kits),
            requested=sum(r.quantity for r in requests),
        )

    wanted = []
    for day in (date(2025, 11, 1), date(2025, 12, 15), date(2026, 1, 2), date(2026, 1, 3)):
        now = NOW.replace(year=day.year, month=day.month, day=day.day)
        want = one_by_one(timezone.localdate(now))
        request = services.check_resupply(trial, site, now=now)
        assert (request.quantity if request else 0) == want, day
        wanted.append(want)
    assert any(wanted) and not all(wanted), wanted  # both outcomes were checked
