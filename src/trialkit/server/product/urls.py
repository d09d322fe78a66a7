from django.urls import path

from trialkit.server.product import views

app_name = "product"
urlpatterns = [
    path("<str:nct_id>/", views.supply, name="supply"),
    path("<str:nct_id>/lots/", views.lots, name="lots"),
    path("<str:nct_id>/lots/new/", views.lot_new, name="lot_new"),
    path("<str:nct_id>/lots/<str:lot_number>/kits/", views.lot_kits, name="lot_kits"),
    path("<str:nct_id>/shipments/", views.shipments, name="shipments"),
    path("<str:nct_id>/shipments/<int:shipment_id>/receipt/", views.receipt, name="receipt"),
    path("<str:nct_id>/excursions/", views.excursions, name="excursions"),
    path("<str:nct_id>/excursions/<int:excursion_id>/", views.excursion, name="excursion"),
    path("<str:nct_id>/kits/<str:kit_number>/", views.kit, name="kit"),
    path("<str:nct_id>/kits/<str:kit_number>/store/", views.kit_store, name="kit_store"),
    path("<str:nct_id>/participants/<str:participant_number>/", views.participant_kit, name="participant"),
]
