from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "trialkit.server.exports"
    label = "exports"
