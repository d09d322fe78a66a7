"""Product pages: site supply (counts for blinded roles; kits, lots and expiry by kit for the
pharmacist), the pharmacist's lots and kit timelines, and a participant's kit timeline with the
infusion record. Every page calls the product services and nothing else; a refusal is shown as
the service's sentence."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from trialkit.server.accounts.lookups import participant_by_number, site_for, trial_for
from trialkit.server.product import services
from trialkit.server.product.models import InfusionRecord, Lot, ResupplyRequest, Shipment, TemperatureExcursion


def _local(value: str) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise services.ProductProblem(_("%(value)s is not a date and time") % {"value": repr(value)}) from None
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


@login_required
@require_http_methods(["GET", "POST"])
def supply(request, nct_id: str):
    trial, access = trial_for(request.user, nct_id, "product.view_supply")
    if request.method == "POST":
        try:
            site, _unused = site_for(request.user, trial, request.POST.get("site", ""), "product.request_resupply")
            quantity = int(request.POST.get("quantity", "0") or 0)
            services.request_resupply(trial, site, request.user, quantity=quantity, now=timezone.now())
        except (services.ProductProblem, ValueError) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("Resupply of %(quantity)s kits requested for %(site)s.") % {"quantity": quantity, "site": site.code},
            )
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
            "can_manage_lots": access.can("product.manage_lots"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def lots(request, nct_id: str):
    trial, _access = trial_for(request.user, nct_id, "product.manage_lots")
    if request.method == "POST":
        lot = _lot_or_404(trial, request.POST.get("lot_number", ""))
        try:
            services.release_lot(lot, request.user, now=timezone.now())
        except services.ProductProblem as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Lot %(lot_number)s released.") % {"lot_number": lot.lot_number})
        return redirect("product:lots", nct_id)
    rows = Lot.objects.filter(trial=trial).prefetch_related("kits")
    return render(request, "product/lots.html", {"trial": trial, "lots": rows})


@login_required
@require_http_methods(["GET", "POST"])
def kit(request, nct_id: str, kit_number: str):
    trial, _access = trial_for(request.user, nct_id, "product.handle_kits")
    found = _kit_or_404(trial, kit_number)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "release":
                services.release_kit(found, request.user, now=timezone.now(), reason=request.POST.get("reason", ""))
            elif action == "destroy":
                services.destroy_kit(found, request.user, now=timezone.now(), reason=request.POST.get("reason", ""))
            else:
                raise services.ProductProblem(_("unknown action"))
        except services.ProductProblem as exc:
            messages.error(request, str(exc))
        return redirect("product:kit", nct_id, kit_number)
    timeline = services.kit_timeline_by_number(trial, kit_number, request.user)
    return render(request, "product/kit.html", {"trial": trial, "timeline": timeline, "is_pharmacist": True})


@login_required
@require_http_methods(["GET", "POST"])
def participant_kit(request, nct_id: str, participant_number: str):
    trial, access = trial_for(request.user, nct_id)
    participant, _unused = participant_by_number(request.user, trial, participant_number, "product.record_infusion")
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
                raise services.ProductProblem(_("unknown action"))
        except (services.ProductProblem, PermissionDenied) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Recorded."))
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


# ------------------------------------------------------------------ the depot and the site's steps
#
# The pharmacist's steps from the depot to the site's storage, each a form calling the same
# service as the API with the same permission: lots, kits, shipments, receipt, storage and
# temperature excursions. Every page names kits and lots, so each refuses blinded roles first
# (product.manage_lots or product.handle_kits, which only the unblinded pharmacist holds). Input is
# read and bounded here as the API's schemas bound it (a NUL character is refused for every form
# by trialkit.server.web.middleware.RefuseNulCharacters before any view runs); the service's own refusals (ProductProblem,
# with its field) are shown next to the field they name. A refused form writes nothing (each
# service is one transaction) and is shown again with what was typed.

MAX_ROW_ID = 2**31 - 1


@dataclass
class Field:
    name: str
    label: str
    kind: str = "text"  # text, textarea, number, integer, date, datetime, select, kits
    required: bool = False
    max_length: int = 100
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None  # strictly greater than
    choices: list[tuple[str, str]] = dc_field(default_factory=list)
    help: str = ""


def _problem(name: str, rule: str) -> str:
    return f"{name}: {rule}"


def _clean(f: Field, raw: str) -> Any:
    """The value of one field, or ValueError with the sentence naming the field and the rule."""
    limit = f.max_length if f.kind in ("text", "textarea", "select") else (32 + 1) * 500 if f.kind == "kits" else 64
    if len(raw) > limit:
        raise ValueError(_problem(f.name, f"at most {limit} characters"))
    value = raw.strip()
    if not value:
        if f.required:
            raise ValueError(_problem(f.name, "is missing"))
        return [] if f.kind == "kits" else None if f.kind not in ("text", "textarea") else ""
    if f.kind == "select":
        if value not in {c for c, _ in f.choices}:
            raise ValueError(_problem(f.name, f"must be one of {', '.join(c for c, _ in f.choices) or 'none'}"))
        return value
    if f.kind in ("number", "integer"):
        try:
            number = int(value) if f.kind == "integer" else float(value)
        except ValueError:
            raise ValueError(
                _problem(f.name, "must be a whole number" if f.kind == "integer" else "must be a number")
            ) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(_problem(f.name, "must be a number"))
        if f.minimum is not None and number < f.minimum:
            raise ValueError(_problem(f.name, f"must be at least {f.minimum:g}"))
        if f.above is not None and number <= f.above:
            raise ValueError(_problem(f.name, f"must be above {f.above:g}"))
        if f.maximum is not None and number > f.maximum:
            raise ValueError(_problem(f.name, f"must be at most {f.maximum:g}"))
        return number
    if f.kind == "date":
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(_problem(f.name, "must be a date (YYYY-MM-DD)")) from None
    if f.kind == "datetime":
        try:
            return _local(value)
        except services.ProductProblem:
            raise ValueError(_problem(f.name, "must be a date and time (YYYY-MM-DDTHH:MM)")) from None
    if f.kind == "kits":
        numbers = [n for n in value.replace(",", " ").split() if n]
        if len(numbers) > 500:
            raise ValueError(_problem(f.name, "at most 500 kits at once"))
        long = [n for n in numbers if len(n) > 32]
        if long:
            raise ValueError(_problem(f.name, "a kit number has at most 32 characters"))
        return list(dict.fromkeys(numbers))
    return value


class DepotForm:
    """The fields of one step, what was typed, and the errors by field (``None``: the whole form)."""

    def __init__(self, fields: list[Field], initial: dict | None = None):
        self.fields = fields
        self.values: dict[str, str] = {f.name: str((initial or {}).get(f.name, "")) for f in fields}
        self.errors: dict[str | None, str] = {}
        self.cleaned: dict[str, Any] = {}

    def read(self, post) -> bool:
        for f in self.fields:
            raw = post.get(f.name, "")
            self.values[f.name] = raw  # shown again as typed
            try:
                self.cleaned[f.name] = _clean(f, raw)
            except ValueError as exc:
                self.errors[f.name] = str(exc)
        return not self.errors

    def refused(self, exc: services.ProductProblem) -> None:
        names = {f.name for f in self.fields}
        for problem in exc.errors or []:
            if problem.get("field") in names:
                self.errors.setdefault(problem["field"], f"{problem['field']}: {problem.get('message', '')}")
        if exc.field in names:
            message = str(exc)
            self.errors.setdefault(
                exc.field, message if message.startswith(f"{exc.field}:") else f"{exc.field}: {message}"
            )
        if not (exc.field in names or any(p.get("field") in names for p in exc.errors or [])):
            self.errors[None] = str(exc)

    @property
    def rows(self) -> list[dict]:
        return [
            {"f": f, "value": self.values.get(f.name, ""), "error": self.errors.get(f.name, "")} for f in self.fields
        ]

    @property
    def summary(self) -> list[tuple[str | None, str]]:
        order = [None, *(f.name for f in self.fields)]
        return [(name, self.errors[name]) for name in order if name in self.errors]


def _depot_step(request, template: str, context: dict, form: DepotForm, apply):
    """GET: the page with its form. POST: the step; on success a message and a redirect, else the
    page again (400) with the errors and what was typed."""
    if request.method == "POST" and form.read(request.POST):
        try:
            message, target = apply(form.cleaned)
        except services.ProductProblem as exc:
            form.refused(exc)
        else:
            messages.success(request, message)
            return redirect(target)
    return render(request, template, {**context, "form": form}, status=400 if form.errors else 200)


def _lot_or_404(trial, lot_number: str) -> Lot:
    if len(lot_number) > 64:
        raise Http404("no such lot")
    lot = Lot.objects.filter(trial=trial, lot_number=lot_number).first()
    if lot is None:
        raise Http404("no such lot")
    return lot


def _kit_or_404(trial, kit_number: str):
    if len(kit_number) > 32:
        raise Http404("no such kit")
    found = services.Kit.objects.filter(trial=trial, kit_number=kit_number).select_related("site").first()
    if found is None:
        raise Http404("no such kit")
    return found


def _storage_range(trial) -> tuple[float, float]:
    """The protocol's storage range; a trial without a product section has no depot pages (404)."""
    try:
        return services.handling(trial).storage_temperature_c
    except services.ProductProblem as exc:
        raise Http404(str(exc)) from exc


def _sites_where(trial, access, permission: str) -> list:
    allowed = access.sites(permission)
    qs = trial.sites.order_by("code")
    return list(qs if allowed is None else qs.filter(pk__in=allowed))


@login_required
@require_http_methods(["GET", "POST"])
def lot_new(request, nct_id: str):
    trial, _access = trial_for(request.user, nct_id, "product.manage_lots")
    arms = [(a.id, f"{a.id} · {a.label}") for a in trial.protocol.arms if a.dose is not None]
    form = DepotForm(
        [
            Field("lot_number", "Lot number", required=True, max_length=64),
            Field("arm_id", "Arm (unblinded)", "select", required=True, max_length=64, choices=arms),
            Field("manufactured_on", "Manufactured on", "date", required=True),
            Field("expires_on", "Expires on", "date", required=True),
            Field("cells_per_vial", "Cells per vial", "number", above=0, maximum=1e13, help="Cell products only."),
            Field("viability_percent", "Viability (%)", "number", minimum=0, maximum=100),
            Field(
                "sterility",
                "Sterility",
                "select",
                required=True,
                max_length=10,
                choices=[(c.value, c.label) for c in Lot.Sterility],
            ),
        ],
        initial={"sterility": "pending"},
    )

    def apply(data):
        lot = services.create_lot(trial, request.user, **data, now=timezone.now())
        return f"Lot {lot.lot_number} registered; release it once its results meet the specification.", reverse(
            "product:lots", args=[nct_id]
        )

    return _depot_step(request, "product/lot_new.html", {"trial": trial}, form, apply)


@login_required
@require_http_methods(["GET", "POST"])
def lot_kits(request, nct_id: str, lot_number: str):
    trial, _access = trial_for(request.user, nct_id, "product.manage_lots")
    lot = _lot_or_404(trial, lot_number)
    form = DepotForm(
        [
            Field(
                "kit_numbers",
                "Kit numbers",
                "kits",
                required=True,
                help="From the allocation list, of this lot's arm; one per line or separated by commas.",
            )
        ]
    )

    def apply(data):
        kits = services.register_kits(lot, data["kit_numbers"], request.user, now=timezone.now())
        return f"{len(kits)} kits registered in lot {lot.lot_number}.", request.path

    context = {"trial": trial, "lot": lot, "kits": lot.kits.select_related("site").order_by("kit_number")}
    return _depot_step(request, "product/lot_kits.html", context, form, apply)


@login_required
@require_http_methods(["GET", "POST"])
def shipments(request, nct_id: str):
    trial, access = trial_for(request.user, nct_id, "product.handle_kits")
    sites = _sites_where(trial, access, "product.handle_kits")
    can_ship = access.can("product.manage_lots")
    if request.method == "POST" and not can_ship:
        raise PermissionDenied("shipping kits needs product.manage_lots")
    form = DepotForm(
        [
            Field(
                "site_code",
                "Ship to site",
                "select",
                required=True,
                max_length=64,
                choices=[(s.code, f"{s.code} · {s.name}") for s in trial.sites.order_by("code")],
            ),
            Field("kit_numbers", "Kit numbers", "kits", required=True, help="One per line or separated by commas."),
            Field("request_id", "Resupply request no.", "integer", minimum=1, maximum=MAX_ROW_ID, help="Optional."),
        ]
    )

    def apply(data):
        site = trial.sites.get(code=data["site_code"])
        shipment = services.ship_kits(
            trial,
            site,
            data["kit_numbers"],
            request.user,
            now=timezone.now(),
            request_id=data["request_id"],
        )
        return f"Shipment {shipment.pk}: {shipment.kit_count} kits on their way to {site.code}.", request.path

    rows = (
        Shipment.objects.filter(trial=trial, site__in=sites)
        .select_related("site", "shipped_by", "received_by")
        .order_by("-shipped_at", "-id")[:100]
    )
    requests = ResupplyRequest.objects.filter(trial=trial, status=ResupplyRequest.Status.OPEN, site__in=sites)
    context = {
        "trial": trial,
        "shipments": rows,
        "can_ship": can_ship,
        "requests": requests.select_related("site").order_by("created_at", "id"),
    }
    return _depot_step(request, "product/shipments.html", context, form, apply)


def _shipment_or_404(trial, shipment_id: int) -> Shipment:
    shipment = None
    if 1 <= shipment_id <= MAX_ROW_ID:
        shipment = Shipment.objects.filter(trial=trial, pk=shipment_id).select_related("site").first()
    if shipment is None:
        raise Http404("no such shipment")
    return shipment


@login_required
@require_http_methods(["GET", "POST"])
def receipt(request, nct_id: str, shipment_id: int):
    trial, access = trial_for(request.user, nct_id, "product.handle_kits")
    shipment = _shipment_or_404(trial, shipment_id)
    if not access.can("product.handle_kits", shipment.site_id):
        raise PermissionDenied("this shipment goes to a site you do not handle kits for")
    spec = _storage_range(trial)
    form = DepotForm(
        [
            Field("storage_location", "Storage location", max_length=100, help="Where the kits are stored."),
            Field("transit_min_c", "Lowest transit temperature (°C)", "number", minimum=-273.15, maximum=200),
            Field(
                "transit_max_c",
                "Highest transit temperature (°C)",
                "number",
                minimum=-273.15,
                maximum=200,
                help="From the shipper's logger; outside the storage range the kits are quarantined.",
            ),
        ]
    )

    def apply(data):
        done = services.confirm_receipt(shipment, request.user, now=timezone.now(), **data)
        quarantined = done.kits.filter(status="quarantined").count()
        note = f" {quarantined} quarantined: review the excursion." if quarantined else ""
        return f"Shipment {done.pk} received at {done.site.code}.{note}", request.path

    context = {
        "trial": trial,
        "shipment": shipment,
        "kits": shipment.kits.order_by("kit_number"),
        "storage_range": spec,
    }
    return _depot_step(request, "product/receipt.html", context, form, apply)


@login_required
@require_http_methods(["GET", "POST"])
def kit_store(request, nct_id: str, kit_number: str):
    trial, access = trial_for(request.user, nct_id, "product.handle_kits")
    found = _kit_or_404(trial, kit_number)
    if not access.can("product.handle_kits", found.site_id):
        raise PermissionDenied("this kit is at a site you do not handle kits for")
    form = DepotForm(
        [Field("storage_location", "Storage location", required=True, max_length=100)],
        initial={"storage_location": found.storage_location},
    )

    def apply(data):
        services.store_kit(found, request.user, now=timezone.now(), storage_location=data["storage_location"])
        return f"Kit {found.kit_number} stored in {data['storage_location']}.", reverse(
            "product:kit", args=[nct_id, found.kit_number]
        )

    return _depot_step(request, "product/kit_store.html", {"trial": trial, "kit": found}, form, apply)


@login_required
@require_http_methods(["GET", "POST"])
def excursions(request, nct_id: str):
    trial, access = trial_for(request.user, nct_id, "product.handle_kits")
    sites = _sites_where(trial, access, "product.handle_kits")
    spec = _storage_range(trial)
    form = DepotForm(
        [
            Field(
                "site_code",
                "Site",
                "select",
                required=True,
                max_length=64,
                choices=[(s.code, f"{s.code} · {s.name}") for s in sites],
            ),
            Field("min_c", "Lowest temperature (°C)", "number", required=True, minimum=-273.15, maximum=200),
            Field("max_c", "Highest temperature (°C)", "number", required=True, minimum=-273.15, maximum=200),
            Field("duration_minutes", "Duration (minutes)", "integer", required=True, minimum=0, maximum=100_000),
            Field("observed_at", "Observed at", "datetime", help="Now when left empty."),
            Field(
                "kit_numbers",
                "Kits affected",
                "kits",
                help="Empty: every stored, received and assigned kit of the site.",
            ),
        ]
    )

    def apply(data):
        site, _unused = site_for(request.user, trial, data.pop("site_code"), "product.handle_kits")
        found = services.record_excursion(trial, site, request.user, now=timezone.now(), **data)
        if found is None:
            return f"{data['min_c']:g} to {data['max_c']:g} °C is inside the storage range: no kit quarantined.", (
                request.path
            )
        return f"Excursion recorded: {found.kits.count()} kits quarantined until it is reviewed.", reverse(
            "product:excursion", args=[nct_id, found.pk]
        )

    rows = (
        TemperatureExcursion.objects.filter(trial=trial, site__in=sites)
        .select_related("site", "recorded_by", "reviewed_by")
        .prefetch_related("kits")
        .order_by("-observed_at", "-id")[:100]
    )
    context = {"trial": trial, "excursions": rows, "storage_range": spec}
    return _depot_step(request, "product/excursions.html", context, form, apply)


@login_required
@require_http_methods(["GET", "POST"])
def excursion(request, nct_id: str, excursion_id: int):
    trial, access = trial_for(request.user, nct_id, "product.handle_kits")
    found = None
    if 1 <= excursion_id <= MAX_ROW_ID:
        found = TemperatureExcursion.objects.filter(trial=trial, pk=excursion_id).select_related("site").first()
    if found is None:
        raise Http404("no such excursion")
    if not access.can("product.handle_kits", found.site_id):
        raise PermissionDenied("this excursion is at a site you do not handle kits for")
    form = DepotForm(
        [
            Field(
                "decision",
                "Decision",
                "select",
                required=True,
                max_length=10,
                choices=[
                    ("usable", "Usable: the kits may be released from quarantine"),
                    ("discard", "Discard: the quarantined kits are destroyed"),
                ],
            ),
            Field(
                "reason",
                "Reason",
                "textarea",
                required=True,
                max_length=4000,
                help="On what the decision rests, e.g. the stability data.",
            ),
        ]
    )

    def apply(data):
        services.review_excursion(found, request.user, now=timezone.now(), **data)
        return f"Excursion reviewed: {data['decision']}.", request.path

    context = {
        "trial": trial,
        "excursion": found,
        "kits": found.kits.order_by("kit_number"),
        "storage_range": _storage_range(trial),
    }
    return _depot_step(request, "product/excursion.html", context, form, apply)
