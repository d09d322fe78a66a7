"""Row-level audit of referrals (``referrals_referral``), as product/0002 does for its table.

The table is audited from its first row (``audit/rows.py``); rows made before audit began — none on
any database, since the table and its audit arrive together — would be recorded once as
``row.baseline`` events, so that ``trialkit audit verify`` compares them with the trail."""

from django.db import migrations

BASELINE_REASON = "baseline: the row as it was when row-level audit began"


def forwards(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    table = Referral._meta.db_table
    seen = set(AuditEvent.objects.filter(object_type=table).values_list("object_id", flat=True))
    rows = [row for row in Referral.objects.order_by("pk") if str(row.pk) not in seen]
    if not rows:
        return
    from trialkit.server.audit import rows as audit_rows
    from trialkit.server.audit.service import record_events

    spec = audit_rows.spec_for(Referral)
    record_events(
        [
            dict(
                actor=None,
                action=audit_rows.BASELINE,
                object_type=table,
                object_id=str(row.pk),
                after=audit_rows.snapshot(row, spec),
                reason=BASELINE_REASON,
                trial_id=row.trial_id,
                site_id=row.site_id,
            )
            for row in rows
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("referrals", "0001_initial"), ("audit", "0007_recent_activity_index")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
