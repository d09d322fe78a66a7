"""Request checks every page shares: a styled page for 405 responses, and no NUL characters.

A styled page for 405 responses (a link or reload on an address that takes only a form's POST); under
/api/ the API's error contract instead.

Django renders 403, 404 and 500 from templates of those names; a 405 from ``require_POST`` has no
template hook, so this middleware gives browsers the same styled page, keeping the ``Allow`` header.
"""

from __future__ import annotations

import json

from django.http import Http404, HttpResponse, JsonResponse
from django.template.loader import render_to_string


class StyledMethodNotAllowed:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 405 and request.path.startswith("/api/"):
            allowed = response.get("Allow", "")
            response.content = json.dumps(
                {"error": f"method {request.method} not allowed here (allowed: {allowed})", "errors": []}
            ).encode()
            response["Content-Type"] = "application/json; charset=utf-8"
            return response
        if (
            response.status_code == 405
            and not response.content
            and not request.path.startswith("/api/")
            and "text/html" in request.headers.get("Accept", "text/html")
        ):
            response.content = render_to_string("405.html", request=request).encode()
            response["Content-Type"] = "text/html; charset=utf-8"
        return response


NUL = "\x00"
NUL_RULE = "no_nul_character"


def _nul_field(request) -> str | None:
    """The name of the first field of the request holding a NUL character, or None."""
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in v for v in values):
            return name.replace(NUL, "")
    if request.method in ("POST", "PUT", "PATCH"):
        content_type = request.content_type or ""
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for name, values in request.POST.lists():
                if NUL in name or any(NUL in v for v in values):
                    return name.replace(NUL, "")
        elif content_type.endswith("json") and (NUL.encode() in request.body or b"\\u0000" in request.body):
            try:
                return _nul_in_json(json.loads(request.body), "")
            except ValueError:
                return None  # not JSON: the view answers that
    return None


def _nul_in_json(value, path: str) -> str | None:
    if isinstance(value, str):
        return (path or "body") if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return here.replace(NUL, "")
            if (found := _nul_in_json(item, here)) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _nul_in_json(item, f"{path}[{index}]")) is not None:
                return found
    return None


class RefuseNulCharacters:
    """No answer, name or address holds a NUL character (U+0000): PostgreSQL cannot store one in
    text, and no clinical answer needs one. The request is refused before any view runs, naming the
    field — 422 in the API's error shape, a styled 400 page in the browser — so nothing is written.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if NUL in request.path:
            raise Http404("There is no page at this address.")
        field = _nul_field(request)
        if field is None:
            return self.get_response(request)
        message = (
            f"{field or 'a field'}: contains a NUL character (U+0000), which no answer may hold; nothing was saved"
        )
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"error": message, "errors": [{"field": field, "rule": NUL_RULE, "message": message}]}, status=422
            )
        html = render_to_string(
            "_error.html",
            {
                "error_code": "400",
                "error_title": "Not accepted",
                "error_text": "The form sent a character no answer may hold. Go back, retype the answer and send it again.",
                "exception_text": message,
            },
            request=request,
        )
        return HttpResponse(html, status=400)
