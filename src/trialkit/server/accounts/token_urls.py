from django.urls import path

from trialkit.server.accounts import views

urlpatterns = [
    path("", views.api_tokens, name="api_tokens"),
]
