from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "trialkit.server.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from django.core import checks
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from trialkit.server.audit import guard, rows

        connection_created.connect(guard.register_sqlite_function, dispatch_uid="trialkit-audit-sqlite-fn")
        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="trialkit-audit-post-migrate")
        rows.connect()
        checks.register(_audit_key_check, checks.Tags.security)


def _audit_key_check(app_configs=None, **kwargs):
    """Refuse to start without an audit key (a development install gets one generated)."""
    from django.core import checks

    from trialkit.server.audit import keys

    try:
        keys.keyring()
    except keys.MissingAuditKey as exc:
        return [checks.Error(str(exc), id="trialkit.E001")]
    return []


def _after_migrate(sender, using="default", **kwargs):
    """Re-install what a table rebuild can drop (SQLite triggers) and re-apply role grants (PostgreSQL)."""
    from django.db import connections

    from trialkit.server.audit import guard, roles

    connection = connections[using]
    guard.install_sqlite_triggers(connection)
    roles.apply_configured_grants(connection)
