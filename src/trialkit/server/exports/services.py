"""Export a running trial's data in CDISC formats (ODM 1.3.2, SDTM as XPT) and as the analysis
data directory, with a manifest of what went in, what was left out and why, and file hashes.

The records are read from the database here; the files are built by the pure core
(``trialkit.export``). The arm is read only through ``allocation.services.arms_by_participant``,
and only for an unblinded export requested by a role that may see allocation (or explicitly from
the command line). Every export is an audit event; an unblinded one is a restricted event.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from trialkit.eligibility.facts import completed_years
from trialkit.export import ExportAdverseEvent, ExportData, ExportForm, ExportSignature, ExportSubject
from trialkit.export.spreadsheet import inert_cell
from trialkit.server import private_files
from trialkit.server.accounts.access import access_for
from trialkit.server.accounts.lookups import may_see_artefact
from trialkit.server.accounts.permissions import roles_with
from trialkit.server.accounts.roles import Role
from trialkit.server.allocation.services import arms_by_participant
from trialkit.server.audit.service import record_event
from trialkit.server.capture.form_names import instrument_name
from trialkit.server.capture.models import AdverseEvent, FormRecord
from trialkit.server.jobs import runner
from trialkit.server.jobs.kinds import Done, JobProblem, job_kind
from trialkit.server.jobs.models import Job
from trialkit.server.participants.models import Participant, ScreeningRecord

log = logging.getLogger(__name__)

# Who may export: ``exports.blinded``; unblinded: ``exports.unblinded`` held by a user who may see
# allocation (accounts.permissions). Site staff and the pharmacist export nothing. The order names
# the role a blinded export is recorded under when the requester holds several.
EXPORT_ROLES = tuple(r for r in (Role.DATA_MANAGER, Role.DSMB_STATISTICIAN, Role.SPONSOR_ADMIN, Role.MONITOR)
                     if r in roles_with("exports.blinded"))
FORMATS = ("odm", "sdtm", "csv")
SYSTEM_ROLE = "system"

# Participant.Status -> the disposition of trialkit.export (SDTM DS, dated by Participant.ended_on)
# and the status of the analysis tables (docs/analysis.md: completed, withdrawn, lost, else ongoing).
_EXPORT_STATUS = {"completed": "completed", "withdrawn": "withdrawn", "lost_to_follow_up": "lost_to_follow_up",
                  "died": "died"}
# Death is an outcome (mRS 6), not a loss: the analysis counts it with the completed, as the
# report's own extract does (web.analysis_data.PARTICIPANT_STATUS).
_ANALYSIS_STATUS = {"completed": "completed", "withdrawn": "withdrawn", "lost_to_follow_up": "lost",
                    "died": "completed"}
# Scales whose totals the analysis reads from outcomes.csv (docs/analysis.md).
OUTCOME_INSTRUMENTS = ("mrs", "nihss", "barthel", "fma_ue", "fma_le", "mmse")
# "Related" in the analysis tables: a reasonable possibility of a causal relationship
# (ICH E2A: possibly, probably, definitely related).
_RELATED = {"possible", "probable", "definite"}


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
    return may_see_artefact(user, job.trial, unblinded=job.unblinded, blinded_permission="exports.blinded",
                            unblinded_permission="exports.unblinded")


def _requester_role(access, unblinded: bool) -> str:
    if unblinded:
        return Role.DSMB_STATISTICIAN.value
    return next(r.value for r in EXPORT_ROLES if r in access.roles)


def may_download(user, job: Job) -> bool:
    """Holders of the role the export was made under; an unblinded file only for unblinded roles."""
    if not may_see_job(user, job):
        return False
    roles = {job.requester_role} if job.requester_role != SYSTEM_ROLE else {Role.DATA_MANAGER, Role.DSMB_STATISTICIAN}
    return bool(access_for(user, job.trial).roles & roles)


# ------------------------------------------------------------------ the records

@dataclass
class Collected:
    data: ExportData
    screenings: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    baseline_nihss: dict[str, int | None]
    counts: dict[str, int] = field(default_factory=dict)
    excluded: list[dict[str, Any]] = field(default_factory=list)


def _as_date(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


_SEX = {"female": "F", "male": "M", "f": "F", "m": "M", "u": "U"}


def _demographics(forms: list[FormRecord]) -> dict[str, Any]:
    for form in forms:
        if form.instrument == "demographics" and form.status == FormRecord.Status.COMPLETE:
            return form.data
    return {}


def _subject(p: Participant, arm_id: str | None, forms: list[FormRecord]) -> ExportSubject:
    facts = p.screening.facts or {}
    demographics = _demographics(forms)
    birth = _as_date(facts.get("birth_date")) or _as_date(demographics.get("birth_date"))
    sex = _SEX.get(str(facts.get("sex") or demographics.get("sex") or "").lower())
    age = completed_years(birth, p.screening.screening_date) if birth is not None else facts.get("age")
    consents = [c for c in p.screening.consents.all() if c.withdrawn_on is None]
    consent = min((c.consent_date for c in consents), default=None)
    return ExportSubject(
        subject_id=p.participant_number, site_id=p.site.code, sex=sex, birth_date=birth,
        age=int(age) if age is not None else None, consent_date=consent,
        randomized_on=p.randomized_at.date() if p.randomized_at else None, anchor_date=p.anchor_date,
        end_date=p.ended_on, status=_EXPORT_STATUS.get(p.status, "ongoing"), arm_id=arm_id,
        country=p.site.country or None,
    )


def _adverse_event(ae: AdverseEvent) -> ExportAdverseEvent:
    d = ae.data
    grade = d.get("ctcae_grade")
    return ExportAdverseEvent(
        subject_id=ae.participant.participant_number, seq=ae.number, term=d.get("term") or "(no term yet)",
        onset_date=_as_date(d.get("onset_date")), resolution_date=_as_date(d.get("resolution_date")),
        grade=int(grade) if isinstance(grade, (int, float)) and 1 <= grade <= 5 else None,
        serious=bool(ae.serious), related=d.get("relatedness"), outcome=d.get("outcome"),
        action_taken=d.get("action_taken"),
    )


def _days_between(later: date | None, earlier: date | None) -> int | None:
    return (later - earlier).days if later and earlier else None


def collect(trial, actor, *, unblinded: bool, include_drafts: bool = False) -> Collected:
    """Read the export records of ``trial``. ``actor=None`` is the command-line (system) export.

    A blinded role asking for unblinded data is refused (ExportDenied) before anything is read.
    """
    system = actor is None
    if not system:
        export_access(actor, trial)
        if unblinded and not may_request_unblinded(actor, trial):
            raise ExportDenied("your role is blinded: an unblinded export is not allowed")
    arms = arms_by_participant(trial, actor, system=system) if unblinded else {}

    participants = list(Participant.objects.filter(trial=trial).select_related("site", "screening")
                        .prefetch_related("screening__consents").order_by("participant_number"))
    records = list(FormRecord.objects.filter(participant__trial=trial)
                   .select_related("visit", "participant").order_by("participant__participant_number",
                                                                    "visit__order", "instrument", "repeat"))
    by_participant: dict[int, list[FormRecord]] = {}
    for r in records:
        by_participant.setdefault(r.participant_id, []).append(r)
    excluded: list[dict[str, Any]] = []

    subjects = [_subject(p, arms.get(p.pk), by_participant.get(p.pk, [])) for p in participants]
    anchors = {p.participant_number: p.anchor_date for p in participants}

    signed = _signatures_by_form(trial, records)
    forms, outcomes = [], []
    deleted_forms = [r for r in records if r.deleted_at is not None]
    drafts = [r for r in records if r.deleted_at is None and r.status == FormRecord.Status.DRAFT]
    for r in records:
        if r.deleted_at is not None or (r.status == FormRecord.Status.DRAFT and not include_drafts):
            continue
        number = r.participant.participant_number
        forms.append(ExportForm(subject_id=number, visit_id=r.visit.visit_id, form=instrument_name(r.instrument),
                                values=r.data, collected_on=r.visit.done_on, status=r.status, repeat=r.repeat,
                                signatures=signed.get(r.pk, [])))
        total = (r.scores or {}).get("total")
        if r.status == FormRecord.Status.COMPLETE and r.instrument in OUTCOME_INSTRUMENTS and total is not None:
            day = _days_between(r.visit.done_on, anchors.get(number))
            outcomes.append({"participant_id": number, "visit": r.visit.visit_id,
                             "day": r.visit.day if day is None else day, "instrument": r.instrument, "total": total})
    if deleted_forms:
        excluded.append({"what": "forms", "count": len(deleted_forms), "why": "deleted (soft delete with a reason)"})
    if drafts and not include_drafts:
        excluded.append({"what": "forms", "count": len(drafts), "why": "draft (not complete); ask for drafts to include"})

    ae_rows = list(AdverseEvent.objects.filter(participant__trial=trial).select_related("participant")
                   .order_by("participant__participant_number", "number"))
    adverse_events = []
    deleted_aes = [ae for ae in ae_rows if ae.deleted_at is not None]
    draft_aes = [ae for ae in ae_rows if ae.deleted_at is None and ae.status == FormRecord.Status.DRAFT]
    for ae in ae_rows:
        if ae.deleted_at is not None or (ae.status == FormRecord.Status.DRAFT and not include_drafts):
            continue
        adverse_events.append(_adverse_event(ae))
    if deleted_aes:
        excluded.append({"what": "adverse_events", "count": len(deleted_aes),
                         "why": "deleted (soft delete with a reason)"})
    if draft_aes and not include_drafts:
        excluded.append({"what": "adverse_events", "count": len(draft_aes),
                         "why": "draft (not complete); ask for drafts to include"})

    screenings = []
    for s in ScreeningRecord.objects.filter(trial=trial).order_by("screening_number"):
        reasons = [r.get("criterion_id") or r.get("reason") or "" for r in (s.fail_reasons or [])]
        screenings.append({"screening_id": s.screening_number, "outcome": s.outcome, "reason": ";".join(reasons)})

    data = ExportData(subjects=subjects, forms=forms, adverse_events=adverse_events)
    counts = {
        "subjects": len(subjects), "forms": len(forms),
        "forms_draft_included": sum(1 for f in forms if f.status == FormRecord.Status.DRAFT),
        "adverse_events": len(adverse_events), "screenings": len(screenings), "outcomes": len(outcomes),
        "subjects_with_allocation": sum(1 for s in subjects if s.arm_id),
    }
    baseline = {p.participant_number: (p.screening.facts or {}).get("nihss_total") for p in participants}
    return Collected(data, screenings, outcomes, baseline, counts, excluded)


def _signatures_by_form(trial, records: list[FormRecord]) -> dict[int, list[ExportSignature]]:
    """Form pk -> the latest signature of the form and of its visit, each with its validity now."""
    from trialkit.server.capture.models import Signature
    from trialkit.server.capture.signatures import describe

    latest: dict[tuple[str, int], Signature] = {}
    for sig in (Signature.objects.filter(Q(form__participant__trial=trial) | Q(visit__participant__trial=trial))
                .select_related("form", "visit", "signer").order_by("signed_at", "id")):
        latest[("form", sig.form_id) if sig.form_id else ("visit", sig.visit_id)] = sig
    shown = {key: describe(sig) for key, sig in latest.items()}
    out: dict[int, list[ExportSignature]] = {}
    for r in records:
        for scope, key in (("form", ("form", r.pk)), ("visit", ("visit", r.visit_id))):
            view = shown.get(key)
            if view is not None:
                out.setdefault(r.pk, []).append(ExportSignature(
                    signer_id=view.signature.signer.get_username(), signer_name=view.signer_name,
                    signed_at=view.signature.signed_at, meaning=view.meaning, scope=scope, valid=view.valid,
                    note="" if view.valid else view.note))
    return out


def export_data(trial, actor, *, unblinded: bool, include_drafts: bool = False) -> ExportData:
    """The core export records of ``trial`` as ``actor`` may see them (see ``collect``)."""
    return collect(trial, actor, unblinded=unblinded, include_drafts=include_drafts).data


# ------------------------------------------------------------------ the analysis data directory

def analysis_tables(collected: Collected) -> dict[str, pd.DataFrame]:
    """participants, outcomes, adverse_events, screening in the format trialkit.analysis reads
    (docs/analysis.md, "Data directory format"). A blinded export leaves every arm empty."""
    data = collected.data
    anchors = {s.subject_id: s.anchor_date for s in data.subjects}
    participants = pd.DataFrame(
        [{"participant_id": s.subject_id, "site": s.site_id, "arm": s.arm_id or "",
          "randomized_on": s.randomized_on.isoformat() if s.randomized_on else "",
          "baseline_nihss": collected.baseline_nihss.get(s.subject_id), "age": s.age, "sex": s.sex or "",
          "status": _ANALYSIS_STATUS.get(s.status or "", "ongoing")} for s in data.subjects],
        columns=["participant_id", "site", "arm", "randomized_on", "baseline_nihss", "age", "sex", "status"])
    outcomes = pd.DataFrame(collected.outcomes, columns=["participant_id", "visit", "day", "instrument", "total"])
    adverse_events = pd.DataFrame(
        [{"participant_id": ae.subject_id, "term": ae.term, "grade": ae.grade,
          "serious": "true" if ae.serious else "false",
          "related": "true" if (ae.related or "") in _RELATED else "false",
          "onset_day": _days_between(ae.onset_date, anchors.get(ae.subject_id))} for ae in data.adverse_events],
        columns=["participant_id", "term", "grade", "serious", "related", "onset_day"])
    screening = pd.DataFrame(collected.screenings, columns=["screening_id", "outcome", "reason"])
    # Whole numbers stay whole in the CSV even where some are missing.
    for frame, columns in ((participants, ("baseline_nihss", "age")), (outcomes, ("day",)),
                           (adverse_events, ("grade", "onset_day"))):
        for column in columns:
            frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
    return {"participants": participants, "outcomes": outcomes, "adverse_events": adverse_events,
            "screening": screening}


# ------------------------------------------------------------------ jobs

def _exports_dir() -> Path:
    return private_files.private_dir(Path(settings.DATA_DIR) / "exports")


def _check_formats(formats) -> list[str]:
    chosen = [f for f in FORMATS if f in set(formats or ())]
    unknown = sorted(set(formats or ()) - set(FORMATS))
    if unknown:
        raise ExportProblem(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}", "formats", "choice")
    if not chosen:
        raise ExportProblem("choose at least one format (odm, sdtm, csv)", "formats", "min_items")
    return chosen


@transaction.atomic
def request_export(trial, actor, *, formats=FORMATS, unblinded: bool = False, include_drafts: bool = False,
                   now: datetime, queue: bool = True) -> Job:
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
    job = runner.submit("export", trial=trial, requested_by=actor, requester_role=role, unblinded=unblinded,
                        params={"formats": chosen, "include_drafts": include_drafts}, created_at=now,
                        queue=queue)
    record_event(actor=actor, action="export_request", object_type="export", object_id=job.pk,
                 after={"formats": chosen, "unblinded": unblinded, "include_drafts": include_drafts,
                        "role": role}, trial_id=trial.pk, restricted=unblinded, at=now,
                 reason="unblinded export" if unblinded else "")
    return job


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@job_kind("export", label="export", max_attempts=2, permissions=("exports.blinded", "exports.unblinded"))
def run_export(job: Job, progress) -> Done:
    """Build the zip of a queued export, reporting progress as each part is written.

    The archive is written under a temporary name in the exports folder and renamed into place
    once complete (runner.atomic_output): a killed worker leaves no partial file under the final
    name, and its temporary file is removed by the worker that takes over.
    """
    from trialkit.export.odm import build_odm
    from trialkit.export.sdtm import build_domains, write_xpt

    trial = job.trial
    progress(1, "reading records")
    try:
        with transaction.atomic():  # one consistent snapshot of the records
            collected = collect(trial, job.requested_by, unblinded=job.unblinded,
                                include_drafts=job.include_drafts)
    except PermissionDenied as exc:  # the role changed since the request
        raise JobProblem(str(exc)) from None
    progress(15, "records read")
    protocol = trial.protocol
    created = job.created_at
    files: dict[str, bytes] = {}
    rows: dict[str, int] = {}
    if "odm" in job.formats:
        files["odm.xml"] = build_odm(protocol, collected.data, created=created).encode("utf-8")
        rows["odm.xml"] = len(collected.data.forms)
        progress(35, "ODM 1.3.2 written")
    if "sdtm" in job.formats:
        domains = build_domains(protocol, collected.data)
        with runner.scratch_dir(job.pk, _exports_dir()) as tmp:
            for i, (name, frame) in enumerate(domains.items(), start=1):
                (path,) = write_xpt({name: frame}, Path(tmp), created=created)
                files[f"sdtm/{path.name}"] = path.read_bytes()
                rows[f"sdtm/{path.name}"] = len(frame)
                progress(35 + 45 * i // len(domains), f"SDTM {name} written")
    if "csv" in job.formats:
        for name, frame in analysis_tables(collected).items():
            buffer = io.StringIO()
            frame.map(inert_cell).to_csv(buffer, index=False)
            files[f"data/{name}.csv"] = buffer.getvalue().encode("utf-8")
            rows[f"data/{name}.csv"] = len(frame)
        progress(85, "analysis data directory written")
    manifest = {
        "trial": trial.nct_id, "protocol_sha256": trial.protocol_sha256, "export_id": job.pk,
        "requested_by": job.requester_name, "role": job.requester_role,
        "created_at": created.isoformat(timespec="seconds"),
        "blinding": "unblinded" if job.unblinded else "blinded", "formats": job.formats,
        "include_drafts": job.include_drafts, "counts": collected.counts, "excluded": collected.excluded,
        # Random content: no one can rebuild this archive from guessed data and compare hashes.
        "nonce": secrets.token_hex(16),
        "files": [{"path": name, "rows": rows.get(name), "bytes": len(content), "sha256": _sha256(content)}
                  for name, content in files.items()],
    }
    files["manifest.json"] = json.dumps(manifest, indent=2).encode("utf-8")
    stamp = created.strftime("%Y%m%dT%H%M%S")
    target = _exports_dir() / f"{trial.nct_id}-{job.pk}-{stamp}-{manifest['blinding']}.zip"
    with runner.atomic_output(job.pk, target) as partial:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                info = zipfile.ZipInfo(name, date_time=created.timetuple()[:6])
                info.external_attr = 0o600 << 16  # private to whoever unpacks them
                # The manifest (which holds the nonce) is stored, not deflated, so that the
                # archive's size depends on its data alone.
                method = zipfile.ZIP_STORED if name == "manifest.json" else zipfile.ZIP_DEFLATED
                archive.writestr(info, content, compress_type=method)
        digest = _sha256(partial.read_bytes())

    def audit() -> None:
        record_event(actor=job.requested_by, action="export_done", object_type="export", object_id=job.pk,
                     after={"file": target.name, "sha256": digest, "counts": collected.counts,
                            "unblinded": job.unblinded},
                     trial_id=trial.pk, restricted=job.unblinded, at=timezone.now())

    return Done(path=target, sha256=digest, manifest=manifest, message="done", then=audit)


def create_export(trial, actor, *, formats=FORMATS, unblinded: bool = False, include_drafts: bool = False,
                  now: datetime) -> Job:
    """Request and run an export in the caller's process (the command line, tests)."""
    job = request_export(trial, actor, formats=formats, unblinded=unblinded, include_drafts=include_drafts, now=now,
                         queue=False)
    return runner.execute(job.pk)


def wait_for(job_id: int, timeout: float = 60) -> bool:
    """Wait until the job has finished (tests, the command line); True if it has."""
    return runner.wait_for(job_id, timeout)


def jobs_for(trial, actor) -> list[Job]:
    export_access(actor, trial)
    return list(runner.visible_jobs(actor, trial=trial, kind="export"))


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
    record_event(actor=user, action="export_download", object_type="export", object_id=job.pk,
                 after={"file": job.file_name, "sha256": job.sha256, "unblinded": job.unblinded},
                 trial_id=job.trial_id, restricted=job.unblinded, at=now)
