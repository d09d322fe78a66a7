"""Export pages: past exports, a form to start one, live progress (htmx polling), downloads.

Blinded roles never see the unblinded option, and every download is checked by the services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from trialkit.server.accounts.lookups import trial_for
from trialkit.server.exports import services


def _trial(request, nct_id: str):
    trial, _access = trial_for(request.user, nct_id)
    return trial, services.export_access(request.user, trial)


def _job(request, nct_id: str, job_id: int):
    trial, _access = _trial(request, nct_id)
    return trial, services.job_for(trial, request.user, job_id)


def _rows(request, jobs):
    return [{"job": job, "can_download": services.may_download(request.user, job)} for job in jobs]


def _page(request, trial, *, error: str = "", chosen=services.FORMATS, status: int = 200):
    jobs = services.jobs_for(trial, request.user)
    context = {
        "trial": trial,
        "rows": _rows(request, jobs),
        "formats": services.FORMATS,
        "chosen": list(chosen),
        "may_unblind": services.may_request_unblinded(request.user, trial),
        "error": error,
    }
    return render(request, "exports/trial.html", context, status=status)


@login_required
def exports_page(request, nct_id: str):
    trial, _access = _trial(request, nct_id)
    return _page(request, trial)


@login_required
@require_POST
def start(request, nct_id: str):
    trial, _access = _trial(request, nct_id)
    formats = request.POST.getlist("formats")
    unblinded = request.POST.get("unblinded") == "1"
    try:
        services.request_export(
            trial,
            request.user,
            formats=formats,
            unblinded=unblinded,
            include_drafts=request.POST.get("include_drafts") == "1",
            labels=request.POST.get("labels") == "1",
            now=timezone.now(),
        )
    except services.ExportProblem as exc:
        return _page(request, trial, error=str(exc), chosen=formats, status=400)
    return redirect("exports:trial", nct_id=trial.nct_id)


@login_required
def progress(request, nct_id: str, job_id: int):
    _, job = _job(request, nct_id, job_id)
    return render(
        request,
        "exports/_progress.html",
        {"row": {"job": job, "can_download": services.may_download(request.user, job)}, "trial": job.trial},
    )


@login_required
def download(request, nct_id: str, job_id: int):
    _, job = _job(request, nct_id, job_id)
    try:
        path = services.downloadable_file(job, request.user)
    except services.ExportProblem as exc:
        raise Http404(str(exc)) from None
    services.record_download(job, request.user, now=timezone.now())
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type="application/zip")
