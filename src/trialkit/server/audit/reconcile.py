"""Replay the row-level trail and compare it with the live tables.

Every audited row must be where the trail left it: a row whose content differs from its last
audited state, a row the trail never saw, a row the trail has but the table lost, and a change
whose recorded "before" does not match the trail (the row was edited around the application
and then saved again) are each reported with table, id and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trialkit.server.audit import rows
from trialkit.server.audit.models import AuditEvent

MASK = "<allocation value hidden: verify --unblinded>"


@dataclass(frozen=True)
class RowProblem:
    table: str
    id: str
    kind: str  # changed | unaudited | missing | changed_between
    field: str | None = None
    audited: Any = None
    found: Any = None
    seq: int | None = None
    restricted: bool = False  # an allocation table: values masked unless asked for

    def masked(self) -> RowProblem:
        if not self.restricted or self.kind not in ("changed", "changed_between"):
            return self
        return RowProblem(self.table, self.id, self.kind, self.field, MASK, MASK, self.seq, self.restricted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "id": self.id,
            "kind": self.kind,
            "field": self.field,
            "audited": self.audited,
            "found": self.found,
            "seq": self.seq,
        }

    def describe(self) -> str:
        where = f"{self.table} id={self.id}" + (f" field {self.field}" if self.field else "")
        if self.kind == "changed":
            return f"{where}: audited {self.audited!r} (event #{self.seq}), found {self.found!r}"
        if self.kind == "changed_between":
            return (
                f"{where}: changed outside the trail before event #{self.seq} "
                f"(trail had {self.audited!r}, the row had {self.found!r})"
            )
        if self.kind == "unaudited":
            return f"{where}: row has no audit events"
        return f"{where}: row is gone but the trail never recorded its deletion (last event #{self.seq})"


def replay(table: str, restricted: bool = False) -> tuple[dict[str, dict[str, Any]], dict[str, int], list[RowProblem]]:
    """The trail's last state of each row of ``table``: (states, last seq per id, problems)."""
    states: dict[str, dict[str, Any]] = {}
    last: dict[str, int] = {}
    problems: list[RowProblem] = []
    events = (
        AuditEvent.objects.filter(object_type=table, action__in=rows.ROW_ACTIONS)
        .order_by("id")  # insertion order: a row's changes in the order they were made (see chain.py)
        .values_list("seq", "action", "object_id", "before", "after")
    )
    for seq, action, object_id, before, after in events.iterator(chunk_size=2000):
        last[object_id] = seq
        if action in (rows.INSERT, rows.BASELINE):
            states[object_id] = dict(after or {})
        elif action == rows.UPDATE:
            state = states.setdefault(object_id, {})
            for name, old in (before or {}).items():
                if name in state and state[name] != old:
                    problems.append(
                        RowProblem(table, object_id, "changed_between", name, state[name], old, seq, restricted)
                    )
            state.update(after or {})
        elif action == rows.DELETE:
            states.pop(object_id, None)
    return states, last, problems


def reconcile() -> list[RowProblem]:
    problems: list[RowProblem] = []
    for model, spec in rows.audited_models():
        table = model._meta.db_table
        states, last, found = replay(table, spec.restricted)
        problems += found
        seen = set()
        for obj in model._base_manager.order_by("pk").iterator(chunk_size=2000):
            object_id = str(obj.pk)
            seen.add(object_id)
            live = rows.snapshot(obj, spec)
            audited = states.get(object_id)
            if audited is None:
                problems.append(RowProblem(table, object_id, "unaudited"))
                continue
            for name, value in live.items():
                if name in audited and audited[name] != value:
                    problems.append(
                        RowProblem(
                            table,
                            object_id,
                            "changed",
                            name,
                            audited[name],
                            value,
                            last.get(object_id),
                            spec.restricted,
                        )
                    )
        for object_id in sorted(set(states) - seen, key=lambda i: (len(i), i)):
            problems.append(RowProblem(table, object_id, "missing", seq=last.get(object_id)))
    return problems
