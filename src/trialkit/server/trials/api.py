from __future__ import annotations

from ninja import Router, Schema

from trialkit.server.trials.models import Trial

router = Router(tags=["trials"])


class TrialOut(Schema):
    nct_id: str
    acronym: str
    title: str
    status: str
    enrollment: int
    sites: list[str]


@router.get("/", response=list[TrialOut], auth=None)
def list_trials(request):
    """The trials run here (public registry facts only)."""
    out = []
    for trial in Trial.objects.prefetch_related("sites"):
        r = trial.protocol.registry
        out.append(
            TrialOut(
                nct_id=trial.nct_id,
                acronym=trial.acronym,
                title=trial.title,
                status=r.overall_status.label,
                enrollment=r.enrollment.count,
                sites=[s.code for s in trial.sites.all()],
            )
        )
    return out
