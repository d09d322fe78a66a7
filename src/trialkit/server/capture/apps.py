from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "trialkit.server.capture"
    label = "capture"
