"""One audit chain per trial: a ``chain`` column, ``seq`` unique within its chain.

Cut-over, no re-signing: every event already written stays in chain 0 (the global chain) with its
MAC, its sequence number and its link, so the chain verified before the migration verifies after
it. From now on an event with a trial is appended to that trial's chain (``chain`` = the trial's
id, starting at #1) and an event without one to chain 0. Nothing is updated in the audit table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_sqlite_append_only_triggers")]

    operations = [
        migrations.AddField(model_name="auditevent", name="chain", field=models.BigIntegerField(default=0)),
        migrations.AlterField(model_name="auditevent", name="seq", field=models.BigIntegerField()),
        migrations.AlterModelOptions(name="auditevent", options={"ordering": ["id"]}),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq"),
        ),
    ]
