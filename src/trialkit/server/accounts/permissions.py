"""The permission table: every action of TrialKit, by name, and the roles that grant it.

This table is the one place that says who may do what. Services, views, the API, templates and the
CLI ask ``Access.can(permission, site_id)`` (``accounts.access``) or go through the lookups of
``accounts.lookups``; none of them tests a role by name. ``docs/security.md`` prints this table
(``render_markdown``) and a test keeps the two equal.

How a membership grants (``accounts.access``): a membership is (user, trial, site or every site,
role); it grants its role's permissions at its own site only, or at every site of its trial when
its site is empty. Grants are never pooled: holding role A at site 1 and role B at site 2 does not
give A's permissions at site 2.

The firewall (ICH E9 2.3.1 and ICH E6(R3) 3.10: those who know the allocation must not handle
efficacy data): the unblinded roles are granted dosing, product and safety permissions and no
``capture.view_efficacy``; the DSMB statistician reads arm-level results only through the
unblinded report and export, which are the DSMB's pages.

The combination rule (``accounts.models.Membership``): one person never holds a blinded and an
unblinded role in the same trial; the assignment is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from trialkit.server.accounts.roles import Role

R = Role
BLINDED_CLINICAL = (R.COORDINATOR, R.INVESTIGATOR, R.BLINDED_ASSESSOR, R.MONITOR, R.DATA_MANAGER, R.SPONSOR_ADMIN)


@dataclass(frozen=True)
class Permission:
    name: str
    roles: frozenset[str]
    description: str


def _p(name: str, roles, description: str) -> Permission:
    return Permission(name, frozenset(str(r) for r in roles), description)


_TABLE = [
    # --- participants and clinical data
    _p("participant.view", list(Role), "see a participant of a site: numbers, status, visit schedule, safety data"),
    _p(
        "capture.view_efficacy",
        BLINDED_CLINICAL,
        "read efficacy outcome forms (NIHSS, mRS, Barthel, Fugl-Meyer, MMSE) and their audit trail",
    ),
    _p(
        "capture.enter_data",
        (R.COORDINATOR, R.INVESTIGATOR, R.BLINDED_ASSESSOR),
        "enter and change forms, visit dates and adverse events; answer queries",
    ),
    _p(
        "capture.review_carried_forms",
        (R.COORDINATOR, R.INVESTIGATOR),
        "confirm the screening data carried into a participant's Screening visit forms, after reviewing them",
    ),
    _p("capture.sign_form", (R.INVESTIGATOR,), "sign a form or a visit as the investigator"),
    _p("capture.verify_form", (R.MONITOR,), "source-verify a form"),
    _p("capture.query", (R.MONITOR, R.DATA_MANAGER), "open and close queries"),
    _p("capture.lock_form", (R.DATA_MANAGER,), "lock and unlock forms"),
    _p(
        "capture.delete_form",
        (R.COORDINATOR, R.INVESTIGATOR, R.BLINDED_ASSESSOR, R.DATA_MANAGER),
        "delete a form (with a reason)",
    ),
    _p("capture.report_ae", (R.INVESTIGATOR, R.COORDINATOR), "report an adverse event"),
    _p("capture.view_sae_clock", (R.INVESTIGATOR, R.SPONSOR_ADMIN), "see the serious adverse event reporting clock"),
    _p("capture.end_participation", (R.COORDINATOR, R.INVESTIGATOR), "record the end of a participation"),
    _p("capture.reopen_participation", (R.INVESTIGATOR,), "undo a recorded end of participation"),
    _p(
        "capture.manage_diary",
        (R.COORDINATOR, R.INVESTIGATOR),
        "give and revoke diary access codes; set who gets diary reminders, how",
    ),
    # --- screening
    _p(
        "screening.view_log",
        (R.COORDINATOR, R.INVESTIGATOR, R.MONITOR, R.DATA_MANAGER, R.SPONSOR_ADMIN),
        "read the screening log (counts and reasons)",
    ),
    _p(
        "screening.view_record",
        (R.COORDINATOR, R.INVESTIGATOR, R.MONITOR, R.DATA_MANAGER),
        "read a screening record's facts",
    ),
    _p("screening.work", (R.COORDINATOR, R.INVESTIGATOR), "screen, consent and enroll at a site"),
    _p("screening.attest", (R.INVESTIGATOR,), "give an investigator's attestation"),
    _p(
        "screening.referrals",
        (R.COORDINATOR, R.INVESTIGATOR),
        "read the referrals (pre-screen answers and contact details) sent to their sites and turn them into "
        "screening records",
    ),
    # --- allocation
    _p("allocation.randomize", (R.COORDINATOR, R.INVESTIGATOR), "randomize an enrolled participant"),
    _p(
        "allocation.administer",
        (R.COORDINATOR, R.INVESTIGATOR, R.UNBLINDED_PHARMACIST),
        "record that the prepared dose was given",
    ),
    _p("allocation.view_arm", (R.UNBLINDED_PHARMACIST, R.DSMB_STATISTICIAN), "see a participant's arm and dose"),
    _p("allocation.prepare_dose", (R.UNBLINDED_PHARMACIST,), "prepare a dose (pharmacy queue and sheet)"),
    _p(
        "allocation.manage_list",
        (R.DSMB_STATISTICIAN,),
        "generate and read the allocation list, its balance, block sizes and seed",
    ),
    _p("allocation.unblind", (R.INVESTIGATOR,), "emergency unblinding of one participant"),
    _p("allocation.view_notifications", (R.SPONSOR_ADMIN,), "read unblinding notifications addressed to oneself"),
    _p(
        "allocation.escalation",
        (R.DSMB_STATISTICIAN,),
        "read the escalation gates (cohorts, counts by arm, stopping rules) and record the DSMB's decisions",
    ),
    # --- the product: chain of custody, infusion, site supply
    _p(
        "product.manage_lots",
        (R.UNBLINDED_PHARMACIST,),
        "register lots with their release results, release them, register and ship kits",
    ),
    _p(
        "product.handle_kits",
        (R.UNBLINDED_PHARMACIST,),
        "receive, store, quarantine, review, release, assign, thaw and prepare kits; see kit numbers in stock",
    ),
    _p(
        "product.view_supply",
        (R.COORDINATOR, R.INVESTIGATOR, R.UNBLINDED_PHARMACIST, R.MONITOR, R.SPONSOR_ADMIN),
        "see stock counts per site, resupply requests, shipments and expiry warnings (no kit numbers)",
    ),
    _p("product.request_resupply", (R.COORDINATOR, R.UNBLINDED_PHARMACIST), "request a resupply for a site"),
    _p(
        "product.record_infusion",
        (R.COORDINATOR, R.INVESTIGATOR, R.UNBLINDED_PHARMACIST),
        "record an infusion (times, rate, volume, interruptions, reactions) and see a participant's kit timeline",
    ),
    # --- exports and reports
    _p(
        "capture.oversight",
        (R.COORDINATOR, R.INVESTIGATOR, R.MONITOR, R.DATA_MANAGER, R.SPONSOR_ADMIN),
        "open the record status dashboard, the visit calendar and the review lists of their sites",
    ),
    _p("audit.report", (R.MONITOR, R.DATA_MANAGER, R.INVESTIGATOR), "print a participant's audit report"),
    _p(
        "exports.blinded",
        (R.DATA_MANAGER, R.SPONSOR_ADMIN, R.MONITOR, R.DSMB_STATISTICIAN),
        "request and download blinded exports",
    ),
    _p("exports.unblinded", (R.DSMB_STATISTICIAN,), "request, list and download unblinded exports"),
    _p(
        "reports.blinded",
        (R.DSMB_STATISTICIAN, R.SPONSOR_ADMIN, R.DATA_MANAGER, R.MONITOR),
        "request the pooled (blinded) report",
    ),
    _p("reports.unblinded", (R.DSMB_STATISTICIAN,), "request and read the arm-level (DSMB) report"),
]

PERMISSIONS: dict[str, Permission] = {p.name: p for p in _TABLE}

# Permissions that show an arm (or what an arm is made of). Granted only to a person whose every
# role in the trial is unblinded: a membership row written around the combination rule leaves its
# holder blinded (accounts.access.Access.can).
REVEALS_ARM = frozenset(
    {
        "allocation.view_arm",
        "allocation.prepare_dose",
        "allocation.manage_list",
        "allocation.escalation",
        "product.manage_lots",
        "product.handle_kits",
        "exports.unblinded",
        "reports.unblinded",
    }
)


def roles_with(permission: str) -> frozenset[str]:
    """The roles granting ``permission``; KeyError for a name not in the table."""
    return PERMISSIONS[permission].roles


def render_markdown() -> str:
    """The table as ``docs/security.md`` prints it (one row per permission, one column per role)."""
    roles = list(Role)
    head = "| permission | " + " | ".join(r.value for r in roles) + " | what it allows |"
    rule = "|---|" + "---|" * len(roles) + "---|"
    rows = [
        f"| `{p.name}` | "
        + " | ".join("yes" if r.value in p.roles else "" for r in roles)
        + f" | {p.description}{' (shows an arm)' if p.name in REVEALS_ARM else ''} |"
        for p in _TABLE
    ]
    return "\n".join([head, rule, *rows])
