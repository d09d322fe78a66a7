"""Sends a user who needs a second factor (see ``authn.requires_second_factor``) to the
two-factor page until the session is verified. The API checks the same in its auth classes."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect

from trialkit.server.accounts.authn import requires_second_factor

# Pages a half-logged-in user may still reach: logging in and out, the second factor itself,
# static files, the API (which answers 401 itself) and the participant diary (code-based).
OPEN_PREFIXES = ("/accounts/login/", "/accounts/logout/", "/accounts/two-factor/", "/static/", "/api/", "/diary/")


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and not request.path.startswith(OPEN_PREFIXES)
                and not user.is_verified() and requires_second_factor(user)):
            return redirect(f"/accounts/two-factor/?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
