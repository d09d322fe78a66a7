"""What an insider with database access can do, around the application: raw SQL, and the
append-only triggers switched off first (PostgreSQL: as the table owner; SQLite: as any program
that drops the triggers)."""

from django.db import connection

from trialkit.server.audit.guard import unlocked


def insider_sql(sql, params=()):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
            try:
                cursor.execute(sql, params)
            finally:
                cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")
        else:
            with unlocked():
                cursor.execute(sql, params)
