from django.urls import path

from trialkit.server.referrals import views

app_name = "referrals"
urlpatterns = [
    path("<str:nct_id>/", views.referral_list, name="list"),
    path("<str:nct_id>/<int:pk>/", views.referral_detail, name="detail"),
    path("<str:nct_id>/<int:pk>/screen/", views.referral_convert, name="convert"),
]
