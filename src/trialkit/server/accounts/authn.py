"""Authentication controls (21 CFR 11.300, EU Annex 11 §12): who needs a second factor, the
re-authentication asked for signing and unblinding, untrusted user names, and the lockout answer.

Failed attempts are counted by django-axes per user name *and* client address (settings), so a
stranger can neither lock a colleague out from elsewhere nor the whole site. The same counter
covers the login page, the admin login, HTTP Basic on the API and re-authentication.
"""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import Role
from trialkit.server.audit.service import record_event

USERNAME_MAX = 150  # django.contrib.auth's User.username
# Roles whose holders must log in with a second factor: the DSMB statistician holds the
# allocation list and sees unblinded data. Staff (Django admin) users need it too.
SECOND_FACTOR_ROLES = frozenset({Role.DSMB_STATISTICIAN})


# --------------------------------------------------------------------------- untrusted user names


def plausible_username(raw) -> bool:
    """Whether ``raw`` could name an account at all: text, not empty, at most 150 characters,
    no NUL or other control character. Anything else is refused before it reaches the database."""
    return (
        isinstance(raw, str)
        and 0 < len(raw) <= USERNAME_MAX
        and not any(unicodedata.category(ch) == "Cc" for ch in raw)
    )


def printable_username(raw) -> str:
    """A user name as typed by a stranger, made safe to store and show: control characters
    (NUL included) become U+FFFD and the text is cut to 150 characters (marked with …)."""
    text = raw if isinstance(raw, str) else repr(raw)
    text = "".join("\ufffd" if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return text if len(text) <= USERNAME_MAX else text[: USERNAME_MAX - 1] + "…"


def axes_username(request, credentials) -> str | None:
    """The user name django-axes counts failures under (AXES_USERNAME_CALLABLE)."""
    raw = (credentials or {}).get("username")
    if raw is None and request is not None:
        raw = getattr(request, "POST", {}).get("username")
    return None if raw is None else printable_username(raw)


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out user name and address get: JSON on the API, a page elsewhere (429)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = (
        f"Too many failed attempts for this user from this address: sign-in, signing and unblinding "
        f"are refused for {minutes} minutes. Ask an administrator if you need access sooner."
    )
    if request.path.startswith("/api/"):
        return JsonResponse({"error": message}, status=settings.AXES_HTTP_RESPONSE_CODE)
    return render(
        request,
        "registration/locked_out.html",
        {"message": message, "minutes": minutes},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


# --------------------------------------------------------------------------- second factor


def requires_second_factor(user) -> bool:
    """Staff users and holders of a DSMB role log in with a second factor."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff or user.is_superuser:
        return True
    return Membership.objects.filter(user=user, role__in=SECOND_FACTOR_ROLES).exists()


def confirmed_device(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def check_second_factor(
    user, token: str, *, attempted: str, where: dict | None = None, action: str = "two_factor_failed"
):
    """The user's confirmed device if ``token`` is its current code; else None, audited.

    TOTP devices slow down repeated failures themselves (django-otp throttling) and refuse a code
    that was already used.
    """
    device = confirmed_device(user)
    token = (token or "").strip().replace(" ", "")
    if device is not None and token.isdigit() and len(token) <= 8 and device.verify_token(token):
        return device
    record_event(
        actor=user,
        action=action,
        object_type="user",
        object_id=user.pk,
        after={"attempted": attempted, "factor": "two_factor", "enrolled": device is not None},
        **(where or {}),
    )
    return None


# --------------------------------------------------------------------------- re-authentication


class ReauthenticationFailed(Exception):
    """The password (or the code) given to confirm an action was not accepted; ``field`` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def _local_request() -> HttpRequest:
    # Callers outside a web request (the command line, the demo loader) are counted as one local client.
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    request.path = request.path_info = "/local/"
    request.method = "POST"
    return request


def reauthenticate(
    actor, password: str, *, attempted: str, request=None, otp_token: str | None = None, where: dict | None = None
) -> None:
    """Confirm that ``actor`` is at the keyboard before an e-signature or an unblinding
    (21 CFR 11.200(a)(1)): the password again and, when ``otp_token`` is asked for (unblinding),
    a current code of the actor's authenticator.

    A failure is audited with the actor and what was attempted, counts towards the lockout of the
    actor's user name at this address, and raises ``ReauthenticationFailed``. Call it *outside*
    the transaction of the action, so that neither the audit event nor the count is rolled back
    with the refused action.
    """
    request = request if request is not None else _local_request()
    user = authenticate(request, username=actor.get_username(), password=password or "", reauth=attempted)
    if user is None or user.pk != actor.pk:
        locked = bool(getattr(request, "axes_locked_out", False))
        record_event(
            actor=actor,
            action="reauth_failed",
            object_type="user",
            object_id=actor.pk,
            after={"attempted": attempted, "factor": "password", "locked_out": locked},
            **(where or {}),
        )
        raise ReauthenticationFailed(
            "password",
            _("too many failed attempts: this is refused for now") if locked else _("the password is not correct"),
        )
    if otp_token is not None:
        if confirmed_device(actor) is None:
            record_event(
                actor=actor,
                action="reauth_failed",
                object_type="user",
                object_id=actor.pk,
                after={"attempted": attempted, "factor": "two_factor", "enrolled": False},
                **(where or {}),
            )
            raise ReauthenticationFailed(
                "otp_token",
                _("this needs two-factor authentication: enrol an authenticator app at /accounts/two-factor/ first"),
            )
        if check_second_factor(actor, otp_token, attempted=attempted, where=where, action="reauth_failed") is None:
            raise ReauthenticationFailed("otp_token", _("the authentication code is not correct"))
