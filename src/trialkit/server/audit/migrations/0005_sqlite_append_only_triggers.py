"""On SQLite, triggers refuse UPDATE and DELETE on audit events (see ``audit/guard.py``)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from trialkit.server.audit.guard import install_sqlite_triggers

    install_sqlite_triggers(schema_editor.connection)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for op in ("update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS audit_append_only_{op}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_rekey_and_baseline")]
    operations = [migrations.RunPython(forwards, backwards)]
