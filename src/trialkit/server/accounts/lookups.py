"""The lookup layer: fetch a trial, site, participant or job *for* a user and a permission, or fail
the same way everywhere.

- The object does not exist: ``Http404``. For a row of one participant (a form, query, adverse
  event or visit) the row is looked for first, then the participant's checks below.
- The user holds no role in its trial, no grant at its site, or a grant there that does not include
  ``permission``: ``PermissionDenied`` (403, with a sentence saying which).
- Public pages (the trial page) ask no role: ``public_trial`` answers 404 for a trial not run here.
- Artefacts (export and report jobs) are the exception: one the user may not see answers 404 like
  one that never existed (``may_see_artefact``), so that not even its existence reaches them.

Views, API endpoints and the CLI call these; services take the objects they return and check
again with ``accounts.access.require``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from trialkit.server.accounts.access import Access, access_for


def _check(access: Access, permission: str | None, site_id: int | None) -> None:
    if permission is None:
        return
    if not access.can(permission, site_id):
        raise PermissionDenied(
            "your role does not allow this"
            if not access.can(permission)
            else "this belongs to a site where your role does not allow this"
        )


def public_trial(nct_id: str):
    """The trial for a public page (the trial page: its registry record and protocol), which asks
    no role; 404 if no such trial is run here."""
    from trialkit.server.trials.models import Trial

    trial = Trial.objects.prefetch_related("sites").filter(nct_id=nct_id).first()
    if trial is None:
        raise Http404(f"no trial {nct_id} is run here")
    return trial


def trial_for(user, nct_id: str, permission: str | None = None):
    """(trial, access) if the user holds a role in the trial (404 otherwise) and ``permission`` somewhere in it."""
    from trialkit.server.trials.models import Trial

    trial = Trial.objects.filter(nct_id=nct_id).first()
    if trial is None:
        raise Http404("no such trial")
    access = access_for(user, trial)
    if not access.grants:
        raise PermissionDenied("you hold no role in this trial")
    _check(access, permission, None)
    return trial, access


def site_for(user, trial, site_code: str, permission: str):
    """(site, access) if ``permission`` is granted at that site of the trial."""
    site = trial.sites.filter(code=site_code).first()
    access = access_for(user, trial)
    if site is None:
        raise Http404("no such site")
    if not access.covers_site(site.pk):
        raise PermissionDenied("this site is not one you are assigned to")
    _check(access, permission, site.pk)
    return site, access


def _participant_visible(user, participant, permission: str | None):
    access = access_for(user, participant.trial)
    if not access.grants:
        raise PermissionDenied("you hold no role in this trial")
    if not access.covers_site(participant.site_id):
        raise PermissionDenied("this participant belongs to a site you are not assigned to")
    _check(access, permission, participant.site_id)
    return participant, access


def participant_for(user, participant_id: int, permission: str | None = "participant.view"):
    """(participant, access) by primary key."""
    from trialkit.server.participants.models import Participant

    participant = Participant.objects.select_related("trial", "site").filter(pk=participant_id).first()
    if participant is None:
        raise Http404("no such participant")
    return _participant_visible(user, participant, permission)


def participant_by_number(user, trial, participant_number: str, permission: str | None = "participant.view"):
    """(participant, access) by the trial's participant number."""
    from trialkit.server.participants.models import Participant

    participant = (
        Participant.objects.select_related("trial", "site")
        .filter(trial=trial, participant_number=participant_number)
        .first()
    )
    if participant is None:
        raise Http404("no such participant")
    return _participant_visible(user, participant, permission)


def participant_row_for(user, rows, pk: int, permission: str | None = "participant.view"):
    """(row, participant, access) for a row of one participant (a form, query or adverse event) by
    primary key: 404 if there is no such row, then as ``participant_for``. ``rows`` is the model or
    a queryset of it (to select related rows)."""
    queryset = rows.objects.all() if isinstance(rows, type) else rows
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise Http404(f"no such {queryset.model._meta.verbose_name}")
    participant, access = participant_for(user, row.participant_id, permission)
    return row, participant, access


def visit_for(user, participant_id: int, visit_id: str, permission: str | None = "participant.view"):
    """(visit, participant, access) for a participant's visit by its protocol code (``day7``): 404
    if the participant has no such visit (or there is no such participant), then as
    ``participant_for``, the order of ``participant_row_for``."""
    from trialkit.server.capture.models import Visit

    visit = Visit.objects.filter(participant_id=participant_id, visit_id=visit_id).first()
    if visit is None:
        raise Http404("no such visit")
    participant, access = participant_for(user, participant_id, permission)
    visit.participant = participant  # the checked participant, with its trial and site loaded
    return visit, participant, access


def referral_for(user, trial, referral_id: int, permission: str = "screening.referrals"):
    """(referral, access) by primary key, for the staff of its site who hold ``permission`` there.

    A referral is a person's contact details sent to one site: to anybody else it answers 404, like
    one that never existed, so that not even its existence (or a count) reaches them."""
    from trialkit.server.referrals.models import Referral

    referral = Referral.objects.select_related("trial", "site").filter(pk=referral_id, trial=trial).first()
    access = access_for(user, trial)
    if referral is None or not access.can(permission, referral.site_id):
        raise Http404("no such referral")
    return referral, access


# ------------------------------------------------------------------ artefacts (exports, reports)


def may_see_artefact(user, trial, *, unblinded: bool, blinded_permission: str, unblinded_permission: str) -> bool:
    """Whether an artefact (export or report job, its row, progress, size, hash, file) may be shown.

    Asked on every request, so revoking a membership revokes access at once, also for the person
    who made the artefact. An unblinded artefact exists only for a user who may see allocation and
    holds ``unblinded_permission`` now: to everyone else it is not listed, not counted and its
    pages answer 404 like a job that never existed.
    """
    access = access_for(user, trial)
    if unblinded:
        return access.can_see_allocation and access.can(unblinded_permission)
    return access.can(blinded_permission)
