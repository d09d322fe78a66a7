from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from trialkit.server.accounts.access import user_roles


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if settings.TRIALKIT_DEMO:
            from trialkit.server.demo import DEMO_PASSWORD, demo_logins

            context["demo_users"] = demo_logins()
            context["demo_password"] = DEMO_PASSWORD
        return context


@login_required
def home(request):
    memberships = user_roles(request.user)
    return render(request, "web/home.html", {"memberships": memberships})
