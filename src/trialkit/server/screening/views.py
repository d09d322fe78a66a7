"""Screening pages: the screening log and the record page with live eligibility (HTMX).

Every change goes through ``trialkit.server.screening.services``; these views only read the request,
call a service and render. Permission errors become 403 pages.
"""

from __future__ import annotations

import re
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from trialkit.eligibility.measures import nihss_partial
from trialkit.server.accounts.access import access_for, require
from trialkit.server.accounts.lookups import site_for, trial_for
from trialkit.server.participants import consent as consent_rules
from trialkit.server.participants.models import Consent, Participant, ScreeningRecord
from trialkit.server.screening import facts_form, services
from trialkit.server.trials.models import Trial

LIST_PAGE_SIZE = 50  # rows per page of the log, as the oversight lists


def _trial(request, nct_id: str) -> Trial:
    """The trial if the user holds a role in it (accounts.lookups); each view then asks its permission."""
    return trial_for(request.user, nct_id)[0]


def _record(request, trial: Trial, number: str, *, edit: bool = False) -> ScreeningRecord:
    try:
        record = services.get_record(trial, number)
    except services.ScreeningError as exc:
        raise Http404(exc.message) from None
    if edit:
        require(request.user, trial, "screening.work", site_id=record.site_id)
    elif not services.can_read_record(request.user, record):
        require(request.user, trial, "screening.view_record", site_id=record.site_id)
    return record


def _record_url(record: ScreeningRecord) -> str:
    return reverse("screening:record", args=[record.trial.nct_id, record.screening_number])


def _is_htmx(request) -> bool:
    return bool(request.htmx)  # django-htmx's HtmxMiddleware: HX-Request is "true"


# --------------------------------------------------------------------------- the log


@login_required
def screening_log(request, nct_id: str):
    trial = _trial(request, nct_id)
    outcome = request.GET.get("outcome") or None
    if outcome not in (None, *ScreeningRecord.Outcome.values):
        outcome = None
    log = services.screening_log(request.user, trial, outcome=outcome)
    page = Paginator(log.records, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    access = access_for(request.user, trial)
    new_sites = []
    new_sites = [s for s in trial.sites.filter(active=True) if access.can("screening.work", s.id)]
    reasons_text = {c.id: c.text for c in trial.protocol.eligibility.criteria}
    return render(
        request,
        "screening/log.html",
        {
            "trial": trial,
            "log": log,
            "page": page,
            "rows": [services.log_row(r) for r in page.object_list],
            "outcome": outcome or "",
            "outcomes": ScreeningRecord.Outcome.choices,
            "new_sites": new_sites,
            "today": timezone.localdate(),
            "reason_rows": [(key, reasons_text.get(key, ""), count) for key, count in log.reason_counts],
            "total": sum(log.counts.values()),
        },
    )


@login_required
@require_POST
def new_screening(request, nct_id: str):
    trial = _trial(request, nct_id)
    site, _access = site_for(request.user, trial, request.POST.get("site", ""), "screening.work")
    try:
        screening_date = date.fromisoformat(request.POST.get("screening_date") or timezone.localdate().isoformat())
    except ValueError:
        messages.error(request, _("Screening date: enter a date as YYYY-MM-DD."))
        return redirect("screening:log", nct_id=nct_id)
    try:
        record = services.create_screening(trial, site, request.user, screening_date)
    except services.ScreeningError as exc:
        messages.error(request, exc.message)
        return redirect("screening:log", nct_id=nct_id)
    messages.success(request, _("Screening record %(number)s created.") % {"number": record.screening_number})
    return redirect(_record_url(record))


# --------------------------------------------------------------------------- the record page


def _nihss_summary(facts: dict) -> dict:
    values = facts.get("nihss") or {}
    partial = nihss_partial(values)
    return {
        "total": partial.total,
        "known_sum": partial.known_sum,
        "missing": len(partial.missing),
        "entered": bool(values),
    }


def _panel_context(request, record: ScreeningRecord) -> dict:
    attestable = set(services.attestable_criteria(record.trial.protocol))
    attestations = {a.criterion_id: a for a in record.attestations.select_related("attested_by")}
    criteria = []
    for c in record.criteria_results:
        criteria.append({**c, "attestable": c["id"] in attestable, "attestation": attestations.get(c["id"])})
    counts = {s: sum(1 for c in criteria if c["status"] == s) for s in ("pass", "fail", "unknown")}
    blockers = services.enrollment_blockers(record)
    return {
        "trial": record.trial,
        "record": record,
        "criteria": criteria,
        "counts": counts,
        "can_edit": services.can_edit(request.user, record) and record.outcome == ScreeningRecord.Outcome.IN_SCREENING,
        "can_attest": services.can_attest(request.user, record)
        and record.outcome == ScreeningRecord.Outcome.IN_SCREENING,
        "blockers": blockers,
        "can_enroll": not blockers and services.can_edit(request.user, record),
        "consent": services.current_consent(record),
        "consents": list(record.consents.order_by("consent_date", "id")),
        "participant": getattr(record, "participant", None)
        if record.outcome == ScreeningRecord.Outcome.ENROLLED
        else None,
        "nihss": _nihss_summary(record.facts),
    }


# Where each consent field's message goes: the input it is about, and its label in the summary.
CONSENT_FIELDS = {
    "document_version": ("c-version", gettext_lazy("Consent document version")),
    "language": ("c-language", gettext_lazy("Language of the document signed")),
    "consent_date": ("c-date", gettext_lazy("Date signed")),
    "signed_at": ("c-date", gettext_lazy("Date signed")),
    "signed_by": ("c-signed-by", gettext_lazy("Signed by")),
    "signer_name": ("c-name", gettext_lazy("Name of the signer")),
    "unable_to_read": ("c-unable", gettext_lazy("The signer cannot read")),
    "witness_name": ("c-witness", gettext_lazy("Name of the impartial witness")),
}


@login_required
def record_page(request, nct_id: str, number: str):
    trial = _trial(request, nct_id)
    return _record_page(request, trial, _record(request, trial, number))


def _record_page(
    request,
    trial: Trial,
    record: ScreeningRecord,
    *,
    consent_errors: dict | None = None,
    facts_errors: dict[str, list[str]] | None = None,
    status: int = 200,
):
    """The record page; after a refused post (facts or consent), what was typed is shown again with
    each message by its field and a summary linking to the fields."""
    form = facts_form.build_form(
        record.facts, trial.protocol, posted=request.POST if facts_errors else None, errors=facts_errors
    )
    consent_errors = consent_errors or {}
    context = {
        **_panel_context(request, record),
        **_consent_form_context(request, trial, consent_errors),
        "form": form,
        "facts_refused": bool(facts_errors),
    }
    return render(request, "screening/record.html", context, status=status)


def _consent_form_context(request, trial: Trial, consent_errors: dict) -> dict:
    """What the consent form needs: the versions (the one in effect today first chosen), languages,
    signers, and after a refused post what was typed with each message by its field."""
    rules = trial.protocol.consent
    today = timezone.localdate()
    versions = [rules.for_version(v)[0] for v in rules.versions if rules.for_version(v)[0].approved_on <= today]
    return {
        "signers": [(v, label) for v, label in Consent.Signer.choices if v in rules.signers],
        "consent_versions": versions,
        "consent_version": rules.in_effect(today) or "",
        "consent_languages": Consent.Language.choices,
        "today": today,
        "consent_errors": consent_errors,
        "posted": request.POST if consent_errors else {},
        "consent_summary": [(*CONSENT_FIELDS[k], m) for k, m in consent_errors.items() if k in CONSENT_FIELDS],
    }


@login_required
@require_POST
def save_facts(request, nct_id: str, number: str):
    """Every change in the facts form posts the whole form here; the answer swaps the live parts
    (the messages into their fields' error slots, and the summary). Without htmx a refused save
    shows the page again (422) with what was typed and the messages by their fields."""
    trial = _trial(request, nct_id)
    record = _record(request, trial, number, edit=True)
    patch = facts_form.patch_from_form(request.POST)
    errors: dict[str, list[str]] = {}
    saved = True
    try:
        record = services.update_facts(record, patch, request.user)
    except services.ScreeningError as exc:
        saved = False
        form = facts_form.build_form(record.facts, trial.protocol)
        slots = set(facts_form.all_slots(form))
        for problem in exc.errors:
            slot = facts_form.slot_for(problem.field)
            slot = slot if slot in slots else "err-facts"
            message = facts_error_message(problem)
            if slot == "err-facts" and problem.field not in ("", "facts"):
                message = f"{problem.field}: {message}"
            errors.setdefault(slot, []).append(message)
        if not exc.errors:
            errors["err-facts"] = [exc.message]
    if not _is_htmx(request):
        if errors:
            return _record_page(request, trial, record, facts_errors=errors, status=422)
        return redirect(_record_url(record))
    form = facts_form.build_form(record.facts, trial.protocol, posted=request.POST, errors=errors)
    context = {
        **_panel_context(request, record),
        "errors": errors,
        "saved": saved,
        "form": form,
        "slots": [(slot, errors.get(slot, [])) for slot in facts_form.all_slots(form)],
    }
    return render(request, "screening/_facts_saved.html", context, status=200)


@login_required
@require_POST
def attest(request, nct_id: str, number: str):
    trial = _trial(request, nct_id)
    record = _record(request, trial, number)
    value = {"true": True, "false": False}.get(request.POST.get("value", ""))
    try:
        services.record_attestation(
            record, request.POST.get("criterion_id", ""), value, request.user, now=timezone.now()
        )
    except services.ScreeningError as exc:
        if not _is_htmx(request):
            messages.error(request, exc.message)
            return redirect(_record_url(record))
        return render(request, "screening/_refused.html", {"message": exc.message}, status=exc.status)
    record = services.get_record(trial, number)
    if not _is_htmx(request):
        return redirect(_record_url(record))
    return render(request, "screening/_attested.html", _panel_context(request, record))


@login_required
@require_POST
def consent(request, nct_id: str, number: str):
    """Record a consent (or a re-consent of an enrolled participant). A refused post shows the page it
    came from again (422) with what was typed and each message by its field; nothing is written."""
    trial = _trial(request, nct_id)
    record = _record(request, trial, number, edit=True)

    # Back to the page the form was on: the consent page says so; the record page is the default.
    on_consent_page = (
        request.POST.get("from") == "consent_page" or record.outcome != ScreeningRecord.Outcome.IN_SCREENING
    )

    def refused(errors: dict, status: int = 422):
        if on_consent_page:
            return _consent_page(request, trial, record, consent_errors=errors, status=status)
        return _record_page(request, trial, record, consent_errors=errors, status=status)

    try:
        consent_date = date.fromisoformat(request.POST.get("consent_date", ""))
    except ValueError:
        return refused({"consent_date": _("enter the date of signature (YYYY-MM-DD)")})
    if request.POST.get("unable_to_read", "") not in ("", "true"):
        return refused({"unable_to_read": _("tick the box or leave it empty")})
    try:
        services.record_consent(
            record,
            consent_date,
            request.POST.get("signed_by", ""),
            request.user,
            today=timezone.localdate(),
            signer_name=request.POST.get("signer_name", ""),
            document_version=request.POST.get("document_version", ""),
            language=request.POST.get("language", "en"),
            witness_name=request.POST.get("witness_name", ""),
            unable_to_read=request.POST.get("unable_to_read") == "true",
        )
    except services.ScreeningError as exc:
        found = {p.field: p.message for p in exc.errors} or {"form": exc.message}
        return refused(found, exc.status)
    messages.success(request, _("Informed consent recorded."))
    if on_consent_page:
        return redirect(reverse("screening:consent_page", args=[trial.nct_id, record.screening_number]))
    return redirect(_record_url(record))


_BOUND = re.compile(r"(greater|less) than( or equal to)? (-?\d+(?:\.\d+)?)")
_SUGGESTION = re.compile(r"did you mean (.+?)\?")


def facts_error_message(problem: services.FieldProblem) -> str:
    """The reader's-language sentence for a facts field the core refused, from the core's rule code
    (and the bound or suggestion its message carries); English readers keep the core's own sentence,
    which names the exact value. The core (``trialkit.eligibility``) stays English and Django-free."""
    language = (get_language() or "en").lower()
    if language.startswith("en"):
        return problem.message
    rule, message = problem.rule, problem.message
    if rule in ("condition_vocabulary", "lab_vocabulary", "serology_vocabulary"):
        text = _("This name is not in the trial's vocabulary.")
        if m := _SUGGESTION.search(message):
            text += " " + _("Did you mean %(names)s?") % {"names": m.group(1)}
        if rule == "condition_vocabulary":
            text += " " + _("Enter a condition outside the list as “other” with a description.")
        return text
    if rule == "range" and (m := _BOUND.search(message)):
        bound = m.group(3)
        if m.group(1) == "greater":
            return (
                _("Enter a value of at least %(bound)s.") if m.group(2) else _("Enter a value above %(bound)s.")
            ) % {"bound": bound}
        return (_("Enter a value of at most %(bound)s.") if m.group(2) else _("Enter a value below %(bound)s.")) % {
            "bound": bound
        }
    sentences = {
        "plausibility": _("This upper limit of normal is not plausible; check the value and its unit."),
        "required": _("Describe the condition."),
        "unknown_field": _("This field is not part of the screening facts."),
        "allowed_values": _("This value is not one of the allowed answers."),
        "unit": _("Choose a unit this measurement allows."),
        "date_order": _("This date is after the screening date."),
        "consistency": _("The age does not agree with the date of birth."),
        "date": _("Enter a valid date (year-month-day)."),
        "integer": _("Enter a whole number."),
        "number": _("Enter a number (e.g. 4.1)."),
        "pattern": _("This value does not have the expected form."),
        "range": _("This value is out of range."),
        "type": _("This value is not of the expected kind."),
    }
    return sentences.get(rule, _("This value cannot be read; check it."))


@login_required
def consent_page(request, nct_id: str, number: str):
    trial = _trial(request, nct_id)
    return _consent_page(request, trial, _record(request, trial, number))


def _consent_page(
    request, trial: Trial, record: ScreeningRecord, *, consent_errors=None, withdraw_errors=None, status=200
):
    """Consents by version, the signed copies, re-consent and withdrawal for one person."""
    rules = trial.protocol.consent
    today = timezone.localdate()
    participant = Participant.objects.filter(screening=record).first()
    pending = consent_rules.pending_reconsent(record, today)
    affected = ""
    if pending:
        affects = rules.for_version(pending)[0].affects
        affected = _("all forms") if affects == "all" else ", ".join(affects)
    may_consent = record.outcome == ScreeningRecord.Outcome.IN_SCREENING or (
        participant is not None and not participant.has_ended
    )
    context = {
        **_consent_form_context(request, trial, consent_errors or {}),
        "trial": trial,
        "record": record,
        "participant": participant,
        "documents": [d for d in rules.documents if d.approved_on <= today],
        "consents": list(record.consents.select_related("recorded_by").order_by("-consent_date", "-id")),
        "withdrawal": consent_rules.withdrawal(record),
        "in_force": consent_rules.in_force(record),
        "pending": pending,
        "signed_version": consent_rules.highest_signed(record)[1],
        "affected": affected,
        "may_consent": may_consent,
        "can_edit": services.can_edit(request.user, record),
        "scopes": Consent.WithdrawalScope.choices,
        "withdraw_errors": withdraw_errors or {},
        "consent_from": "consent_page",
    }
    if withdraw_errors:
        context["posted"] = request.POST
    return render(request, "screening/consent.html", context, status=status)


@login_required
def consent_document(request, nct_id: str, number: str):
    """The consent document as the person reads it, in their language (``?lang=zh-Hans``): the version
    in effect today unless ``?version=`` names another approved one."""
    trial = _trial(request, nct_id)
    record = _record(request, trial, number)
    rules = trial.protocol.consent
    today = timezone.localdate()
    version = request.GET.get("version") or rules.in_effect(today) or rules.versions[0]
    language = request.GET.get("lang") or ("zh-Hans" if (get_language() or "").lower().startswith("zh") else "en")
    document = rules.document(version, language)
    if document is None or document.approved_on > today:
        raise Http404(_("There is no approved consent document of that version in that language."))
    labels = dict(Consent.Language.choices)
    signer_labels = dict(Consent.Signer.choices)
    languages = [
        {"version": d.version, "language": d.language, "language_label": labels.get(d.language, d.language)}
        for d in rules.for_version(version)
    ]
    context = {
        "trial": trial,
        "record": record,
        "document": document,
        "document_languages": languages,
        "paragraphs": [p.strip() for p in document.text.split("\n\n") if p.strip()],
        "signers_text": ", ".join(str(signer_labels[s]) for s in document.signers),
    }
    return render(request, "screening/consent_document.html", context)


@login_required
def consent_pdf(request, nct_id: str, number: str, consent_id: int):
    """The signed copy, for the site staff of its site only (services.consent_snapshot)."""
    trial = _trial(request, nct_id)
    try:
        consent, data = services.consent_snapshot(request.user, trial, consent_id)
    except services.ScreeningError as exc:
        raise Http404(exc.message) from None
    if consent.screening.screening_number != number:
        raise Http404("no such consent for this record")
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="consent-{number}-v{consent.document_version}-{consent.pk}.pdf"'
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def consent_withdraw(request, nct_id: str, number: str):
    trial = _trial(request, nct_id)
    record = _record(request, trial, number, edit=True)
    try:
        withdrawn_on = date.fromisoformat(request.POST.get("withdrawn_on", ""))
    except ValueError:
        return _consent_page(
            request,
            trial,
            record,
            withdraw_errors={"withdrawn_on": _("enter the date of withdrawal (YYYY-MM-DD)")},
            status=422,
        )
    try:
        services.withdraw_consent(
            record,
            request.user,
            withdrawn_on=withdrawn_on,
            scope=request.POST.get("scope", ""),
            reason=request.POST.get("reason", ""),
            today=timezone.localdate(),
        )
    except services.ScreeningError as exc:
        found = {p.field: p.message for p in exc.errors} or {"form": exc.message}
        return _consent_page(request, trial, record, withdraw_errors=found, status=exc.status)
    messages.success(request, _("Withdrawal of consent recorded."))
    return redirect(reverse("screening:consent_page", args=[trial.nct_id, record.screening_number]))


def _record_action(request, nct_id: str, number: str, action):
    """Run one workflow step on a record and go back to its page with the outcome as a message.

    ``action(record)`` calls the service and returns the success message; a refused step
    (ScreeningError) is shown as an error and changes nothing.
    """
    record = _record(request, _trial(request, nct_id), number, edit=True)
    try:
        message = action(record)
    except services.ScreeningError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, message)
    return redirect(_record_url(record))


@login_required
@require_POST
def enroll(request, nct_id: str, number: str):
    def action(record):
        participant = services.enroll(record, request.user, timezone.now())
        return _("Enrolled as participant %(number)s: ready for randomization.") % {
            "number": participant.participant_number
        }

    return _record_action(request, nct_id, number, action)


@login_required
@require_POST
def screen_fail(request, nct_id: str, number: str):
    reason = (request.POST.get("reason") or "").strip()

    def action(record):
        services.mark_screen_failed(record, request.user, [reason] if reason else None)
        return _("%(number)s recorded as a screen failure.") % {"number": record.screening_number}

    return _record_action(request, nct_id, number, action)


@login_required
@require_POST
def withdraw(request, nct_id: str, number: str):
    def action(record):
        services.withdraw(record, request.user, timezone.localdate(), request.POST.get("reason", ""))
        return _("%(number)s: withdrawal before enrollment recorded.") % {"number": record.screening_number}

    return _record_action(request, nct_id, number, action)
