"""Screening API: records, facts, attestations, consent, enrollment and the screening log.

Every endpoint finds its trial through ``accounts.lookups`` (404 no such trial, 403 no role in it)
and calls ``trialkit.server.screening.services``, where the permission at the record's site is checked.
Errors follow the API's one contract (``api_contract``): a ScreeningError answers its status.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.utils import timezone
from ninja import Body, Query, Router, Schema, Status
from pydantic import Field

from trialkit.eligibility import OTHER, facts_schema
from trialkit.server.accounts.lookups import trial_for
from trialkit.server.api_contract import Code, Name, NctId, Number, Pages, RowId, Rows, Text
from trialkit.server.participants.models import ScreeningRecord
from trialkit.server.screening import services
from trialkit.server.trials.models import Trial

router = Router(tags=["screening"])


class CriterionOut(Schema):
    id: str
    type: Literal["inclusion", "exclusion"]
    text: str = Field(description="The registry's text, verbatim.")
    status: Literal["pass", "fail", "unknown"]
    reason: str
    basis: str = Field(description="'rule' or 'attestation'.")
    missing: list[str] = Field(description="Facts that would resolve an unknown status.")


class ConsentOut(Schema):
    id: int
    document_version: str
    language: str
    consent_date: date
    signed_at: datetime | None
    signed_by: str
    signer_name: str
    unable_to_read: bool
    witness_name: str
    snapshot_sha256: str = Field(description="SHA-256 of the signed copy (PDF: .../consents/{id}/pdf).")
    withdrawn_on: date | None
    withdrawal_scope: str


class RecordOut(Schema):
    screening_number: str
    trial: str
    site: str
    screening_date: date
    outcome: str
    verdict: Literal["eligible", "ineligible", "incomplete"]
    facts: dict[str, Any]
    criteria: list[CriterionOut]
    missing: list[str] = Field(description="Every fact that would resolve an unknown criterion.")
    fail_reasons: list[dict[str, Any]]
    consents: list[ConsentOut]
    participant_number: str | None
    can_enroll: bool
    enrollment_blockers: list[str]


class CreateIn(Schema):
    site: Code = Field(description="Site code, e.g. assist-01.")
    screening_date: date | None = Field(None, description="Defaults to today.")


class AttestIn(Schema):
    criterion_id: Code
    value: bool = Field(description="True when the criterion's statement holds for the patient, as written.")


class ConsentIn(Schema):
    consent_date: date
    signed_by: Literal["participant", "legal_guardian", "spouse", "legal_representative"]
    signer_name: Name = ""
    document_version: Code | None = Field(
        None, description="The version in effect on consent_date (protocol consent.documents); defaults to it."
    )
    language: Literal["en", "zh-Hans"] = "en"
    unable_to_read: bool = Field(False, description="The signer cannot read: an impartial witness must sign.")
    witness_name: Name = ""


class ConsentWithdrawIn(Schema):
    withdrawn_on: date
    scope: Literal["no_further_data", "no_further_contact", "samples_destroyed"]
    reason: Text = ""


class ScreenFailIn(Schema):
    reasons: list[Text] = Field(
        default_factory=list, max_length=100, description="Defaults to the failing criteria and their reasons."
    )


class WithdrawIn(Schema):
    reason: Text


class ParticipantOut(Schema):
    participant_number: str
    screening_number: str
    site: str
    status: str
    enrolled_at: datetime


class LogRowOut(Schema):
    screening_number: str
    site: str
    screening_date: date
    outcome: str
    verdict: str
    fail_reasons: list[dict[str, Any]]
    participant_number: str | None


class LogOut(Schema):
    """A page of the log (``count``, ``limit``, ``offset``, ``items`` as every list of the API) with
    the counts of the whole log."""

    trial: str
    counts: dict[str, int] = Field(description="Records per outcome (the whole log).")
    screen_fail_reasons: list[tuple[str, int]] = Field(description="(criterion id or reason, records), most first.")
    count: int = Field(description="Records in all pages (with the outcome filter).")
    limit: int
    offset: int
    items: list[LogRowOut]


def _trial(request, nct_id: str) -> Trial:
    """The trial if the caller holds a role in it (``accounts.lookups``: 404, then 403); the services
    then ask each endpoint's permission at the record's site."""
    return trial_for(request.auth, nct_id)[0]


def record_out(record: ScreeningRecord) -> dict[str, Any]:
    blockers = services.enrollment_blockers(record)
    missing: list[str] = []
    for c in record.criteria_results:
        missing += [m for m in c.get("missing", []) if m not in missing]
    return {
        "screening_number": record.screening_number,
        "trial": record.trial.nct_id,
        "site": record.site.code,
        "screening_date": record.screening_date,
        "outcome": record.outcome,
        "verdict": record.verdict,
        "facts": record.facts,
        "criteria": record.criteria_results,
        "missing": missing,
        "fail_reasons": record.fail_reasons,
        "consents": list(record.consents.order_by("consent_date", "id")),
        "participant_number": services._participant_number(record),
        "can_enroll": not blockers,
        "enrollment_blockers": blockers,
    }


@router.get("/facts-schema", response=dict[str, Any], summary="JSON schema of the screening facts record")
def get_facts_schema(request):
    return facts_schema()


class ConditionVocabularyOut(Schema):
    trial: str
    screened: list[str] = Field(description="Condition names the eligibility rules screen on.")
    terms: list[str] = Field(description="Other medical history the trial records (not screened on).")
    synonyms: dict[str, str] = Field(description="Another way to write a name -> the listed name it stands for.")
    other: str = Field(description="The name for a condition outside the list; needs a description.")


@router.get(
    "/{nct_id}/condition-vocabulary",
    response={200: ConditionVocabularyOut},
    summary="The condition names a screening record of this trial may use",
)
def get_condition_vocabulary(request, nct_id: NctId):
    """Names are read lower case, with spaces and hyphens as underscores; any other name is refused (422)."""
    vocabulary = _trial(request, nct_id).protocol.condition_vocabulary
    return {
        "trial": nct_id,
        "screened": list(vocabulary.screened),
        "terms": [name for name in vocabulary.names if name not in vocabulary.screened],
        "synonyms": dict(vocabulary.synonyms),
        "other": OTHER,
    }


@router.post("/{nct_id}/records", response={201: RecordOut}, summary="Create a screening record")
def create_record(request, nct_id: NctId, payload: CreateIn):
    """Coordinators and investigators at the site. The number is ``<SITE>-S0001``, next at the site."""
    trial = _trial(request, nct_id)
    site = trial.sites.filter(code=payload.site).first()
    if site is None:
        raise services.ScreeningError(
            f"site: no site {payload.site!r} in {nct_id}",
            [services.FieldProblem("site", "exists", f"no site {payload.site!r}")],
            422,
        )
    record = services.create_screening(trial, site, request.auth, payload.screening_date or timezone.localdate())
    return Status(201, record_out(record))


@router.get("/{nct_id}/records", response={200: LogOut}, summary="The screening log")
def screening_log(request, nct_id: NctId, page: Query[Pages.Input], outcome: Code | None = None):
    """Every screened candidate at the caller's sites, with outcome, verdict and screen-fail reasons,
    by site and number, a page at a time."""
    trial = _trial(request, nct_id)
    log = services.screening_log(request.auth, trial, outcome=outcome or None)
    rows = Pages().paginate_queryset(
        Rows(log.records, show=lambda r: services.log_row(r).__dict__), pagination=page, request=request
    )
    return {"trial": nct_id, "counts": log.counts, "screen_fail_reasons": log.reason_counts, **rows}


@router.get("/{nct_id}/records/{number}", response={200: RecordOut}, summary="One screening record")
def get_record(request, nct_id: NctId, number: Number):
    return record_out(services.read_record(request.auth, _trial(request, nct_id), number))


@router.patch(
    "/{nct_id}/records/{number}/facts", response={200: RecordOut}, summary="Change screening facts (JSON merge patch)"
)
def patch_facts(request, nct_id: NctId, number: Number, patch: dict[str, Any] = Body(...), reason: Text | None = None):
    """Merge the patch into the facts (null removes a key), validate, re-screen. Bad input: 422, nothing saved.

    The body follows the schema at ``/api/screening/facts-schema``; condition names come from
    ``/api/screening/{nct_id}/condition-vocabulary``. ``id``, ``screening_date`` and ``attestations``
    are the record's own and cannot be patched.
    """
    record = services.get_record(_trial(request, nct_id), number)
    return record_out(services.update_facts(record, patch, request.auth, reason=reason))


@router.post(
    "/{nct_id}/records/{number}/attestations", response={200: RecordOut}, summary="Attest a criterion (investigators)"
)
def attest(request, nct_id: NctId, number: Number, payload: AttestIn):
    record = services.get_record(_trial(request, nct_id), number)
    services.record_attestation(record, payload.criterion_id, payload.value, request.auth, now=timezone.now())
    return record_out(services.get_record(record.trial, number))


@router.post("/{nct_id}/records/{number}/consent", response={201: ConsentOut}, summary="Record informed consent")
def consent(request, nct_id: NctId, number: Number, payload: ConsentIn):
    record = services.get_record(_trial(request, nct_id), number)
    created = services.record_consent(
        record,
        payload.consent_date,
        payload.signed_by,
        request.auth,
        today=timezone.localdate(),
        signer_name=payload.signer_name,
        document_version=payload.document_version,
        language=payload.language,
        unable_to_read=payload.unable_to_read,
        witness_name=payload.witness_name,
    )
    return Status(201, created)


@router.post(
    "/{nct_id}/records/{number}/consent/withdraw",
    response={200: ConsentOut},
    summary="Record a withdrawal of consent (does not end the participation)",
)
def consent_withdraw(request, nct_id: NctId, number: Number, payload: ConsentWithdrawIn):
    record = services.get_record(_trial(request, nct_id), number)
    withdrawn = services.withdraw_consent(
        record,
        request.auth,
        withdrawn_on=payload.withdrawn_on,
        scope=payload.scope,
        reason=payload.reason,
        today=timezone.localdate(),
    )
    return withdrawn


@router.get(
    "/{nct_id}/consents/{consent_id}/pdf",
    response={200: None},
    summary="The signed copy of a consent (PDF; site staff of its site only)",
)
def consent_pdf(request, nct_id: NctId, consent_id: RowId):
    from django.http import HttpResponse

    consent, data = services.consent_snapshot(request.auth, _trial(request, nct_id), consent_id)
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="consent-{consent.pk}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


@router.post(
    "/{nct_id}/records/{number}/screen-fail", response={200: RecordOut}, summary="Close the record as a screen failure"
)
def screen_fail(request, nct_id: NctId, number: Number, payload: ScreenFailIn):
    record = services.get_record(_trial(request, nct_id), number)
    return record_out(services.mark_screen_failed(record, request.auth, payload.reasons or None))


@router.post(
    "/{nct_id}/records/{number}/withdraw", response={200: RecordOut}, summary="The candidate withdrew before enrollment"
)
def withdraw(request, nct_id: NctId, number: Number, payload: WithdrawIn):
    record = services.get_record(_trial(request, nct_id), number)
    return record_out(services.withdraw(record, request.auth, timezone.localdate(), payload.reason))


@router.post(
    "/{nct_id}/records/{number}/enroll",
    response={201: ParticipantOut},
    summary="Enroll an eligible, consented candidate",
)
def enroll(request, nct_id: NctId, number: Number):
    """Allowed when the verdict is eligible and a current consent exists; the participant awaits randomization."""
    record = services.get_record(_trial(request, nct_id), number)
    participant = services.enroll(record, request.auth, timezone.now())
    return Status(
        201,
        {
            "participant_number": participant.participant_number,
            "screening_number": number,
            "site": record.site.code,
            "status": participant.status,
            "enrolled_at": participant.enrolled_at,
        },
    )
