from django.contrib.auth import views as auth_views
from django.urls import path

from trialkit.server.web import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("home/", views.home, name="home"),
    path("reports/<str:nct_id>/start/", views.start_report, name="start_report"),
    path("jobs/<int:pk>/", views.job_page, name="job"),
    path("jobs/<int:pk>/progress/", views.job_progress, name="job_progress"),
    path("jobs/<int:pk>/result/", views.job_result, name="job_result"),
    path("jobs/<int:pk>/result.pdf", views.job_result, {"fmt": "pdf"}, name="job_result_pdf"),
]
