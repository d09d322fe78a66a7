"""Data capture pages (server-rendered, HTMX for live parts). Every change goes through services."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from trialkit.instruments import ItemType
from trialkit.schedule import sae_clock, week_of
from trialkit.server.accounts.access import access_for
from trialkit.server.accounts.roles import DATA_ENTRY_ROLES, Role
from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture import services
from trialkit.server.capture.form_names import instrument_for, instrument_name
from trialkit.server.capture.models import AdverseEvent, FormRecord, Query, Signature, Visit
from trialkit.server.capture.services import CaptureError, FormInvalid, view_access
from trialkit.server.capture.worklist import due_this_week, ended_note, timeline
from trialkit.server.participants.models import Participant
from trialkit.server.trials.models import Trial


def _participant(request, participant_id: int):
    participant = get_object_or_404(Participant.objects.select_related("trial", "site"), pk=participant_id)
    return participant, view_access(request.user, participant)


def _can(access, *roles) -> bool:
    return access.has(*roles)


# --------------------------------------------------------------------------- lists


@login_required
def home(request):
    trials = [t for t in Trial.objects.all() if access_for(request.user, t).roles]
    return render(request, "capture/home.html", {"trials": trials})


@login_required
def due(request, nct_id: str):
    trial = get_object_or_404(Trial, nct_id=nct_id)
    today = timezone.localdate()
    site_code = request.GET.get("site") or None
    rows = due_this_week(request.user, trial, today, site_code=site_code)
    by_site: dict[str, list] = {}
    for row in rows:
        by_site.setdefault(row.visit.participant.site.code, []).append(row)
    monday, sunday = week_of(today)
    return render(request, "capture/due.html", {"trial": trial, "by_site": by_site, "today": today,
                                                "monday": monday, "sunday": sunday, "site_code": site_code})


@login_required
def participants(request, nct_id: str):
    trial = get_object_or_404(Trial, nct_id=nct_id)
    access = access_for(request.user, trial)
    if not access.roles:
        raise PermissionDenied("you hold no role in this trial")
    people = Participant.objects.filter(trial=trial).select_related("site")
    if access.site_ids is not None:
        people = people.filter(site_id__in=access.site_ids)
    by_participant = services.open_queries_by_participant(trial)
    by_site = services.open_queries_by_site(trial)
    sites = [(s, by_site.get(s.pk, 0)) for s in trial.sites.all() if access.covers_site(s.pk)]
    rows = [(p, by_participant.get(p.pk, 0)) for p in people]
    return render(request, "capture/participants.html", {"trial": trial, "rows": rows, "sites": sites})


# --------------------------------------------------------------------------- timeline


def _end_choices() -> list[tuple[str, str]]:
    # The same four choices for every participant: nothing here depends on allocation.
    return [(str(o.value), o.label) for o in services.END_OUTCOMES]


def _timeline_page(request, participant, access, *, end_form: dict | None = None,
                   reopen_form: dict | None = None):
    now = timezone.now()
    data = timeline(participant, timezone.localdate(), now)
    diary_on = participant.trial.protocol.diary is not None
    return render(request, "capture/timeline.html", {
        "participant": participant, "t": data, "access": access,
        "can_enter": _can(access, *DATA_ENTRY_ROLES), "can_sign": _can(access, Role.INVESTIGATOR),
        "can_diary": diary_on and _can(access, Role.COORDINATOR, Role.INVESTIGATOR),
        "diary_accesses": participant.diary_accesses.all() if diary_on else [],
        "new_code": request.session.pop("diary_code_shown_once", None),
        "sae_viewer": _can(access, Role.INVESTIGATOR, Role.SPONSOR_ADMIN),
        "can_end": _can(access, *services.END_ROLES) and not participant.has_ended,
        "can_reopen": _can(access, *services.REOPEN_ROLES) and participant.has_ended,
        "end_choices": _end_choices(),
        "end_form": end_form or {"values": {}, "errors": {}},
        "reopen_form": reopen_form or {"values": {}, "errors": {}},
    })


@login_required
def participant_timeline(request, participant_id: int):
    participant, access = _participant(request, participant_id)
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
        participant, access = _participant(request, participant_id)
        values = {k: request.POST.get(k, "") for k in ("outcome", "ended_on", "reason")}
        try:
            services.end_participation(participant, request.user, outcome=values["outcome"],
                                       ended_on=values["ended_on"], reason=values["reason"], now=timezone.now(),
                                       check_only=True)
        except FormInvalid as exc:
            return _timeline_page(request, participant, access,
                                  end_form={"values": values, "errors": _field_errors(exc)})
        except CaptureError as exc:
            messages.error(request, str(exc))
            return redirect("capture:participant", participant.pk)
        ended_on = date.fromisoformat(values["ended_on"])
        dropped = [v for v in services.ensure_schedule(participant) if v.done_on is None and ended_on <= v.latest]
        return render(request, "capture/confirm_end.html", {
            "participant": participant, "values": values, "ended_on": ended_on, "dropped": dropped,
            "outcome_label": dict(_end_choices()).get(values["outcome"], values["outcome"])})
    return _participation_change(
        request, participant_id, "end_form", ("outcome", "ended_on", "reason"),
        lambda participant, values: services.end_participation(
            participant, request.user, outcome=values["outcome"], ended_on=values["ended_on"],
            reason=values["reason"], now=timezone.now()),
        lambda participant: f"{participant}: {ended_note(participant)}.")


@login_required
@require_POST
def reopen_participation(request, participant_id: int):
    return _participation_change(
        request, participant_id, "reopen_form", ("reason",),
        lambda participant, values: services.reopen_participation(
            participant, request.user, reason=values["reason"], now=timezone.now()),
        lambda participant: (f"{participant}: participation reopened "
                             f"({participant.get_status_display().lower()})."))


def _participation_change(request, participant_id: int, form_name: str, fields: tuple[str, ...], change, done):
    participant, access = _participant(request, participant_id)
    values = {k: request.POST.get(k, "") for k in fields}
    try:
        participant = change(participant, values)
    except FormInvalid as exc:
        return _timeline_page(request, participant, access,
                              **{form_name: {"values": values, "errors": _field_errors(exc)}})
    except CaptureError as exc:
        messages.error(request, str(exc))
        return redirect("capture:participant", participant.pk)
    messages.success(request, done(participant))
    return redirect("capture:participant", participant.pk)


@login_required
@require_POST
def record_visit_date(request, participant_id: int, visit_id: str):
    participant, _ = _participant(request, participant_id)
    visit = get_object_or_404(Visit, participant=participant, visit_id=visit_id)
    raw = request.POST.get("done_on", "").strip()
    try:
        done_on = date.fromisoformat(raw) if raw else None
        services.record_visit_date(visit, done_on, request.user, timezone.now(), note=request.POST.get("note", ""))
        messages.success(request, f"{visit.label}: visit date recorded.")
    except ValueError:
        messages.error(request, f"{raw!r} is not a date (YYYY-MM-DD).")
    except CaptureError as exc:
        messages.error(request, str(exc))
    return redirect("capture:participant", participant.pk)


@login_required
@require_POST
def sign_visit(request, participant_id: int, visit_id: str):
    participant, _ = _participant(request, participant_id)
    visit = get_object_or_404(Visit, participant=participant, visit_id=visit_id)
    try:
        services.sign_visit(visit, request.user, password=request.POST.get("password", ""), now=timezone.now())
        messages.success(request, f"{visit.label} signed.")
    except CaptureError as exc:
        messages.error(request, str(exc))
    return redirect("capture:participant", participant.pk)


# --------------------------------------------------------------------------- eCRF


def _form_fields(instrument, values: dict[str, Any], errors: dict[str, list[str]]) -> list[dict]:
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
        choices = [(str(c.code), f"{c.code} — {c.label}" if item.type is ItemType.integer else c.label)
                   for c in item.choices]
        if item.type is ItemType.boolean:
            choices = [("true", "Yes"), ("false", "No")]
        choices += [(u, f"{u} (untestable)") for u in item.untestable]
        fields.append({"item": item, "value": "" if value is None else str(value), "widget": widget,
                       "choices": choices, "errors": errors.get(item.key, [])})
    return fields


def _posted_values(instrument, post) -> dict[str, Any]:
    # Text from the browser; the instrument turns "2" into 2 and names the field when it cannot.
    values = {}
    for item in instrument.items:
        raw = post.get(item.key, "")
        if raw.strip():
            values[item.key] = raw
    return values


@login_required
def ecrf(request, participant_id: int, visit_id: str, instrument: str):
    participant, access = _participant(request, participant_id)
    visit = get_object_or_404(Visit, participant=participant, visit_id=visit_id)
    name = instrument_name(instrument)
    if name not in {instrument_name(f) for f in visit.forms}:
        raise Http404(f"{instrument} is not a form of {visit.label}")
    definition = instrument_for(name)
    repeat = int(request.GET.get("repeat") or request.POST.get("repeat") or 1)
    form = FormRecord.objects.filter(visit=visit, instrument=name, repeat=repeat).first()
    values: dict[str, Any] = dict(form.data) if form else {}
    errors: dict[str, list[str]] = {}
    general_error = ""
    if request.method == "POST":
        values = _posted_values(definition, request.POST)
        try:
            form = services.save_form(participant, visit_id, name, values, request.user,
                                      complete=request.POST.get("action") == "complete", now=timezone.now(),
                                      reason=request.POST.get("reason"), repeat=repeat)
            messages.success(request, f"{definition.title} saved ({form.get_status_display().lower()}, "
                                      f"version {form.version}).")
            return redirect("capture:participant", participant.pk)
        except FormInvalid as exc:
            for e in exc.errors:
                errors.setdefault(e.item, []).append(e.message)
            general_error = f"Not saved: {len(exc.errors)} field(s) need attention. Nothing was changed."
        except CaptureError as exc:
            general_error = f"Not saved: {exc}"
    signed = form is not None and (Signature.objects.filter(form=form, voided_at__isnull=True).exists()
                                   or Signature.objects.filter(visit=visit, voided_at__isnull=True).exists())
    queries = form.queries.prefetch_related("messages__author").all() if form else []
    return render(request, "capture/ecrf.html", {
        "participant": participant, "visit": visit, "definition": definition, "form": form, "repeat": repeat,
        "fields": _form_fields(definition, values, errors), "general_error": general_error,
        "reason_error": errors.get("reason"), "preview": services.preview_scores(definition, values),
        "signed": signed, "queries": queries, "access": access,
        "can_enter": _can(access, *DATA_ENTRY_ROLES) and not (form and form.locked),
        "can_query": _can(access, Role.MONITOR, Role.DATA_MANAGER),
        "can_answer": _can(access, *DATA_ENTRY_ROLES), "can_verify": _can(access, Role.MONITOR),
        "can_sign": _can(access, Role.INVESTIGATOR), "can_lock": _can(access, Role.DATA_MANAGER),
        "needs_reason": form is not None and (form.status == "complete" or signed),
        # Scales number their items ("5a · Motor arm, left"); forms show the label alone.
        "show_keys": definition.kind == "scale",
        "not_editable": not (_can(access, *DATA_ENTRY_ROLES) and not (form and form.locked)),
    })


@login_required
@require_POST
def ecrf_preview(request, participant_id: int, visit_id: str, instrument: str):
    """The derived score while typing (HTMX): the total when complete, else the partial sum."""
    _participant(request, participant_id)
    definition = instrument_for(instrument_name(instrument))
    preview = services.preview_scores(definition, _posted_values(definition, request.POST))
    return render(request, "capture/_score.html", {"preview": preview, "definition": definition})


def _form_action(request, form_id: int, action):
    form = get_object_or_404(FormRecord.objects.select_related("participant", "visit"), pk=form_id)
    view_access(request.user, form.participant)
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
        services.sign_form(form, request.user, password=request.POST.get("password", ""), now=timezone.now())
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
        services.open_query(form, request.POST.get("item", ""), request.POST.get("text", ""), request.user,
                            now=timezone.now())
        return "Query opened."
    return _form_action(request, form_id, action)


@login_required
@require_POST
def query_action(request, query_id: int, verb: str):
    query = get_object_or_404(Query.objects.select_related("form"), pk=query_id)
    text = request.POST.get("text", "")
    if verb not in ("answer", "close"):
        raise Http404(verb)

    def action(_form):
        if verb == "answer":
            services.answer_query(query, text, request.user, now=timezone.now(),
                                  corrected=bool(request.POST.get("corrected")))
            return "Query answered."
        services.close_query(query, request.user, now=timezone.now(), text=text)
        return "Query closed."
    return _form_action(request, query.form_id, action)


# --------------------------------------------------------------------------- audit views


def _events_for(access, events):
    if not access.can_see_allocation:
        events = events.filter(restricted=False)
    return events.order_by("-seq")


@login_required
def participant_audit(request, participant_id: int):
    participant, access = _participant(request, participant_id)
    events = _events_for(access, AuditEvent.objects.filter(participant_id=participant.pk))
    return render(request, "capture/audit.html", {"participant": participant, "events": events[:500],
                                                  "title": f"Audit trail of {participant.participant_number}"})


@login_required
def form_audit(request, form_id: int):
    form = get_object_or_404(FormRecord.objects.select_related("participant", "visit"), pk=form_id)
    access = view_access(request.user, form.participant)
    events = _events_for(access, AuditEvent.objects.filter(object_type="form", object_id=str(form.pk)))
    return render(request, "capture/audit.html", {
        "participant": form.participant, "events": events, "form": form,
        "title": f"Audit trail of {form.instrument} at {form.visit.label}"})


# --------------------------------------------------------------------------- adverse events


@login_required
def adverse_event(request, participant_id: int, ae_id: int | None = None):
    participant, access = _participant(request, participant_id)
    definition = instrument_for("adverse_event")
    ae = get_object_or_404(AdverseEvent, pk=ae_id, participant=participant) if ae_id else None
    values: dict[str, Any] = dict(ae.data) if ae else {}
    errors: dict[str, list[str]] = {}
    general_error = ""
    if request.method == "POST":
        # Seriousness answers are Yes/No dropdowns: a blank answer stays blank (never a silent "No").
        values = _posted_values(definition, request.POST)
        try:
            ae = services.save_adverse_event(participant, values, request.user,
                                             complete=request.POST.get("action") == "complete", now=timezone.now(),
                                             adverse_event=ae, reason=request.POST.get("reason"))
            messages.success(request, f"AE{ae.number} saved.")
            return redirect("capture:participant", participant.pk)
        except FormInvalid as exc:
            for e in exc.errors:
                errors.setdefault(e.item, []).append(e.message)
            general_error = f"Not saved: {len(exc.errors)} field(s) need attention. Nothing was changed."
        except CaptureError as exc:
            general_error = f"Not saved: {exc}"
    clock = sae_clock(ae.awareness_at, ae.reported_at, timezone.now()) if ae and ae.serious else None
    return render(request, "capture/adverse_event.html", {
        "participant": participant, "ae": ae, "definition": definition, "clock": clock,
        "fields": _form_fields(definition, values, errors), "general_error": general_error,
        "reason_error": errors.get("reason"), "can_enter": _can(access, *DATA_ENTRY_ROLES),
        "can_report": _can(access, Role.INVESTIGATOR, Role.COORDINATOR),
    })


@login_required
@require_POST
def adverse_event_action(request, participant_id: int, ae_id: int, verb: str):
    participant, _ = _participant(request, participant_id)
    ae = get_object_or_404(AdverseEvent, pk=ae_id, participant=participant)
    try:
        if verb == "report":
            services.report_sae(ae, request.user, now=timezone.now())
            messages.success(request, f"AE{ae.number}: reported to the sponsor.")
        elif verb == "follow-up":
            services.add_ae_follow_up(ae, request.user, note=request.POST.get("note", ""), now=timezone.now(),
                                      outcome=request.POST.get("outcome", ""))
            messages.success(request, f"AE{ae.number}: follow-up recorded.")
        else:
            raise Http404(verb)
    except CaptureError as exc:
        messages.error(request, str(exc))
    return redirect("capture:adverse_event", participant.pk, ae.pk)


# --------------------------------------------------------------------------- diary codes


@login_required
@require_POST
def diary_access(request, participant_id: int):
    participant, _ = _participant(request, participant_id)
    try:
        if request.POST.get("revoke"):
            access = get_object_or_404(participant.diary_accesses, pk=request.POST["revoke"])
            services.revoke_diary_access(access, request.user, now=timezone.now(),
                                         reason=request.POST.get("reason", ""))
            messages.success(request, "Diary code withdrawn.")
        else:
            _access, code = services.create_diary_access(participant, request.POST.get("who", "participant"),
                                                         request.user, now=timezone.now())
            # Shown once on the next page and never stored: only its keyed hash is kept.
            request.session["diary_code_shown_once"] = {
                "code": services.format_code(code),
                "link": request.build_absolute_uri(f"/diary/{code}/"),
            }
    except CaptureError as exc:
        messages.error(request, str(exc))
    return redirect("capture:participant", participant.pk)
