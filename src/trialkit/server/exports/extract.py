"""The one extract: a trial's records read from the database as the core's export records.

Every consumer reads the trial through ``select`` (or ``iter_chunks``): the CSV, ODM and SDTM
exports and ``trialkit export from-db`` (exports.services), the trial report job (web.reports) and
the DSMB safety summary (web.safety_summary). The analysis tables are then made by one pure
function, ``trialkit.analysis.trial_data.analysis_tables``.

Who may see what is decided by the caller, never here: ``arms`` is None for a blinded extract, or
the participant -> arm map the caller obtained through ``allocation.services.arms_by_participant``
(which checks the role). Records are read participant by participant in chunks
(``QuerySet.iterator``), so a writer that handles one chunk at a time holds memory flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Q
from django.utils import timezone

from trialkit.eligibility.facts import completed_years
from trialkit.export import (
    ExportAdverseEvent,
    ExportData,
    ExportExposure,
    ExportForm,
    ExportScreening,
    ExportSignature,
    ExportSubject,
)
from trialkit.export.sdtm_domains import labs_from_screening_facts
from trialkit.instruments import instrument_name
from trialkit.server.allocation.models import DoseRecord
from trialkit.server.capture.models import AdverseEvent, FormRecord
from trialkit.server.participants.models import Participant, ScreeningRecord

CHUNK = 250  # participants read, converted and written at a time

# Participant.Status -> the disposition of trialkit.export (SDTM DS, dated by Participant.ended_on).
EXPORT_STATUS = {
    "completed": "completed",
    "withdrawn": "withdrawn",
    "lost_to_follow_up": "lost_to_follow_up",
    "died": "died",
}
_SEX = {"female": "F", "male": "M", "f": "F", "m": "M", "u": "U"}


@dataclass
class Tally:
    """What went into an extract and what was left out, and why (the export manifest)."""

    counts: dict[str, int] = field(
        default_factory=lambda: {
            "subjects": 0,
            "forms": 0,
            "forms_draft_included": 0,
            "adverse_events": 0,
            "screenings": 0,
            "subjects_with_allocation": 0,
        }
    )
    deleted_forms: int = 0
    draft_forms: int = 0
    deleted_aes: int = 0
    draft_aes: int = 0

    def excluded(self, include_drafts: bool) -> list[dict[str, Any]]:
        out = []
        if self.deleted_forms:
            out.append({"what": "forms", "count": self.deleted_forms, "why": "deleted (soft delete with a reason)"})
        if self.draft_forms and not include_drafts:
            out.append(
                {"what": "forms", "count": self.draft_forms, "why": "draft (not complete); ask for drafts to include"}
            )
        if self.deleted_aes:
            out.append(
                {"what": "adverse_events", "count": self.deleted_aes, "why": "deleted (soft delete with a reason)"}
            )
        if self.draft_aes and not include_drafts:
            out.append(
                {
                    "what": "adverse_events",
                    "count": self.draft_aes,
                    "why": "draft (not complete); ask for drafts to include",
                }
            )
        return out


def _as_date(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _demographics(forms: list[FormRecord]) -> dict[str, Any]:
    for form in forms:
        if form.instrument == "demographics" and form.status == FormRecord.Status.COMPLETE and form.deleted_at is None:
            return form.data
    return {}


def _whole(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _subject(p: Participant, arm_id: str | None, forms: list[FormRecord]) -> ExportSubject:
    facts = p.screening.facts or {}
    demographics = _demographics(forms)
    birth = _as_date(facts.get("birth_date")) or _as_date(demographics.get("birth_date"))
    sex = _SEX.get(str(facts.get("sex") or demographics.get("sex") or "").lower())
    age = completed_years(birth, p.screening.screening_date) if birth is not None else facts.get("age")
    consents = [c for c in p.screening.consents.all() if c.withdrawn_on is None]
    consent = min((c.consent_date for c in consents), default=None)
    return ExportSubject(
        subject_id=p.participant_number,
        site_id=p.site.code,
        sex=sex,
        birth_date=birth,
        age=int(age) if age is not None else None,
        consent_date=consent,
        randomized_on=p.randomized_at.date() if p.randomized_at else None,
        anchor_date=p.anchor_date,
        end_date=p.ended_on,
        status=EXPORT_STATUS.get(p.status, "ongoing"),
        arm_id=arm_id,
        country=p.site.country or None,
        baseline_nihss=_whole(facts.get("nihss_total")),
    )


def _adverse_event(ae: AdverseEvent) -> ExportAdverseEvent:
    d = ae.data
    grade = d.get("ctcae_grade")
    return ExportAdverseEvent(
        subject_id=ae.participant.participant_number,
        seq=ae.number,
        term=d.get("term") or "(no term yet)",
        onset_date=_as_date(d.get("onset_date")),
        resolution_date=_as_date(d.get("resolution_date")),
        grade=int(grade) if isinstance(grade, (int, float)) and 1 <= grade <= 5 else None,
        serious=bool(ae.serious),
        related=d.get("relatedness"),
        outcome=d.get("outcome"),
        action_taken=d.get("action_taken"),
    )


def _signatures_by_form(participant_ids: list[int], records: list[FormRecord]) -> dict[int, list[ExportSignature]]:
    """Form pk -> the latest signature of the form and of its visit, each with its validity now."""
    from trialkit.server.capture.models import Signature
    from trialkit.server.capture.signatures import describe

    latest: dict[tuple[str, int], Signature] = {}
    for sig in (
        Signature.objects.filter(
            Q(form__participant_id__in=participant_ids) | Q(visit__participant_id__in=participant_ids)
        )
        .select_related("form", "visit", "signer")
        .order_by("signed_at", "id")
    ):
        latest[("form", sig.form_id) if sig.form_id else ("visit", sig.visit_id)] = sig
    shown = {key: describe(sig) for key, sig in latest.items()}
    out: dict[int, list[ExportSignature]] = {}
    for r in records:
        for scope, key in (("form", ("form", r.pk)), ("visit", ("visit", r.visit_id))):
            view = shown.get(key)
            if view is not None:
                out.setdefault(r.pk, []).append(
                    ExportSignature(
                        signer_id=view.signature.signer.get_username(),
                        signer_name=view.signer_name,
                        signed_at=view.signature.signed_at,
                        meaning=view.meaning,
                        scope=scope,
                        valid=view.valid,
                        note="" if view.valid else view.note,
                    )
                )
    return out


def _exposures(people: list[Participant], unblinded: bool) -> list[ExportExposure]:
    """SDTM EX: the dose given (date, weight, final infusion volume: the same in every arm at one
    weight) and, in an unblinded extract only, its dose level (which names the arm). Prepared but
    not given: not exported."""
    numbers = {p.pk: p.participant_number for p in people}
    doses = DoseRecord.objects.filter(participant_id__in=list(numbers), administered_at__isnull=False).order_by(
        "participant_id", "id"
    )
    return [
        ExportExposure(
            subject_id=numbers[d.participant_id],
            administered_on=timezone.localtime(d.administered_at).date(),
            weight_kg=float(d.weight_kg),
            volume_ml=(d.preparation or {}).get("final_volume_ml"),
            dose_level=(d.preparation or {}).get("dose_level") if unblinded else None,
        )
        for d in doses
    ]


def _chunk(people: list[Participant], arms: dict[int, str] | None, include_drafts: bool, tally: Tally) -> ExportData:
    ids = [p.pk for p in people]
    records = list(
        FormRecord.objects.filter(participant_id__in=ids)
        .select_related("visit", "participant")
        .order_by("participant__participant_number", "visit__order", "instrument", "repeat")
    )
    by_participant: dict[int, list[FormRecord]] = {}
    for r in records:
        by_participant.setdefault(r.participant_id, []).append(r)
    subjects = [_subject(p, (arms or {}).get(p.pk), by_participant.get(p.pk, [])) for p in people]
    signed = _signatures_by_form(ids, records)
    forms = []
    for r in records:
        if r.deleted_at is not None:
            tally.deleted_forms += 1
            continue
        if r.status == FormRecord.Status.DRAFT:
            tally.draft_forms += 1
            if not include_drafts:
                continue
        total = (r.scores or {}).get("total")
        forms.append(
            ExportForm(
                subject_id=r.participant.participant_number,
                visit_id=r.visit.visit_id,
                form=instrument_name(r.instrument),
                values=r.data,
                collected_on=r.visit.done_on,
                status=r.status,
                repeat=r.repeat,
                signatures=signed.get(r.pk, []),
                total=total if isinstance(total, (int, float)) and not isinstance(total, bool) else None,
            )
        )
    adverse_events = []
    for ae in (
        AdverseEvent.objects.filter(participant_id__in=ids)
        .select_related("participant")
        .order_by("participant__participant_number", "number")
    ):
        if ae.deleted_at is not None:
            tally.deleted_aes += 1
            continue
        if ae.status == FormRecord.Status.DRAFT:
            tally.draft_aes += 1
            if not include_drafts:
                continue
        adverse_events.append(_adverse_event(ae))
    counts = tally.counts
    counts["subjects"] += len(subjects)
    counts["subjects_with_allocation"] += sum(1 for s in subjects if s.arm_id)
    counts["forms"] += len(forms)
    counts["forms_draft_included"] += sum(1 for f in forms if f.status == FormRecord.Status.DRAFT)
    counts["adverse_events"] += len(adverse_events)
    # SDTM LB: the screening labs as the laboratory reported them (value, unit, ULN).
    labs = [
        lab
        for p in people
        for lab in labs_from_screening_facts(p.participant_number, p.screening.facts or {}, p.screening.screening_date)
    ]
    return ExportData(
        subjects=subjects,
        forms=forms,
        adverse_events=adverse_events,
        exposures=_exposures(people, unblinded=arms is not None),
        labs=labs,
    )


def iter_chunks(
    trial,
    *,
    arms: dict[int, str] | None,
    include_drafts: bool = False,
    tally: Tally | None = None,
    chunk_size: int = CHUNK,
) -> Iterator[ExportData]:
    """The trial's export records a few participants at a time, then its screening records.

    ``arms`` None: blinded (no subject carries an arm). ``tally`` collects counts and exclusions.
    """
    tally = tally if tally is not None else Tally()
    people = (
        Participant.objects.filter(trial=trial)
        .select_related("site", "screening")
        .prefetch_related("screening__consents")
        .order_by("participant_number")
    )
    batch: list[Participant] = []
    for p in people.iterator(chunk_size=chunk_size):
        batch.append(p)
        if len(batch) == chunk_size:
            yield _chunk(batch, arms, include_drafts, tally)
            batch = []
    if batch:
        yield _chunk(batch, arms, include_drafts, tally)
    screenings: list[ExportScreening] = []
    for s in ScreeningRecord.objects.filter(trial=trial).order_by("screening_number").iterator(chunk_size=chunk_size):
        reasons = s.fail_reason_ids() if s.outcome == ScreeningRecord.Outcome.SCREEN_FAILED else []
        screenings.append(ExportScreening(screening_id=s.screening_number, outcome=s.outcome, reasons=reasons))
        if len(screenings) == chunk_size:
            tally.counts["screenings"] += len(screenings)
            yield ExportData(screenings=screenings)
            screenings = []
    if screenings:
        tally.counts["screenings"] += len(screenings)
        yield ExportData(screenings=screenings)


def select(
    trial, *, arms: dict[int, str] | None, include_drafts: bool = False, tally: Tally | None = None
) -> ExportData:
    """The whole trial's export records in one ExportData (small consumers: the safety summary,
    tests). The export job streams ``iter_chunks`` instead (exports.services.run_export)."""
    merged = ExportData()
    for chunk in iter_chunks(trial, arms=arms, include_drafts=include_drafts, tally=tally):
        merged.subjects += chunk.subjects
        merged.forms += chunk.forms
        merged.adverse_events += chunk.adverse_events
        merged.screenings += chunk.screenings
        merged.exposures += chunk.exposures
        merged.labs += chunk.labs
    return merged
