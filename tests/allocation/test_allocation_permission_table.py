"""The permission table, walked: for every principal (each role alone, and people holding two roles)
and every permission, an action that needs exactly that permission is tried over the web and the
API, on a participant of the principal's own site and on one of another site. It must be allowed
or refused exactly as ``accounts.permissions`` says, reading each membership at its own sites only.

Allowed: any answer but 401, 403 and 404 (a refused workflow, 400/409/422, was let in to be
checked). Refused: 403, or 404 for an artefact (an export or report that is not the user's to see).
Every permission of the table has probes here or a reason why it is a display choice only.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from allocation_cases import NOW
from auth_support import login_verified

from trialkit.server.accounts.permissions import PERMISSIONS, REVEALS_ARM, roles_with

NCT = "NCT07197606"
# Display choices only, with the reason no request can probe them.
DISPLAY_ONLY = {
    "capture.view_sae_clock": "which roles see the SAE clock on the timeline; the API shows it to every viewer",
    "allocation.view_arm": "who is unblinded at all; probed through every permission that shows an arm "
    "(pharmacy, list, unblinded export and report) and by the differential crawl",
}
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

# principal -> memberships (role, site index: 0 = site 01, 1 = site 02, None = every site)
PRINCIPALS = {
    role: [(role, 0 if role in {"investigator", "coordinator", "blinded_assessor", "unblinded_pharmacist"} else None)]
    for role in (
        "sponsor_admin",
        "investigator",
        "coordinator",
        "blinded_assessor",
        "unblinded_pharmacist",
        "monitor",
        "data_manager",
        "dsmb_statistician",
    )
}
PRINCIPALS["investigator@01+monitor"] = [("investigator", 0), ("monitor", None)]
PRINCIPALS["coordinator@01+assessor@02"] = [("coordinator", 0), ("blinded_assessor", 1)]
PRINCIPALS["pharmacist@01+dsmb"] = [("unblinded_pharmacist", 0), ("dsmb_statistician", None)]
# Refused by the combination rule; written around it (bulk_create), the person must stay blinded.
PRINCIPALS["coordinator@01+pharmacist@01 (legacy row)"] = [("coordinator", 0), ("unblinded_pharmacist", 0)]


def _json(client, method, url, body=None):
    return getattr(client, method)(url, data=json.dumps(body or {}), content_type="application/json")


# permission -> probes: (surface, site-level?, function(client, world, target) -> response)
def _probes():
    def ecrf(c, w, t):
        return c.get(f"/capture/participants/{t.pk}/visits/{w['visit']}/forms/nihss/")

    return {
        "participant.view": [
            ("web", True, lambda c, w, t: c.get(f"/capture/participants/{t.pk}/")),
            ("api", True, lambda c, w, t: c.get(f"/api/capture/participants/{t.pk}")),
        ],
        "capture.view_efficacy": [
            ("web", True, ecrf),
            ("api", True, lambda c, w, t: c.get(f"/api/capture/forms/{w['nihss'][t.pk].pk}")),
        ],
        "capture.enter_data": [
            ("web", True, lambda c, w, t: c.post(f"/capture/participants/{t.pk}/visits/{w['visit']}/date/", {})),
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c,
                    "post",
                    f"/api/capture/participants/{t.pk}/forms",
                    {"visit_id": w["visit"], "instrument": "nihss", "values": {"1a": 9}},
                ),
            ),
        ],
        "capture.review_carried_forms": [
            ("web", True, lambda c, w, t: c.post(f"/capture/participants/{t.pk}/visits/screening/carried-review/", {})),
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c, "post", f"/api/capture/participants/{t.pk}/visits/screening/carried-review", {"confirm": False}
                ),
            ),
        ],
        "capture.sign_form": [
            ("web", True, lambda c, w, t: c.post(f"/capture/forms/{w['nihss'][t.pk].pk}/sign/", {"password": "no"})),
        ],
        "capture.verify_form": [
            ("web", True, lambda c, w, t: c.post(f"/capture/forms/{w['nihss'][t.pk].pk}/verify/", {})),
        ],
        "capture.query": [
            ("web", True, lambda c, w, t: c.post(f"/capture/forms/{w['nihss'][t.pk].pk}/queries/", {"text": ""})),
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c, "post", f"/api/capture/forms/{w['nihss'][t.pk].pk}/queries", {"item": "1a", "text": ""}
                ),
            ),
        ],
        "capture.lock_form": [
            ("web", True, lambda c, w, t: c.post(f"/capture/forms/{w['nihss'][t.pk].pk}/lock/", {"reason": ""})),
        ],
        "capture.delete_form": [
            ("web", True, lambda c, w, t: c.post(f"/capture/forms/{w['nihss'][t.pk].pk}/delete/", {"reason": ""})),
        ],
        "capture.report_ae": [
            ("api", True, lambda c, w, t: _json(c, "post", f"/api/capture/adverse-events/{w['ae'][t.pk].pk}/report")),
        ],
        "capture.end_participation": [
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c, "post", f"/api/capture/participants/{t.pk}/end", {"outcome": "no-such-outcome"}
                ),
            ),
        ],
        "capture.reopen_participation": [
            ("api", True, lambda c, w, t: _json(c, "post", f"/api/capture/participants/{t.pk}/reopen", {"reason": ""})),
        ],
        "capture.oversight": [
            ("web", True, lambda c, w, t: c.get(f"/capture/participants/{t.pk}/visits/{w['visit']}/review/")),
            ("web", False, lambda c, w, t: c.get(f"/capture/trials/{NCT}/status/")),
        ],
        "audit.report": [
            ("web", True, lambda c, w, t: c.get(f"/capture/participants/{t.pk}/audit/report/")),
        ],
        "capture.manage_diary": [
            (
                "web",
                True,
                lambda c, w, t: c.post(f"/capture/participants/{t.pk}/diary-access/", {"who": "participant"}),
            ),
            (
                "web",
                True,
                lambda c, w, t: c.post(
                    f"/capture/participants/{t.pk}/diary-contact/",
                    {"who": "participant", "channel": "email", "email": "p@example.org", "language": "en"},
                ),
            ),
        ],
        "screening.view_log": [
            ("web", False, lambda c, w, t: c.get(f"/screening/{NCT}/")),
            ("api", False, lambda c, w, t: c.get(f"/api/screening/{NCT}/records")),
        ],
        "screening.view_record": [
            ("web", True, lambda c, w, t: c.get(f"/screening/{NCT}/{t.screening.screening_number}/")),
            ("api", True, lambda c, w, t: c.get(f"/api/screening/{NCT}/records/{t.screening.screening_number}")),
        ],
        "screening.referrals": [
            # A referral of another site answers 404, like one that never existed.
            ("web", True, lambda c, w, t: c.get(f"/referrals/{NCT}/{w['referrals'][t.site_id].pk}/")),
        ],
        "screening.work": [
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c, "patch", f"/api/screening/{NCT}/records/{t.screening.screening_number}/facts", {"facts": {}}
                ),
            ),
        ],
        "screening.attest": [
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c,
                    "post",
                    f"/api/screening/{NCT}/records/{t.screening.screening_number}/attestations",
                    {"criterion_id": "no-such-criterion", "value": True},
                ),
            ),
        ],
        "allocation.randomize": [
            ("web", True, lambda c, w, t: c.post(f"/allocation/{NCT}/participants/{t.participant_number}/randomize/")),
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c, "post", f"/api/allocation/{NCT}/participants/{t.participant_number}/randomize"
                ),
            ),
        ],
        "allocation.administer": [
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c, "post", f"/api/allocation/{NCT}/participants/{t.participant_number}/administered"
                ),
            ),
        ],
        "allocation.prepare_dose": [
            ("web", True, lambda c, w, t: c.get(f"/allocation/{NCT}/pharmacy/{t.participant_number}/")),
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c, "post", f"/api/allocation/{NCT}/participants/{t.participant_number}/dose", {"weight_kg": "heavy"}
                ),
            ),
        ],
        "allocation.manage_list": [
            ("web", False, lambda c, w, t: c.get(f"/allocation/{NCT}/list/")),
            ("api", False, lambda c, w, t: c.get(f"/api/allocation/{NCT}/list")),
            ("api", False, lambda c, w, t: c.get(f"/api/allocation/{NCT}/balance")),
        ],
        "allocation.unblind": [
            ("web", True, lambda c, w, t: c.get(f"/allocation/{NCT}/participants/{t.participant_number}/unblind/")),
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c,
                    "post",
                    f"/api/allocation/{NCT}/participants/{t.participant_number}/unblind",
                    {"reason": "", "password": "wrong"},
                ),
            ),
        ],
        "allocation.escalation": [
            ("web", False, lambda c, w, t: c.get(f"/allocation/{NCT}/escalation/")),
            ("api", False, lambda c, w, t: c.get(f"/api/allocation/{NCT}/escalation")),
        ],
        "allocation.view_notifications": [
            ("web", False, lambda c, w, t: c.get(f"/allocation/{NCT}/notifications/")),
        ],
        "product.view_supply": [
            ("web", False, lambda c, w, t: c.get(f"/product/{NCT}/")),
            ("api", False, lambda c, w, t: c.get(f"/api/product/{NCT}/supply")),
        ],
        "product.request_resupply": [
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c, "post", f"/api/product/{NCT}/resupply", {"site_code": t.site.code, "quantity": 1}
                ),
            ),
        ],
        "product.manage_lots": [
            ("web", False, lambda c, w, t: c.get(f"/product/{NCT}/lots/")),
            ("api", False, lambda c, w, t: c.get(f"/api/product/{NCT}/lots")),
        ],
        "product.handle_kits": [
            (
                "api",
                True,
                lambda c, w, t: _json(
                    c,
                    "post",
                    f"/api/product/{NCT}/excursions",
                    {"site_code": t.site.code, "min_c": -190, "max_c": -150, "duration_minutes": 0},
                ),
            ),
        ],
        "product.record_infusion": [
            ("web", True, lambda c, w, t: c.get(f"/product/{NCT}/participants/{t.participant_number}/")),
            ("api", True, lambda c, w, t: c.get(f"/api/product/{NCT}/participants/{t.participant_number}/kit")),
        ],
        "exports.blinded": [
            ("web", False, lambda c, w, t: c.get(f"/exports/{NCT}/")),
            ("api", False, lambda c, w, t: c.get(f"/api/exports/{NCT}/jobs")),
        ],
        "exports.unblinded": [
            (
                "api",
                False,
                lambda c, w, t: _json(c, "post", f"/api/exports/{NCT}/jobs", {"formats": ["csv"], "unblinded": True}),
            ),
            ("web", False, lambda c, w, t: c.get(f"/exports/{NCT}/jobs/{w['unblinded_export'].pk}/download/")),
        ],
        "reports.blinded": [
            ("web", False, lambda c, w, t: c.post(f"/reports/{NCT}/start/", {})),
        ],
        "reports.unblinded": [
            ("web", False, lambda c, w, t: c.post(f"/reports/{NCT}/start/", {"unblinded": "1"})),
        ],
    }


PROBES = _probes()


def test_every_permission_is_probed_or_a_display_choice():
    assert set(PROBES) | set(DISPLAY_ONLY) == set(PERMISSIONS)
    assert not set(PROBES) & set(DISPLAY_ONLY)


def _expected(grants, permission, site_id, site_level):
    """What the table says: some membership grants ``permission`` there (site grants at their own site only)."""
    allowed = roles_with(permission)
    if permission in REVEALS_ARM and not all(role in roles_with("allocation.view_arm") for role, _ in grants):
        return False  # an arm only for a person whose every role is unblinded
    return any(role in allowed and (not site_level or site is None or site == site_id) for role, site in grants)


@pytest.fixture
def world(trials, make_user, enroll):
    from trialkit.server.allocation import services
    from trialkit.server.capture.services import ensure_schedule, save_adverse_event, save_form
    from trialkit.server.exports.services import create_export

    trial = trials[NCT]
    site01, site02 = trial.sites.order_by("code")[:2]
    services.generate_allocation_list(trial, make_user("dsmb_statistician", trial), now=NOW, seed="walk")
    visit = next(
        v.id
        for v in trial.protocol.schedule.visits
        if v.kind != "screening" and "nihss" in v.forms and "mrs" in v.forms
    )
    w = {"trial": trial, "sites": [site01, site02], "visit": visit, "nihss": {}, "ae": {}, "targets": []}
    for site in (site01, site02):
        coordinator = make_user("coordinator", trial, site=site)
        p = enroll(trial, site.code, number=f"{site.code.upper()}-001")
        services.randomize(p, coordinator, now=NOW)
        ensure_schedule(p)
        p.refresh_from_db()
        w["nihss"][p.pk] = save_form(
            p,
            visit,
            "nihss",
            {k: 0 for k in ("1a", "1b", "1c", "2", "3", "4", "5a", "5b", "6a", "6b", "7", "8", "9", "10", "11")},
            coordinator,
            complete=True,
            now=NOW + timedelta(hours=1),
        )
        w["ae"][p.pk] = save_adverse_event(p, SAE, coordinator, complete=True, now=NOW + timedelta(hours=1))
        w["targets"].append(p)
    from trialkit.server.referrals.models import Referral

    w["referrals"] = {
        site.pk: Referral.objects.create(
            trial=trial,
            site=site,
            outcome="may_be_eligible",
            name="Walk Referral",
            phone="+86 10 0000 0000",
            relationship="self",
            consent_to_contact=True,
        )
        for site in (site01, site02)
    }
    w["unblinded_export"] = create_export(trial, make_user("dsmb_statistician", trial), unblinded=True, now=NOW)
    return w


def _allowed(response) -> bool:
    assert response.status_code < 500, response.status_code
    return response.status_code not in (401, 403, 404)


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.mark.django_db
@pytest.mark.parametrize("principal", sorted(PRINCIPALS))
def test_each_permission_is_granted_exactly_as_the_table_says(client, world, django_user_model, principal):
    from django.core.exceptions import ValidationError

    from trialkit.server.accounts.models import Membership

    grants = []
    user = django_user_model.objects.create_user(f"walk-{principal}", password="pw")
    for role, index in PRINCIPALS[principal]:
        site = None if index is None else world["sites"][index]
        try:
            Membership.objects.create(user=user, trial=world["trial"], site=site, role=role)
        except ValidationError:
            # The combination rule refuses this one; written around it, the person stays blinded.
            Membership.objects.bulk_create([Membership(user=user, trial=world["trial"], site=site, role=role)])
        grants.append((role, None if site is None else site.pk))
    login_verified(client, user)
    wrong = []
    for permission, probes in PROBES.items():
        for surface, site_level, probe in probes:
            for target in world["targets"] if site_level else world["targets"][:1]:
                expected = _expected(grants, permission, target.site_id, site_level)
                response = probe(client, world, target)
                if _allowed(response) != expected:
                    wrong.append(
                        f"{permission} {surface} at {target.site.code}: expected "
                        f"{'allowed' if expected else 'refused'}, got {response.status_code}"
                    )
    assert wrong == [], "\n".join(wrong)


@pytest.mark.django_db
def test_blinded_and_unblinded_roles_cannot_be_combined(world, django_user_model, admin_client):
    """The combination rule at every door: the model (any save), the admin form."""
    from django.core.exceptions import ValidationError

    from trialkit.server.accounts.models import Membership

    trial, site01 = world["trial"], world["sites"][0]
    person = django_user_model.objects.create_user("two-hats", password="pw")
    Membership.objects.create(user=person, trial=trial, site=site01, role="coordinator")
    with pytest.raises(ValidationError, match="blinded and an unblinded role"):
        Membership.objects.create(user=person, trial=trial, site=site01, role="unblinded_pharmacist")
    with pytest.raises(ValidationError):
        Membership.objects.create(user=person, trial=trial, role="dsmb_statistician")
    # Another trial is another blinding: allowed there.
    other = next(t for t in type(trial).objects.all() if t.pk != trial.pk)
    Membership.objects.create(user=person, trial=other, role="dsmb_statistician")
    response = admin_client.post(
        "/admin/accounts/membership/add/",
        {"user": person.pk, "trial": trial.pk, "site": site01.pk, "role": "unblinded_pharmacist"},
    )
    assert response.status_code == 200 and "blinded and an unblinded role" in response.content.decode()
    assert not Membership.objects.filter(user=person, trial=trial, role="unblinded_pharmacist").exists()


def test_docs_security_prints_the_permission_table_of_the_code():
    from pathlib import Path

    from trialkit.server.accounts.permissions import render_markdown

    doc = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text(encoding="utf-8")
    printed = doc.split("<!-- permission-table:start -->\n")[1].split("\n<!-- permission-table:end -->")[0]
    assert printed == render_markdown(), "regenerate the table in docs/security.md from render_markdown()"


def test_the_table_keeps_blinding_and_the_firewall():
    """Arm-showing permissions belong to unblinded roles only, and efficacy outcomes to blinded ones only."""
    from trialkit.server.accounts.roles import UNBLINDED_ROLES

    assert roles_with("allocation.view_arm") == UNBLINDED_ROLES
    for permission in REVEALS_ARM:
        assert roles_with(permission) <= UNBLINDED_ROLES, permission
    assert not roles_with("capture.view_efficacy") & UNBLINDED_ROLES
