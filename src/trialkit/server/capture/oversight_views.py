"""Oversight pages: record status dashboard, visit calendar, the full lists of queries, source
verification and signatures, and the bulk review of a visit's forms.

Each view asks ``trialkit.server.accounts.access`` once, in the line marked ``# access``; the
pages change nothing except the bulk review, whose service checks the role again.
"""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from trialkit.server.accounts.lookups import trial_for, visit_for
from trialkit.server.capture import oversight
from trialkit.server.capture.bulk import BulkRefused, review_visit_forms, say
from trialkit.server.capture.models import FormRecord, Signature
from trialkit.server.capture.oversight import OVERSIGHT, ListFilters
from trialkit.server.capture.services import CaptureError, FormInvalid

LIST_PAGE_SIZE = 50


def _site(request, trial, access):
    """The site chosen in ``?site=``, among those the user covers; None for all of them."""
    code = (request.GET.get("site") or "").strip()
    if not code:
        return None
    for site in oversight.visible_sites(trial, access):
        if site.code == code:
            return site
    raise Http404(f"no site {code!r} among the sites you cover")


def _page(request, rows, size, count: int | None = None):
    """A page of ``rows``; ``count``, when the caller has counted them already (a list's status
    counts), spares the paginator counting them again."""
    paginator = Paginator(rows, size)
    if count is not None:
        paginator.count = count  # a cached_property: set, it is not computed
    return paginator.get_page(request.GET.get("page"))


def _common(request, trial, access, **extra):
    return {
        "trial": trial,
        "access": access,
        "sites": oversight.visible_sites(trial, access),
        "site_code": request.GET.get("site", ""),
        **extra,
    }


@login_required
def dashboard(request, nct_id: str):
    """Participant × visit × form, with each form's state as a colour, a symbol and a text."""
    trial, access = trial_for(request.user, nct_id, OVERSIGHT)
    site = _site(request, trial, access)
    page = _page(request, oversight.site_participants(trial, access, site), oversight.PAGE_SIZE)
    grid = oversight.status_grid(trial, list(page.object_list), timezone.localdate())
    return render(
        request,
        "capture/dashboard.html",
        _common(request, trial, access, grid=grid, page=page, states=oversight.FORM_STATES),
    )


@login_required
def visit_calendar(request, nct_id: str):
    """A month of visit windows at the user's sites (or one site): opens, target day, closes."""
    trial, access = trial_for(request.user, nct_id, OVERSIGHT)
    site = _site(request, trial, access)
    today = timezone.localdate()
    error, status = "", 200
    try:
        year, month = oversight.month_of(today, request.GET.get("month"))
    except ValueError as exc:
        (year, month), error, status = (today.year, today.month), str(exc), 400
    day, day_error = None, ""
    if request.GET.get("day") and not error:
        try:
            day = date.fromisoformat(request.GET["day"])
        except ValueError:
            day_error, status = f"day {request.GET['day'][:20]!r} is not a date (YYYY-MM-DD)", 400
    cal = oversight.visit_calendar(trial, access, year, month, today, site, day=day, page=request.GET.get("page"))
    days = [d for week in cal.weeks for d in week if d.in_month and d.entries]
    previous, following = oversight.shift_month(year, month, -1), oversight.shift_month(year, month, 1)
    return render(
        request,
        "capture/calendar.html",
        _common(
            request,
            trial,
            access,
            weeks=cal.weeks,
            cal=cal,
            page=cal.day_page,
            days_with_visits=days,
            month_start=oversight.month_bounds(year, month)[0],
            previous=f"{previous[0]:04d}-{previous[1]:02d}",
            following=f"{following[0]:04d}-{following[1]:02d}",
            previous_start=date(*previous, 1),
            following_start=date(*following, 1),
            today=today,
            error=error,
            day_error=day_error,
            week_days=oversight.week_days(),
            visit_count=cal.visit_count,
        ),
        status=status,
    )


def _filters(request, trial, access, statuses) -> tuple[ListFilters, list[str]]:
    """The list's filters from the query string; a value that is not allowed is dropped and named."""
    errors = []
    status = request.GET.get("status", "")
    if status and status not in dict(statuses):
        errors.append(f"status {status!r} is not one of: {', '.join(dict(statuses))}")
        status = ""
    instrument = request.GET.get("form", "")
    if instrument and instrument not in dict(oversight.trial_form_choices(trial)):
        errors.append(f"form {instrument!r} is not a form of {trial.short_name}")
        instrument = ""
    participant = request.GET.get("participant", "").strip()[:32]
    return ListFilters(
        site=_site(request, trial, access), status=status, instrument=instrument, participant=participant
    ), errors


def _list_page(request, nct_id, template, build, statuses, default_status, **extra):
    trial, access = trial_for(request.user, nct_id, OVERSIGHT)
    filters, errors = _filters(request, trial, access, statuses)
    rows, counts = build(trial, access, filters)
    chosen = filters.status or default_status
    page = _page(request, rows, LIST_PAGE_SIZE, count=counts[chosen] if chosen else sum(counts.values()))
    status_rows = [(code, label, counts.get(code, 0)) for code, label in statuses]
    return render(
        request,
        template,
        _common(
            request,
            trial,
            access,
            page=page,
            counts=counts,
            filters=filters,
            status_rows=status_rows,
            chosen=chosen,
            default_status=default_status,
            all_count=sum(counts.values()),
            total=page.paginator.count,
            form_choices=oversight.trial_form_choices(trial),
            filter_errors=errors,
            **extra,
        ),
        status=400 if errors else 200,
    )


@login_required
def queries(request, nct_id: str):
    return _list_page(request, nct_id, "capture/list_queries.html", oversight.query_list, oversight.QUERY_STATUSES, "")


@login_required
def verification(request, nct_id: str):
    return _list_page(
        request,
        nct_id,
        "capture/list_verification.html",
        oversight.verification_list,
        oversight.VERIFICATION_STATES,
        "to_verify",
    )


@login_required
def signatures(request, nct_id: str):
    return _list_page(
        request,
        nct_id,
        "capture/list_signatures.html",
        oversight.signature_list,
        oversight.SIGNATURE_STATES,
        "awaiting",
    )


# --------------------------------------------------------------------------- bulk review of a visit


def _review_rows(visit):
    active = Signature.objects.filter(voided_at__isnull=True)
    visit_signed = active.filter(visit=visit).exists()
    signed_forms = set(active.filter(form__visit=visit).values_list("form_id", flat=True))
    rows = []
    for form in (
        FormRecord.objects.filter(visit=visit, deleted_at__isnull=True)
        .select_related("updated_by", "verified_by", "locked_by")
        .order_by("instrument", "repeat")
    ):
        state = oversight.form_state(form, visit_signed or form.pk in signed_forms, None)
        rows.append({"form": form, "title": oversight.form_title(form.instrument), "state": state})
    entered = {r["form"].instrument for r in rows}
    missing = [
        oversight.form_title(n) for n in dict.fromkeys(visit.forms) if oversight.instrument_name(n) not in entered
    ]
    return rows, missing


@login_required
def visit_review(request, participant_id: int, visit_id: str):
    """The forms of one visit with their state; the monitor source-verifies and the data manager
    locks several at once, with one reason."""
    visit, participant, access = visit_for(request.user, participant_id, visit_id, OVERSIGHT)
    error, problems, reason_error = "", [], []
    chosen = set()
    action = request.POST.get("action", "")
    if request.method == "POST":
        chosen = {int(x) for x in request.POST.getlist("forms") if x.isdigit()}
        try:
            result = review_visit_forms(
                visit, action, sorted(chosen), request.user, reason=request.POST.get("reason", ""), now=timezone.now()
            )
            text = say(action, "done", visit=visit.label, count=len(result.done))
            if result.skipped:
                skipped = ", ".join(f"{oversight.form_title(f.instrument)} ({why})" for f, why in result.skipped)
                text += " " + _("Skipped %(count)s: %(forms)s.") % {"count": len(result.skipped), "forms": skipped}
            messages.success(request, text)
            return redirect("capture:visit_review", participant.pk, visit.visit_id)
        except BulkRefused as exc:
            error, problems = say(action, "nothing"), exc.problems
        except FormInvalid as exc:
            reason_error = [e.message for e in exc.errors]
            error = _("Nothing was done: give a reason.")
        except CaptureError as exc:
            error = _("Nothing was done: %(why)s.") % {"why": exc}
    rows, missing = _review_rows(visit)
    if request.method != "POST":
        chosen = {r["form"].pk for r in rows}
    return render(
        request,
        "capture/visit_review.html",
        {
            "participant": participant,
            "visit": visit,
            "rows": rows,
            "missing": missing,
            "chosen": chosen,
            "error": error,
            "problems": problems,
            "reason_error": reason_error,
            "action": action,
            "reason": request.POST.get("reason", ""),
            "status": visit.status(timezone.localdate()),
            "can_verify": access.can("capture.verify_form", participant.site_id),
            "can_lock": access.can("capture.lock_form", participant.site_id),
            "states": oversight.FORM_STATES,
        },
    )
