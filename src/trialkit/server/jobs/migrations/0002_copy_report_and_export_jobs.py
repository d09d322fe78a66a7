"""Reports (web.Job) and exports (exports.ExportJob) become rows of the one job model.

Export jobs keep their ids, which the audit trail names (object_type "export"); report jobs,
which nothing else refers to, are numbered after them. A job left queued or running by the
thread runner that is gone is closed as failed.
"""

from django.db import migrations

INTERRUPTED = "interrupted: the server stopped before this job finished, so it has no result; start it again"


def copy(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    ExportJob = apps.get_model("exports", "ExportJob")
    ReportJob = apps.get_model("web", "Job")

    def closed(status, message, finished_at, created_at):
        if status in ("queued", "running"):
            return "failed", INTERRUPTED, finished_at or created_at
        return status, message, finished_at

    for old in ExportJob.objects.all().order_by("pk"):
        status, message, finished_at = closed(old.status, old.message, old.finished_at, old.created_at)
        Job.objects.create(
            pk=old.pk, kind="export", trial_id=old.trial_id, requested_by_id=old.requested_by_id,
            requester_role=old.requester_role, unblinded=old.unblinded,
            params={"formats": old.formats, "include_drafts": old.include_drafts}, status=status,
            progress=old.progress, message=message, result_path=old.file_path, size_bytes=old.size_bytes,
            sha256=old.sha256, manifest=old.manifest, attempts=1, created_at=old.created_at,
            finished_at=finished_at, heartbeat_at=old.heartbeat_at)
    _reset_sequence(schema_editor, Job)  # PostgreSQL: new ids continue after the copied ones
    for old in ReportJob.objects.all().order_by("pk"):
        status, message, finished_at = closed(old.status, old.error or old.step, old.finished_at, old.created_at)
        unblinded = bool((old.params or {}).get("unblinded"))
        Job.objects.create(
            kind=old.kind, trial_id=old.trial_id, requested_by_id=old.owner_id,
            requester_role="dsmb_statistician" if unblinded else "",
            unblinded=unblinded, params={}, status=status, progress=old.progress,
            message=message, result_path=old.result_path, attempts=1, created_at=old.created_at,
            finished_at=finished_at, heartbeat_at=old.heartbeat_at)
    _reset_sequence(schema_editor, Job)


def _reset_sequence(schema_editor, model):
    from django.core.management.color import no_style

    with schema_editor.connection.cursor() as cursor:
        for statement in schema_editor.connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("exports", "0002_job_heartbeat"),
        ("web", "0002_job_heartbeat"),
    ]

    operations = [migrations.RunPython(copy, migrations.RunPython.noop)]
