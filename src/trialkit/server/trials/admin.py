from django.contrib import admin

from trialkit.server.trials.models import Site, Trial


class SiteInline(admin.TabularInline):
    model = Site
    extra = 0


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ("nct_id", "acronym", "title", "loaded_at")
    inlines = [SiteInline]
