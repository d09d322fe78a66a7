"""The role's own links in the top bar, for the trial and role chosen on the home page."""

from __future__ import annotations

from trialkit.server.accounts.roles import Role
from trialkit.server.web.homes import url

# (label, URL name) per role; a link appears only where its page exists.
ROLE_LINKS = {
    Role.COORDINATOR: [("Screening", "screening:log"), ("Participants", "capture:participants"),
                       ("Visits due", "capture:due"), ("Record status", "capture:dashboard")],
    Role.INVESTIGATOR: [("Screening", "screening:log"), ("Participants", "capture:participants"),
                        ("Visits due", "capture:due"), ("Record status", "capture:dashboard")],
    Role.BLINDED_ASSESSOR: [("Participants", "capture:participants"), ("Visits due", "capture:due")],
    Role.UNBLINDED_PHARMACIST: [("Pharmacy", "allocation:pharmacy")],
    Role.MONITOR: [("Participants", "capture:participants"), ("Screening", "screening:log"),
                   ("Record status", "capture:dashboard")],
    Role.DATA_MANAGER: [("Participants", "capture:participants"), ("Screening", "screening:log"),
                        ("Record status", "capture:dashboard")],
    Role.SPONSOR_ADMIN: [("Screening", "screening:log"), ("Record status", "capture:dashboard")],
    Role.DSMB_STATISTICIAN: [("Allocation", "allocation:list")],
}


def navigation(request) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    nct_id, role = request.session.get("home_trial"), request.session.get("home_role")
    if not nct_id or not role:
        return {}
    links = [(label, href) for label, name in ROLE_LINKS.get(role, []) if (href := url(name, nct_id))]
    return {"nav_links": links, "nav_trial": nct_id}
