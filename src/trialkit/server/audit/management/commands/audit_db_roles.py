"""Create the PostgreSQL owner and application roles and grant the application role least privilege."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from trialkit.server.audit import roles


class Command(BaseCommand):
    help = (
        "Create/grant the PostgreSQL roles: an owner that runs migrations and an application role that "
        "cannot UPDATE, DELETE or TRUNCATE the audit trail. Prints the SQL; --apply runs it (as a superuser "
        "or the database owner)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--app-role", required=True, help="the role the server connects as")
        parser.add_argument("--owner-role", help="the role that owns the tables and runs migrations")
        parser.add_argument("--app-password", help="password for a newly created application role")
        parser.add_argument("--owner-password", help="password for a newly created owner role")
        parser.add_argument(
            "--transfer-ownership",
            action="store_true",
            help="make --owner-role the owner of every existing table and sequence",
        )
        parser.add_argument("--apply", action="store_true", help="run the SQL instead of printing it")

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError("audit_db_roles applies to PostgreSQL only; SQLite is protected by triggers")
        for name in filter(None, (opts["app_role"], opts["owner_role"])):
            if not name.replace("_", "").isalnum():
                raise CommandError(f"role name {name!r}: use letters, digits and underscores only")
        sql = []
        if opts["owner_role"]:
            sql += roles.create_role_sql(connection, opts["owner_role"], opts["owner_password"])
        sql += roles.create_role_sql(connection, opts["app_role"], opts["app_password"])
        if opts["transfer_ownership"]:
            if not opts["owner_role"]:
                raise CommandError("--transfer-ownership needs --owner-role")
            sql += roles.ownership_sql(connection, opts["owner_role"])
        sql += roles.grant_sql(connection, opts["app_role"], opts["owner_role"])
        if not opts["apply"]:
            self.stdout.write(";\n".join(sql) + ";")
            return
        with connection.cursor() as cursor:
            for statement in sql:
                cursor.execute(statement)
        self.stdout.write(
            f"roles ready: application role {opts['app_role']!r} cannot UPDATE, DELETE or TRUNCATE "
            f"{', '.join(roles.AUDIT_TABLES)}"
        )
