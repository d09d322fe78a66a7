"""Exports API: start an export, follow its job, download the zip (same rules as the pages)."""

# No ``from __future__ import annotations`` here: django-ninja's ``paginate`` reads the views'
# parameter annotations, which must be real types, not strings.
from datetime import datetime

from django.http import FileResponse
from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from trialkit.server.accounts.lookups import trial_for
from trialkit.server.api_contract import Code, ErrorOut, NctId, Pages, RowId, Rows
from trialkit.server.exports import services
from trialkit.server.jobs.models import Job
from trialkit.server.trials.models import Trial

router = Router(tags=["exports"])


class ExportIn(Schema):
    formats: list[Code] = Field(default_factory=lambda: list(services.FORMATS), max_length=10)
    unblinded: bool = False
    include_drafts: bool = False
    labels: bool = Field(False, description="CSV tables with labels (arm, sex) instead of codes")


class JobOut(Schema):
    id: int
    trial: str
    requested_by: str
    requester_role: str
    formats: list[str]
    unblinded: bool
    include_drafts: bool
    labels: bool
    status: str
    progress: int
    message: str
    size_bytes: int | None
    sha256: str
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None


def _out(request, job: Job) -> JobOut:
    url = None
    if job.status == Job.Status.DONE and services.may_download(request.user, job):
        url = f"/api/exports/{job.trial.nct_id}/jobs/{job.pk}/download"
    return JobOut(
        id=job.pk,
        trial=job.trial.nct_id,
        requested_by=job.requester_name,
        requester_role=job.requester_role,
        formats=job.formats,
        unblinded=job.unblinded,
        include_drafts=job.include_drafts,
        labels=bool(job.params.get("labels")),
        status=job.status,
        progress=job.progress,
        message=job.message,
        size_bytes=job.size_bytes,
        sha256=job.sha256,
        created_at=job.created_at,
        finished_at=job.finished_at,
        download_url=url,
    )


def _trial(request, nct_id: str) -> Trial:
    trial, _access = trial_for(request.user, nct_id)
    services.export_access(request.user, trial)
    return trial


def _job(request, nct_id: str, job_id: int) -> Job:
    trial = _trial(request, nct_id)
    return services.job_for(trial, request.user, job_id)


@router.post("/{nct_id}/jobs", response={202: JobOut})
def start(request, nct_id: NctId, payload: ExportIn):
    """Start an export in the background; poll the job until ``status`` is ``done``."""
    trial = _trial(request, nct_id)
    job = services.request_export(
        trial,
        request.user,
        formats=payload.formats,
        unblinded=payload.unblinded,
        include_drafts=payload.include_drafts,
        labels=payload.labels,
        now=timezone.now(),
    )
    return Status(202, _out(request, job))


@router.get("/{nct_id}/jobs", response=list[JobOut])
@paginate(Pages)
def jobs(request, nct_id: NctId):
    """Past exports of the trial, newest first."""
    trial = _trial(request, nct_id)
    return Rows(services.jobs_for(trial, request.user), show=lambda job: _out(request, job))


@router.get("/{nct_id}/jobs/{job_id}", response=JobOut)
def job_status(request, nct_id: NctId, job_id: RowId):
    """One export's status and progress (0-100)."""
    return _out(request, _job(request, nct_id, job_id))


@router.get("/{nct_id}/jobs/{job_id}/download", response={200: None, 409: ErrorOut})
def download(request, nct_id: NctId, job_id: RowId):
    """The zip of a finished export (403 for a blinded role and an unblinded export; 409 until it is done)."""
    job = _job(request, nct_id, job_id)
    path = services.downloadable_file(job, request.user)
    services.record_download(job, request.user, now=timezone.now())
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type="application/zip")
