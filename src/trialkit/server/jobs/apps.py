from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "trialkit.server.jobs"
    label = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        # Each module that defines job kinds registers them on import.
        from trialkit.server.jobs import kinds

        kinds.load_kinds()
