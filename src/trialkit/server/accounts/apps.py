from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "trialkit.server.accounts"
    label = "accounts"
    verbose_name = "Users and roles"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from trialkit.server import private_files
        from trialkit.server.accounts import signals  # noqa: F401

        connection_created.connect(private_files.secure_sqlite, dispatch_uid="trialkit-private-sqlite")
