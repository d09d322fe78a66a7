from django.urls import path

from trialkit.server.product import views

app_name = "product"
urlpatterns = [
    path("<str:nct_id>/", views.supply, name="supply"),
    path("<str:nct_id>/lots/", views.lots, name="lots"),
    path("<str:nct_id>/kits/<str:kit_number>/", views.kit, name="kit"),
    path("<str:nct_id>/participants/<str:participant_number>/", views.participant_kit, name="participant"),
]
