"""Append-only enforcement in the database itself.

PostgreSQL: a trigger (migration 0002) refuses UPDATE and DELETE on ``audit_auditevent`` for
everyone, and the application's role holds no UPDATE, DELETE or TRUNCATE right on it
(``roles.py``). SQLite: triggers refuse UPDATE and DELETE unless the SQL function
``trialkit_audit_unlocked()`` says otherwise; TrialKit registers that function on its own
connections and returns 1 only inside ``unlocked()`` (the test suite's flush). A connection that
does not have the function — the sqlite3 shell, another program — fails on it, so it is refused too.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

_state = threading.local()

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS audit_append_only_{op.lower()} BEFORE {op} ON audit_auditevent
        WHEN trialkit_audit_unlocked() = 0
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: {op} on audit_auditevent is not allowed'); END"""
    for op in ("UPDATE", "DELETE")
]


def _unlocked() -> int:
    return 1 if getattr(_state, "unlocked", False) else 0


@contextmanager
def unlocked():
    """Let this thread's TrialKit connections delete audit events (database flush in tests only)."""
    _state.unlocked = True
    try:
        yield
    finally:
        _state.unlocked = False


def register_sqlite_function(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("trialkit_audit_unlocked", 0, _unlocked)


def install_sqlite_triggers(connection) -> None:
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for sql in SQLITE_TRIGGERS:
            cursor.execute(sql)
