"""Who is acting, and why: the context row-level audit events take their actor and reason from.

A web or admin request is attributed to its logged-in user (``AuditActorMiddleware``, read when an
event is written, so an API call's HTTP Basic user — set on the request when it authenticates —
counts too); services that take an ``actor`` and a ``reason`` run with them as the context
(``audited_service``); other code outside a request can name the actor with ``acting_as``. Without any of these a row
event names the user recorded on the row itself (``created_by``, ``updated_by``...) or ``system``.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

_actor: contextvars.ContextVar = contextvars.ContextVar("trialkit_audit_actor", default=None)
_reason: contextvars.ContextVar = contextvars.ContextVar("trialkit_audit_reason", default="")
_request: contextvars.ContextVar = contextvars.ContextVar("trialkit_audit_request", default=None)
_now: contextvars.ContextVar = contextvars.ContextVar("trialkit_audit_now", default=None)


def _authenticated(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def current_actor():
    """The acting user, or None."""
    actor = _actor.get()
    if _authenticated(actor):
        return actor
    request = _request.get()
    if request is not None:
        user = getattr(request, "user", None)
        if _authenticated(user):
            return user
        auth = getattr(request, "auth", None)
        if _authenticated(auth):
            return auth
    return None


def current_reason() -> str:
    return _reason.get()


def current_time():
    """The time the running service records its own events at (its ``now``), or None."""
    return _now.get()


@contextmanager
def acting_as(user, reason: str = ""):
    actor_token = _actor.set(user)
    reason_token = _reason.set(reason or "")
    try:
        yield
    finally:
        _actor.reset(actor_token)
        _reason.reset(reason_token)


class AuditActorMiddleware:
    """Make the request's user the actor of every audit event written while it is handled."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_token = _request.set(request)
        actor_token = _actor.set(None)
        try:
            return self.get_response(request)
        finally:
            _actor.reset(actor_token)
            _request.reset(request_token)


def audited_service(func):
    """Run a service with its ``actor`` (or ``investigator``), ``reason`` and ``now`` arguments as
    the audit context, so the row events its saves write name that person, carry that reason and
    share the time of the service's own event."""
    import functools
    import inspect

    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        bound = signature.bind_partial(*args, **kwargs)
        actor = bound.arguments.get("actor", bound.arguments.get("investigator"))
        reason = bound.arguments.get("reason") or ""
        if not _authenticated(actor):
            actor = current_actor()
        now_token = _now.set(bound.arguments.get("now"))
        try:
            with acting_as(actor, reason=reason if isinstance(reason, str) else ""):
                return func(*args, **kwargs)
        finally:
            _now.reset(now_token)

    return wrapper
