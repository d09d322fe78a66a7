"""The second factor: enrolment of an authenticator app (the secret shown once) and the code
asked after the password. Recovery (a lost phone) is an administrator's reset; see docs/audit.md."""

from __future__ import annotations

import segno
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from trialkit.server.accounts.authn import check_second_factor, confirmed_device, requires_second_factor
from trialkit.server.audit.service import record_event

ENROLMENT_SESSION_KEY = "two_factor_enrolment_device"


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/home/"
    return target if url_has_allowed_host_and_scheme(target, {request.get_host()}) else "/home/"


@login_required
def two_factor(request):
    user = request.user
    device = confirmed_device(user)
    context = {"next": _next(request), "required": requires_second_factor(user), "error": ""}
    if device is None:
        return _enrol(request, context)
    if user.is_verified():
        return render(request, "accounts/two_factor_on.html", context)
    if request.method == "POST":
        device = check_second_factor(user, request.POST.get("token", ""), attempted="log in (second factor)")
        if device is not None:
            otp_login(request, device)
            return redirect(context["next"])
        context["error"] = "The code is not correct (or was already used). Enter the current code of your app."
    return render(request, "accounts/two_factor_verify.html", context)


def _enrol(request, context):
    user = request.user
    pending = None
    if request.method == "POST":
        pending = TOTPDevice.objects.filter(
            pk=request.session.get(ENROLMENT_SESSION_KEY), user=user, confirmed=False
        ).first()
        token = request.POST.get("token", "").strip().replace(" ", "")
        if pending is not None and token.isdigit() and pending.verify_token(token):
            pending.confirmed = True
            pending.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            request.session.pop(ENROLMENT_SESSION_KEY, None)
            record_event(
                actor=user,
                action="two_factor_enrolled",
                object_type="user",
                object_id=user.pk,
                after={"device": pending.name},
            )
            otp_login(request, pending)
            return redirect(context["next"])
        context["error"] = "The code is not correct. Scan the new code below and enter the number your app shows."
    # A fresh secret on every showing: each secret is shown once, and only an unconfirmed one.
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    pending = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    request.session[ENROLMENT_SESSION_KEY] = pending.pk
    uri = pending.config_url
    context.update(uri=uri, secret=_base32(pending), qr=segno.make(uri, error="m").svg_data_uri(scale=4))
    response = render(request, "accounts/two_factor_enrol.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _base32(device) -> str:
    from base64 import b32encode

    return b32encode(device.bin_key).decode()


@login_required
def api_tokens(request):
    """The user's API tokens: make one (shown once), see when each expires and was last used, revoke."""
    from trialkit.server.accounts import tokens
    from trialkit.server.accounts.models import ApiToken

    context = {
        "errors": {},
        "issued": None,
        "values": {"name": "", "scope": "read", "days": "90"},
        "max_days": tokens.MAX_DAYS,
    }
    status = 200
    if request.method == "POST":
        try:
            if "revoke" in request.POST:
                revoked = tokens.revoke(request.user, request.POST.get("revoke"))
                context["revoked"] = revoked
            else:
                context["values"] = {k: request.POST.get(k, "") for k in ("name", "scope", "days")}
                context["issued"] = tokens.issue(request.user, **context["values"])
                context["values"] = {"name": "", "scope": "read", "days": "90"}
        except tokens.TokenProblem as problem:
            context["errors"][problem.field] = str(problem)
            status = 422
    context["tokens"] = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-id")
    context["now"] = timezone.now()
    response = render(request, "accounts/api_tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a token shown once
    return response
