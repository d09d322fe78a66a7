"""The audit chain's secret keys, kept outside the database.

Sources, both optional, merged into one key ring:

* ``TRIALKIT_AUDIT_KEY`` — ``<key id>:<64 hex digits>``, several separated by commas; the first
  is the current key (the one new events are signed with), the others verify older events.
* the key file, ``$TRIALKIT_AUDIT_KEY_FILE`` or ``<data dir>/audit/keys.json`` (mode 0600):
  ``{"current": "<key id>", "keys": {"<key id>": "<hex>", ...}}``. ``trialkit audit keygen``
  creates it and ``trialkit audit rotate-key`` adds a key and makes it current.

A development installation (the built-in development ``SECRET_KEY``: demo and tests) gets a key
file generated on first use. Any other installation without a key refuses to write or check
events and says how to make one (``MissingAuditKey``).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ENV = "TRIALKIT_AUDIT_KEY"
FILE_ENV = "TRIALKIT_AUDIT_KEY_FILE"
DEVELOPMENT_SECRET_KEY = "trialkit-development-key-change-me-in-production"
_lock = threading.Lock()
_cache: dict[str, KeyRing] = {}


class MissingAuditKey(ImproperlyConfigured):
    pass


@dataclass(frozen=True)
class KeyRing:
    current_id: str
    keys: dict[str, bytes] = field(default_factory=dict)

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]

    def get(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id)


def key_file() -> Path:
    explicit = os.environ.get(FILE_ENV) or getattr(settings, "TRIALKIT_AUDIT_KEY_FILE", None)
    return Path(explicit) if explicit else Path(settings.DATA_DIR) / "audit" / "keys.json"


def _parse_env(text: str) -> tuple[str | None, dict[str, bytes]]:
    keys: dict[str, bytes] = {}
    current = None
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key_id, sep, secret = part.partition(":")
        if not sep or not key_id:
            raise MissingAuditKey(f"{ENV}: each key must be '<key id>:<hex secret>'")
        try:
            raw = bytes.fromhex(secret)
        except ValueError:
            raise MissingAuditKey(f"{ENV}: the secret of key {key_id!r} is not hexadecimal") from None
        if len(raw) < 32:
            raise MissingAuditKey(f"{ENV}: the secret of key {key_id!r} must be at least 32 bytes (64 hex digits)")
        keys[key_id] = raw
        current = current or key_id
    return current, keys


def _read_file(path: Path) -> tuple[str | None, dict[str, bytes]]:
    if not path.exists():
        return None, {}
    data = json.loads(path.read_text())
    return data.get("current"), {k: bytes.fromhex(v) for k, v in data.get("keys", {}).items()}


def _write_file(path: Path, current: str, keys: dict[str, bytes], *, exclusive: bool) -> bool:
    """Write the key file 0600 through a temporary file; with exclusive, never replace one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"current": current, "keys": {k: v.hex() for k, v in keys.items()}}, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    try:
        if exclusive:
            try:
                os.link(tmp, path)  # fails if another process made the file first
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
            tmp = None
    finally:
        if tmp is not None:
            os.unlink(tmp)
    return True


def new_key_id() -> str:
    return datetime.now(UTC).strftime("k%Y%m%d") + "-" + secrets.token_hex(3)


def development_install() -> bool:
    return getattr(settings, "SECRET_KEY", "") == DEVELOPMENT_SECRET_KEY


def generate(path: Path | None = None) -> tuple[Path, str, bool]:
    """Create the key file if there is none; return (path, current key id, created)."""
    path = path or key_file()
    key_id = new_key_id()
    created = _write_file(path, key_id, {key_id: secrets.token_bytes(32)}, exclusive=True)
    reset_cache()
    current, _ = _read_file(path)
    return path, current or key_id, created


def rotate(path: Path | None = None) -> str:
    """Add a fresh key to the key file and make it current; old keys stay for verification."""
    path = path or key_file()
    with _lock:
        _current, keys = _read_file(path)
        key_id = new_key_id()
        keys[key_id] = secrets.token_bytes(32)
        _write_file(path, key_id, keys, exclusive=False)
    reset_cache()
    return key_id


def reset_cache() -> None:
    _cache.clear()


def keyring() -> KeyRing:
    """The merged key ring; raises MissingAuditKey when there is none and this is not a development install."""
    path = key_file()
    env = os.environ.get(ENV, "")
    cache_key = f"{path}|{env}"
    cached = _cache.get(cache_key)
    if cached is not None:
        return cached
    with _lock:
        env_current, env_keys = _parse_env(env) if env else (None, {})
        file_current, file_keys = _read_file(path)
        if not env_keys and not file_keys:
            if not development_install():
                raise MissingAuditKey(
                    "No audit key: set TRIALKIT_AUDIT_KEY='<key id>:<64 hex digits>' or run "
                    f"`trialkit audit keygen` (writes {path}, mode 0600). The audit trail is signed with "
                    "this key; keep it outside the database and back it up."
                )
            generate(path)
            file_current, file_keys = _read_file(path)
        keys = {**file_keys, **env_keys}
        ring = KeyRing(current_id=env_current or file_current or next(iter(keys)), keys=keys)
        _cache[cache_key] = ring
        return ring
