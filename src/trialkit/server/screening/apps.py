from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "trialkit.server.screening"
    label = "screening"
