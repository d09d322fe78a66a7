from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "trialkit.server.web"
    label = "web"
    verbose_name = "Web application"
