"""A styled page for 405 responses (a link or reload on an address that takes only a form's POST).

Django renders 403, 404 and 500 from templates of those names; a 405 from ``require_POST`` has no
template hook, so this middleware gives browsers the same styled page, keeping the ``Allow`` header.
"""

from __future__ import annotations

from django.template.loader import render_to_string


class StyledMethodNotAllowed:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code == 405 and not response.content and not request.path.startswith("/api/")
                and "text/html" in request.headers.get("Accept", "text/html")):
            response.content = render_to_string("405.html", request=request).encode()
            response["Content-Type"] = "text/html; charset=utf-8"
        return response
