from django.apps import AppConfig


class AllocationConfig(AppConfig):
    name = "trialkit.server.allocation"
    label = "allocation"
