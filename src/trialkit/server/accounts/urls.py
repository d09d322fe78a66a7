from django.urls import path

from trialkit.server.accounts import views

urlpatterns = [
    path("", views.two_factor, name="two_factor"),
]
