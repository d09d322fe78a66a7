"""The REST API (django-ninja). Each app contributes a router; the OpenAPI schema is at /api/openapi.json."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from ninja import NinjaAPI
from ninja.security import HttpBasicAuth, SessionAuth


class CookieSessionAuth(SessionAuth):
    """The browser's session cookie, CSRF-checked; a request without the cookie is left to the
    next method (HTTP Basic), which a cross-site page cannot forge and so needs no CSRF token."""

    def _get_key(self, request):
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super()._get_key(request)


class BasicAuth(HttpBasicAuth):
    def authenticate(self, request, username, password):
        user = authenticate(request, username=username, password=password)
        if user is not None:
            request.user = user
            return user
        return None


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
