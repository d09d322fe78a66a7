from django.urls import path

from trialkit.server.trials import views

app_name = "trials"
urlpatterns = [
    path("", views.finder, name="finder"),
    path("<str:nct_id>/", views.trial_page, name="trial"),
    path("<str:nct_id>/prescreen/", views.prescreen_page, name="prescreen"),
    path("<str:nct_id>/prescreen/contact/", views.contact_site, name="contact"),
]
