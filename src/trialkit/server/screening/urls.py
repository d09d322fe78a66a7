from django.urls import path

from trialkit.server.screening import views

app_name = "screening"
urlpatterns = [
    path("<str:nct_id>/", views.screening_log, name="log"),
    path("<str:nct_id>/new/", views.new_screening, name="new"),
    path("<str:nct_id>/<str:number>/", views.record_page, name="record"),
    path("<str:nct_id>/<str:number>/facts/", views.save_facts, name="facts"),
    path("<str:nct_id>/<str:number>/attest/", views.attest, name="attest"),
    path("<str:nct_id>/<str:number>/consent/", views.consent, name="consent"),
    path("<str:nct_id>/<str:number>/informed-consent/", views.consent_page, name="consent_page"),
    path("<str:nct_id>/<str:number>/informed-consent/document/", views.consent_document, name="consent_document"),
    path("<str:nct_id>/<str:number>/consent/withdraw/", views.consent_withdraw, name="consent_withdraw"),
    path("<str:nct_id>/<str:number>/consent/<int:consent_id>/pdf/", views.consent_pdf, name="consent_pdf"),
    path("<str:nct_id>/<str:number>/enroll/", views.enroll, name="enroll"),
    path("<str:nct_id>/<str:number>/screen-fail/", views.screen_fail, name="screen_fail"),
    path("<str:nct_id>/<str:number>/withdraw/", views.withdraw, name="withdraw"),
]
