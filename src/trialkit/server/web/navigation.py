"""The role's own links in the top bar, for the trial of the page being shown.

A page about one trial (its NCT id in the URL, or a participant, form or query of it) shows that
trial's links, for the user's role in it; other pages show the trial and role last chosen on the
home page.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from trialkit.server.accounts.roles import Role
from trialkit.server.web.homes import url

# (label, URL name) per role; a link appears only where its page exists.
ROLE_LINKS = {
    Role.COORDINATOR: [
        (_("Screening"), "screening:log"),
        (_("Participants"), "capture:participants"),
        (_("Visits due"), "capture:due"),
        (_("Record status"), "capture:dashboard"),
    ],
    Role.INVESTIGATOR: [
        (_("Screening"), "screening:log"),
        (_("Participants"), "capture:participants"),
        (_("Visits due"), "capture:due"),
        (_("Record status"), "capture:dashboard"),
    ],
    Role.BLINDED_ASSESSOR: [(_("Participants"), "capture:participants"), (_("Visits due"), "capture:due")],
    Role.UNBLINDED_PHARMACIST: [(_("Pharmacy"), "allocation:pharmacy")],
    Role.MONITOR: [
        (_("Participants"), "capture:participants"),
        (_("Screening"), "screening:log"),
        (_("Record status"), "capture:dashboard"),
    ],
    Role.DATA_MANAGER: [
        (_("Participants"), "capture:participants"),
        (_("Screening"), "screening:log"),
        (_("Record status"), "capture:dashboard"),
    ],
    Role.SPONSOR_ADMIN: [(_("Screening"), "screening:log"), (_("Record status"), "capture:dashboard")],
    Role.DSMB_STATISTICIAN: [(_("Allocation"), "allocation:list")],
}


def page_trial(request) -> str | None:
    """The NCT id of the trial the requested page is about, or None."""
    match = getattr(request, "resolver_match", None)
    kwargs = match.kwargs if match else {}
    if kwargs.get("nct_id"):
        return kwargs["nct_id"]
    from trialkit.server.capture.models import FormRecord, Query
    from trialkit.server.participants.models import Participant

    if kwargs.get("participant_id"):
        return Participant.objects.filter(pk=kwargs["participant_id"]).values_list("trial__nct_id", flat=True).first()
    if kwargs.get("form_id"):
        return (
            FormRecord.objects.filter(pk=kwargs["form_id"]).values_list("participant__trial__nct_id", flat=True).first()
        )
    if kwargs.get("query_id"):
        return Query.objects.filter(pk=kwargs["query_id"]).values_list("participant__trial__nct_id", flat=True).first()
    if match and match.url_name == "home":
        return request.GET.get("trial") or None
    return None


def navigation(request) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    from trialkit.server.accounts.access import user_roles

    nct_id, role = request.session.get("home_trial"), request.session.get("home_role")
    shown = page_trial(request)
    if shown and shown != nct_id:
        roles = [m.role for m in user_roles(request.user) if m.trial.nct_id == shown]
        if not roles:
            return {}
        nct_id, role = shown, (role if role in roles else roles[0])
    if not nct_id or not role:
        return {}
    links = [(label, href) for label, name in ROLE_LINKS.get(role, []) if (href := url(name, nct_id))]
    from trialkit.server.trials.models import Trial

    name = Trial.objects.filter(nct_id=nct_id).values_list("acronym", flat=True).first()
    return {"nav_links": links, "nav_trial": nct_id, "nav_trial_name": name or nct_id}
