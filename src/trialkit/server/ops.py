"""Operating the service: a request id on every request and log line, and /healthz.

- ``RequestIdMiddleware`` takes the ``X-Request-ID`` a proxy sent (if it is a sane token) or makes
  one, keeps it for the log lines written while the request is served (``RequestIdFilter``), and
  returns it in the response's ``X-Request-ID`` header, so an error a user reports can be found
  in the logs, traceback included.
- ``HealthzMiddleware`` answers ``/healthz`` before host checks and the HTTPS redirect (a load
  balancer asks by address, over plain HTTP): 200 with JSON when the database answers and a job
  worker has been seen in the last ``WORKER_FRESH`` seconds, else 503 naming what is wrong.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from datetime import timedelta

from django.db import connection
from django.http import HttpResponse
from django.utils import timezone

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
WORKER_FRESH = timedelta(seconds=30)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the moment of writing (a test's capture, a
    redirected stream), never to a stream closed since logging was configured."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = offered if _SANE_ID.match(offered) else uuid.uuid4().hex
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


def health() -> tuple[int, dict]:
    checks: dict[str, object] = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:  # the answer is "unhealthy", never a 500
        checks["database"] = f"error: {type(exc).__name__}"
        healthy = False
    if checks["database"] == "ok":
        from trialkit.server.jobs.models import WorkerProcess

        try:
            live = WorkerProcess.objects.filter(seen_at__gte=timezone.now() - WORKER_FRESH).count()
        except Exception as exc:
            live, checks["workers_error"] = 0, type(exc).__name__
        checks["workers"] = live
        if live == 0:
            healthy = False
    checks["status"] = "ok" if healthy else "unhealthy"
    return (200 if healthy else 503), checks


class HealthzMiddleware:
    path = "/healthz"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.rstrip("/") != self.path:
            return self.get_response(request)
        status, body = health()
        response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
        response["Cache-Control"] = "no-store"
        return response
