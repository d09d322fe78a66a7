"""Sends a user who needs a second factor (see ``authn.requires_second_factor``) to the
two-factor page until the session is verified. The API checks the same in its auth classes."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import redirect
from django.utils import timezone

from trialkit.server.accounts.authn import requires_second_factor

# Pages a half-logged-in user may still reach: logging in and out, the second factor itself,
# static files, the API (which answers 401 itself), the participant diary (code-based) and the
# language switch (it only sets a cookie, so the two-factor page can be read in either language).
OPEN_PREFIXES = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/two-factor/",
    "/static/",
    "/api/",
    "/diary/",
    "/i18n/",
)


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(OPEN_PREFIXES)
            and not user.is_verified()
            and requires_second_factor(user)
        ):
            return redirect(f"/accounts/two-factor/?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


class ActivityMiddleware:
    """Renews the session on activity, so that only an *idle* session ends (SESSION_COOKIE_AGE,
    TRIALKIT_IDLE_MINUTES). The renewal is written at most once a minute, not on every request:
    SQLite serializes writes, and live pages send many small requests."""

    RENEW_EVERY_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        # Only a session the browser already holds: an API call authenticated by HTTP Basic gets no
        # session (and so no cookie a later request could ride without a CSRF token).
        if (
            session is not None
            and session.session_key
            and user is not None
            and user.is_authenticated
            and settings.SESSION_COOKIE_NAME in request.COOKIES
        ):
            now = int(timezone.now().timestamp())
            if now - session.get("last_activity", 0) >= self.RENEW_EVERY_SECONDS:
                session["last_activity"] = now  # a modified session is saved with a fresh expiry
        return response
