from django.contrib import admin
from django.urls import include, path

from trialkit.server.api import api
from trialkit.server.web.views import landing

# An unknown /api/ address answers the API's error contract; every other 404 is the styled page.
handler404 = "trialkit.server.api.not_found_handler"

urlpatterns = [
    path("", landing, name="landing"),
    path("admin/", admin.site.urls),
    # Django's set_language view (POST with CSRF), used by the language switch in every page's header.
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/two-factor/", include("trialkit.server.accounts.urls")),
    path("accounts/tokens/", include("trialkit.server.accounts.token_urls")),
    path("api/", api.urls),
    path("trials/", include("trialkit.server.trials.urls")),
    path("screening/", include("trialkit.server.screening.urls")),
    path("referrals/", include("trialkit.server.referrals.urls")),
    path("allocation/", include("trialkit.server.allocation.urls")),
    path("capture/", include("trialkit.server.capture.urls")),
    path("exports/", include("trialkit.server.exports.urls")),
    path("product/", include("trialkit.server.product.urls")),
    path("diary/", include("trialkit.server.capture.diary_urls")),
    path("", include("trialkit.server.web.urls")),
]
