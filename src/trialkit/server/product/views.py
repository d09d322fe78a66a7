"""Product pages: site supply (counts for blinded roles; kits, lots and expiry by kit for the
pharmacist), the pharmacist's lots and kit timelines, and a participant's kit timeline with the
infusion record. Every page calls the product services and nothing else; a refusal is shown as
the service's sentence."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from trialkit.server.accounts.lookups import participant_by_number, site_for, trial_for
from trialkit.server.product import services
from trialkit.server.product.models import InfusionRecord, Lot


def _local(value: str) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise services.ProductProblem(f"{value!r} is not a date and time") from None
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


@login_required
@require_http_methods(["GET", "POST"])
def supply(request, nct_id: str):
    trial, access = trial_for(request.user, nct_id, "product.view_supply")
    if request.method == "POST":
        try:
            site, _ = site_for(request.user, trial, request.POST.get("site", ""), "product.request_resupply")
            quantity = int(request.POST.get("quantity", "0") or 0)
            services.request_resupply(trial, site, request.user, quantity=quantity, now=timezone.now())
        except (services.ProductProblem, ValueError) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Resupply of {quantity} kits requested for {site.code}.")
        return redirect("product:supply", nct_id)
    try:
        stock = services.site_supply(trial, request.user, now=timezone.now())
    except services.ProductProblem as exc:
        raise Http404(str(exc)) from exc
    return render(
        request,
        "product/supply.html",
        {
            "trial": trial,
            "stock": stock,
            "spec": trial.protocol.product.supply if trial.protocol.product else None,
            "can_request": access.can("product.request_resupply"),
            "is_pharmacist": access.can("product.handle_kits"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def lots(request, nct_id: str):
    trial, _access = trial_for(request.user, nct_id, "product.manage_lots")
    if request.method == "POST":
        lot = Lot.objects.filter(trial=trial, lot_number=request.POST.get("lot_number", "")).first()
        if lot is None:
            raise Http404("no such lot")
        try:
            services.release_lot(lot, request.user, now=timezone.now())
        except services.ProductProblem as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Lot {lot.lot_number} released.")
        return redirect("product:lots", nct_id)
    rows = Lot.objects.filter(trial=trial).prefetch_related("kits")
    return render(request, "product/lots.html", {"trial": trial, "lots": rows})


@login_required
@require_http_methods(["GET", "POST"])
def kit(request, nct_id: str, kit_number: str):
    trial, _access = trial_for(request.user, nct_id, "product.handle_kits")
    found = services.Kit.objects.filter(trial=trial, kit_number=kit_number).first()
    if found is None:
        raise Http404("no such kit")
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "release":
                services.release_kit(found, request.user, now=timezone.now(), reason=request.POST.get("reason", ""))
            elif action == "destroy":
                services.destroy_kit(found, request.user, now=timezone.now(), reason=request.POST.get("reason", ""))
            else:
                raise services.ProductProblem("unknown action")
        except services.ProductProblem as exc:
            messages.error(request, str(exc))
        return redirect("product:kit", nct_id, kit_number)
    timeline = services.kit_timeline_by_number(trial, kit_number, request.user)
    return render(request, "product/kit.html", {"trial": trial, "timeline": timeline, "is_pharmacist": True})


@login_required
@require_http_methods(["GET", "POST"])
def participant_kit(request, nct_id: str, participant_number: str):
    trial, access = trial_for(request.user, nct_id)
    participant, _ = participant_by_number(request.user, trial, participant_number, "product.record_infusion")
    if request.method == "POST":
        action = request.POST.get("action", "")
        now = timezone.now()
        try:
            if action == "assign":
                services.assign_kit(participant, request.user, now=now)
            elif action == "thaw":
                services.thaw_kit(
                    participant, request.user, now=now, thawed_at=_local(request.POST.get("thawed_at", ""))
                )
            elif action == "infusion":
                data = services.InfusionInput(
                    started_at=request.POST.get("started_at", ""),
                    stopped_at=request.POST.get("stopped_at", ""),
                    rate_ml_per_hour=request.POST.get("rate_ml_per_hour", ""),
                    volume_given_ml=request.POST.get("volume_given_ml", ""),
                    interruptions=[
                        {"stopped_at": a, "resumed_at": b, "reason": request.POST.get("interruption_reason", "")}
                        for a, b in [(request.POST.get("interrupted_at", ""), request.POST.get("resumed_at", ""))]
                        if a
                    ],
                    reactions=[
                        {
                            "at": request.POST.get("reaction_at", ""),
                            "description": d,
                            "grade": request.POST.get("reaction_grade") or None,
                        }
                        for d in [request.POST.get("reaction", "").strip()]
                        if d
                    ],
                )
                services.record_infusion(participant, request.user, data, now=now)
            else:
                raise services.ProductProblem("unknown action")
        except (services.ProductProblem, PermissionDenied) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Recorded.")
        return redirect("product:participant", nct_id, participant_number)
    try:
        timeline = services.kit_timeline(participant, request.user)
    except services.ProductProblem as exc:
        timeline, missing = None, str(exc)
    else:
        missing = ""
    return render(
        request,
        "product/participant.html",
        {
            "trial": trial,
            "participant": participant,
            "timeline": timeline,
            "missing": missing,
            "infusion": InfusionRecord.objects.filter(participant=participant).first(),
            "is_pharmacist": access.can("product.handle_kits", participant.site_id),
            "limits": trial.protocol.product.infusion if trial.protocol.product else None,
        },
    )
