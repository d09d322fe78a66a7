from django.contrib import admin

from trialkit.server.accounts.models import Membership


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "trial", "site", "role")
    list_filter = ("trial", "role")
