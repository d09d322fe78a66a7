# No ``from __future__ import annotations`` here: django-ninja's ``paginate`` reads the views'
# parameter annotations, which must be real types, not strings.

from ninja import Router, Schema
from ninja.pagination import paginate

from trialkit.server.api_contract import Pages, Rows
from trialkit.server.trials.models import Trial

router = Router(tags=["trials"])


class TrialOut(Schema):
    nct_id: str
    acronym: str
    title: str
    status: str
    enrollment: int
    sites: list[str]


def _trial_out(trial: Trial) -> TrialOut:
    r = trial.protocol.registry
    return TrialOut(
        nct_id=trial.nct_id,
        acronym=trial.acronym,
        title=trial.title,
        status=r.overall_status.label,
        enrollment=r.enrollment.count,
        sites=[s.code for s in trial.sites.all()],
    )


@router.get("/", response=list[TrialOut], auth=None)
@paginate(Pages)
def list_trials(request):
    """The trials run here (public registry facts only)."""
    return Rows(Trial.objects.prefetch_related("sites").order_by("nct_id"), show=_trial_out)
