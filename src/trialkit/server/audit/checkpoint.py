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
    """Append a signed checkpoint of every chain's head (one line per chain, in one write); return
    the global chain's entry with ``chains``, the number of chains witnessed. Safe to run concurrently."""
    from trialkit.server.audit.service import GLOBAL_CHAIN, chain_heads

    ring = keys.keyring()
    heads = chain_heads()
    heads.setdefault(GLOBAL_CHAIN, (0, "0" * 64))
    at = timezone.now().isoformat(timespec="seconds")
    entries = []
    for chain in sorted(heads):
        seq, mac = heads[chain]
        entry = {"chain": chain, "seq": seq, "mac": mac, "at": at, "key_id": ring.current_id}
        entry["sig"] = _signature(entry, ring.current)
        entries.append(entry)
    data = b"".join((json.dumps(entry, sort_keys=True) + "\n").encode() for entry in entries)
    path = path or checkpoint_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)  # one write of whole lines: appended whole or not at all
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    return {**entries[0], "chains": len(entries)}


@dataclass
class CheckpointCheck:
    latest: dict[str, Any] | None
    problems: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"latest": self.latest, "problems": self.problems}


def check_against_checkpoints(path: Path | None = None) -> CheckpointCheck:
    """Compare every chain (read in the caller's snapshot) with its latest checkpoint in the file.

    ``latest`` is the global chain's latest checkpoint (with ``chains``: how many chains the file
    witnesses); problems name the chain."""
    from trialkit.server.audit.chain import GLOBAL_CHAIN, chain_name
    from trialkit.server.audit.models import AuditEvent
    from trialkit.server.audit.service import chain_head

    path = path or checkpoint_file()
    if not path.exists():
        return CheckpointCheck(None, [])
    ring = keys.keyring()
    problems: list[str] = []
    latest: dict[int, dict[str, Any]] = {}
    for n, raw in enumerate(path.read_text().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
            key = ring.get(entry["key_id"])
            signed = key is not None and hmac.compare_digest(_signature(entry, key), entry["sig"])
            chain = int(entry["chain"])
        except (ValueError, KeyError, TypeError):
            problems.append(f"checkpoint line {n} is not a checkpoint")
            continue
        if not signed:
            problems.append(f"checkpoint line {n} (#{entry.get('seq')}) has a bad signature or an unknown key")
            continue
        where = "" if chain == GLOBAL_CHAIN else f" of {chain_name(chain)}"
        before = latest.get(chain)
        if before is not None and entry["seq"] < before["seq"]:
            problems.append(
                f"checkpoint line {n} records head #{entry['seq']}{where} after an earlier checkpoint at "
                f"#{before['seq']}: the chain was rewound between them"
            )
        if before is None or entry["seq"] >= before["seq"]:
            latest[chain] = entry
    for chain, entry in sorted(latest.items()):
        if entry["seq"] == 0:
            continue
        where = "" if chain == GLOBAL_CHAIN else f" of {chain_name(chain)}"
        head_seq, _ = chain_head(chain)
        found = AuditEvent.objects.filter(chain=chain, seq=entry["seq"]).values_list("hash", flat=True).first()
        if found is None:
            problems.append(
                f"the latest checkpoint ({entry['at']}) is at event #{entry['seq']}{where} but the chain ends at "
                f"#{head_seq}: events were removed (truncation, head rewound or database flushed)"
            )
        elif not hmac.compare_digest(found, entry["mac"]):
            problems.append(
                f"event #{entry['seq']}{where} differs from the latest checkpoint ({entry['at']}): "
                "the chain was rewritten"
            )
    summary = latest.get(GLOBAL_CHAIN)
    if summary is not None:
        summary = {**summary, "chains": len(latest)}
    return CheckpointCheck(summary, problems)
