"""Data capture pages (server-rendered, HTMX for live parts). Every change goes through services."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from trialkit.instruments import ItemType
from trialkit.schedule import sae_clock, week_of
from trialkit.server.accounts.access import access_for
from trialkit.server.accounts.lookups import participant_for, participant_row_for, trial_for, visit_for
from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture import safety, services, signatures, trail
from trialkit.server.capture.form_names import EFFICACY_INSTRUMENTS, instrument_for, instrument_name
from trialkit.server.capture.models import (
    AdverseEvent,
    AdverseEventFollowUp,
    DiaryAccess,
    FormRecord,
    Query,
    QueryMessage,
    Signature,
)
from trialkit.server.capture.screening_forms import REVIEW_STATEMENT, confirm_carried_forms
from trialkit.server.capture.services import CaptureError, FormInvalid
from trialkit.server.capture.worklist import DueRow, due_visits, ended_note, timeline
from trialkit.server.participants import consent as consent_rules
from trialkit.server.participants.models import Participant
from trialkit.server.trials.models import Trial


def _can(access, permission: str, participant) -> bool:
    return access.can(permission, participant.site_id)


# --------------------------------------------------------------------------- lists

LIST_PAGE_SIZE = 50  # rows per page of a list, as the oversight lists


@login_required
def home(request):
    trials = [t for t in Trial.objects.all() if access_for(request.user, t).roles]
    return render(request, "capture/home.html", {"trials": trials})


@login_required
def due(request, nct_id: str):
    trial, _access = trial_for(request.user, nct_id)
    today = timezone.localdate()
    site_code = request.GET.get("site") or None
    page = Paginator(due_visits(request.user, trial, today, site_code=site_code), LIST_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    by_site: dict[str, list] = {}
    for visit in page.object_list:
        by_site.setdefault(visit.participant.site.code, []).append(DueRow(visit, visit.status(today)))
    monday, sunday = week_of(today)
    return render(
        request,
        "capture/due.html",
        {
            "trial": trial,
            "by_site": by_site,
            "page": page,
            "today": today,
            "monday": monday,
            "sunday": sunday,
            "site_code": site_code,
        },
    )


@login_required
def participants(request, nct_id: str):
    trial, access = trial_for(request.user, nct_id)
    people = Participant.objects.filter(trial=trial).select_related("site").order_by("participant_number", "pk")
    if access.site_ids is not None:
        people = people.filter(site_id__in=access.site_ids)
    site_code = request.GET.get("site") or ""
    if site_code:
        people = people.filter(site__code=site_code)
    page = Paginator(people, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    by_participant = services.open_queries_by_participant(trial, [p.pk for p in page.object_list])
    by_site = services.open_queries_by_site(trial)
    sites = [(s, by_site.get(s.pk, 0)) for s in trial.sites.all() if access.covers_site(s.pk)]
    diary = services.diary_status(trial, page.object_list, timezone.now())
    rows = [(p, by_participant.get(p.pk, 0), diary.get(p.pk)) for p in page.object_list]
    return render(
        request,
        "capture/participants.html",
        {
            "trial": trial,
            "rows": rows,
            "diary_on": trial.protocol.diary is not None,
            "page": page,
            "site_code": site_code,
            "sites": sites,
            "oversight": access.can("capture.oversight"),
        },
    )


# --------------------------------------------------------------------------- timeline


def _end_choices() -> list[tuple[str, str]]:
    # The same four choices for every participant: nothing here depends on allocation.
    return [(str(o.value), o.label) for o in services.END_OUTCOMES]


def _timeline_page(
    request,
    participant,
    access,
    *,
    end_form: dict | None = None,
    reopen_form: dict | None = None,
    contact_form: dict | None = None,
    status: int = 200,
):
    now = timezone.now()
    data = timeline(participant, timezone.localdate(), now)
    hidden_forms = frozenset() if access.can("capture.view_efficacy", participant.site_id) else EFFICACY_INSTRUMENTS
    data.open_queries = [q for q in data.open_queries if q.form.instrument not in hidden_forms]
    diary_on = participant.trial.protocol.diary is not None
    return render(
        request,
        "capture/timeline.html",
        {
            "participant": participant,
            "t": data,
            "access": access,
            "hidden_forms": hidden_forms,
            "can_enter": _can(access, "capture.enter_data", participant),
            "can_sign": _can(access, "capture.sign_form", participant),
            "can_review_carried": _can(access, "capture.review_carried_forms", participant),
            "review_statement": REVIEW_STATEMENT,
            "can_view_screening": _can(access, "screening.view_record", participant),
            "can_diary": diary_on and _can(access, "capture.manage_diary", participant),
            "diary_accesses": participant.diary_accesses.all() if diary_on else [],
            "new_code": request.session.pop("diary_code_shown_once", None),
            # Contact addresses are personal data: only staff who manage the diary at this site.
            "diary_contacts": _diary_contacts(participant)
            if diary_on and _can(access, "capture.manage_diary", participant)
            else [],
            "contact_form": contact_form or {"errors": {}},
            "diary_state": services.diary_status(participant.trial, [participant], now).get(participant.pk)
            if diary_on
            else None,
            "sae_viewer": _can(access, "capture.view_sae_clock", participant),
            "can_end": _can(access, "capture.end_participation", participant) and not participant.has_ended,
            "can_reopen": _can(access, "capture.reopen_participation", participant) and participant.has_ended,
            "end_choices": _end_choices(),
            "end_form": end_form or {"values": {}, "errors": {}},
            "reopen_form": reopen_form or {"values": {}, "errors": {}},
            "consent_withdrawal": consent_rules.withdrawal(participant.screening),
            "consent_pending": consent_rules.pending_reconsent(participant.screening, timezone.localdate()),
        },
        status=status,
    )


@login_required
def participant_timeline(request, participant_id: int):
    participant, access = participant_for(request.user, participant_id)
    return _timeline_page(request, participant, access)


def _field_errors(exc: FormInvalid) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for e in exc.errors:
        errors.setdefault(e.item, []).append(e.message)
    return errors


@login_required
@require_POST
def end_participation(request, participant_id: int):
    """Record the end of participation, in two steps: the timeline's form posts here and gets a
    confirmation page (what will change; nothing written yet); its button posts again with
    ``confirmed``. A rejected post shows the timeline again with each message by its field, what
    was typed kept, and nothing changed."""
    if not request.POST.get("confirmed"):
        participant, access = participant_for(request.user, participant_id)
        values = {k: request.POST.get(k, "") for k in ("outcome", "ended_on", "reason")}
        try:
            services.end_participation(
                participant,
                request.user,
                outcome=values["outcome"],
                ended_on=values["ended_on"],
                reason=values["reason"],
                now=timezone.now(),
                check_only=True,
            )
        except FormInvalid as exc:
            return _timeline_page(
                request, participant, access, end_form={"values": values, "errors": _field_errors(exc)}
            )
        except CaptureError as exc:
            messages.error(request, str(exc))
            return redirect("capture:participant", participant.pk)
        ended_on = date.fromisoformat(values["ended_on"])
        dropped = [v for v in services.ensure_schedule(participant) if v.done_on is None and ended_on <= v.latest]
        return render(
            request,
            "capture/confirm_end.html",
            {
                "participant": participant,
                "values": values,
                "ended_on": ended_on,
                "dropped": dropped,
                "outcome_label": dict(_end_choices()).get(values["outcome"], values["outcome"]),
            },
        )
    return _participation_change(
        request,
        participant_id,
        "end_form",
        ("outcome", "ended_on", "reason"),
        lambda participant, values: services.end_participation(
            participant,
            request.user,
            outcome=values["outcome"],
            ended_on=values["ended_on"],
            reason=values["reason"],
            now=timezone.now(),
        ),
        lambda participant: f"{participant}: {ended_note(participant)}.",
    )


@login_required
@require_POST
def reopen_participation(request, participant_id: int):
    return _participation_change(
        request,
        participant_id,
        "reopen_form",
        ("reason",),
        lambda participant, values: services.reopen_participation(
            participant, request.user, reason=values["reason"], now=timezone.now()
        ),
        lambda participant: f"{participant}: participation reopened ({participant.get_status_display().lower()}).",
    )


def _participation_change(request, participant_id: int, form_name: str, fields: tuple[str, ...], change, done):
    participant, access = participant_for(request.user, participant_id)
    values = {k: request.POST.get(k, "") for k in fields}
    try:
        participant = change(participant, values)
    except FormInvalid as exc:
        return _timeline_page(
            request, participant, access, **{form_name: {"values": values, "errors": _field_errors(exc)}}
        )
    except CaptureError as exc:
        messages.error(request, str(exc))
        return redirect("capture:participant", participant.pk)
    messages.success(request, done(participant))
    return redirect("capture:participant", participant.pk)


@login_required
@require_POST
def record_visit_date(request, participant_id: int, visit_id: str):
    visit, participant, _access = visit_for(request.user, participant_id, visit_id)
    raw = request.POST.get("done_on", "").strip()
    try:
        done_on = date.fromisoformat(raw) if raw else None
        services.record_visit_date(visit, done_on, request.user, timezone.now(), note=request.POST.get("note", ""))
        messages.success(request, _("%(visit)s: visit date recorded.") % {"visit": visit.label})
    except ValueError:
        messages.error(request, _("%(raw)r is not a date (YYYY-MM-DD).") % {"raw": raw})
    except CaptureError as exc:
        messages.error(request, str(exc))
    return redirect("capture:participant", participant.pk)


@login_required
@require_POST
def review_carried_forms(request, participant_id: int, visit_id: str):
    """The coordinator confirms they reviewed the forms carried into the Screening visit."""
    visit, participant, _access = visit_for(request.user, participant_id, visit_id)
    try:
        confirm_carried_forms(visit, request.user, confirmed=request.POST.get("confirm") == "yes", now=timezone.now())
        messages.success(
            request, _("%(visit)s: the screening data carried into its forms are reviewed.") % {"visit": visit.label}
        )
    except CaptureError as exc:
        messages.error(request, str(exc))
    return redirect(f"{reverse('capture:participant', args=[participant.pk])}#visit-{visit.visit_id}")


@login_required
@require_POST
def sign_visit(request, participant_id: int, visit_id: str):
    visit, participant, _access = visit_for(request.user, participant_id, visit_id)
    try:
        services.sign_visit(
            visit, request.user, password=request.POST.get("password", ""), now=timezone.now(), request=request
        )
        messages.success(request, _("%(visit)s signed.") % {"visit": visit.label})
    except CaptureError as exc:
        messages.error(request, str(exc))
    return redirect("capture:participant", participant.pk)


# --------------------------------------------------------------------------- eCRF


def _loaded_version(post) -> int | None:
    """The version the eCRF page was loaded at (its hidden ``version`` field; 0: not entered yet)."""
    raw = post.get("version", "").strip()
    return int(raw) if raw.isdigit() else None


def _shown(value, choices) -> str:
    """A stored value as the form shows it: the choice's label, Yes/No, or the text; "—" when empty."""
    if value is None or value == "":
        return "—"
    text = {True: "true", False: "false"}.get(value, str(value))
    return dict(choices).get(text, text)


def _form_fields(
    instrument, values: dict[str, Any], errors: dict[str, list[str]], theirs: dict[str, Any] | None = None
) -> list[dict]:
    """One entry per item; ``theirs`` (an edit conflict) adds the saved value where it differs."""
    fields = []
    for item in instrument.items:
        value = values.get(item.key, "")
        if item.type is ItemType.boolean:
            value = {True: "true", False: "false"}.get(value, value if value in ("true", "false") else "")
        widget = "text"
        if item.choices or item.type is ItemType.boolean or (item.type is ItemType.integer and item.untestable):
            widget = "select"
        elif item.type in (ItemType.integer, ItemType.number):
            widget = "number"
        elif item.type is ItemType.date:
            widget = "date"
        choices = [
            (str(c.code), f"{c.code} — {c.label}" if item.type is ItemType.integer else c.label) for c in item.choices
        ]
        if item.type is ItemType.boolean:
            choices = [("true", "Yes"), ("false", "No")]
        choices += [(u, f"{u} (untestable)") for u in item.untestable]
        entry = {
            "item": item,
            "value": "" if value is None else str(value),
            "widget": widget,
            "choices": choices,
            "errors": errors.get(item.key, []),
        }
        if theirs is not None:
            saved, mine = _shown(theirs.get(item.key), choices), _shown(entry["value"], choices)
            entry["theirs"] = saved
            entry["differs"] = saved != mine
        fields.append(entry)
    return fields


def _posted_values(instrument, post) -> dict[str, Any]:
    # Text from the browser; the instrument turns "2" into 2 and names the field when it cannot.
    values = {}
    for item in instrument.items:
        raw = post.get(item.key, "")
        if raw.strip():
            values[item.key] = raw
    return values


MAX_REPEAT = 999  # records of one repeating form in one visit; beyond this an address is not a record


def _repeat_number(raw: str) -> int:
    """The record number of a repeating form from the page's address: a whole number from 1 to
    ``MAX_REPEAT``; anything else names no record (404), never a server error."""
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_REPEAT:
        raise Http404("There is no such record of this form.")
    return int(raw)


@login_required
def ecrf(request, participant_id: int, visit_id: str, instrument: str):
    visit, participant, access = visit_for(request.user, participant_id, visit_id)
    name = instrument_name(instrument)
    if name not in {instrument_name(f) for f in visit.forms}:
        raise Http404(f"{instrument} is not a form of {visit.label}")
    services.require_form_readable(access, participant, name)
    definition = instrument_for(name)
    repeat = _repeat_number(request.GET.get("repeat") or request.POST.get("repeat") or "1")
    form = FormRecord.objects.filter(visit=visit, instrument=name, repeat=repeat).first()
    values: dict[str, Any] = dict(form.data) if form else {}
    errors: dict[str, list[str]] = {}
    general_error = ""
    conflict = None
    if request.method == "POST":
        values = _posted_values(definition, request.POST)
        try:
            form = services.save_form(
                participant,
                visit_id,
                name,
                values,
                request.user,
                complete=request.POST.get("action") == "complete",
                now=timezone.now(),
                reason=request.POST.get("reason"),
                repeat=repeat,
                expected_version=_loaded_version(request.POST),
            )
            messages.success(
                request, f"{definition.title} saved ({form.get_status_display().lower()}, version {form.version})."
            )
            return redirect("capture:participant", participant.pk)
        except FormInvalid as exc:
            for e in exc.errors:
                errors.setdefault(e.item, []).append(e.message)
            general_error = _("Not saved: %(errors)s field(s) need attention. Nothing was changed.") % {
                "errors": len(exc.errors)
            }
        except services.EditConflict as exc:
            # The page comes back with what this user typed, the other person's values beside each
            # field, and the current version in the hidden field: saving again replaces them knowingly.
            form, conflict = exc.current, exc
            general_error = _("Not saved: %(why)s") % {"why": exc}
        except services.ConsentRequired as exc:
            general_error = _("Not saved: %(why)s") % {"why": exc}
        except CaptureError as exc:
            general_error = _("Not saved: %(why)s") % {"why": exc}
    # Why the participant's consent does not cover this form now (shown before anyone types).
    consent_block = consent_rules.block_for_form(participant.screening, name, timezone.localdate())
    # Every signature of the form and of its visit, with name, time (UTC), meaning and validity.
    shown_signatures = (
        []
        if form is None
        else [s for s in (signatures.current_signature(form=form), signatures.current_signature(visit=visit)) if s]
    )
    signed = any(s.valid for s in shown_signatures)
    queries = form.queries.prefetch_related("messages__author").all() if form else []
    return render(
        request,
        "capture/ecrf.html",
        {
            "participant": participant,
            "visit": visit,
            "definition": definition,
            "form": form,
            "repeat": repeat,
            "fields": _form_fields(definition, values, errors, theirs=conflict.current.data if conflict else None),
            "general_error": general_error,
            "consent_block": consent_block,
            "consent_url": reverse(
                "screening:consent_page", args=[participant.trial.nct_id, participant.screening.screening_number]
            ),
            "conflict": conflict,
            "loaded_version": form.version if form else 0,
            "reason_error": errors.get("reason"),
            "preview": services.preview_scores(definition, values),
            "signed": signed,
            "signatures": shown_signatures,
            "queries": queries,
            "access": access,
            "can_enter": _can(access, "capture.enter_data", participant) and not (form and form.locked),
            "can_query": _can(access, "capture.query", participant),
            "can_answer": _can(access, "capture.enter_data", participant),
            "can_verify": _can(access, "capture.verify_form", participant),
            "can_sign": _can(access, "capture.sign_form", participant),
            "can_review_carried": _can(access, "capture.review_carried_forms", participant),
            "review_statement": REVIEW_STATEMENT,
            "can_view_screening": _can(access, "screening.view_record", participant),
            "can_lock": _can(access, "capture.lock_form", participant),
            "needs_reason": form is not None and (form.status == "complete" or signed),
            # Scales number their items ("5a · Motor arm, left"); forms show the label alone.
            "show_keys": definition.kind == "scale",
            "not_editable": not (_can(access, "capture.enter_data", participant) and not (form and form.locked)),
        },
    )


@login_required
@require_POST
def ecrf_preview(request, participant_id: int, visit_id: str, instrument: str):
    """The derived score while typing (HTMX): the total when complete, else the partial sum."""
    participant, access = participant_for(request.user, participant_id)
    services.require_form_readable(access, participant, instrument_name(instrument))
    definition = instrument_for(instrument_name(instrument))
    preview = services.preview_scores(definition, _posted_values(definition, request.POST))
    return render(request, "capture/_score.html", {"preview": preview, "definition": definition})


def _form_action(request, form_id: int, action):
    form = participant_row_for(request.user, FormRecord.objects.select_related("participant", "visit"), form_id)[0]
    try:
        text = action(form)
        messages.success(request, text)
    except CaptureError as exc:
        messages.error(request, str(exc))
    url = f"/capture/participants/{form.participant_id}/visits/{form.visit.visit_id}/forms/{form.instrument}/"
    return redirect(f"{url}?repeat={form.repeat}")


@login_required
@require_POST
def verify_form(request, form_id: int):
    def action(form):
        services.verify_form(form, request.user, now=timezone.now())
        return "Form marked source-verified."

    return _form_action(request, form_id, action)


@login_required
@require_POST
def sign_form(request, form_id: int):
    def action(form):
        services.sign_form(
            form, request.user, password=request.POST.get("password", ""), now=timezone.now(), request=request
        )
        return "Form signed."

    return _form_action(request, form_id, action)


@login_required
@require_POST
def lock_form(request, form_id: int):
    reason = request.POST.get("reason", "")

    def action(form):
        if request.POST.get("unlock"):
            services.unlock_form(form, request.user, reason=reason, now=timezone.now())
            return "Form unlocked."
        services.lock_form(form, request.user, reason=reason, now=timezone.now())
        return "Form locked."

    return _form_action(request, form_id, action)


@login_required
@require_POST
def delete_form(request, form_id: int):
    def action(form):
        services.delete_form(form, request.user, reason=request.POST.get("reason", ""), now=timezone.now())
        return "Form deleted; it stays in the audit trail."

    return _form_action(request, form_id, action)


@login_required
@require_POST
def open_query(request, form_id: int):
    def action(form):
        services.open_query(
            form, request.POST.get("item", ""), request.POST.get("text", ""), request.user, now=timezone.now()
        )
        return "Query opened."

    return _form_action(request, form_id, action)


@login_required
@require_POST
def query_action(request, query_id: int, verb: str):
    query = participant_row_for(request.user, Query.objects.select_related("form"), query_id)[0]
    text = request.POST.get("text", "")
    if verb not in ("answer", "close"):
        raise Http404(verb)

    def action(_form):
        if verb == "answer":
            services.answer_query(
                query, text, request.user, now=timezone.now(), corrected=bool(request.POST.get("corrected"))
            )
            return "Query answered."
        services.close_query(query, request.user, now=timezone.now(), text=text)
        return "Query closed."

    return _form_action(request, query.form_id, action)


# --------------------------------------------------------------------------- audit views


def _events_for(access, events, participant):
    if not access.can_see_allocation:
        events = events.filter(restricted=False)
    hidden = services.hidden_form_ids(access, participant)
    if hidden:  # the efficacy firewall: their forms, and the queries raised on them
        hidden_queries = list(Query.objects.filter(form_id__in=hidden).values_list("pk", flat=True))
        hidden_messages = list(QueryMessage.objects.filter(query_id__in=hidden_queries).values_list("pk", flat=True))
        hidden_signatures = list(Signature.objects.filter(form_id__in=hidden).values_list("pk", flat=True))
        # Workflow events name the object by kind, row events by table: both are held back.
        for kinds, ids in (
            (("form", FormRecord._meta.db_table), hidden),
            (("query", Query._meta.db_table), hidden_queries),
            ((QueryMessage._meta.db_table,), hidden_messages),
            (("signature", Signature._meta.db_table), hidden_signatures),
        ):
            if ids:
                events = events.exclude(object_type__in=kinds, object_id__in=[str(pk) for pk in ids])
    return events.order_by("-id")


@login_required
def participant_audit(request, participant_id: int):
    participant, access = participant_for(request.user, participant_id)
    events = _events_for(access, AuditEvent.objects.filter(participant_id=participant.pk), participant)
    return render(
        request,
        "capture/audit.html",
        {
            "participant": participant,
            "rows": trail.readable(events[:500]),
            "can_print": access.can("audit.report", participant.site_id),
            "title": f"Audit trail of {participant.participant_number}",
        },
    )


@login_required
def form_audit(request, form_id: int):
    form, _participant_obj, access = participant_row_for(
        request.user, FormRecord.objects.select_related("participant", "visit"), form_id
    )
    services.require_form_readable(access, form.participant, form.instrument)
    events = _events_for(access, trail.form_events(form), form.participant)
    return render(
        request,
        "capture/audit.html",
        {
            "participant": form.participant,
            "rows": trail.readable(events),
            "form": form,
            "title": f"Audit trail of {instrument_for(form.instrument).title} at {form.visit.label}",
        },
    )


@login_required
def participant_audit_report(request, participant_id: int):
    """The printable audit report of one participant: every event, oldest first, with the
    signatures as they stand; print it from the browser (a print stylesheet lays it out)."""
    participant, access = participant_for(request.user, participant_id, "audit.report")
    events = _events_for(access, AuditEvent.objects.filter(participant_id=participant.pk), participant).order_by("id")
    sigs = [
        signatures.describe(s)
        for s in signatures.Signature.objects.filter(
            Q(form__participant=participant) | Q(visit__participant=participant)
        )
        .select_related("form__visit", "visit")
        .order_by("signed_at", "id")
    ]
    return render(
        request,
        "capture/audit_report.html",
        {
            "participant": participant,
            "rows": trail.readable(events),
            "signatures": sigs,
            "printed_at": signatures.utc(timezone.now()),
            "printed_by": request.user.get_full_name() or request.user.get_username(),
        },
    )


# --------------------------------------------------------------------------- adverse events


@login_required
def adverse_event(request, participant_id: int, ae_id: int | None = None):
    if ae_id:
        ae, participant, access = participant_row_for(
            request.user, AdverseEvent.objects.filter(participant_id=participant_id), ae_id
        )
    else:
        ae = None
        participant, access = participant_for(request.user, participant_id)
    definition = instrument_for("adverse_event")
    values: dict[str, Any] = dict(ae.data) if ae else {}
    errors: dict[str, list[str]] = {}
    general_error = ""
    conflict = None
    if request.method == "POST":
        # Seriousness answers are Yes/No dropdowns: a blank answer stays blank (never a silent "No").
        values = _posted_values(definition, request.POST)
        try:
            ae = services.save_adverse_event(
                participant,
                values,
                request.user,
                complete=request.POST.get("action") == "complete",
                now=timezone.now(),
                adverse_event=ae,
                awareness_at=_posted_awareness(request.POST.get("awareness_at", "")),
                reason=request.POST.get("reason"),
                expected_version=_loaded_version(request.POST) if ae else None,
            )
            messages.success(request, _("AE%(ae)s saved.") % {"ae": ae.number})
            warning = safety.duplicate_warning(ae)
            if warning:
                messages.warning(request, _("AE%(ae)s: %(warning)s") % {"ae": ae.number, "warning": warning})
                return redirect("capture:adverse_event", participant.pk, ae.pk)
            return redirect("capture:participant", participant.pk)
        except FormInvalid as exc:
            for e in exc.errors:
                errors.setdefault(e.item, []).append(e.message)
            general_error = _("Not saved: %(errors)s field(s) need attention. Nothing was changed.") % {
                "errors": len(exc.errors)
            }
        except services.EditConflict as exc:
            ae, conflict = exc.current, exc
            general_error = _("Not saved: %(why)s") % {"why": exc}
        except CaptureError as exc:
            general_error = _("Not saved: %(why)s") % {"why": exc}
    clock = sae_clock(ae.awareness_at, ae.reported_at, timezone.now()) if ae and ae.serious else None
    return render(
        request,
        "capture/adverse_event.html",
        {
            "participant": participant,
            "ae": ae,
            "definition": definition,
            "clock": clock,
            "susar_clock": safety.susar_clock(ae, timezone.now()) if ae else None,
            "susar_clocks": safety.susar_clocks_of(ae, timezone.now()) if ae else (),
            "seriousness_choices": AdverseEventFollowUp.Seriousness.choices,
            "duplicate_warning": safety.duplicate_warning(ae) if ae else "",
            "conflict": conflict,
            "loaded_version": ae.version if ae else 0,
            "fields": _form_fields(definition, values, errors, theirs=conflict.current.data if conflict else None),
            "general_error": general_error,
            "reason_error": errors.get("reason"),
            "can_enter": _can(access, "capture.enter_data", participant),
            "can_report": _can(access, "capture.report_ae", participant),
        },
    )


def _posted_awareness(text: str):
    """A posted date and time (``datetime-local``, in the trial's time zone); None when blank,
    CaptureError when unreadable or in the future."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CaptureError(_("the awareness time %(value)s is not a date and time") % {"value": repr(text)}) from exc
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    if value > timezone.now():
        raise CaptureError(_("the site cannot have become aware in the future"))
    return value


@login_required
@require_POST
def adverse_event_action(request, participant_id: int, ae_id: int, verb: str):
    ae, participant, _access = participant_row_for(
        request.user, AdverseEvent.objects.filter(participant_id=participant_id), ae_id
    )
    try:
        if verb == "report":
            services.report_sae(ae, request.user, now=timezone.now())
            messages.success(request, _("AE%(ae)s: reported to the sponsor.") % {"ae": ae.number})
        elif verb == "follow-up":
            services.add_ae_follow_up(
                ae,
                request.user,
                note=request.POST.get("note", ""),
                now=timezone.now(),
                outcome=request.POST.get("outcome", ""),
                received_at=_posted_awareness(request.POST.get("received_at", "")),
                seriousness=request.POST.get("seriousness", ""),
            )
            messages.success(request, _("AE%(ae)s: follow-up recorded.") % {"ae": ae.number})
        elif verb == "report-susar":
            services.report_susar(ae, request.user, now=timezone.now())
            messages.success(request, _("AE%(ae)s: SUSAR report recorded.") % {"ae": ae.number})
        else:
            raise Http404(verb)
    except CaptureError as exc:
        messages.error(request, str(exc))
    return redirect("capture:adverse_event", participant.pk, ae.pk)


# --------------------------------------------------------------------------- diary codes


def _diary_contacts(participant) -> list[dict]:
    """One row per diary keeper of the protocol: their reminder contact, or an empty one."""
    saved = {c.who: c for c in participant.diary_contacts.all()}
    rows = []
    for who in participant.trial.protocol.diary.who:
        c = saved.get(who)
        rows.append(
            {
                "who": who,
                "who_label": DiaryAccess.Who(who).label,
                "channel": c.channel if c else "none",
                "email": c.email if c else "",
                "phone": c.phone if c else "",
                "language": c.language if c else "en",
            }
        )
    return rows


@login_required
@require_POST
def diary_contact(request, participant_id: int):
    """Who is reminded of the diary, how and in which language (staff who manage the diary here)."""
    participant, access = participant_for(request.user, participant_id)
    fields = {k: request.POST.get(k, "") for k in ("who", "channel", "email", "phone", "language")}
    try:
        services.set_diary_contact(participant, fields.pop("who"), request.user, now=timezone.now(), **fields)
    except services.FormInvalid as exc:
        errors: dict[str, list[str]] = {}
        for e in exc.errors:
            errors.setdefault(e.item, []).append(e.message)
        return _timeline_page(
            request,
            participant,
            access,
            contact_form={"who": request.POST.get("who", ""), "errors": errors},
            status=400,
        )
    except CaptureError as exc:
        messages.error(request, str(exc))
        return redirect("capture:participant", participant.pk)
    messages.success(request, gettext("Diary reminder saved."))
    return redirect("capture:participant", participant.pk)


@login_required
@require_POST
def diary_access(request, participant_id: int):
    participant, _unused = participant_for(request.user, participant_id)
    try:
        if request.POST.get("revoke"):
            revoke = request.POST["revoke"]
            if not (revoke.isascii() and revoke.isdigit()):  # not a code's number: no such code, never a 500
                raise Http404("There is no such diary code.")
            access = get_object_or_404(participant.diary_accesses, pk=int(revoke))
            services.revoke_diary_access(
                access, request.user, now=timezone.now(), reason=request.POST.get("reason", "")
            )
            messages.success(request, _("Diary code withdrawn."))
        else:
            _access, code = services.create_diary_access(
                participant, request.POST.get("who", "participant"), request.user, now=timezone.now()
            )
            # Shown once on the next page and never stored: only its keyed hash is kept.
            request.session["diary_code_shown_once"] = {
                "code": services.format_code(code),
                "link": request.build_absolute_uri(f"/diary/{code}/"),
            }
    except CaptureError as exc:
        messages.error(request, str(exc))
    return redirect("capture:participant", participant.pk)
