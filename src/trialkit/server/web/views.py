from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_POST

from trialkit.server.accounts.access import access_for, user_roles
from trialkit.server.accounts.lookups import trial_for
from trialkit.server.accounts.roles import Role
from trialkit.server.jobs import runner
from trialkit.server.jobs.models import Job
from trialkit.server.web import reports
from trialkit.server.web.homes import HomeContext, build_home

# The order in which a user holding several roles in one trial sees their homes offered.
ROLE_ORDER = [
    Role.COORDINATOR,
    Role.INVESTIGATOR,
    Role.BLINDED_ASSESSOR,
    Role.UNBLINDED_PHARMACIST,
    Role.MONITOR,
    Role.DATA_MANAGER,
    Role.SPONSOR_ADMIN,
    Role.DSMB_STATISTICIAN,
]


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if settings.TRIALKIT_DEMO:
            from trialkit.server.demo import DEMO_PASSWORD, demo_logins

            context["demo_users"] = demo_logins()
            context["demo_password"] = DEMO_PASSWORD
        return context


def landing(request):
    """Signed-in users land on their home; in demo mode visitors land on the login page that lists the
    demo users; otherwise on the public trial finder."""
    if request.user.is_authenticated:
        return redirect("home")
    return redirect("login" if settings.TRIALKIT_DEMO else "trials:finder")


def workplaces(user) -> list[dict]:
    """The user's trials, each with its roles (in ROLE_ORDER) and where they hold them."""
    by_trial: dict[int, dict] = {}
    for m in user_roles(user):
        entry = by_trial.setdefault(m.trial_id, {"trial": m.trial, "roles": [], "sites": set()})
        if m.role not in entry["roles"]:
            entry["roles"].append(m.role)
        entry["sites"].add(m.site.code if m.site_id else "all sites")
    for entry in by_trial.values():
        entry["roles"].sort(key=ROLE_ORDER.index)
        entry["role_labels"] = [(r, Role(r).label) for r in entry["roles"]]
        entry["sites"] = sorted(entry["sites"])
    return sorted(by_trial.values(), key=lambda e: e["trial"].nct_id)


@login_required
def home(request):
    places = workplaces(request.user)
    if not places:
        return render(request, "web/home.html", {"places": []})
    wanted = request.GET.get("trial") or request.session.get("home_trial")
    place = next((p for p in places if p["trial"].nct_id == wanted), places[0])
    role = request.GET.get("role") or request.session.get("home_role")
    if role not in place["roles"]:
        role = place["roles"][0]
    request.session["home_trial"], request.session["home_role"] = place["trial"].nct_id, role
    trial = place["trial"]
    ctx = HomeContext(
        trial=trial,
        user=request.user,
        access=access_for(request.user, trial),
        role=role,
        today=timezone.localdate(),
        now=timezone.now(),
    )
    return render(
        request,
        "web/home.html",
        {
            "places": places,
            "place": place,
            "trial": trial,
            "role": role,
            "role_label": Role(role).label,
            "home": build_home(ctx),
        },
    )


@login_required
@require_POST
def start_report(request, nct_id):
    trial, _access = trial_for(request.user, nct_id)
    if not reports.may_request_report(request.user, trial):
        raise PermissionDenied("your role does not allow reports")
    wants_unblinded = request.POST.get("unblinded") == "1"
    if wants_unblinded and not reports.unblinded_for(request.user, trial):
        raise PermissionDenied("the unblinded report is for the DSMB statistician only")
    job = reports.request_report(trial, request.user, unblinded=wants_unblinded)
    if request.htmx:
        return render(request, "web/_job.html", {"job": job})
    return redirect("job", job.pk)


def _own_job(request, pk) -> Job:
    return runner.visible_job(request.user, pk, kind="report")


@login_required
def job_page(request, pk):
    return render(request, "web/job.html", {"job": _own_job(request, pk)})


@login_required
def job_progress(request, pk):
    """The progress bar; while the job runs it asks HTMX to poll again."""
    return render(request, "web/_job.html", {"job": _own_job(request, pk)})


# The report is one self-contained HTML file (its own <style>, figures as data: images): it may
# use inline styles, and still no script at all.
REPORT_CSP = {**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE], "script-src": [CSP.NONE]}


@csp_override(REPORT_CSP)
@login_required
def job_result(request, pk, fmt="html"):
    job = _own_job(request, pk)
    if job.status != Job.Status.DONE or not job.result_path:
        raise Http404("the result is not ready")
    path = Path(job.result_path)
    if fmt == "pdf":
        path = path.with_suffix(".pdf")
    if not path.exists():
        raise Http404("the result file is gone")
    return FileResponse(open(path, "rb"), as_attachment=fmt == "pdf", filename=path.name)
