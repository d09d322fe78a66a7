"""PostgreSQL roles: an owner that migrates, and an application role that cannot rewrite the trail.

* the **owner** role owns the tables and runs ``trialkit manage migrate``;
* the **application** role (the one in the server's ``DATABASE_URL``) may SELECT, INSERT, UPDATE
  and DELETE the application's tables, but on the audit tables only SELECT and INSERT, and
  TRUNCATE on no table (so it cannot empty the trail or ``flush`` the database).

``trialkit manage audit_db_roles --app-role NAME [--owner-role NAME]`` prints or runs this SQL.
Set ``TRIALKIT_DB_APP_ROLE`` when migrating and the grants are re-applied after every migration,
so tables a later migration adds are covered.
"""

from __future__ import annotations

import os

from django.conf import settings

AUDIT_TABLES = ("audit_auditevent",)


def _q(connection, name: str) -> str:
    return connection.ops.quote_name(name)


def create_role_sql(connection, role: str, password: str | None = None) -> list[str]:
    literal = "NULL" if password is None else "'" + password.replace("'", "''") + "'"
    return [
        f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE {_q(connection, role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {literal};
        END IF; END $$"""
    ]


def grant_sql(connection, app_role: str, owner_role: str | None = None) -> list[str]:
    app = _q(connection, app_role)
    db = _q(connection, connection.settings_dict["NAME"])
    sql = [
        f"GRANT CONNECT ON DATABASE {db} TO {app}",
        f"GRANT USAGE ON SCHEMA public TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {app}",
    ]
    sql += [f"REVOKE UPDATE, DELETE, TRUNCATE ON {_q(connection, t)} FROM {app}" for t in AUDIT_TABLES]
    if owner_role:
        owner = _q(connection, owner_role)
        sql += [
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        ]
    return sql


def ownership_sql(connection, owner_role: str) -> list[str]:
    """ALTER ... OWNER TO for every table and sequence of the public schema."""
    owner = _q(connection, owner_role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'")
        sequences = [r[0] for r in cursor.fetchall()]
    return [f"ALTER TABLE {_q(connection, t)} OWNER TO {owner}" for t in tables] + [
        f"ALTER SEQUENCE {_q(connection, s)} OWNER TO {owner}" for s in sequences
    ]


def configured_app_role() -> str | None:
    return os.environ.get("TRIALKIT_DB_APP_ROLE") or getattr(settings, "TRIALKIT_DB_APP_ROLE", None)


def apply_configured_grants(connection) -> None:
    role = configured_app_role()
    if connection.vendor != "postgresql" or not role:
        return
    with connection.cursor() as cursor:
        for statement in grant_sql(connection, role):
            cursor.execute(statement)


def app_role_may_rewrite(connection) -> list[str]:
    """Which of UPDATE/DELETE/TRUNCATE on the audit table the connected role holds (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return []
    held = []
    with connection.cursor() as cursor:
        for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
            cursor.execute("SELECT has_table_privilege(current_user, 'audit_auditevent', %s)", [privilege])
            if cursor.fetchone()[0]:
                held.append(privilege)
    return held
