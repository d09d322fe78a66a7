"""Screening workflows: create a record, enter facts, attest, consent, screen-fail, withdraw, enroll.

Web views and API endpoints call these functions and nothing else writes screening data. Each runs in
one transaction, checks the actor's role and site, writes an audit event for every change in that same
transaction, and raises ``ScreeningError`` (or ``PermissionDenied``) when the step is not allowed.
The eligibility rules come from ``trialkit.eligibility``; nothing here decides a criterion.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext as _

from trialkit.eligibility import FactsError, parse_facts, screen
from trialkit.eligibility.measures import nihss_partial
from trialkit.protocol.schema import CONSENT_LANGUAGES
from trialkit.server.accounts.access import access_for, require
from trialkit.server.audit.context import audited_service
from trialkit.server.audit.service import record_event
from trialkit.server.participants import consent as consent_rules
from trialkit.server.participants import snapshot
from trialkit.server.participants.models import Attestation, Consent, Participant, ScreeningRecord
from trialkit.server.trials.models import Site, Trial

# Who works a screening record (screening.work), attests (screening.attest: the investigator's
# judgement alone), reads a record's facts (screening.view_record) or the log (screening.view_log:
# the sponsor sees counts and reasons, not the facts of a record): accounts.permissions.

# Facts the record itself owns: the screening number and date are the record's, attestations are
# written by record_attestation so that only investigators can give them.
READ_ONLY_FACTS = {
    "id": "the screening number is the record's",
    "screening_date": "set when the record is created",
    "attestations": "recorded one by one by an investigator (attest)",
    "nihss_total": "derived from the NIHSS items",
}
# Stored beside the facts for later stages (randomization strata read ``nihss_total``); never entered.
DERIVED_FACTS = ("nihss_total",)


@dataclass
class FieldProblem:
    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class ScreeningError(Exception):
    """A screening step that is not allowed, or input that cannot be accepted.

    ``status`` is the HTTP status the API answers with: 422 for bad input (``errors`` names the fields),
    409 for a step the record's state does not allow, 404 for a record that does not exist.
    """

    def __init__(self, message: str, errors: list[FieldProblem] | None = None, status: int = 409):
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.status = status

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        return body


def _invalid(field_name: str, rule: str, message: str) -> ScreeningError:
    return ScreeningError(f"{field_name}: {message}", [FieldProblem(field_name, rule, message)], status=422)


# --------------------------------------------------------------------------- reading


def site_code(site: Site) -> str:
    return site.code.upper()


def get_record(trial: Trial, number: str) -> ScreeningRecord:
    record = (
        ScreeningRecord.objects.select_related("trial", "site").filter(trial=trial, screening_number=number).first()
    )
    if record is None:
        raise ScreeningError(
            _("no screening record %(number)s in %(trial)s") % {"number": number, "trial": trial.nct_id}, status=404
        )
    return record


def current_consent(record: ScreeningRecord) -> Consent | None:
    return record.consents.filter(withdrawn_on__isnull=True).order_by("-consent_date", "-id").first()


def attestable_criteria(protocol) -> list[str]:
    """Criteria an investigator answers: those without a rule and those whose rule asks for an attestation."""
    return [c.id for c in protocol.eligibility.criteria if c.rule is None or _mentions_attestation(c.rule)]


def _mentions_attestation(rule: Any) -> bool:
    if hasattr(rule, "model_dump"):
        rule = rule.model_dump(exclude_none=True)
    if isinstance(rule, dict):
        return "attestation" in rule or any(_mentions_attestation(v) for v in rule.values())
    if isinstance(rule, list):
        return any(_mentions_attestation(v) for v in rule)
    return False


def can_read_record(user, record: ScreeningRecord) -> bool:
    access = access_for(user, record.trial)
    return access.can("screening.view_record", record.site_id)


def can_edit(user, record: ScreeningRecord) -> bool:
    access = access_for(user, record.trial)
    return access.can("screening.work", record.site_id)


def can_attest(user, record: ScreeningRecord) -> bool:
    access = access_for(user, record.trial)
    return access.can("screening.attest", record.site_id)


def read_record(user, trial: Trial, number: str) -> ScreeningRecord:
    """The record if the user may see its facts (site staff, monitor, data manager of that site)."""
    record = get_record(trial, number)
    require(user, trial, "screening.view_record", site_id=record.site_id)
    return record


def enrollment_blockers(record: ScreeningRecord) -> list[str]:
    """Why the record cannot be enrolled now; empty when it can."""
    if record.outcome == ScreeningRecord.Outcome.ENROLLED:
        return [_("already enrolled")]
    if record.outcome != ScreeningRecord.Outcome.IN_SCREENING:
        return [_("the record is closed (%(outcome)s)") % {"outcome": record.get_outcome_display().lower()}]
    blockers = []
    if record.verdict != ScreeningRecord.Verdict.ELIGIBLE:
        failing = [c["id"] for c in record.criteria_results if c["status"] == "fail"]
        unknown = [c["id"] for c in record.criteria_results if c["status"] == "unknown"]
        if failing:
            blockers.append(_("not eligible: fails %(criteria)s") % {"criteria": ", ".join(failing)})
        if unknown:
            blockers.append(_("eligibility not yet decided: %(criteria)s") % {"criteria": ", ".join(unknown)})
    if current_consent(record) is None:
        blockers.append(_("no informed consent recorded"))
    return blockers


# --------------------------------------------------------------------------- evaluation


def _evaluate(record: ScreeningRecord, facts: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    entered = {key: value for key, value in facts.items() if key not in DERIVED_FACTS}
    # Stored facts were checked against the vocabulary when entered. Should the protocol's vocabulary
    # have changed since, a name it no longer lists leaves the condition criteria unknown (and blocks
    # enrollment) rather than failing the step.
    result = screen(record.trial.protocol, parse_facts(entered), today=record.screening_date)
    criteria = [c.model_dump(mode="json") for c in result.criteria]
    return result.verdict, criteria


def _normalized(record: ScreeningRecord, facts: dict[str, Any], check_vocabulary: bool = True) -> dict[str, Any]:
    """Validate ``facts`` (FactsError names the field) and return them as stored.

    Condition names are checked against the trial's condition vocabulary and stored as the listed
    name a synonym stands for.
    """
    facts = {key: value for key, value in facts.items() if key not in DERIVED_FACTS}
    facts.update(id=record.screening_number, screening_date=record.screening_date.isoformat())
    parsed = parse_facts(facts, record.trial.protocol.condition_vocabulary if check_vocabulary else None)
    stored = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    if parsed.nihss:
        total = nihss_partial(dict(parsed.nihss)).total
        if total is not None:
            stored["nihss_total"] = total
    return stored


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): objects merge key by key, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


_RULES = (
    ("not in the condition vocabulary", "condition_vocabulary"),
    ("not in the laboratory vocabulary", "lab_vocabulary"),
    ("not in the serology vocabulary", "serology_vocabulary"),
    ("not a plausible upper limit of normal", "plausibility"),
    ("needs a description", "required"),
    ("Extra inputs are not permitted", "unknown_field"),
    ("not allowed", "allowed_values"),
    ("unit", "unit"),
    ("is after", "date_order"),
    ("disagrees", "consistency"),
    ("valid date", "date"),
    ("valid integer", "integer"),
    ("valid number", "number"),
    ("enter a number", "number"),
    ("should match pattern", "pattern"),
    ("greater than", "range"),
    ("less than", "range"),
    ("Input should be", "type"),
)


def _facts_problems(exc: FactsError) -> list[FieldProblem]:
    problems = []
    for path, message in exc.errors:
        if re.fullmatch(r"labs\.[^.]+\.(value|uln)", path) and "valid integer" in message:
            # The field takes any number; pydantic reports the first member of int | float.
            message = "enter a number (e.g. 4.1)"
        rule = next((name for needle, name in _RULES if needle in message), "invalid")
        problems.append(FieldProblem(_refine_path(path, message), rule, message))
    return problems


def _refine_path(path: str, message: str) -> str:
    # Validators on a whole mapping report the item inside the message ("item 5a: ...", "ast: ...").
    if path == "nihss" and (m := re.match(r"item (\w+):", message)):
        return f"nihss.{m.group(1)}"
    if path == "labs" and (m := re.match(r"(\w+):", message)):
        return f"labs.{m.group(1)}.unit"
    return path or "facts"


def _require_open(record: ScreeningRecord) -> None:
    if record.outcome != ScreeningRecord.Outcome.IN_SCREENING:
        raise ScreeningError(
            _("screening record %(number)s is closed (%(outcome)s)")
            % {"number": record.screening_number, "outcome": record.get_outcome_display().lower()}
        )


def _lock(record: ScreeningRecord) -> ScreeningRecord:
    # Re-read under a row lock so two saves of one record apply one after the other.
    return ScreeningRecord.objects.select_for_update().select_related("trial", "site").get(pk=record.pk)


def _audit(
    actor,
    action: str,
    record: ScreeningRecord,
    before=None,
    after=None,
    reason: str = "",
    object_type: str = "screening_record",
    object_id: str | None = None,
    participant_id=None,
) -> None:
    record_event(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id or record.screening_number,
        before=before,
        after=after,
        reason=reason or "",
        trial_id=record.trial_id,
        site_id=record.site_id,
        participant_id=participant_id,
    )


# --------------------------------------------------------------------------- workflows


@transaction.atomic
def create_screening(trial: Trial, site: Site, actor, screening_date: date) -> ScreeningRecord:
    """A new record for a candidate at ``site``, numbered ``<SITE>-S0001`` on from the site's last one."""
    if site.trial_id != trial.id:
        raise _invalid(
            "site",
            "trial_site",
            _("site %(site)s is not a site of %(trial)s") % {"site": site.code, "trial": trial.nct_id},
        )
    require(actor, trial, "screening.work", site_id=site.id)
    # The site row lock serializes numbering at one site on PostgreSQL; SQLite write transactions
    # already hold the database lock (BEGIN IMMEDIATE).
    Site.objects.select_for_update().get(pk=site.pk)
    prefix = f"{site_code(site)}-S"
    for _attempt in range(5):
        number = f"{prefix}{_next_serial(ScreeningRecord.objects.filter(trial=trial), 'screening_number', prefix):04d}"
        try:
            with transaction.atomic():
                record = ScreeningRecord(
                    trial=trial, site=site, screening_number=number, screening_date=screening_date, created_by=actor
                )
                facts = _normalized(record, {})
                record.facts = facts
                record.verdict, record.criteria_results = _evaluate(record, facts)
                record.save()
            break
        except IntegrityError:
            continue
    else:  # pragma: no cover - five collisions in a row means something else is wrong
        raise ScreeningError(_("could not allocate a screening number; try again"))
    _audit(
        actor,
        "screening_create",
        record,
        after={
            "screening_number": number,
            "site": site.code,
            "screening_date": screening_date,
            "verdict": record.verdict,
        },
    )
    return record


def _next_serial(queryset, field_name: str, prefix: str) -> int:
    """One more than the highest ``<prefix><digits>`` number, read with one MAX per length.

    Numbers are zero-padded to four digits and grow longer past 9999, so among numbers of one length
    the text order is the numeric order: the database gives the highest of each length (an index on
    the number serves it), and only those few are compared here, never every number of the site."""
    numbered = queryset.filter(**{f"{field_name}__regex": rf"^{re.escape(prefix)}[0-9]+$"})
    highest = 0
    lengths = numbered.annotate(_n=Length(field_name)).values("_n").annotate(top=Max(field_name)).order_by()
    for row in lengths:
        highest = max(highest, int(row["top"][len(prefix) :]))
    return highest + 1


@audited_service
@transaction.atomic
def update_facts(
    record: ScreeningRecord, facts_patch: dict[str, Any], actor, reason: str | None = None
) -> ScreeningRecord:
    """Apply a JSON merge patch to the facts, validate, re-screen and store. A rejected patch changes nothing."""
    require(actor, record.trial, "screening.work", site_id=record.site_id)
    record = _lock(record)
    _require_open(record)
    if not isinstance(facts_patch, dict):
        raise _invalid("facts", "type", _("the facts patch must be a JSON object"))
    for key, why in READ_ONLY_FACTS.items():
        if key in facts_patch:
            raise _invalid(key, "read_only", f"cannot be changed here: {why}")
    merged = merge_patch(record.facts, facts_patch)
    try:
        facts = _normalized(record, merged)
    except FactsError as exc:
        problems = _facts_problems(exc)
        raise ScreeningError(
            _("the facts were not saved: %(problems)s")
            % {"problems": "; ".join(f"{p.field}: {p.message}" for p in problems)},
            problems,
            status=422,
        ) from None
    changed = sorted(k for k in set(facts) | set(record.facts) if facts.get(k) != record.facts.get(k))
    verdict, criteria = _evaluate(record, facts)
    if not changed:
        return record
    before = {"facts": {k: record.facts.get(k) for k in changed}, "verdict": record.verdict}
    record.facts, record.verdict, record.criteria_results = facts, verdict, criteria
    record.save(update_fields=["facts", "verdict", "criteria_results", "updated_at"])
    _audit(
        actor,
        "screening_facts_update",
        record,
        before=before,
        after={"facts": {k: facts.get(k) for k in changed}, "verdict": verdict},
        reason=reason or "",
    )
    return record


@transaction.atomic
def record_attestation(
    record: ScreeningRecord, criterion_id: str, value: bool, actor, now: datetime | None = None
) -> Attestation:
    """An investigator's answer to a criterion as written: true if its statement holds for the patient."""
    require(actor, record.trial, "screening.attest", site_id=record.site_id)
    record = _lock(record)
    _require_open(record)
    if criterion_id not in attestable_criteria(record.trial.protocol):
        raise _invalid(
            "criterion_id",
            "attestable",
            _("%(criterion)s is not a criterion of %(trial)s that takes an attestation")
            % {"criterion": repr(criterion_id), "trial": record.trial.nct_id},
        )
    if not isinstance(value, bool):
        raise _invalid("value", "type", _("an attestation is true or false"))
    now = now or timezone.now()
    previous = Attestation.objects.filter(screening=record, criterion_id=criterion_id).first()
    before = {"criterion_id": criterion_id, "value": previous.value} if previous else None
    attestation, _created = Attestation.objects.update_or_create(
        screening=record,
        criterion_id=criterion_id,
        defaults={"value": value, "attested_by": actor, "attested_at": now},
    )
    facts = copy.deepcopy(record.facts)
    facts.setdefault("attestations", {})[criterion_id] = {
        "answer": value,
        "by": actor.get_full_name() or actor.get_username(),
        "at": now.date().isoformat(),
    }
    # An attestation changes no condition, so the stored history is not checked again here.
    record.facts = _normalized(record, facts, check_vocabulary=False)
    old_verdict = record.verdict
    record.verdict, record.criteria_results = _evaluate(record, record.facts)
    record.save(update_fields=["facts", "verdict", "criteria_results", "updated_at"])
    _audit(
        actor,
        "screening_attest",
        record,
        before={**(before or {}), "verdict": old_verdict},
        after={"criterion_id": criterion_id, "value": value, "verdict": record.verdict},
    )
    return attestation


def _signer_label(signed_by: str) -> str:
    """The signer's role in the reader's language, lower case ("legal guardian")."""
    try:
        return str(Consent.Signer(signed_by).label).lower()
    except ValueError:
        return signed_by.replace("_", " ")


NAME_MAX = 200
REASON_MAX = 2000


def _text(field_name: str, value: Any, limit: int, required: str | None = None) -> str:
    """A short text field: a string, no NUL or control character, at most ``limit`` characters."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _invalid(field_name, "type", _("must be text"))
    value = value.strip()
    if "\x00" in value or any(ord(c) < 32 and c not in "\n\r\t" for c in value):
        raise _invalid(field_name, "no_control_characters", _("must not contain NUL or other control characters"))
    if len(value) > limit:
        raise _invalid(
            field_name,
            "max_length",
            _("at most %(limit)s characters (got %(got)s)") % {"limit": limit, "got": len(value)},
        )
    if required and not value:
        raise _invalid(field_name, "required", required)
    return value


def _require_consentable(record: ScreeningRecord) -> Participant | None:
    """Consent is taken in screening, and again (re-consent) from an enrolled participant whose
    participation has not ended; returns the participant, if any."""
    if record.outcome == ScreeningRecord.Outcome.IN_SCREENING:
        return None
    participant = Participant.objects.filter(screening=record).first()
    if record.outcome == ScreeningRecord.Outcome.ENROLLED and participant is not None and not participant.has_ended:
        return participant
    if participant is not None and participant.has_ended:
        raise ScreeningError(
            _("participant %(number)s's participation has ended; no consent is taken any more")
            % {"number": participant.participant_number}
        )
    _require_open(record)
    return None


def consent_document_for(record: ScreeningRecord, version: str | None, language: str, on: date):
    """The protocol's document a consent signed on ``on`` must be: the version in effect that day, in
    ``language``. A version not listed, not yet approved on that day, or already superseded is refused
    (ICH E6(R3) 2.8.1(a): only the version the ethics committee approved is used)."""
    rules = record.trial.protocol.consent
    if language not in CONSENT_LANGUAGES:
        raise _invalid(
            "language",
            "allowed_values",
            _("%(value)s; allowed: %(allowed)s") % {"value": repr(language), "allowed": ", ".join(CONSENT_LANGUAGES)},
        )
    in_effect = rules.in_effect(on)
    if version:
        if rules.version_index(version) < 0:
            raise _invalid(
                "document_version",
                "known_version",
                _("%(version)s is not a consent version of %(trial)s; versions: %(versions)s")
                % {"version": repr(version), "trial": record.trial.short_name, "versions": ", ".join(rules.versions)},
            )
        first = rules.for_version(version)[0]
        if first.approved_on > on:
            raise _invalid(
                "document_version",
                "approved",
                _("version %(version)s was not approved by the ethics committee until %(date)s")
                % {"version": version, "date": first.approved_on},
            )
        if version != in_effect:
            raise _invalid(
                "document_version",
                "in_effect",
                _(
                    "version %(version)s was superseded by version %(current)s on %(date)s; "
                    "the participant signs version %(current)s"
                )
                % {"version": version, "current": in_effect, "date": rules.for_version(in_effect)[0].approved_on},
            )
    elif in_effect is None:
        raise _invalid(
            "consent_date",
            "approved",
            _("no consent version of %(trial)s was approved by %(date)s (the first: %(first)s)")
            % {"trial": record.trial.short_name, "date": on, "first": rules.documents[0].approved_on},
        )
    version = version or in_effect
    document = rules.document(version, language)
    if document is None:
        have = ", ".join(d.language for d in rules.for_version(version))
        raise _invalid(
            "language",
            "available",
            _("version %(version)s is not available in %(language)s (only %(have)s)")
            % {"version": version, "language": repr(language), "have": have},
        )
    return document


@audited_service
@transaction.atomic
def record_consent(
    record: ScreeningRecord,
    consent_date: date,
    signed_by: str,
    actor,
    today: date,
    signer_name: str = "",
    document_version: str | None = None,
    *,
    language: str = "en",
    witness_name: str = "",
    unable_to_read: bool = False,
    signed_at: datetime | None = None,
) -> Consent:
    """Informed consent to one version of the consent document, in one language: who signed, the
    witness where one is required, the time of signature, and a PDF of exactly what was signed.

    The version defaults to the one in effect on ``consent_date`` (``protocol.consent``); the signer
    must be one that version allows. The same workflow takes a re-consent from an enrolled participant
    after an amendment. Nothing is written when a rule refuses it."""
    require(actor, record.trial, "screening.work", site_id=record.site_id)
    record = _lock(record)
    participant = _require_consentable(record)
    if not isinstance(consent_date, date) or isinstance(consent_date, datetime):
        raise _invalid("consent_date", "type", _("must be a date"))
    if consent_date > today:
        raise _invalid("consent_date", "not_future", _("%(date)s is in the future") % {"date": consent_date})
    if signed_at is not None and timezone.localtime(signed_at).date() > today:
        raise _invalid("signed_at", "not_future", _("%(date)s is in the future") % {"date": signed_at.isoformat()})
    if not isinstance(unable_to_read, bool):
        raise _invalid("unable_to_read", "type", _("must be true or false"))
    signer_name = _text("signer_name", signer_name, NAME_MAX)
    witness_name = _text("witness_name", witness_name, NAME_MAX)
    document_version = _text("document_version", document_version, 32)
    document = consent_document_for(record, document_version or None, language, consent_date)
    if signed_by not in document.signers:
        raise _invalid(
            "signed_by",
            "allowed_values",
            _("%(signer)s may not sign version %(version)s for %(trial)s; allowed: %(allowed)s")
            % {
                "signer": repr(signed_by),
                "version": document.version,
                "trial": record.trial.short_name,
                "allowed": ", ".join(document.signers),
            },
        )
    if signed_by != Consent.Signer.PARTICIPANT and not signer_name:
        raise _invalid(
            "signer_name", "required", _("name the %(signer)s who signed") % {"signer": _signer_label(signed_by)}
        )
    # ICH E6(R3) 2.8.7; China GCP 2020 Art. 23(6): an impartial witness attends and signs when the
    # participant or the representative cannot read.
    if document.witness == "always" or (document.witness == "if_unable_to_read" and unable_to_read):
        if not witness_name:
            if document.witness == "always":
                why = _("an impartial witness must sign: this version")
            else:
                why = _("an impartial witness must sign: the signer cannot read")
            raise _invalid("witness_name", "required", why)
        if witness_name.casefold() == signer_name.casefold():
            raise _invalid("witness_name", "impartial", _("the witness is someone other than the signer"))
    signed_at = signed_at or timezone.now()
    previous = consent_rules.highest_signed(record)[1] if participant is not None else ""
    consent = Consent.objects.create(
        screening=record,
        document_version=document.version,
        language=document.language,
        consent_date=consent_date,
        signed_at=signed_at,
        signed_by=signed_by,
        signer_name=signer_name,
        unable_to_read=unable_to_read,
        witness_name=witness_name,
        recorded_by=actor,
    )
    consent.snapshot_path, consent.snapshot_sha256 = snapshot.store(consent, document)
    consent.save(update_fields=["snapshot_path", "snapshot_sha256"])
    _audit(
        actor,
        "consent_reconsent" if participant is not None else "consent_record",
        record,
        object_type="consent",
        object_id=str(consent.pk),
        participant_id=participant.pk if participant is not None else None,
        after={
            "screening_number": record.screening_number,
            "document_version": document.version,
            "language": document.language,
            "consent_date": consent_date,
            "signed_at": signed_at,
            "signed_by": signed_by,
            "signer_name": signer_name,
            "unable_to_read": unable_to_read,
            "witness_name": witness_name,
            "snapshot_sha256": consent.snapshot_sha256,
            **({"previous_version": previous} if participant is not None else {}),
        },
    )
    return consent


@audited_service
@transaction.atomic
def withdraw_consent(
    record: ScreeningRecord,
    actor,
    *,
    withdrawn_on: date,
    scope: str,
    today: date,
    reason: str = "",
    now: datetime | None = None,
) -> Consent:
    """The person withdraws consent, with its scope. Further data entry is blocked
    (``participants.consent``); the participant's end of participation is NOT recorded here: it stays
    its own workflow (``capture.services.end_participation``), and data already collected stay."""
    require(actor, record.trial, "screening.work", site_id=record.site_id)
    record = _lock(record)
    if scope not in Consent.WithdrawalScope.values:
        raise _invalid(
            "scope",
            "allowed_values",
            _("%(value)s; allowed: %(allowed)s")
            % {"value": repr(scope), "allowed": ", ".join(Consent.WithdrawalScope.values)},
        )
    if not isinstance(withdrawn_on, date) or isinstance(withdrawn_on, datetime):
        raise _invalid("withdrawn_on", "type", _("must be a date"))
    if withdrawn_on > today:
        raise _invalid("withdrawn_on", "not_future", _("%(date)s is in the future") % {"date": withdrawn_on})
    reason = _text("reason", reason, REASON_MAX)
    in_force = list(record.consents.select_for_update().filter(withdrawn_on__isnull=True).order_by("pk"))
    if not in_force:
        raise ScreeningError(_("%(number)s has no consent in force to withdraw") % {"number": record.screening_number})
    latest = max(in_force, key=lambda c: (c.consent_date, c.pk))
    if withdrawn_on < latest.consent_date:
        raise _invalid(
            "withdrawn_on",
            "after_consent",
            _("%(date)s is before the consent of %(consent)s") % {"date": withdrawn_on, "consent": latest.consent_date},
        )
    now = now or timezone.now()
    for consent in in_force:  # saved one by one so that each change is a row event
        consent.withdrawn_on = withdrawn_on
        consent.withdrawal_scope = scope
        consent.withdrawal_reason = reason
        consent.withdrawal_recorded_by = actor
        consent.withdrawal_recorded_at = now
        consent.save(
            update_fields=[
                "withdrawn_on",
                "withdrawal_scope",
                "withdrawal_reason",
                "withdrawal_recorded_by",
                "withdrawal_recorded_at",
            ]
        )
    participant = Participant.objects.filter(screening=record).first()
    _audit(
        actor,
        "consent_withdraw",
        record,
        object_type="consent",
        object_id=str(latest.pk),
        participant_id=participant.pk if participant else None,
        before={"withdrawn_on": None},
        after={"withdrawn_on": withdrawn_on, "scope": scope, "consents": [c.pk for c in in_force]},
        reason=reason,
    )
    return latest


def consent_snapshot(user, trial: Trial, consent_id: int) -> tuple[Consent, bytes]:
    """The PDF of a signed consent, for the site staff of the consent's site only (screening.work:
    coordinators and investigators there): it carries names of the participant's family."""
    consent = (
        Consent.objects.select_related("screening", "screening__site")
        .filter(pk=consent_id, screening__trial=trial)
        .first()
    )
    if consent is None:
        raise ScreeningError(
            _("no consent %(id)s in %(trial)s") % {"id": consent_id, "trial": trial.nct_id}, status=404
        )
    require(user, trial, "screening.work", site_id=consent.screening.site_id)
    if not consent.snapshot_path:
        raise ScreeningError(_("consent %(id)s was recorded without a PDF snapshot") % {"id": consent_id}, status=404)
    return consent, snapshot.open_snapshot(consent)


@transaction.atomic
def mark_screen_failed(record: ScreeningRecord, actor, reasons: list[str] | None = None) -> ScreeningRecord:
    """Close the record as a screen failure; the reasons default to the failing criteria."""
    require(actor, record.trial, "screening.work", site_id=record.site_id)
    record = _lock(record)
    _require_open(record)
    given = [r.strip() for r in (reasons or []) if r and r.strip()]
    if given:
        fail_reasons = [{"criterion_id": None, "reason": r} for r in given]
    else:
        fail_reasons = [
            {"criterion_id": c["id"], "reason": c["reason"]} for c in record.criteria_results if c["status"] == "fail"
        ]
    if not fail_reasons:
        raise _invalid("reasons", "required", _("no criterion fails; give the reason for the screen failure"))
    before = {"outcome": record.outcome}
    record.outcome, record.fail_reasons = ScreeningRecord.Outcome.SCREEN_FAILED, fail_reasons
    record.save(update_fields=["outcome", "fail_reasons", "updated_at"])
    _audit(
        actor, "screening_fail", record, before=before, after={"outcome": record.outcome, "fail_reasons": fail_reasons}
    )
    return record


@audited_service
@transaction.atomic
def withdraw(record: ScreeningRecord, actor, today: date, reason: str) -> ScreeningRecord:
    """The candidate withdraws before enrollment: the record closes and any consent is marked withdrawn."""
    require(actor, record.trial, "screening.work", site_id=record.site_id)
    record = _lock(record)
    _require_open(record)
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", "required", _("say why the candidate withdrew"))
    withdrawn = []
    for consent in record.consents.filter(withdrawn_on__isnull=True).order_by("pk"):
        consent.withdrawn_on = today
        consent.save(update_fields=["withdrawn_on"])  # saved one by one so each change is audited
        withdrawn.append(consent.pk)
    before = {"outcome": record.outcome}
    record.outcome = ScreeningRecord.Outcome.WITHDRAWN
    record.fail_reasons = [{"criterion_id": None, "reason": f"withdrew before enrollment: {reason}"}]
    record.save(update_fields=["outcome", "fail_reasons", "updated_at"])
    _audit(
        actor,
        "screening_withdraw",
        record,
        before=before,
        after={"outcome": record.outcome, "consents_withdrawn": withdrawn, "withdrawn_on": today},
        reason=reason,
    )
    return record


@transaction.atomic
def enroll(record: ScreeningRecord, actor, now: datetime) -> Participant:
    """Enroll an eligible, consented candidate: a participant ``<SITE>-001`` ready for randomization."""
    require(actor, record.trial, "screening.work", site_id=record.site_id)
    record = _lock(record)
    # Screen again from the stored facts so the decision rests on the rules as they are now.
    record.verdict, record.criteria_results = _evaluate(record, record.facts)
    blockers = enrollment_blockers(record)
    if blockers:
        raise ScreeningError(_("cannot enroll: %(blockers)s") % {"blockers": "; ".join(blockers)})
    Site.objects.select_for_update().get(pk=record.site_id)
    prefix = f"{site_code(record.site)}-"
    serial = _next_serial(Participant.objects.filter(trial=record.trial), "participant_number", prefix)
    participant = Participant.objects.create(
        trial=record.trial,
        site=record.site,
        screening=record,
        participant_number=f"{prefix}{serial:03d}",
        enrolled_at=now,
    )
    record.outcome = ScreeningRecord.Outcome.ENROLLED
    record.save(update_fields=["outcome", "verdict", "criteria_results", "updated_at"])
    consent = current_consent(record)
    _audit(
        actor,
        "participant_enroll",
        record,
        object_type="participant",
        object_id=participant.participant_number,
        participant_id=participant.pk,
        before={"outcome": ScreeningRecord.Outcome.IN_SCREENING},
        after={
            "screening_number": record.screening_number,
            "participant_number": participant.participant_number,
            "status": participant.status,
            "consent_id": consent.pk if consent else None,
        },
    )
    return participant


# --------------------------------------------------------------------------- the screening log


@dataclass
class LogRow:
    screening_number: str
    site: str
    screening_date: date
    outcome: str
    outcome_label: str
    verdict: str
    fail_reasons: list[dict[str, Any]]
    participant_number: str | None


@dataclass
class ScreeningLog:
    records: Any  # the log's records (a queryset: filtered, ordered, not yet read); ``row`` shows one
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> records
    reason_counts: list[tuple[str, int]] = field(default_factory=list)  # criterion id or reason -> records
    details_visible: bool = True  # False for the sponsor: numbers, outcomes and reasons only

    @property
    def rows(self) -> list[LogRow]:
        """Every row of the log (pages and the API cut ``records`` to a page and show those only)."""
        return [log_row(r) for r in self.records]


def log_row(r: ScreeningRecord) -> LogRow:
    return LogRow(
        screening_number=r.screening_number,
        site=r.site.code,
        screening_date=r.screening_date,
        outcome=r.outcome,
        outcome_label=r.get_outcome_display(),
        verdict=r.verdict,
        fail_reasons=r.fail_reasons,
        participant_number=_participant_number(r),
    )


def screening_log(user, trial: Trial, outcome: str | None = None, site: Site | None = None) -> ScreeningLog:
    """Every screened candidate at the user's sites with outcome, verdict and screen-fail reasons (CONSORT).

    The counts are computed by the database; the records are left as a queryset for the caller to
    cut to a page."""
    access = require(user, trial, "screening.view_log")
    records = ScreeningRecord.objects.filter(trial=trial)
    log_sites = access.sites("screening.view_log")
    if log_sites is not None:
        records = records.filter(site_id__in=log_sites)
    if site is not None:
        records = records.filter(site=site)
    counts = {value: 0 for value in ScreeningRecord.Outcome.values}
    for row in records.order_by().values("outcome").annotate(n=Count("id")):
        counts[row["outcome"]] = row["n"]
    reasons: dict[str, int] = {}
    # Only the reasons of the screen failures are read (a JSON list each; no portable SQL unnests it).
    failed = records.filter(outcome=ScreeningRecord.Outcome.SCREEN_FAILED).order_by()
    for fail_reasons in failed.values_list("fail_reasons", flat=True):
        for reason in fail_reasons or []:
            key = reason.get("criterion_id") or reason.get("reason", "")
            reasons[key] = reasons.get(key, 0) + 1
    if outcome:
        if outcome not in counts:
            raise _invalid(
                "outcome",
                "allowed_values",
                _("%(value)s; allowed: %(allowed)s") % {"value": repr(outcome), "allowed": ", ".join(counts)},
            )
        records = records.filter(outcome=outcome)
    return ScreeningLog(
        records=records.select_related("site", "participant").order_by("site__code", "screening_number"),
        counts=counts,
        reason_counts=sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])),
        details_visible=access.can("screening.view_record"),
    )


def _participant_number(record: ScreeningRecord) -> str | None:
    try:
        return record.participant.participant_number
    except Participant.DoesNotExist:
        return None
