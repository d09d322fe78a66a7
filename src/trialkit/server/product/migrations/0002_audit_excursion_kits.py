"""Row-level audit of the excursion's kits (the many-to-many table ``product_temperatureexcursion_kits``).

The table is audited from this version on (``audit/rows.py``); its rows made before are recorded
once as ``row.baseline`` events, so that ``trialkit audit verify`` compares them with the trail
instead of reporting them as unaudited. A database without such rows (a new one) writes nothing.
"""

from django.db import migrations

BASELINE_REASON = "baseline: the row as it was when row-level audit began"


def forwards(apps, schema_editor):
    Through = apps.get_model("product", "TemperatureExcursion_kits")
    Excursion = apps.get_model("product", "TemperatureExcursion")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    table = Through._meta.db_table
    seen = set(AuditEvent.objects.filter(object_type=table).values_list("object_id", flat=True))
    rows = [row for row in Through.objects.order_by("pk") if str(row.pk) not in seen]
    if not rows:
        return
    from trialkit.server.audit import rows as audit_rows
    from trialkit.server.audit.service import record_events

    spec = audit_rows.spec_for(Through)
    where = dict(Excursion.objects.values_list("pk", "trial_id"))
    sites = dict(Excursion.objects.values_list("pk", "site_id"))
    record_events(
        [
            dict(
                actor=None,
                action=audit_rows.BASELINE,
                object_type=table,
                object_id=str(row.pk),
                after=audit_rows.snapshot(row, spec),
                reason=BASELINE_REASON,
                trial_id=where.get(row.temperatureexcursion_id),
                site_id=sites.get(row.temperatureexcursion_id),
            )
            for row in rows
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("product", "0001_initial"), ("audit", "0007_recent_activity_index")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
