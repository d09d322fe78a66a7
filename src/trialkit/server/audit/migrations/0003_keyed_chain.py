"""Events name the key their MAC was made with; the chain's head is its last event (no head row)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]
    operations = [
        migrations.AddField(model_name="auditevent", name="key_id",
                            field=models.CharField(blank=True, max_length=32)),
        migrations.DeleteModel(name="ChainHead"),
    ]
