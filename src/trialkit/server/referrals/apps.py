from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "trialkit.server.referrals"
    label = "referrals"
    verbose_name = "Referrals from the public pre-screener"
