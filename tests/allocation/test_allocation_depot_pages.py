"""The pharmacist's depot and site steps as web forms: a new lot with its release results, the
lot's release, kits registered for a lot, shipped to a site, received there, stored, a temperature
excursion recorded and reviewed. Each form calls the same service as the API with the same
permission: a success changes the data, writes its audit event and redirects; bad input (blank,
not a number, a NUL byte, 10,000 characters, an unknown kit, a site not one's own) is shown again
as a 400 page naming the field and the rule, with nothing written. Blinded roles get the API's 403."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from auth_support import login_verified
from django.test import Client
from django.utils import timezone

from trialkit.server.allocation.models import AllocationSlot
from trialkit.server.audit.models import AuditEvent
from trialkit.server.product import services
from trialkit.server.product.models import Kit, KitEvent, Lot, Shipment, TemperatureExcursion

pytestmark = pytest.mark.django_db

IXCELL = "NCT07197606"
SITE = "ixcell-01"
LONG = "x" * 10_000
SELECTS = {"arm_id", "sterility", "site_code", "decision"}  # a value not offered cannot be shown selected


def _counts():
    return tuple(m.objects.count() for m in (Lot, Kit, KitEvent, Shipment, TemperatureExcursion, AuditEvent))


@pytest.fixture
def depot(generated, trials, make_user):
    """IxCell with its allocation list; a depot pharmacist (every site), a pharmacist at ixcell-01
    and one at ixcell-02, a coordinator; a released lot per arm with free kit numbers of its arm."""
    trial = trials[IXCELL]
    site = trial.sites.get(code=SITE)
    users = {
        "depot": make_user("unblinded_pharmacist", trial, username="depot"),
        "pharmacist": make_user("unblinded_pharmacist", trial, site=site, username="pharmacist"),
        "elsewhere": make_user("unblinded_pharmacist", trial, site=trial.sites.get(code="ixcell-02"), username="far"),
        "coordinator": make_user("coordinator", trial, site=site),
        "investigator": make_user("investigator", trial, site=site),
        "monitor": make_user("monitor", trial),
    }
    clients = {}
    for name, user in users.items():
        clients[name] = login_verified(Client(), user)
    today = timezone.localdate()
    free = {
        arm: [
            s.kit_number
            for s in AllocationSlot.objects.filter(trial=trial, arm_id=arm, stratum__contains=SITE).order_by(
                "sequence_no"
            )[:6]
        ]
        for arm in ("msc", "placebo")
    }
    return {
        "trial": trial,
        "site": site,
        "users": users,
        "c": clients,
        "free": free,
        "today": today,
        "url": f"/product/{IXCELL}",
    }


def _lot(d, arm="msc", number="L-1", released=True):
    lot = services.create_lot(
        d["trial"],
        d["users"]["depot"],
        lot_number=number,
        arm_id=arm,
        manufactured_on=d["today"] - timedelta(days=30),
        expires_on=d["today"] + timedelta(days=365),
        cells_per_vial=5e7 if arm == "msc" else None,
        viability_percent=90 if arm == "msc" else None,
        sterility="pass",
        now=timezone.now(),
    )
    return services.release_lot(lot, d["users"]["depot"], now=timezone.now()) if released else lot


def _shipped(d, n=3):
    lot = _lot(d)
    numbers = d["free"]["msc"][:n]
    services.register_kits(lot, numbers, d["users"]["depot"], now=timezone.now())
    shipment = services.ship_kits(d["trial"], d["site"], numbers, d["users"]["depot"], now=timezone.now())
    return shipment, numbers


def _refused(client, url, data, field, sentence=None):
    """A 400 page naming the field (its error tied to the input), what was typed kept, nothing written."""
    before = _counts()
    response = client.post(url, data)
    assert response.status_code == 400, (response.status_code, data)
    body = response.content.decode()
    if any("\x00" in str(v) for v in data.values()):
        # Refused for every form before any view runs (web.middleware.RefuseNulCharacters).
        assert f"{field}: contains a NUL character" in body
        assert _counts() == before, "a refused form wrote something"
        return body
    assert f'id="id_{field}-error"' in body, body[:3000]
    assert f"{field}:" in body
    if sentence:
        assert sentence in body
    assert 'aria-invalid="true"' in body
    assert _counts() == before, "a refused form wrote something"
    for name, value in data.items():
        if isinstance(value, str) and value and name not in SELECTS:
            assert value[:50] in body or value.replace("'", "&#x27;")[:50] in body, (name, "not kept")
    return body


# ------------------------------------------------------------------ lots


LOT_OK = {
    "lot_number": "L-7",
    "arm_id": "msc",
    "cells_per_vial": "50000000",
    "viability_percent": "91.5",
    "sterility": "pass",
}


def _lot_data(d, **changes):
    data = {
        **LOT_OK,
        "manufactured_on": (d["today"] - timedelta(days=10)).isoformat(),
        "expires_on": (d["today"] + timedelta(days=300)).isoformat(),
    }
    data.update(changes)
    return data


def test_a_new_lot_is_registered_with_its_results_and_audited(depot):
    d = depot
    assert d["c"]["depot"].get(f"{d['url']}/lots/new/").status_code == 200
    response = d["c"]["depot"].post(f"{d['url']}/lots/new/", _lot_data(d))
    assert response.status_code == 302 and response["Location"] == f"{d['url']}/lots/"
    lot = Lot.objects.get(lot_number="L-7")
    assert (lot.arm_id, lot.viability_percent, lot.sterility, lot.status) == ("msc", 91.5, "pass", "pending")
    assert AuditEvent.objects.filter(action="lot.registered", object_id="L-7").count() == 1
    page = d["c"]["depot"].get(response["Location"]).content.decode()
    assert "Lot L-7 registered" in page and f"{d['url']}/lots/L-7/kits/" in page


@pytest.mark.parametrize(
    ("changes", "field", "sentence"),
    [
        ({"lot_number": ""}, "lot_number", "lot_number: is missing"),
        ({"lot_number": "L\x00-7"}, "lot_number", "NUL"),
        ({"lot_number": LONG}, "lot_number", "at most 64 characters"),
        ({"cells_per_vial": "lots"}, "cells_per_vial", "must be a number"),
        ({"cells_per_vial": "-5"}, "cells_per_vial", "must be above 0"),
        ({"viability_percent": "101"}, "viability_percent", "at most 100"),
        ({"arm_id": "gold"}, "arm_id", "must be one of"),
        ({"manufactured_on": "yesterday"}, "manufactured_on", "must be a date"),
        ({"sterility": LONG}, "sterility", "at most 10 characters"),
    ],
)
def test_a_new_lot_with_bad_input_is_refused_naming_the_field(depot, changes, field, sentence):
    d = depot
    _refused(d["c"]["depot"], f"{d['url']}/lots/new/", _lot_data(d, **changes), field, sentence)


def test_the_service_s_refusal_is_shown_at_its_field(depot):
    d = depot
    data = _lot_data(d, expires_on=(d["today"] - timedelta(days=20)).isoformat())
    _refused(d["c"]["depot"], f"{d['url']}/lots/new/", data, "expires_on", "must be after the manufacturing date")
    _lot(d, number="L-7")
    before = _counts()
    response = d["c"]["depot"].post(f"{d['url']}/lots/new/", _lot_data(d))
    assert response.status_code == 400 and "lot L-7 is already registered" in response.content.decode()
    assert _counts() == before


def test_a_lot_is_released_from_the_lots_page_or_refused_with_its_reasons(depot):
    d = depot
    _lot(d, number="L-ok", released=False)
    response = d["c"]["depot"].post(f"{d['url']}/lots/", {"lot_number": "L-ok"})
    assert response.status_code == 302
    assert Lot.objects.get(lot_number="L-ok").status == "released"
    assert AuditEvent.objects.filter(action="lot.released", object_id="L-ok").exists()
    services.create_lot(
        d["trial"],
        d["users"]["depot"],
        lot_number="L-bad",
        arm_id="msc",
        manufactured_on=d["today"] - timedelta(days=3),
        expires_on=d["today"] + timedelta(days=90),
        viability_percent=40,
        sterility="pending",
        now=timezone.now(),
    )
    before = _counts()
    response = d["c"]["depot"].post(f"{d['url']}/lots/", {"lot_number": "L-bad"}, follow=True)
    body = response.content.decode()
    assert "may not be released" in body and "viability_percent:" in body and "sterility:" in body
    assert _counts() == before and Lot.objects.get(lot_number="L-bad").status == "pending"
    for bad in (LONG, "", "L-none"):
        assert d["c"]["depot"].post(f"{d['url']}/lots/", {"lot_number": bad}).status_code == 404
    assert d["c"]["depot"].post(f"{d['url']}/lots/", {"lot_number": "L\x00"}).status_code == 400
    assert _counts() == before


# ------------------------------------------------------------------ kits of a lot


def test_kits_are_registered_for_a_lot_and_audited(depot):
    d = depot
    _lot(d)
    url = f"{d['url']}/lots/L-1/kits/"
    assert d["c"]["depot"].get(url).status_code == 200
    numbers = d["free"]["msc"][:2]
    response = d["c"]["depot"].post(url, {"kit_numbers": f"{numbers[0]}\n{numbers[1]}"})
    assert response.status_code == 302
    assert sorted(Kit.objects.values_list("kit_number", flat=True)) == sorted(numbers)
    assert AuditEvent.objects.filter(action="kit.register", object_id__in=numbers).count() == 2
    assert "2 kits registered" in d["c"]["depot"].get(url).content.decode()


def test_kits_with_bad_numbers_are_refused_and_none_is_registered(depot):
    d = depot
    _lot(d)
    url = f"{d['url']}/lots/L-1/kits/"
    good, placebo = d["free"]["msc"][0], d["free"]["placebo"][0]
    _refused(d["c"]["depot"], url, {"kit_numbers": ""}, "kit_numbers", "is missing")
    _refused(d["c"]["depot"], url, {"kit_numbers": f"{good}\x00"}, "kit_numbers", "NUL")
    _refused(d["c"]["depot"], url, {"kit_numbers": LONG}, "kit_numbers", "at most")
    _refused(d["c"]["depot"], url, {"kit_numbers": f"{good}, NO-SUCH-KIT"}, "kit_numbers", "not on the allocation list")
    _refused(d["c"]["depot"], url, {"kit_numbers": f"{good} {placebo}"}, "kit_numbers", "another arm")
    assert d["c"]["depot"].get(f"{d['url']}/lots/NO-LOT/kits/").status_code == 404
    assert d["c"]["depot"].get(f"{d['url']}/lots/{'L' * 200}/kits/").status_code == 404


# ------------------------------------------------------------------ shipments and receipt


def test_kits_are_shipped_to_a_site_and_audited(depot):
    d = depot
    lot = _lot(d)
    numbers = d["free"]["msc"][:2]
    services.register_kits(lot, numbers, d["users"]["depot"], now=timezone.now())
    url = f"{d['url']}/shipments/"
    assert d["c"]["depot"].get(url).status_code == 200
    response = d["c"]["depot"].post(url, {"site_code": SITE, "kit_numbers": " ".join(numbers), "request_id": ""})
    assert response.status_code == 302
    shipment = Shipment.objects.get()
    assert shipment.site == d["site"] and shipment.kit_count == 2
    assert set(Kit.objects.values_list("status", flat=True)) == {"in_transit"}
    assert AuditEvent.objects.filter(action="kit.ship").count() == 2


def test_a_shipment_with_bad_input_is_refused_and_nothing_ships(depot):
    d = depot
    lot = _lot(d)
    numbers = d["free"]["msc"][:2]
    services.register_kits(lot, numbers, d["users"]["depot"], now=timezone.now())
    url = f"{d['url']}/shipments/"
    ok = {"site_code": SITE, "kit_numbers": numbers[0], "request_id": ""}
    client = d["c"]["depot"]
    _refused(client, url, {**ok, "site_code": "nowhere"}, "site_code", "must be one of")
    _refused(client, url, {**ok, "site_code": ""}, "site_code", "is missing")
    _refused(client, url, {**ok, "kit_numbers": f"{numbers[0]} K-UNKNOWN"}, "kit_numbers", "no kit K-UNKNOWN")
    _refused(client, url, {**ok, "request_id": "first"}, "request_id", "must be a whole number")
    _refused(client, url, {**ok, "request_id": "99999999999999999999"}, "request_id", "at most")
    _refused(client, url, {**ok, "request_id": "12345"}, "request_id", "no such open request")
    _refused(client, url, {**ok, "kit_numbers": LONG}, "kit_numbers", "at most")
    _refused(client, url, {**ok, "site_code": SITE + "\x00"}, "site_code", "NUL")
    # The site's pharmacist sees the shipments page but may not ship (product.manage_lots is trial-wide here).
    assert set(Kit.objects.values_list("status", flat=True)) == {"registered"}


def test_the_site_confirms_receipt_and_each_kit_is_stored_and_audited(depot):
    d = depot
    shipment, numbers = _shipped(d)
    url = f"{d['url']}/shipments/{shipment.pk}/receipt/"
    page = d["c"]["pharmacist"].get(url)
    assert page.status_code == 200 and all(n in page.content.decode() for n in numbers)
    response = d["c"]["pharmacist"].post(
        url, {"storage_location": "LN2 tank 2", "transit_min_c": "-190", "transit_max_c": "-160"}
    )
    assert response.status_code == 302
    shipment.refresh_from_db()
    assert shipment.received_at is not None
    assert set(Kit.objects.values_list("status", "storage_location")) == {("stored", "LN2 tank 2")}
    assert AuditEvent.objects.filter(action="kit.receive").count() == 3
    assert AuditEvent.objects.filter(action="kit.store").count() == 3
    # Confirmed once only: the refusal is the service's sentence, nothing is written.
    before = _counts()
    again = d["c"]["pharmacist"].post(url, {"storage_location": "x"})
    assert again.status_code == 400 and "this shipment&#x27;s receipt is already confirmed" in again.content.decode()
    assert "Confirm receipt" not in d["c"]["pharmacist"].get(url).content.decode()  # the form is gone
    assert _counts() == before


def test_a_receipt_with_bad_input_is_refused_and_nothing_is_received(depot):
    d = depot
    shipment, _numbers = _shipped(d)
    url = f"{d['url']}/shipments/{shipment.pk}/receipt/"
    client = d["c"]["pharmacist"]
    ok = {"storage_location": "LN2 tank 2", "transit_min_c": "-190", "transit_max_c": "-160"}
    _refused(client, url, {**ok, "transit_min_c": "cold"}, "transit_min_c", "must be a number")
    _refused(client, url, {**ok, "transit_max_c": "-400"}, "transit_max_c", "at least")
    _refused(client, url, {**ok, "transit_max_c": "nan"}, "transit_max_c", "must be a number")
    _refused(client, url, {**ok, "storage_location": "tank\x00"}, "storage_location", "NUL")
    _refused(client, url, {**ok, "storage_location": LONG}, "storage_location", "at most 100 characters")
    # Another site's pharmacist: refused as by the API (403); an unknown shipment: 404.
    before = _counts()
    assert d["c"]["elsewhere"].post(url, ok).status_code == 403
    assert d["c"]["elsewhere"].get(url).status_code == 403
    assert client.get(f"{d['url']}/shipments/999999/receipt/").status_code == 404
    assert client.get(f"{d['url']}/shipments/99999999999999999999/receipt/").status_code == 404
    assert _counts() == before
    shipment.refresh_from_db()
    assert shipment.received_at is None


# ------------------------------------------------------------------ storage, excursions and their review


def _quarantined_on_receipt(d):
    """A shipment received with a transit reading outside the range: its kits quarantined."""
    shipment, numbers = _shipped(d)
    services.confirm_receipt(
        shipment, d["users"]["pharmacist"], now=timezone.now(), transit_min_c=-190, transit_max_c=-60
    )
    return TemperatureExcursion.objects.get(), numbers


def test_a_released_kit_is_stored_from_its_page_and_audited(depot):
    d = depot
    excursion, numbers = _quarantined_on_receipt(d)
    services.review_excursion(excursion, d["users"]["pharmacist"], now=timezone.now(), decision="usable", reason="ok")
    kit = Kit.objects.get(kit_number=numbers[0])
    services.release_kit(kit, d["users"]["pharmacist"], now=timezone.now(), reason="reviewed")
    url = f"{d['url']}/kits/{kit.kit_number}/store/"
    assert d["c"]["pharmacist"].get(url).status_code == 200
    response = d["c"]["pharmacist"].post(url, {"storage_location": "LN2 tank 3, rack B"})
    assert response.status_code == 302 and response["Location"] == f"{d['url']}/kits/{kit.kit_number}/"
    kit.refresh_from_db()
    assert (kit.status, kit.storage_location) == ("stored", "LN2 tank 3, rack B")
    assert AuditEvent.objects.filter(action="kit.store", object_id=kit.kit_number).count() == 1


def test_storing_with_bad_input_or_in_the_wrong_state_is_refused(depot):
    d = depot
    _excursion, numbers = _quarantined_on_receipt(d)
    url = f"{d['url']}/kits/{numbers[0]}/store/"
    client = d["c"]["pharmacist"]
    _refused(client, url, {"storage_location": ""}, "storage_location", "is missing")
    _refused(client, url, {"storage_location": "a\x00"}, "storage_location", "NUL")
    _refused(client, url, {"storage_location": LONG}, "storage_location", "at most 100")
    before = _counts()
    response = client.post(url, {"storage_location": "tank"})  # quarantined: the chain refuses
    assert response.status_code == 400 and "quarantined" in response.content.decode()
    assert _counts() == before
    assert client.get(f"{d['url']}/kits/NO-SUCH-KIT/store/").status_code == 404
    assert client.post(f"{d['url']}/kits/K\x00/store/", {"storage_location": "x"}).status_code == 404
    assert d["c"]["elsewhere"].post(url, {"storage_location": "x"}).status_code == 403
    assert _counts() == before


def test_an_excursion_is_recorded_at_the_site_quarantining_its_kits_and_audited(depot):
    d = depot
    shipment, numbers = _shipped(d)
    services.confirm_receipt(shipment, d["users"]["pharmacist"], now=timezone.now(), storage_location="tank")
    url = f"{d['url']}/excursions/"
    assert d["c"]["pharmacist"].get(url).status_code == 200
    data = {"site_code": SITE, "min_c": "-150", "max_c": "-80", "duration_minutes": "45", "observed_at": ""}
    response = d["c"]["pharmacist"].post(url, {**data, "kit_numbers": numbers[0]})
    excursion = TemperatureExcursion.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{d['url']}/excursions/{excursion.pk}/"
    assert list(excursion.kits.values_list("kit_number", flat=True)) == [numbers[0]]
    assert Kit.objects.get(kit_number=numbers[0]).status == "quarantined"
    assert AuditEvent.objects.filter(action="kit.excursion", object_id=numbers[0]).count() == 1
    # A reading inside the range quarantines nothing, and says so.
    before = _counts()
    inside = d["c"]["pharmacist"].post(url, {**data, "max_c": "-150"}, follow=True)
    assert "inside the storage range" in inside.content.decode() and _counts() == before


def test_an_excursion_with_bad_input_is_refused_and_nothing_is_quarantined(depot):
    d = depot
    shipment, _numbers = _shipped(d)
    services.confirm_receipt(shipment, d["users"]["pharmacist"], now=timezone.now(), storage_location="tank")
    url = f"{d['url']}/excursions/"
    client = d["c"]["pharmacist"]
    ok = {"site_code": SITE, "min_c": "-150", "max_c": "-80", "duration_minutes": "45", "observed_at": ""}
    _refused(client, url, {**ok, "min_c": ""}, "min_c", "is missing")
    _refused(client, url, {**ok, "min_c": "warm"}, "min_c", "must be a number")
    _refused(client, url, {**ok, "min_c": "-50"}, "min_c", "must not be above max_c")
    _refused(client, url, {**ok, "duration_minutes": "4.5"}, "duration_minutes", "whole number")
    _refused(client, url, {**ok, "duration_minutes": "-1"}, "duration_minutes", "at least 0")
    _refused(client, url, {**ok, "observed_at": "last night"}, "observed_at", "date and time")
    _refused(client, url, {**ok, "kit_numbers": "NO-SUCH-KIT"}, "kit_numbers", "no kit NO-SUCH-KIT")
    _refused(client, url, {**ok, "site_code": "ixcell-02"}, "site_code", "must be one of ixcell-01")
    _refused(client, url, {**ok, "site_code": "x" * 10_000}, "site_code", "at most 64")
    _refused(client, url, {**ok, "max_c": "1\x00"}, "max_c", "NUL")
    assert set(Kit.objects.values_list("status", flat=True)) == {"stored"}


def test_an_excursion_is_reviewed_usable_or_discard_and_audited(depot):
    d = depot
    excursion, numbers = _quarantined_on_receipt(d)
    url = f"{d['url']}/excursions/{excursion.pk}/"
    client = d["c"]["pharmacist"]
    assert client.get(url).status_code == 200
    response = client.post(url, {"decision": "usable", "reason": "Stability data cover 30 minutes at -60 °C."})
    assert response.status_code == 302
    excursion.refresh_from_db()
    assert excursion.decision == "usable" and excursion.reviewed_by == d["users"]["pharmacist"]
    assert AuditEvent.objects.filter(action="excursion.reviewed", object_id=str(excursion.pk)).count() == 1
    page = client.get(url).content.decode()
    assert "Release kit" in page  # each quarantined kit may now be released from here
    # Reviewed once only.
    before = _counts()
    again = client.post(url, {"decision": "discard", "reason": "x"})
    assert again.status_code == 400 and "already been reviewed" in again.content.decode()
    assert _counts() == before

    services.release_kit(Kit.objects.get(kit_number=numbers[1]), d["users"]["pharmacist"], now=timezone.now())
    other = services.record_excursion(
        d["trial"],
        d["site"],
        d["users"]["pharmacist"],
        now=timezone.now(),
        min_c=-150,
        max_c=-20,
        duration_minutes=9,
        kit_numbers=[numbers[1]],
    )
    response = client.post(f"{d['url']}/excursions/{other.pk}/", {"decision": "discard", "reason": "Thawed."})
    assert response.status_code == 302
    assert Kit.objects.get(kit_number=numbers[1]).status == "destroyed"


def test_a_review_with_bad_input_is_refused_and_the_kits_stay_quarantined(depot):
    d = depot
    excursion, _numbers = _quarantined_on_receipt(d)
    url = f"{d['url']}/excursions/{excursion.pk}/"
    client = d["c"]["pharmacist"]
    _refused(client, url, {"decision": "maybe", "reason": "r"}, "decision", "must be one of usable, discard")
    _refused(client, url, {"decision": "", "reason": "r"}, "decision", "is missing")
    _refused(client, url, {"decision": "usable", "reason": "   "}, "reason", "is missing")
    _refused(client, url, {"decision": "usable", "reason": "ok\x00"}, "reason", "NUL")
    _refused(client, url, {"decision": "usable", "reason": LONG}, "reason", "at most 4000")
    assert client.get(f"{d['url']}/excursions/99999999999/").status_code == 404
    assert d["c"]["elsewhere"].post(url, {"decision": "usable", "reason": "r"}).status_code == 403
    excursion.refresh_from_db()
    assert excursion.decision == ""
    assert set(excursion.kits.values_list("status", flat=True)) == {"quarantined"}


# ------------------------------------------------------------------ blinded roles


def test_blinded_roles_are_refused_every_depot_page_as_by_the_api(depot):
    d = depot
    excursion, numbers = _quarantined_on_receipt(d)
    shipment = Shipment.objects.get()
    pages = [
        "/lots/new/",
        "/lots/L-1/kits/",
        "/shipments/",
        f"/shipments/{shipment.pk}/receipt/",
        "/excursions/",
        f"/excursions/{excursion.pk}/",
        f"/kits/{numbers[0]}/store/",
    ]
    before = _counts()
    for role in ("coordinator", "investigator", "monitor"):
        for page in pages:
            for method in ("get", "post"):
                response = getattr(d["c"][role], method)(d["url"] + page)
                assert response.status_code == 403, (role, method, page, response.status_code)
                # Random CSRF tokens and nonces set aside: a lowercase 'msc' or a kit number may occur in them by chance.
                body = re.sub(r"[A-Za-z0-9_-]{24,}", "", response.content.decode())
                # The language switch returns to the address asked for (the person's own request).
                body = re.sub(r'<input type="hidden" name="next" value="[^"]*">', "", body)
                assert "L-1" not in body and numbers[0] not in body and "msc" not in body.lower()
        api = d["c"][role].post(
            f"/api/product/{IXCELL}/shipments",
            {"site_code": SITE, "kit_numbers": numbers},
            content_type="application/json",
        )
        assert api.status_code == 403
    assert _counts() == before
    # The supply page shows them counts and no link to the depot pages.
    supply = d["c"]["coordinator"].get(d["url"] + "/").content.decode()
    assert "/excursions/" not in supply and "/shipments/" not in supply and numbers[0] not in supply
