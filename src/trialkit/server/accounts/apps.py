from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "trialkit.server.accounts"
    label = "accounts"
    verbose_name = "Users and roles"

    def ready(self) -> None:
        from trialkit.server.accounts import signals  # noqa: F401
