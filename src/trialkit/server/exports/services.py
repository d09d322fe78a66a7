"""Export a running trial's data in CDISC formats (ODM 1.3.2, SDTM as XPT) and as the analysis
data directory, with a manifest of what went in, what was left out and why, and file hashes.

The records are read from the database by the one extract (``exports.extract``); the files are
built by the pure core (``trialkit.export``; the analysis tables by ``trialkit.analysis.trial_data``). The arm is read only through ``allocation.services.arms_by_participant``,
and only for an unblinded export requested by a role that may see allocation (or explicitly from
the command line). Every export is an audit event; an unblinded one is a restricted event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from trialkit.analysis.trial_data import write_tables
from trialkit.export import ExportData
from trialkit.server import private_files
from trialkit.server.accounts.access import access_for
from trialkit.server.accounts.lookups import may_see_artefact
from trialkit.server.accounts.permissions import roles_with
from trialkit.server.accounts.roles import Role
from trialkit.server.allocation.services import arms_by_participant
from trialkit.server.audit.service import record_event
from trialkit.server.exports import extract
from trialkit.server.jobs import runner
from trialkit.server.jobs.kinds import Done, JobProblem, job_kind
from trialkit.server.jobs.models import Job

log = logging.getLogger(__name__)

# Who may export: ``exports.blinded``; unblinded: ``exports.unblinded`` held by a user who may see
# allocation (accounts.permissions). Site staff and the pharmacist export nothing. The order names
# the role a blinded export is recorded under when the requester holds several.
EXPORT_ROLES = tuple(
    r
    for r in (Role.DATA_MANAGER, Role.DSMB_STATISTICIAN, Role.SPONSOR_ADMIN, Role.MONITOR)
    if r in roles_with("exports.blinded")
)
FORMATS = ("odm", "sdtm", "csv", "fhir")
SYSTEM_ROLE = "system"


class ExportDenied(PermissionDenied):
    """The actor's role does not allow this export or download."""


class ExportProblem(ValueError):
    """An export that cannot be made or fetched now (409), or, with ``field``, invalid input (422)."""

    def __init__(self, message: str, field: str | None = None, rule: str = "invalid"):
        self.field = field
        self.rule = rule
        super().__init__(message)


# ------------------------------------------------------------------ who may do what


def export_access(actor, trial):
    """The actor's access, or ExportDenied if no role of theirs may export."""
    access = access_for(actor, trial)
    if not access.can("exports.blinded"):
        raise ExportDenied("your role does not allow exporting this trial's data")
    return access


def may_request_unblinded(actor, trial) -> bool:
    access = access_for(actor, trial)
    return access.can_see_allocation and access.can("exports.unblinded")


def may_see_job(user, job: Job) -> bool:
    """Whether the job exists for this user at all (its row, status, size, hash, file): asked on
    every list, page, API call and download (accounts.lookups.may_see_artefact)."""
    return may_see_artefact(
        user,
        job.trial,
        unblinded=job.unblinded,
        blinded_permission="exports.blinded",
        unblinded_permission="exports.unblinded",
    )


def _requester_role(access, unblinded: bool) -> str:
    if unblinded:
        role = access.role_granting("exports.unblinded")
        if role is None:
            raise ExportDenied("your role is blinded: an unblinded export is not allowed")
        return role
    return next(r.value for r in EXPORT_ROLES if r in access.roles)


def may_download(user, job: Job) -> bool:
    """Whether the user may take the file, by the permission table: ``exports.unblinded`` for an
    unblinded export (held with no blinded role: ``may_see_job``), ``exports.blinded`` for a blinded
    one, held through the role the export was made under (a monitor does not take a data manager's
    export). An export made from the command line (``system``) was made under no role: every
    holder of its permission may take it."""
    if not may_see_job(user, job):
        return False
    permission = "exports.unblinded" if job.unblinded else "exports.blinded"
    access = access_for(user, job.trial)
    if job.requester_role == SYSTEM_ROLE:
        return access.can(permission)
    return job.requester_role in access.roles & roles_with(permission)


# ------------------------------------------------------------------ the records


@dataclass
class Collected:
    data: ExportData
    counts: dict[str, int] = field(default_factory=dict)
    excluded: list[dict[str, Any]] = field(default_factory=list)


def _arms_for(trial, actor, unblinded: bool) -> dict[int, str] | None:
    """Check the actor may make this export and return the arms it may carry (None: blinded).

    A blinded role asking for unblinded data is refused (ExportDenied) before anything is read.
    ``actor=None`` is the command-line (system) export.
    """
    system = actor is None
    if not system:
        export_access(actor, trial)
        if unblinded and not may_request_unblinded(actor, trial):
            raise ExportDenied("your role is blinded: an unblinded export is not allowed")
    return arms_by_participant(trial, actor, system=system) if unblinded else None


def collect(trial, actor, *, unblinded: bool, include_drafts: bool = False) -> Collected:
    """Read the export records of ``trial`` through the one extract (exports.extract)."""
    arms = _arms_for(trial, actor, unblinded)
    tally = extract.Tally()
    data = extract.select(trial, arms=arms, include_drafts=include_drafts, tally=tally)
    return Collected(data, tally.counts, tally.excluded(include_drafts))


def export_data(trial, actor, *, unblinded: bool, include_drafts: bool = False) -> ExportData:
    """The core export records of ``trial`` as ``actor`` may see them (see ``collect``)."""
    return collect(trial, actor, unblinded=unblinded, include_drafts=include_drafts).data


# ------------------------------------------------------------------ jobs


def _exports_dir() -> Path:
    return private_files.private_dir(Path(settings.DATA_DIR) / "exports")


def _check_formats(formats) -> list[str]:
    chosen = [f for f in FORMATS if f in set(formats or ())]
    unknown = sorted(set(formats or ()) - set(FORMATS))
    if unknown:
        raise ExportProblem(
            f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}", "formats", "choice"
        )
    if not chosen:
        raise ExportProblem(f"choose at least one format ({', '.join(FORMATS)})", "formats", "min_items")
    return chosen


@transaction.atomic
def request_export(
    trial,
    actor,
    *,
    formats=FORMATS,
    unblinded: bool = False,
    include_drafts: bool = False,
    now: datetime,
    queue: bool = True,
    labels: bool = False,
) -> Job:
    """Check the actor may make this export, queue it for a worker and audit the request.

    ``actor=None``: the command line, which runs the job itself (``queue=False``).
    """
    chosen = _check_formats(formats)
    if actor is None:
        role = SYSTEM_ROLE
    else:
        access = export_access(actor, trial)
        if unblinded and not may_request_unblinded(actor, trial):
            raise ExportDenied("your role is blinded: an unblinded export is not allowed")
        role = _requester_role(access, unblinded)
    job = runner.submit(
        "export",
        trial=trial,
        requested_by=actor,
        requester_role=role,
        unblinded=unblinded,
        params={"formats": chosen, "include_drafts": include_drafts, "labels": labels},
        created_at=now,
        queue=queue,
    )
    record_event(
        actor=actor,
        action="export_request",
        object_type="export",
        object_id=job.pk,
        after={"formats": chosen, "unblinded": unblinded, "include_drafts": include_drafts, "role": role},
        trial_id=trial.pk,
        restricted=unblinded,
        at=now,
        reason="unblinded export" if unblinded else "",
    )
    return job


_BLOCK = 1 << 20


def _sha256(content: bytes | Path) -> str:
    """The SHA-256 of bytes, or of a file read in blocks."""
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest()
    digest = hashlib.sha256()
    with open(content, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _size(content: bytes | Path) -> int:
    return len(content) if isinstance(content, bytes) else content.stat().st_size


@job_kind("export", label="export", max_attempts=2, permissions=("exports.blinded", "exports.unblinded"))
def run_export(job: Job, progress) -> Done:
    """Build the zip of a queued export, reporting progress as each part is written.

    The archive is written under a temporary name in the exports folder and renamed into place
    once complete (runner.atomic_output): a killed worker leaves no partial file under the final
    name, and its temporary file is removed by the worker that takes over.
    """
    from trialkit.export.fhir import write_bundle
    from trialkit.export.odm import write_odm
    from trialkit.export.sdtm_package import write_package_chunks
    from trialkit.export.stream import ChunkSpool

    trial = job.trial
    protocol = trial.protocol
    created = job.created_at
    labels = bool(job.params.get("labels"))
    needs_spool = bool({"odm", "sdtm", "fhir"} & set(job.formats))
    files: dict[str, Path] = {}  # ODM, SDTM, FHIR: written to the scratch folder from the spool
    on_disk: dict[str, Path] = {}  # the analysis tables, written to the scratch folder as they were read
    rows: dict[str, int] = {}
    progress(1, "reading records")
    with runner.scratch_dir(job.pk, _exports_dir()) as scratch:
        scratch = Path(scratch)
        tally = extract.Tally()
        # The records are read once, in one transaction (one consistent snapshot), a chunk of
        # participants at a time: the CSV tables are written from each chunk as it comes, and each
        # chunk is kept in a spool file from which ODM, SDTM and FHIR are then written, a chunk at
        # a time (trialkit.export.stream). Memory holds a chunk, never the trial.
        spool = ChunkSpool(scratch / "records.jsonl") if needs_spool else None

        def chunks():
            for chunk in extract.iter_chunks(trial, arms=arms, include_drafts=job.include_drafts, tally=tally):
                yield spool.add(chunk) if spool is not None else chunk

        try:
            with transaction.atomic():
                arms = _arms_for(trial, job.requested_by, job.unblinded)
                if "csv" in job.formats:
                    written = write_tables(chunks(), scratch / "data", protocol, unblinded=job.unblinded, labels=labels)
                    for name, count in written.items():
                        on_disk[f"data/{name}.csv"] = scratch / "data" / f"{name}.csv"
                        rows[f"data/{name}.csv"] = count
                    on_disk["data/dictionary.csv"] = scratch / "data" / "dictionary.csv"
                else:
                    for _ in chunks():
                        pass
        except PermissionDenied as exc:  # the role changed since the request
            raise JobProblem(str(exc)) from None
        counts, excluded = tally.counts, tally.excluded(job.include_drafts)
        progress(15, "records read")
        if "odm" in job.formats and spool is not None:
            path = scratch / "odm.xml"
            with open(path, "w", encoding="utf-8") as handle:
                rows["odm.xml"] = write_odm(protocol, spool, handle, created=created)
            files["odm.xml"] = path
            progress(35, "ODM 1.3.2 written")
        if "sdtm" in job.formats and spool is not None:
            # The SDTM package: each domain as XPT and Dataset-JSON, and define.xml (trialkit.export.sdtm_package).
            for name, (path, count) in write_package_chunks(protocol, spool, scratch / "sdtm", created=created).items():
                files[f"sdtm/{name}"] = path
                rows[f"sdtm/{name}"] = count
            progress(80, "SDTM package written")
        if "csv" in job.formats:
            progress(85, "analysis data directory written")
        if "fhir" in job.formats and spool is not None:
            # The arm only in an unblinded job (whose records alone carry arms): see trialkit.export.fhir.
            path = scratch / "fhir" / "bundle.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                rows["fhir/bundle.json"] = write_bundle(protocol, spool, handle, unblinded=job.unblinded)
            files["fhir/bundle.json"] = path
            progress(90, "FHIR R4 Bundle written")
        members: dict[str, bytes | Path] = {**files, **on_disk}
        manifest = {
            "trial": trial.nct_id,
            "protocol_sha256": trial.protocol_sha256,
            "export_id": job.pk,
            "requested_by": job.requester_name,
            "role": job.requester_role,
            "created_at": created.isoformat(timespec="seconds"),
            "blinding": "unblinded" if job.unblinded else "blinded",
            "formats": job.formats,
            "include_drafts": job.include_drafts,
            "labels": labels,
            "counts": counts,
            "excluded": excluded,
            # Random content: no one can rebuild this archive from guessed data and compare hashes.
            "nonce": secrets.token_hex(16),
            "files": [
                {"path": name, "rows": rows.get(name), "bytes": _size(content), "sha256": _sha256(content)}
                for name, content in members.items()
            ],
        }
        members["manifest.json"] = json.dumps(manifest, indent=2).encode("utf-8")
        stamp = created.strftime("%Y%m%dT%H%M%S")
        target = _exports_dir() / f"{trial.nct_id}-{job.pk}-{stamp}-{manifest['blinding']}.zip"
        with runner.atomic_output(job.pk, target) as partial:
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, content in members.items():
                    info = zipfile.ZipInfo(name, date_time=created.timetuple()[:6])
                    info.external_attr = 0o600 << 16  # private to whoever unpacks them
                    # The manifest (which holds the nonce) is stored, not deflated, so that the
                    # archive's size depends on its data alone.
                    info.compress_type = zipfile.ZIP_STORED if name == "manifest.json" else zipfile.ZIP_DEFLATED
                    if isinstance(content, Path):  # copied in blocks, never read whole
                        with open(content, "rb") as source, archive.open(info, "w") as sink:
                            shutil.copyfileobj(source, sink, _BLOCK)
                    else:
                        archive.writestr(info, content)
            digest = _sha256(partial)

    def audit() -> None:
        record_event(
            actor=job.requested_by,
            action="export_done",
            object_type="export",
            object_id=job.pk,
            after={"file": target.name, "sha256": digest, "counts": counts, "unblinded": job.unblinded},
            trial_id=trial.pk,
            restricted=job.unblinded,
            at=timezone.now(),
        )

    return Done(path=target, sha256=digest, manifest=manifest, message="done", then=audit)


def create_export(
    trial,
    actor,
    *,
    formats=FORMATS,
    unblinded: bool = False,
    include_drafts: bool = False,
    now: datetime,
    labels: bool = False,
) -> Job:
    """Request and run an export in the caller's process (the command line, tests)."""
    job = request_export(
        trial,
        actor,
        formats=formats,
        unblinded=unblinded,
        include_drafts=include_drafts,
        now=now,
        queue=False,
        labels=labels,
    )
    return runner.execute(job.pk)


def wait_for(job_id: int, timeout: float = 60) -> bool:
    """Wait until the job has finished (tests, the command line); True if it has."""
    return runner.wait_for(job_id, timeout)


def jobs_for(trial, actor):
    """The export jobs of the trial the actor may list (a queryset, newest first)."""
    export_access(actor, trial)
    return runner.visible_jobs(actor, trial=trial, kind="export")


def job_for(trial, actor, job_id: int) -> Job:
    """One export job of the trial the actor may open, or Http404."""
    export_access(actor, trial)
    return runner.visible_job(actor, job_id, trial=trial, kind="export")


def downloadable_file(job: Job, user) -> Path:
    """The zip of a finished job, or ExportDenied / ExportProblem."""
    export_access(user, job.trial)
    if not may_download(user, job):
        if job.unblinded:
            raise ExportDenied("this export is unblinded: only an unblinded role may download it")
        raise ExportDenied("only holders of the role that made this export may download it")
    if job.status != Job.Status.DONE:
        raise ExportProblem(f"export {job.pk} is {job.status}, not done")
    if not job.result_path:
        raise ExportProblem(f"the file of export {job.pk} was removed after the retention period ({job.message})")
    path = Path(job.result_path)
    if not path.exists():
        raise ExportProblem(f"the file of export {job.pk} is no longer on disk")
    return path


@transaction.atomic
def record_download(job: Job, user, *, now: datetime) -> None:
    """Who took a copy of the file, and when (restricted when the file is unblinded)."""
    record_event(
        actor=user,
        action="export_download",
        object_type="export",
        object_id=job.pk,
        after={"file": job.file_name, "sha256": job.sha256, "unblinded": job.unblinded},
        trial_id=job.trial_id,
        restricted=job.unblinded,
        at=now,
    )
