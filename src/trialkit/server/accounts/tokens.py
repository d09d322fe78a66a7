"""Personal API tokens: made, shown once, used, revoked — every step but use audited.

A token reads ``tk_<key id>_<secret>``: the key id finds the row without a scan and the whole
token is compared by its SHA-256 digest in constant time. A token is checked in microseconds (no
password hash per request, unlike HTTP Basic), is never a session (so it needs no CSRF token: a
cross-site page cannot send an ``Authorization`` header), and acts with its owner's roles, limited
by its scope (``read``: GET, HEAD and OPTIONS only). See docs/api.md.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from trialkit.server.accounts.models import ApiToken
from trialkit.server.audit.service import record_event

PREFIX = "tk"
MAX_DAYS = 366  # a token lives at most a year; a new one is made, not an old one kept forever
NAME_MAX = 100
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_used_at is bookkeeping: written at most once a minute per token, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenProblem(ValueError):
    """A refused request to make or revoke a token, naming the field and the rule."""

    def __init__(self, field: str, rule: str, message: str):
        super().__init__(message)
        self.field, self.rule = field, rule


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    plaintext: str  # shown once, never stored


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _clean_name(raw) -> str:
    name = (raw if isinstance(raw, str) else "").strip()
    if not name:
        raise TokenProblem("name", "required", "name: give the token a name that says where it is used")
    if len(name) > NAME_MAX:
        raise TokenProblem("name", "max_length", f"name: at most {NAME_MAX} characters (this one has {len(name)})")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise TokenProblem("name", "characters", "name: control characters are not allowed")
    return name


def _clean_days(raw) -> int:
    try:
        days = int(raw)
    except (TypeError, ValueError):
        raise TokenProblem("days", "integer", "days: a whole number of days, 1 to 366") from None
    if not 1 <= days <= MAX_DAYS:
        raise TokenProblem("days", "range", f"days: from 1 to {MAX_DAYS} (got {days})")
    return days


def issue(user, *, name, scope, days, now=None) -> Issued:
    """Make a token for ``user``; the plaintext is in the result and nowhere else."""
    name = _clean_name(name)
    if scope not in ApiToken.Scope.values:
        raise TokenProblem("scope", "choice", f"scope: one of {', '.join(ApiToken.Scope.values)}")
    days = _clean_days(days)
    now = now or timezone.now()
    key_id = secrets.token_hex(6)
    plaintext = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            key_id=key_id,
            secret_hash=digest(plaintext),
            scope=scope,
            expires_at=now + timedelta(days=days),
        )
        record_event(
            actor=user,
            action="api_token_create",
            object_type="api token",
            object_id=token.pk,
            after={"name": name, "key_id": key_id, "scope": scope, "expires_at": token.expires_at},
        )
    return Issued(token, plaintext)


def revoke(user, token_id, *, now=None) -> ApiToken:
    """Revoke one of ``user``'s own tokens (someone else's is not found)."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id, user=user).first()
        if token is None:
            raise TokenProblem("token", "not_found", "token: no such token of yours")
        if token.revoked_at is None:
            token.revoked_at = now or timezone.now()
            token.save(update_fields=["revoked_at"])
            record_event(
                actor=user,
                action="api_token_revoke",
                object_type="api token",
                object_id=token.pk,
                before={"name": token.name, "key_id": token.key_id, "scope": token.scope},
            )
    return token


def parse(raw: str) -> str | None:
    """The key id of a well-formed token, else None."""
    parts = (raw or "").split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2] or len(raw) > 200:
        return None
    return parts[1]


def authenticate(raw: str, *, now=None) -> ApiToken | None:
    """The live token ``raw`` is, or None: unknown, wrong secret, revoked, expired or owner inactive."""
    key_id = parse(raw)
    if key_id is None:
        return None
    token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
    now = now or timezone.now()
    if token is None or not hmac.compare_digest(token.secret_hash, digest(raw)):
        return None
    if not token.is_active(now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def allows(token: ApiToken, method: str) -> bool:
    return token.scope == ApiToken.Scope.WRITE or method.upper() in READ_METHODS
