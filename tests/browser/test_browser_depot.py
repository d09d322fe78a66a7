"""The pharmacist's depot and site steps in Chromium: a new lot (a refused value first, shown at
its field with what was typed), its release, its kits, a shipment, the receipt at the site (out
of range in transit, so its kits are quarantined), the excursion reviewed and a kit released and
stored, then a storage excursion recorded and reviewed as discard. Every page: a screenshot, no
sideways overflow and no serious axe-core violation. The receipt form also on a phone."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from browser_support import DESKTOP, PHONE, check_page, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NCT = "NCT07197606"  # IxCell: the demo pharmacist works its first site


def _site_and_free_kits(n: int):
    """The pharmacist's site and ``n`` kit numbers of the cell arm not yet in the chain."""
    from trialkit.server.accounts.models import Membership
    from trialkit.server.allocation.models import AllocationSlot
    from trialkit.server.product.models import Kit

    site = Membership.objects.get(user__username="pharmacist", trial__nct_id=NCT).site
    taken = set(Kit.objects.values_list("kit_number", flat=True))
    slots = AllocationSlot.objects.filter(trial__nct_id=NCT, arm_id="msc", participant__isnull=True).order_by(
        "sequence_no"
    )
    return site, [s.kit_number for s in slots if s.kit_number not in taken][:n]


def _expect(page, selector: str, pattern: str):
    page.locator(selector).filter(has_text=re.compile(pattern)).first.wait_for(timeout=15_000)


def test_the_pharmacist_takes_kits_from_a_new_lot_to_the_site_s_storage(browser, live_server, demo):
    from trialkit.server.audit.models import AuditEvent
    from trialkit.server.product.models import Kit, Lot, Shipment, TemperatureExcursion

    site, numbers = _site_and_free_kits(2)
    page = login(browser, live_server.url, "pharmacist", DESKTOP)
    n = 0

    def check(what):
        nonlocal n
        n += 1
        check_page(page, f"depot-{n:02d}-{what}")

    try:
        page.goto(f"/home/?trial={NCT}")
        page.locator("#panel-depot").get_by_role("link", name="Site supply").click()
        page.wait_for_url(f"**/product/{NCT}/")
        page.get_by_role("link", name="Lots", exact=True).first.click()
        page.get_by_role("link", name="New lot", exact=True).click()
        page.wait_for_url(f"**/product/{NCT}/lots/new/")
        check("new-lot")
        today = date.today()
        page.fill("#id_lot_number", "LOT-WALK-1")
        page.select_option("#id_arm_id", "msc")
        page.fill("#id_manufactured_on", (today - timedelta(days=20)).isoformat())
        page.fill("#id_expires_on", (today + timedelta(days=300)).isoformat())
        page.fill("#id_cells_per_vial", "fifty million")
        page.fill("#id_viability_percent", "92")
        page.select_option("#id_sterility", "pass")
        page.click("button:has-text('Register the lot')")
        _expect(page, "#id_cells_per_vial-error", "cells_per_vial: must be a number")
        assert page.input_value("#id_cells_per_vial") == "fifty million"
        assert page.input_value("#id_lot_number") == "LOT-WALK-1"
        assert page.get_attribute("#id_cells_per_vial", "aria-invalid") == "true"
        assert not Lot.objects.filter(lot_number="LOT-WALK-1").exists()
        check("new-lot-error")
        page.fill("#id_cells_per_vial", "50000000")
        page.click("button:has-text('Register the lot')")
        page.wait_for_url(f"**/product/{NCT}/lots/")
        _expect(page, ".messages", "Lot LOT-WALK-1 registered")
        row = page.locator("tr", has_text="LOT-WALK-1")
        row.locator("button:has-text('Release')").click()
        _expect(page, ".messages", "Lot LOT-WALK-1 released")
        assert Lot.objects.get(lot_number="LOT-WALK-1").status == "released"
        check("lots")

        page.locator("tr", has_text="LOT-WALK-1").locator("a:has-text('Kits')").click()
        page.wait_for_url("**/lots/LOT-WALK-1/kits/")
        page.fill("#id_kit_numbers", "\n".join(numbers))
        page.click("button:has-text('Register the kits')")
        _expect(page, ".messages", "2 kits registered")
        check("lot-kits")

        page.get_by_role("link", name="Shipments", exact=True).first.click()
        page.select_option("#id_site_code", site.code)
        page.fill("#id_kit_numbers", ", ".join(numbers))
        page.click("button:has-text('Ship the kits')")
        _expect(page, ".messages", "2 kits on their way")
        shipment = Shipment.objects.get(kit_count=2, site=site)
        check("shipments")

        # The site: receipt with the logger out of range in transit, so the kits are quarantined.
        page.click(f"a[href='/product/{NCT}/shipments/{shipment.pk}/receipt/']")
        page.fill("#id_storage_location", "LN2 tank 1")
        page.fill("#id_transit_min_c", "-190")
        page.fill("#id_transit_max_c", "-60")
        check("receipt")
        page.click("button:has-text('Confirm receipt')")
        _expect(page, ".messages", "2 quarantined")
        assert set(Kit.objects.filter(kit_number__in=numbers).values_list("status", flat=True)) == {"quarantined"}

        page.goto(f"/product/{NCT}/excursions/")
        check("excursions")
        transit = TemperatureExcursion.objects.get(kits__kit_number=numbers[0])
        page.click(f"a[href='/product/{NCT}/excursions/{transit.pk}/']:has-text('Review')")
        page.select_option("#id_decision", "usable")
        page.fill("#id_reason", "The stability data cover two hours at -60 °C.")
        page.click("button:has-text('Record the review')")
        _expect(page, ".messages", "Excursion reviewed: usable")
        check("excursion-reviewed")
        page.click(f"button[aria-label='Release kit {numbers[0]}']")
        page.wait_for_url(f"**/kits/{numbers[0]}/")
        page.get_by_role("link", name="Store the kit").click()
        page.fill("#id_storage_location", "LN2 tank 2, rack A")
        check("store")
        page.click("button:has-text('Store the kit')")
        _expect(page, ".messages", f"Kit {numbers[0]} stored")
        assert Kit.objects.get(kit_number=numbers[0]).status == "stored"
        check("kit-timeline")

        # A storage excursion on the stored kit, reviewed as discard: the kit is destroyed.
        page.goto(f"/product/{NCT}/excursions/")
        page.select_option("#id_site_code", site.code)
        page.fill("#id_min_c", "-150")
        page.fill("#id_max_c", "-40")
        page.fill("#id_duration_minutes", "abc")
        page.fill("#id_kit_numbers", numbers[0])
        page.click("button:has-text('Record the excursion')")
        _expect(page, "#id_duration_minutes-error", "duration_minutes: must be a whole number")
        assert page.input_value("#id_min_c") == "-150"
        check("excursion-error")
        page.fill("#id_duration_minutes", "90")
        page.click("button:has-text('Record the excursion')")
        _expect(page, ".messages", "1 kits quarantined")
        page.select_option("#id_decision", "discard")
        page.fill("#id_reason", "Ninety minutes at -40 °C: outside the stability data.")
        page.click("button:has-text('Record the review')")
        _expect(page, ".messages", "Excursion reviewed: discard")
        assert Kit.objects.get(kit_number=numbers[0]).status == "destroyed"
        check("excursion-discarded")
        actions = set(AuditEvent.objects.filter(object_id__in=numbers).values_list("action", flat=True))
        assert {"kit.register", "kit.ship", "kit.receive", "kit.excursion", "kit.release", "kit.store"} <= actions
        assert {"kit.destroy"} <= actions
    except Exception:
        screenshot(page, "depot-failed")
        raise
    finally:
        page.context.close()


def test_the_site_confirms_a_receipt_on_a_phone(browser, live_server, demo):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from trialkit.server.product import services
    from trialkit.server.product.models import Kit
    from trialkit.server.trials.models import Trial

    site, numbers = _site_and_free_kits(2)
    trial = Trial.objects.get(nct_id=NCT)
    depot = get_user_model().objects.get(username="pharmacist")
    today = timezone.localdate()
    lot = services.create_lot(
        trial,
        depot,
        lot_number="LOT-PHONE",
        arm_id="msc",
        manufactured_on=today - timedelta(days=5),
        expires_on=today + timedelta(days=200),
        cells_per_vial=5e7,
        viability_percent=90,
        sterility="pass",
        now=timezone.now(),
    )
    services.release_lot(lot, depot, now=timezone.now())
    services.register_kits(lot, numbers, depot, now=timezone.now())
    shipment = services.ship_kits(trial, site, numbers, depot, now=timezone.now())
    page = login(browser, live_server.url, "pharmacist", PHONE)
    try:
        page.goto(f"/product/{NCT}/shipments/")
        check_page(page, "depot-phone-01-shipments")
        page.click(f"a[href='/product/{NCT}/shipments/{shipment.pk}/receipt/']")
        page.fill("#id_transit_min_c", "minus 190")
        page.click("button:has-text('Confirm receipt')")
        _expect(page, "#id_transit_min_c-error", "transit_min_c: must be a number")
        check_page(page, "depot-phone-02-receipt-error")
        page.fill("#id_storage_location", "LN2 tank 1")
        page.fill("#id_transit_min_c", "-190")
        page.fill("#id_transit_max_c", "-170")
        page.click("button:has-text('Confirm receipt')")
        _expect(page, ".messages", f"Shipment {shipment.pk} received")
        check_page(page, "depot-phone-03-received")
        assert set(Kit.objects.filter(kit_number__in=numbers).values_list("status", flat=True)) == {"stored"}
    except Exception:
        screenshot(page, "depot-phone-failed")
        raise
    finally:
        page.context.close()
