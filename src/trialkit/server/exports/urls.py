from django.urls import path

from trialkit.server.exports import views

app_name = "exports"
urlpatterns = [
    path("<str:nct_id>/", views.exports_page, name="trial"),
    path("<str:nct_id>/start/", views.start, name="start"),
    path("<str:nct_id>/jobs/<int:job_id>/progress/", views.progress, name="progress"),
    path("<str:nct_id>/jobs/<int:job_id>/download/", views.download, name="download"),
]
