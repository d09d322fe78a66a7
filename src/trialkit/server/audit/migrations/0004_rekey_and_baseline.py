"""Re-MAC the existing chain under the current key and record a baseline of every audited row.

Before keys, each event's ``hash`` was an unkeyed SHA-256. This migration first checks that old
chain (a broken chain stops the migration: it is not re-signed, so tampering is not laundered),
then recomputes every event's MAC under the current key with its key id. It then appends one
``row.baseline`` event per existing row of every audited table, so that ``trialkit audit verify``
can compare those rows with the trail from now on. A new, empty database does neither.
"""

from django.db import migrations
from django.utils import timezone


def _known(apps, specs):
    """The audited tables that exist at this migration (tables added by later apps have no rows yet)."""
    out = []
    for spec in specs:
        try:
            out.append((spec, apps.get_model(spec.label)))
        except LookupError:
            continue
    return out


def forwards(apps, schema_editor):
    from trialkit.server.audit import keys, rows
    from trialkit.server.audit.chain import GENESIS, event_mac, legacy_event_hash, normalize

    AuditEvent = apps.get_model("audit", "AuditEvent")
    connection = schema_editor.connection
    names = [f.name for f in AuditEvent._meta.fields if f.name != "id"]
    events = list(AuditEvent.objects.order_by("seq").values("id", *names))
    existing_rows = sum(model._base_manager.count() for _spec, model in _known(apps, rows.AUDITED))
    if not events and not existing_rows:
        return
    ring = keys.keyring()
    prev = GENESIS
    for n, event in enumerate(events, start=1):
        if event["seq"] != n or event["prev_hash"] != prev or legacy_event_hash(event) != event["hash"]:
            raise RuntimeError(
                f"audit chain broken at event #{event['seq']} (seq, link or hash): not re-signing it. "
                "Investigate with `trialkit audit verify` on the previous version before upgrading.")
        prev = event["hash"]
    if connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
    prev = GENESIS
    for event in events:
        event.update(prev_hash=prev, key_id=ring.current_id)
        event["hash"] = event_mac(event, ring.current)
        AuditEvent.objects.filter(pk=event["id"]).update(prev_hash=prev, key_id=ring.current_id, hash=event["hash"])
        prev = event["hash"]
    if connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")

    seq = len(events)
    now = timezone.now()
    for spec, model in _known(apps, rows.AUDITED):
        table = model._meta.db_table
        for obj in model._base_manager.order_by("pk").iterator():
            state = rows.snapshot(obj, spec)
            seq += 1
            fields = {
                "seq": seq, "at": now, "actor_id": None, "actor": "system", "action": rows.BASELINE,
                "object_type": table, "object_id": str(obj.pk), "trial_id": state.get("trial_id"),
                "site_id": state.get("site_id"), "participant_id": state.get("participant_id"),
                "before": None, "after": normalize(state),
                "reason": "baseline: the row as it was when row-level audit began",
                "restricted": spec.restricted, "prev_hash": prev, "key_id": ring.current_id,
            }
            fields["hash"] = event_mac(fields, ring.current)
            AuditEvent.objects.create(**fields)
            prev = fields["hash"]


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_keyed_chain"),
        ("trials", "0001_initial"),
        ("accounts", "0001_initial"),
        ("participants", "0002_participation_end"),
        ("allocation", "0001_initial"),
        ("capture", "0002_adverse_event_form"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
