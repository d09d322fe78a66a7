"""The audit chains' MACs and verification, on plain dicts (no database access here).

Each event's ``hash`` is HMAC-SHA256, under the key named by its ``key_id``, of every other
field including the previous event's ``hash``: without the key nobody can edit, insert, remove
or append an event and recompute the chain.

There is one chain per trial (``chain`` = the trial's id) and the global chain 0 (events with no
trial, and every event written before chains were split per trial). ``chain`` is part of the MAC
of every event outside chain 0, so an event cannot be moved from one chain to another; chain 0's
events keep the MAC they were written with (their payload has no ``chain``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor",
    "action",
    "object_type",
    "object_id",
    "trial_id",
    "site_id",
    "participant_id",
    "before",
    "after",
    "reason",
    "restricted",
    "prev_hash",
    "key_id",
)


def normalize(value: Any) -> Any:
    """What a JSON column gives back: the form the hash is computed on."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _at(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


GLOBAL_CHAIN = GLOBAL = 0


def _payload(event: dict[str, Any], fields=HASHED_FIELDS) -> bytes:
    payload = {name: event[name] for name in fields}
    if event.get("chain", GLOBAL_CHAIN) != GLOBAL_CHAIN:
        payload["chain"] = event["chain"]
    payload["at"] = _at(payload["at"])
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return text.encode("utf-8")


def event_mac(event: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 of the event's fields (its key id included) under ``key``."""
    return hmac.new(key, _payload(event), hashlib.sha256).hexdigest()


def legacy_event_hash(event: dict[str, Any]) -> str:
    """The unkeyed SHA-256 the chain used before keys (read once, by the migration that re-MACs)."""
    return hashlib.sha256(_payload(event, HASHED_FIELDS[:-1])).hexdigest()


def chain_name(chain: int) -> str:
    return "the global chain" if chain == GLOBAL_CHAIN else f"trial {chain}'s chain"


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    kind: str  # altered | deleted | inserted | unknown_key | reordered
    detail: str
    chain: int = GLOBAL_CHAIN

    def as_dict(self) -> dict[str, Any]:
        return {"chain": self.chain, "seq": self.seq, "kind": self.kind, "detail": self.detail}

    def __str__(self) -> str:
        return f"{chain_name(self.chain)}: {self.detail}"


def verify_events(
    events: Iterable[dict[str, Any]], keys: dict[str, bytes], head_seq: int | None = None
) -> tuple[int, ChainProblem | None]:
    """Walk events in seq order; return (events checked, the first problem or None).

    ``keys`` maps key id to secret; an event signed with a key id not in it cannot be checked
    and is reported (kind ``unknown_key``).

    The link to the previous event is checked before the event's own hash, so that a forged
    event slipped into the chain (with the later events renumbered) is named as inserted.
    """
    expected_prev = GENESIS
    before_prev = None
    expected_seq = 1
    checked = 0
    last_id = None
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
        key = keys.get(event["key_id"])
        if key is None:
            return checked, ChainProblem(
                seq, "unknown_key", f"event #{seq} is signed with key {event['key_id']!r}, which is not in the key ring"
            )
        if not hmac.compare_digest(event_mac(event, key), event["hash"]):
            return checked, ChainProblem(seq, "altered", f"event #{seq} does not match its MAC")
        if seq != expected_seq:
            return checked, ChainProblem(seq, "inserted", f"event #{seq} found where #{expected_seq} was expected")
        if head_seq is not None and seq > head_seq:
            return checked, ChainProblem(seq, "inserted", f"event #{seq} is beyond the chain head #{head_seq}")
        # Row ids follow the chain's order (appends are serialized per chain); the replay of row
        # events reads them in id order across chains, so a changed id is tampering too.
        if event.get("id") is not None and last_id is not None and event["id"] <= last_id:
            return checked, ChainProblem(seq, "reordered", f"event #{seq} has a row id before its predecessor's")
        last_id = event.get("id", last_id)
        before_prev, expected_prev = expected_prev, event["hash"]
        expected_seq = seq + 1
    if head_seq is not None and head_seq >= expected_seq:
        return checked, ChainProblem(expected_seq, "deleted", f"events #{expected_seq}–#{head_seq} missing at the end")
    return checked, None


def verify_chains(
    events: Iterable[dict[str, Any]], keys: dict[str, bytes]
) -> tuple[int, list[ChainProblem], dict[int, tuple[int, str]]]:
    """Events ordered by (chain, seq): verify each chain on its own.

    Returns (events checked, the first problem of each broken chain, each chain's last (seq, MAC)).
    """
    checked = 0
    problems: list[ChainProblem] = []
    heads: dict[int, tuple[int, str]] = {}
    for chain, group in groupby(events, key=lambda e: e.get("chain", GLOBAL_CHAIN)):
        rows = iter(group)  # the rest of a broken chain is skipped by groupby

        def tracked(rows=rows, chain=chain):
            for event in rows:
                heads[chain] = (event["seq"], event["hash"])
                yield event

        n, problem = verify_events(tracked(), keys)
        checked += n
        if problem is not None:
            problems.append(
                ChainProblem(problem.seq, problem.kind, f"{chain_name(chain)}: {problem.detail}", chain)
                if chain != GLOBAL_CHAIN
                else problem
            )
    return checked, problems, heads
