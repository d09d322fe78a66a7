"""The REST API (django-ninja). Each app contributes a router; the OpenAPI schema is at /api/openapi.json."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from ninja import NinjaAPI
from ninja.security import HttpBasicAuth, SessionAuth


from trialkit.server.accounts.authn import check_second_factor, plausible_username, requires_second_factor


class CookieSessionAuth(SessionAuth):
    """The browser's session cookie, CSRF-checked, once its second factor is verified where one is
    needed; a request without the cookie is left to the next method (HTTP Basic), which a
    cross-site page cannot forge and so needs no CSRF token."""

    def _get_key(self, request):
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is not None and requires_second_factor(user) and not user.is_verified():
            return None
        return user


class BasicAuth(HttpBasicAuth):
    """HTTP Basic; failures count towards the lockout of the user name at the client's address.
    Accounts that need a second factor also send the current code in ``X-OTP-Token``."""

    def authenticate(self, request, username, password):
        if not plausible_username(username) or "\x00" in (password or ""):
            return None  # no account has such a name: refused before it reaches the database
        user = authenticate(request, username=username, password=password)
        if user is None:
            return None
        if requires_second_factor(user) and check_second_factor(
                user, request.headers.get("X-OTP-Token", ""), attempted=f"API {request.method} {request.path}"[:200]) is None:
            return None
        request.user = user
        return user


api = NinjaAPI(
    title="TrialKit API",
    version="1",
    description="Screening, allocation, data capture and exports. Every endpoint checks role and site.",
    auth=[CookieSessionAuth(), BasicAuth()],
)


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return api.create_response(request, {"error": str(exc) or "forbidden"}, status=403)


def _register_routers() -> None:
    import importlib

    for module_name, prefix in (
        ("trialkit.server.trials.api", "/trials"),
        ("trialkit.server.screening.api", "/screening"),
        ("trialkit.server.allocation.api", "/allocation"),
        ("trialkit.server.capture.api", "/capture"),
        ("trialkit.server.exports.api", "/exports"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name in (module_name, module_name.rsplit(".", 1)[0]):
                continue
            raise
        api.add_router(prefix, module.router)


_register_routers()
