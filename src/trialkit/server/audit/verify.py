"""``trialkit audit verify``: chain, checkpoint and live rows, read from one consistent snapshot."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

INTACT, TAMPERED, UNCHECKED = 0, 1, 3  # the command's exit codes


@contextmanager
def snapshot_read():
    """One consistent, read-only view of the database for everything read inside.

    PostgreSQL: a REPEATABLE READ, READ ONLY transaction (one snapshot, taken at its first
    query). SQLite: a plain (deferred) read transaction, which sees one state of the file and
    takes no write lock; writers wait only for its commit, never see a half-read state.
    Called inside a transaction already (a test, a caller that holds locks), it reads in that one.
    """
    if connection.in_atomic_block:
        yield
        return
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
        return
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            cursor.execute("ROLLBACK")


def verify_all(*, unblinded: bool = False) -> dict[str, Any]:
    """Everything verify checks; ``ok`` False when any problem was found.

    Values of allocation tables (arms, dose preparations) are masked unless ``unblinded``: the
    table, id and field say where to look without telling a blinded reader an arm.
    """
    from trialkit.server.audit import roles
    from trialkit.server.audit.checkpoint import check_against_checkpoints
    from trialkit.server.audit.reconcile import reconcile
    from trialkit.server.audit.service import GLOBAL_CHAIN, chain_heads, verify_chains

    with snapshot_read():
        checked, chain_problems = verify_chains()
        heads = chain_heads()
        checkpoint = check_against_checkpoints()
        row_problems = reconcile()
    if not unblinded:
        row_problems = [p.masked() for p in row_problems]
    problem = chain_problems[0] if chain_problems else None
    head_seq, head_mac = heads.get(GLOBAL_CHAIN, (0, "0" * 64))
    ok = problem is None and not checkpoint.problems and not row_problems
    return {
        "ok": ok,
        "checked": checked,
        "head": {"seq": head_seq, "mac": head_mac},
        "chains": {str(chain): {"seq": seq, "mac": mac} for chain, (seq, mac) in sorted(heads.items())},
        "problem": problem.as_dict() if problem else None,
        "problems": [p.as_dict() for p in chain_problems],
        "checkpoint": checkpoint.as_dict(),
        "rows": [p.as_dict() for p in row_problems],
        "row_messages": [p.describe() for p in row_problems],
        "app_role_may": roles.app_role_may_rewrite(connection),
    }
