"""The audit chain's hashing and verification, on plain dicts (no database access here)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq", "at", "actor_id", "actor", "action", "object_type", "object_id", "trial_id", "site_id",
    "participant_id", "before", "after", "reason", "restricted", "prev_hash",
)


def normalize(value: Any) -> Any:
    """What a JSON column gives back: the form the hash is computed on."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _at(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def event_hash(event: dict[str, Any]) -> str:
    payload = {name: event[name] for name in HASHED_FIELDS}
    payload["at"] = _at(payload["at"])
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    kind: str  # altered | deleted | inserted
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "detail": self.detail}


def verify_events(events: Iterable[dict[str, Any]], head_seq: int | None = None) -> tuple[int, ChainProblem | None]:
    """Walk events in seq order; return (events checked, the first problem or None).

    The link to the previous event is checked before the event's own hash, so that a forged
    event slipped into the chain (with the later events renumbered) is named as inserted.
    """
    expected_prev = GENESIS
    before_prev = None
    expected_seq = 1
    checked = 0
    for event in events:
        checked += 1
        seq = event["seq"]
        if event["prev_hash"] != expected_prev:
            if seq > expected_seq:
                missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}–#{seq - 1}"
                return checked, ChainProblem(expected_seq, "deleted", f"event {missing} missing before #{seq}")
            if before_prev is not None and event["prev_hash"] == before_prev:
                return checked, ChainProblem(
                    seq - 1, "inserted", f"event #{seq - 1} was inserted: #{seq} follows #{seq - 2} directly"
                )
            return checked, ChainProblem(
                seq, "deleted", f"event #{seq} does not follow #{seq - 1}: an event was removed or replaced here"
            )
        if event_hash(event) != event["hash"]:
            return checked, ChainProblem(seq, "altered", f"event #{seq} does not match its hash")
        if seq != expected_seq:
            return checked, ChainProblem(seq, "inserted", f"event #{seq} found where #{expected_seq} was expected")
        if head_seq is not None and seq > head_seq:
            return checked, ChainProblem(seq, "inserted", f"event #{seq} is beyond the chain head #{head_seq}")
        before_prev, expected_prev = expected_prev, event["hash"]
        expected_seq = seq + 1
    if head_seq is not None and head_seq >= expected_seq:
        return checked, ChainProblem(expected_seq, "deleted", f"events #{expected_seq}–#{head_seq} missing at the end")
    return checked, None
