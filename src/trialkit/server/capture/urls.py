from django.urls import path

from trialkit.server.capture import oversight_views, views

app_name = "capture"
urlpatterns = [
    path("", views.home, name="home"),
    path("trials/<str:nct_id>/due/", views.due, name="due"),
    path("trials/<str:nct_id>/participants/", views.participants, name="participants"),
    path("trials/<str:nct_id>/status/", oversight_views.dashboard, name="dashboard"),
    path("trials/<str:nct_id>/calendar/", oversight_views.visit_calendar, name="calendar"),
    path("trials/<str:nct_id>/queries/", oversight_views.queries, name="queries"),
    path("trials/<str:nct_id>/verification/", oversight_views.verification, name="verification"),
    path("trials/<str:nct_id>/signatures/", oversight_views.signatures, name="signatures"),
    path(
        "participants/<int:participant_id>/visits/<slug:visit_id>/review/",
        oversight_views.visit_review,
        name="visit_review",
    ),
    path("participants/<int:participant_id>/", views.participant_timeline, name="participant"),
    path("participants/<int:participant_id>/audit/", views.participant_audit, name="participant_audit"),
    path(
        "participants/<int:participant_id>/audit/report/",
        views.participant_audit_report,
        name="participant_audit_report",
    ),
    path("participants/<int:participant_id>/end/", views.end_participation, name="end_participation"),
    path("participants/<int:participant_id>/reopen/", views.reopen_participation, name="reopen_participation"),
    path("participants/<int:participant_id>/diary-access/", views.diary_access, name="diary_access"),
    path("participants/<int:participant_id>/diary-contact/", views.diary_contact, name="diary_contact"),
    path("participants/<int:participant_id>/visits/<slug:visit_id>/date/", views.record_visit_date, name="visit_date"),
    path(
        "participants/<int:participant_id>/visits/<slug:visit_id>/carried-review/",
        views.review_carried_forms,
        name="review_carried_forms",
    ),
    path("participants/<int:participant_id>/visits/<slug:visit_id>/sign/", views.sign_visit, name="sign_visit"),
    path("participants/<int:participant_id>/visits/<slug:visit_id>/forms/<slug:instrument>/", views.ecrf, name="ecrf"),
    path(
        "participants/<int:participant_id>/visits/<slug:visit_id>/forms/<slug:instrument>/preview/",
        views.ecrf_preview,
        name="ecrf_preview",
    ),
    path("participants/<int:participant_id>/adverse-events/new/", views.adverse_event, name="adverse_event_new"),
    path("participants/<int:participant_id>/adverse-events/<int:ae_id>/", views.adverse_event, name="adverse_event"),
    path(
        "participants/<int:participant_id>/adverse-events/<int:ae_id>/<slug:verb>/",
        views.adverse_event_action,
        name="adverse_event_action",
    ),
    path("forms/<int:form_id>/audit/", views.form_audit, name="form_audit"),
    path("forms/<int:form_id>/verify/", views.verify_form, name="verify_form"),
    path("forms/<int:form_id>/sign/", views.sign_form, name="sign_form"),
    path("forms/<int:form_id>/lock/", views.lock_form, name="lock_form"),
    path("forms/<int:form_id>/delete/", views.delete_form, name="delete_form"),
    path("forms/<int:form_id>/queries/", views.open_query, name="open_query"),
    path("queries/<int:query_id>/<slug:verb>/", views.query_action, name="query_action"),
]
