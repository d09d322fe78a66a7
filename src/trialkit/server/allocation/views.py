"""Allocation pages. Blinded staff see randomization and kit numbers only; the pages that show an
arm (the statistician's list, the pharmacist's preparation sheet, the unblinding result) check
the unblinded role, or the site investigator, through the services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from trialkit.dosing.escalation import EscalationError
from trialkit.server.accounts.access import user_roles
from trialkit.server.accounts.lookups import participant_by_number, trial_for
from trialkit.server.allocation import escalation, services
from trialkit.server.allocation.models import AllocationList, DoseRecord


def _trial(request, nct_id: str, permission: str | None = None):
    return trial_for(request.user, nct_id, permission)


def _participant(request, nct_id: str, participant_number: str, permission: str = "participant.view"):
    trial, _access = _trial(request, nct_id)
    participant, access = participant_by_number(request.user, trial, participant_number, permission)
    return trial, access, participant


LIST_PAGE_SIZE = 50  # rows per page of a list, as the capture and screening lists


@login_required
def index(request):
    trials = sorted({m.trial for m in user_roles(request.user)}, key=lambda t: t.nct_id)
    return render(request, "allocation/index.html", {"trials": trials})


@login_required
def trial_overview(request, nct_id: str):
    trial, access = _trial(request, nct_id)
    context = {
        "trial": trial,
        "access": access,
        "has_list": AllocationList.objects.filter(trial=trial).exists(),
        "randomized": Paginator(services.randomized_participants(trial, request.user), LIST_PAGE_SIZE).get_page(
            request.GET.get("page")
        ),
        "awaiting": services.awaiting_randomization(trial, request.user),
        "can_randomize": access.can("allocation.randomize"),
        "is_statistician": access.can("allocation.manage_list"),
        "is_pharmacist": access.can("allocation.prepare_dose"),
        "is_sponsor": access.can("allocation.view_notifications"),
        "gate": escalation.blinded_gate(trial, timezone.now()),
        "can_review_escalation": access.can("allocation.escalation"),
        "can_view_supply": access.can("product.view_supply") and trial.protocol.product is not None,
    }
    return render(request, "allocation/trial.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def escalation_page(request, nct_id: str):
    """The DSMB's escalation review: the gate, each cohort's counts by arm, the decisions, and the
    form to record one. Unblinded (DSMB statistician) only; blinded roles see open/paused on the
    randomization page."""
    trial, _access = _trial(request, nct_id, "allocation.escalation")
    if request.method == "POST":
        try:
            escalation.record_decision(
                trial,
                request.user,
                cohort_id=request.POST.get("cohort_id", ""),
                decision=request.POST.get("decision", ""),
                rationale=request.POST.get("rationale", ""),
                now=timezone.now(),
            )
        except EscalationError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Decision recorded."))
        return redirect("allocation:escalation", trial.nct_id)
    view = escalation.dsmb_view(trial, request.user, timezone.now())
    return render(request, "allocation/escalation.html", {"trial": trial, **view})


@login_required
def participant_page(request, nct_id: str, participant_number: str):
    trial, access, participant = _participant(request, nct_id, participant_number)
    dose = DoseRecord.objects.filter(participant=participant).only("prepared_at", "administered_at").first()
    return render(
        request,
        "allocation/participant.html",
        {
            "trial": trial,
            "participant": participant,
            "dose": dose,
            "can_randomize": access.can("allocation.randomize", participant.site_id),
            "can_administer": access.can("allocation.administer", participant.site_id),
            "can_unblind": access.can("allocation.unblind", participant.site_id),
            "can_see_allocation": access.can_see_allocation,
        },
    )


def _confirm_page(request, template: str, trial, participant, **extra):
    """The GET half of an irreversible action: what will happen, and the one button that does it."""
    dose = DoseRecord.objects.filter(participant=participant).only("prepared_at", "administered_at").first()
    return render(request, template, {"trial": trial, "participant": participant, "dose": dose, **extra})


@login_required
@require_http_methods(["GET", "POST"])
def randomize(request, nct_id: str, participant_number: str):
    """GET: the confirmation page (what randomizing does, which cannot be undone); POST: randomize."""
    trial, access, participant = _participant(request, nct_id, participant_number)
    if request.method == "GET":
        return _confirm_page(
            request,
            "allocation/confirm_randomize.html",
            trial,
            participant,
            can_randomize=access.can("allocation.randomize", participant.site_id),
            has_list=AllocationList.objects.filter(trial=trial).exists(),
        )
    try:
        receipt = services.randomize(participant, request.user, now=timezone.now())
    except services.AllocationProblem as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Randomized: %(randomization_number)s, kit %(kit_number)s.")
            % {"randomization_number": receipt.randomization_number, "kit_number": receipt.kit_number},
        )
    return redirect("allocation:participant", nct_id=nct_id, participant_number=participant_number)


@login_required
def label(request, nct_id: str, participant_number: str):
    _trial_obj, _access, participant = _participant(request, nct_id, participant_number)
    try:
        text = services.blinded_label_for(participant, request.user)
    except services.AllocationProblem as exc:
        raise Http404(str(exc)) from exc
    from trialkit.server.allocation.barcode import code128_svg

    return render(
        request,
        "allocation/label.html",
        {
            "participant": participant,
            "trial": participant.trial,
            "label": text,
            "barcode": code128_svg(participant.kit_number) if participant.kit_number else "",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def administered(request, nct_id: str, participant_number: str):
    """GET: the confirmation page (the infusion date becomes day 0 of the schedule); POST: record it."""
    trial, access, participant = _participant(request, nct_id, participant_number)
    if request.method == "GET":
        return _confirm_page(
            request,
            "allocation/confirm_administered.html",
            trial,
            participant,
            can_administer=access.can("allocation.administer", participant.site_id),
            anchor=trial.protocol.schedule.anchor,
            today=timezone.localdate(),
        )
    try:
        services.record_administration(participant, request.user, now=timezone.now())
    except services.AllocationProblem as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Administration recorded."))
    return redirect("allocation:participant", nct_id=nct_id, participant_number=participant_number)


@login_required
def unblind(request, nct_id: str, participant_number: str):
    trial, _access, participant = _participant(request, nct_id, participant_number, "allocation.unblind")
    context = {"trial": trial, "participant": participant, "errors": {}}
    if request.method == "POST":
        try:
            result = services.emergency_unblind(
                participant,
                request.user,
                reason=request.POST.get("reason", ""),
                password=request.POST.get("password", ""),
                otp_token=request.POST.get("otp_token", ""),
                now=timezone.now(),
                request=request,
            )
        except services.AllocationProblem as exc:
            context["errors"] = {exc.field or "form": str(exc)}
            context["reason"] = request.POST.get("reason", "")
        else:
            response = render(
                request, "allocation/unblinded.html", {"trial": trial, "participant": participant, "result": result}
            )
            response["Cache-Control"] = "no-store"  # shown once: not kept by the browser
            return response
    return render(request, "allocation/unblind.html", context)


@login_required
def allocation_list(request, nct_id: str):
    trial, _access = _trial(request, nct_id, "allocation.manage_list")
    generated = None
    if request.method == "POST":
        try:
            generated = services.generate_allocation_list(
                trial,
                request.user,
                now=timezone.now(),
                seed=request.POST.get("seed", "").strip() or None,
                regenerate=bool(request.POST.get("regenerate")),
            )
        except services.AllocationProblem as exc:
            messages.error(request, str(exc))
    current = AllocationList.objects.filter(trial=trial).first()
    response = render(
        request,
        "allocation/list.html",
        {
            "trial": trial,
            "current": current,
            "generated": generated,
            "balance": services.balance_summary(trial, request.user) if current else [],
            "arms": [trial.protocol.arm(arm_id).label for arm_id in trial.protocol.randomization.ratio],
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def pharmacy(request, nct_id: str):
    trial, _access = _trial(request, nct_id)
    pending = services.doses_to_prepare(trial, request.user)
    return render(request, "allocation/pharmacy.html", {"trial": trial, "pending": pending})


@login_required
def prepare(request, nct_id: str, participant_number: str):
    """Weight -> "Compute the preparation" shows the sheet, recording nothing; "Record this
    preparation" (the same weight, confirmed) records it and makes the blinded label."""
    trial, _access, participant = _participant(request, nct_id, participant_number, "allocation.prepare_dose")
    recorded = services.recorded_weight(participant)
    context = {
        "trial": trial,
        "participant": participant,
        "errors": {},
        "recorded": recorded,
        "weight": f"{recorded.weight_kg:g}" if recorded else "",
        "weight_reason": "",
        "plan": None,
    }
    if request.method == "POST":
        context["weight"] = request.POST.get("weight_kg", "")
        context["weight_reason"] = request.POST.get("weight_reason", "")
        try:
            if request.POST.get("action") == "record":
                services.prepare_dose(
                    participant,
                    context["weight"],
                    request.user,
                    now=timezone.now(),
                    weight_reason=context["weight_reason"],
                )
                messages.success(
                    request, f"Preparation recorded for {participant.participant_number}; print the blinded label."
                )
                return redirect("allocation:prepare", nct_id=nct_id, participant_number=participant_number)
            context["plan"] = services.plan_dose(
                participant, context["weight"], request.user, now=timezone.now(), weight_reason=context["weight_reason"]
            )
        except services.AllocationProblem as exc:
            context["errors"] = {exc.field or "form": str(exc)}
    participant.refresh_from_db()
    context["prepared"] = services.preparation_for(participant, request.user)
    arms = {arm.id: arm.label for arm in trial.protocol.arms}
    if context["plan"]:
        context["plan_arm"] = arms.get(context["plan"].preparation.arm_id, context["plan"].preparation.arm_id)
    if context["prepared"]:
        context["prepared_arm"] = arms.get(
            context["prepared"].preparation.arm_id, context["prepared"].preparation.arm_id
        )
    response = render(request, "allocation/prepare.html", context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
def notifications(request, nct_id: str):
    trial, _access = _trial(request, nct_id, "allocation.view_notifications")
    return render(
        request,
        "allocation/notifications.html",
        {
            "trial": trial,
            "notifications": Paginator(
                services.notifications_for(request.user, trial).order_by("-created_at", "-id"), LIST_PAGE_SIZE
            ).get_page(request.GET.get("page")),
        },
    )


@login_required
@require_POST
def notification_read(request, nct_id: str, notification_id: int):
    services.mark_read(notification_id, request.user, now=timezone.now())
    return redirect("allocation:notifications", nct_id=nct_id)


@login_required
def label_text(request, nct_id: str, participant_number: str):
    _t, _a, participant = _participant(request, nct_id, participant_number)
    try:
        text = services.blinded_label_for(participant, request.user)
    except services.AllocationProblem as exc:
        raise Http404(str(exc)) from exc
    return HttpResponse(text, content_type="text/plain; charset=utf-8")
