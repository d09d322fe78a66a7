from django.urls import path

from trialkit.server.allocation import views

app_name = "allocation"
urlpatterns = [
    path("", views.index, name="index"),
    path("<str:nct_id>/", views.trial_overview, name="trial"),
    path("<str:nct_id>/list/", views.allocation_list, name="list"),
    path("<str:nct_id>/escalation/", views.escalation_page, name="escalation"),
    path("<str:nct_id>/pharmacy/", views.pharmacy, name="pharmacy"),
    path("<str:nct_id>/pharmacy/<str:participant_number>/", views.prepare, name="prepare"),
    path("<str:nct_id>/notifications/", views.notifications, name="notifications"),
    path("<str:nct_id>/notifications/<int:notification_id>/read/", views.notification_read, name="notification_read"),
    path("<str:nct_id>/participants/<str:participant_number>/", views.participant_page, name="participant"),
    path("<str:nct_id>/participants/<str:participant_number>/randomize/", views.randomize, name="randomize"),
    path("<str:nct_id>/participants/<str:participant_number>/label/", views.label, name="label"),
    path("<str:nct_id>/participants/<str:participant_number>/label.txt", views.label_text, name="label_text"),
    path("<str:nct_id>/participants/<str:participant_number>/administered/", views.administered, name="administered"),
    path("<str:nct_id>/participants/<str:participant_number>/unblind/", views.unblind, name="unblind"),
]
