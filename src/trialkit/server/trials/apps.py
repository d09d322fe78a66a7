from django.apps import AppConfig


class TrialsConfig(AppConfig):
    name = "trialkit.server.trials"
    label = "trials"
    verbose_name = "Trials and sites"
