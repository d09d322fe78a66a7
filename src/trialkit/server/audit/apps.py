from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "trialkit.server.audit"
    label = "audit"
    verbose_name = "Audit trail"
