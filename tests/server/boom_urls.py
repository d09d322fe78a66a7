"""The application's URLs plus one view that fails, for the logging tests."""

from django.urls import path

from trialkit.server.urls import urlpatterns as application


def boom(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [path("boom/", boom), *application]
