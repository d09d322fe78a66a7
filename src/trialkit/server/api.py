"""The REST API (django-ninja). Each app contributes a router; the OpenAPI schema is at /api/openapi.json."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBasicAuth, HttpBearer, SessionAuth

from trialkit.dosing.escalation import EscalationError
from trialkit.server.accounts import tokens
from trialkit.server.accounts.authn import check_second_factor, plausible_username, requires_second_factor
from trialkit.server.allocation.services import AllocationProblem
from trialkit.server.api_contract import (
    StrictJsonParser,
    document_errors,
    error_body,
    field_error,
    summary,
    validation_errors,
)
from trialkit.server.capture.services import CaptureError, ConsentRequired, EditConflict, FormInvalid
from trialkit.server.exports.services import ExportProblem
from trialkit.server.product.services import ProductProblem
from trialkit.server.screening.services import ScreeningError


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


class TokenAuth(HttpBearer):
    """A personal API token (``Authorization: Bearer tk_…``, accounts/tokens.py): checked by a digest,
    not a password hash; no session, so no CSRF token; a ``read`` token may only read (403 otherwise)."""

    def authenticate(self, request, token):
        found = tokens.authenticate(token)
        if found is None:
            return None
        if not tokens.allows(found, request.method):
            raise PermissionDenied(
                f"this API token is read-only (scope 'read'): {request.method} needs a token "
                f"with scope 'write' (docs/api.md)"
            )
        request.user = found.user
        request.api_token = found
        return found.user


class BasicAuth(HttpBasicAuth):
    """HTTP Basic, for reads only (GET, HEAD, OPTIONS): a password hash per request is too slow
    for a client that writes, and a password should not live in a script — writes take an API
    token. Failures count towards the lockout of the user name at the client's address. Accounts
    that need a second factor also send the current code in ``X-OTP-Token``."""

    def authenticate(self, request, username, password):
        if request.method.upper() not in tokens.READ_METHODS:
            request.basic_auth_refused_for_write = True
            return None
        if not plausible_username(username) or "\x00" in (password or ""):
            return None  # no account has such a name: refused before it reaches the database
        user = authenticate(request, username=username, password=password)
        if user is None:
            return None
        if (
            requires_second_factor(user)
            and check_second_factor(
                user, request.headers.get("X-OTP-Token", ""), attempted=f"API {request.method} {request.path}"[:200]
            )
            is None
        ):
            return None
        request.user = user
        return user


class TrialKitAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        return document_errors(super().get_openapi_schema(**kwargs))


api = TrialKitAPI(
    title="TrialKit API",
    version="1",
    description="Screening, allocation, data capture and exports. Every endpoint checks role and site. "
    "Every answer that is not a success is an ErrorOut: "
    '{"error": "...", "errors": [{"field", "rule", "message"}]} (docs/api.md).',
    auth=[CookieSessionAuth(), TokenAuth(), BasicAuth()],
    parser=StrictJsonParser(),
)


# --------------------------------------------------------------------------- the error contract, registered once


def answer_error(request, status: int, message: str, errors=()):
    return api.create_response(request, error_body(message, errors), status=status)


@api.exception_handler(ValidationError)
def _invalid(request, exc):
    errors = validation_errors(exc.errors)
    return answer_error(request, 422, summary(errors), errors)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    if getattr(request, "basic_auth_refused_for_write", False):
        message = (
            f"HTTP Basic is accepted for reads only: {request.method} needs an API token "
            f"(Authorization: Bearer tk_…; make one at /accounts/tokens/, docs/api.md)"
        )
    else:
        message = (
            "authentication required: an API token (Authorization: Bearer tk_…), a session, or HTTP Basic "
            "for reads (with X-OTP-Token where the account has a second factor)"
        )
    response = answer_error(request, 401, message)
    response["WWW-Authenticate"] = 'Bearer realm="TrialKit API", Basic realm="TrialKit API"'
    return response


@api.exception_handler(HttpError)
def _http_error(request, exc):
    if exc.status_code == 400:  # ninja could not read the body
        message = "body: is not valid JSON (RFC 8259)"
        return answer_error(request, 422, message, [field_error("body", "json", message)])
    return answer_error(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return answer_error(request, 404, str(exc) or "not found")


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return answer_error(request, 403, str(exc) or "forbidden")


@api.exception_handler(ScreeningError)
def _screening_refused(request, exc):
    return answer_error(request, exc.status, exc.message, [e.as_dict() for e in exc.errors])


@api.exception_handler(FormInvalid)
def _form_invalid(request, exc):
    return answer_error(request, 422, str(exc), exc.as_list())


@api.exception_handler(EditConflict)
def _edit_conflict(request, exc):
    """409 with the record as it is now (``current``) and its ETag, to merge and send again."""
    from trialkit.server.capture.api import current_out

    body = {**error_body(str(exc)), "current": current_out(exc.current)}
    response = api.create_response(request, body, status=409)
    response["ETag"] = f'"{exc.current.version}"'
    return response


@api.exception_handler(ConsentRequired)
def _consent_required(request, exc):
    """409: the participant's consent does not cover this form now (re-consent owed, or withdrawn)."""
    rule = "reconsent_required" if exc.block.kind == "reconsent" else "consent_withdrawn"
    return answer_error(request, 409, str(exc), [field_error("consent", rule, str(exc))])


@api.exception_handler(CaptureError)
def _capture_refused(request, exc):
    return answer_error(request, 409, str(exc))


@api.exception_handler(EscalationError)
def _escalation_refused(request, exc):
    """The DSMB decision the gate rules do not allow now."""
    return answer_error(request, 409, str(exc))


@api.exception_handler(ProductProblem)
def _product_problem(request, exc):
    """As ``_problem``, naming every field at fault when several are (a lot's release, an infusion)."""
    if exc.field:
        errors = exc.errors or [field_error(exc.field, exc.rule, str(exc))]
        return answer_error(request, 422, str(exc), errors)
    return answer_error(request, 409, str(exc))


@api.exception_handler(AllocationProblem)
@api.exception_handler(ExportProblem)
def _problem(request, exc):
    """A named input at fault is invalid input (422); otherwise the workflow refused the step (409)."""
    if exc.field:
        return answer_error(request, 422, str(exc), [field_error(exc.field, exc.rule, str(exc))])
    return answer_error(request, 409, str(exc))


def not_found_handler(request, exception=None):
    """The site's 404: the contract's body under /api/ (an unknown route), the styled page elsewhere."""
    if request.path.startswith("/api/"):
        message = "no API operation at this address" if exception is None or not str(exception) else str(exception)
        return JsonResponse(error_body(message), status=404)
    return page_not_found(request, exception)


def _register_routers() -> None:
    from trialkit.server.allocation.api import router as allocation
    from trialkit.server.capture.api import router as capture
    from trialkit.server.exports.api import router as exports
    from trialkit.server.product.api import router as product
    from trialkit.server.screening.api import router as screening
    from trialkit.server.trials.api import router as trials

    for prefix, router in (
        ("/trials", trials),
        ("/screening", screening),
        ("/allocation", allocation),
        ("/capture", capture),
        ("/exports", exports),
        ("/product", product),
    ):
        api.add_router(prefix, router)


_register_routers()
