from django.apps import AppConfig


class ParticipantsConfig(AppConfig):
    name = "trialkit.server.participants"
    label = "participants"
    verbose_name = "Screening, consent and participants"
