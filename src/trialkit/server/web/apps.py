from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "trialkit.server.web"
    label = "web"
    verbose_name = "Web application"

    def ready(self):
        # Registers the job kinds the job runner can work.
        from trialkit.server.web import reports  # noqa: F401
