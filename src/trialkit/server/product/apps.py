from django.apps import AppConfig


class ProductConfig(AppConfig):
    name = "trialkit.server.product"
    label = "product"
