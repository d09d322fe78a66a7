"""Checkpoints: the chain head's sequence number and MAC, signed, kept outside the database.

``write_checkpoint()`` appends one JSON line to the checkpoint file (``$TRIALKIT_AUDIT_CHECKPOINTS``
or ``<data dir>/audit/checkpoints.jsonl``, mode 0600) under an exclusive lock, in a single write,
fsynced. Run it on a schedule (the job worker) and on demand (``trialkit audit checkpoint``).
``trialkit audit verify`` then requires the chain to still contain the latest checkpoint's event
with the same MAC: deleting the tail (rewinding the head), truncating the table or flushing the
database is found even though what is left is a valid chain. Each line is signed with the audit
key, so a checkpoint cannot be forged or edited without it either.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from trialkit.server.audit import keys

FILE_ENV = "TRIALKIT_AUDIT_CHECKPOINTS"
SIGNED = ("chain", "seq", "mac", "at", "key_id")


def checkpoint_file() -> Path:
    explicit = os.environ.get(FILE_ENV) or getattr(settings, "TRIALKIT_AUDIT_CHECKPOINTS", None)
    return Path(explicit) if explicit else Path(settings.DATA_DIR) / "audit" / "checkpoints.jsonl"


def _signature(entry: dict[str, Any], key: bytes) -> str:
    text = json.dumps({k: entry[k] for k in SIGNED}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, b"checkpoint:" + text.encode(), hashlib.sha256).hexdigest()


def write_checkpoint(path: Path | None = None) -> dict[str, Any]:
    """Append a signed checkpoint of the current chain head; return it. Safe to run concurrently."""
    from trialkit.server.audit.service import MAIN_CHAIN, chain_head

    ring = keys.keyring()
    seq, mac = chain_head(MAIN_CHAIN)
    entry = {
        "chain": MAIN_CHAIN,
        "seq": seq,
        "mac": mac,
        "at": timezone.now().isoformat(timespec="seconds"),
        "key_id": ring.current_id,
    }
    entry["sig"] = _signature(entry, ring.current)
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    path = path or checkpoint_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)  # one write of one line: appended whole or not at all
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    return entry


@dataclass
class CheckpointCheck:
    latest: dict[str, Any] | None
    problems: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"latest": self.latest, "problems": self.problems}


def check_against_checkpoints(path: Path | None = None) -> CheckpointCheck:
    """Compare the chain (read in the caller's snapshot) with the checkpoint file."""
    from trialkit.server.audit.models import AuditEvent
    from trialkit.server.audit.service import chain_head

    path = path or checkpoint_file()
    if not path.exists():
        return CheckpointCheck(None, [])
    ring = keys.keyring()
    problems: list[str] = []
    latest = None
    for n, raw in enumerate(path.read_text().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
            key = ring.get(entry["key_id"])
            signed = key is not None and hmac.compare_digest(_signature(entry, key), entry["sig"])
        except (ValueError, KeyError, TypeError):
            problems.append(f"checkpoint line {n} is not a checkpoint")
            continue
        if not signed:
            problems.append(f"checkpoint line {n} (#{entry.get('seq')}) has a bad signature or an unknown key")
            continue
        if latest is not None and entry["seq"] < latest["seq"]:
            problems.append(
                f"checkpoint line {n} records head #{entry['seq']} after an earlier checkpoint at "
                f"#{latest['seq']}: the chain was rewound between them"
            )
        if latest is None or entry["seq"] >= latest["seq"]:
            latest = entry
    if latest is None or latest["seq"] == 0:
        return CheckpointCheck(latest, problems)
    head_seq, _ = chain_head()
    found = AuditEvent.objects.filter(seq=latest["seq"]).values_list("hash", flat=True).first()
    if found is None:
        problems.append(
            f"the latest checkpoint ({latest['at']}) is at event #{latest['seq']} but the chain ends at "
            f"#{head_seq}: events were removed (truncation, head rewound or database flushed)"
        )
    elif not hmac.compare_digest(found, latest["mac"]):
        problems.append(
            f"event #{latest['seq']} differs from the latest checkpoint ({latest['at']}): the chain was rewritten"
        )
    return CheckpointCheck(latest, problems)
