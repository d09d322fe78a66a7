from django.contrib import admin

from trialkit.server.jobs.models import Job, WorkerProcess


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Read-only: operators watch jobs here; jobs are changed by workers only."""

    list_display = ("id", "kind", "trial", "status", "progress", "attempts", "worker_id", "created_at", "heartbeat_at")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WorkerProcess)
class WorkerProcessAdmin(admin.ModelAdmin):
    list_display = ("worker_id", "hostname", "pid", "started_at", "seen_at")

    def has_add_permission(self, request):
        return False
