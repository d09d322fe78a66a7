from django.urls import path

from trialkit.server.capture import diary_views

app_name = "diary"
urlpatterns = [
    path("", diary_views.enter_code, name="enter"),
    path("<str:code>/", diary_views.diary, name="diary"),
]
