"""An insider with database access changes the trial around the application, the way the audit
review found possible: each change is reported by `trialkit audit verify` with exit 1, naming the
table, the row and the field. The world is the demo trial data, made through the real services."""

import json
from datetime import date

import pytest
from audit_insider import insider_sql
from django.core.management import call_command
from django.db import connection
from typer.testing import CliRunner

from trialkit.server.audit.checkpoint import write_checkpoint
from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.service import chain_head
from trialkit.server.audit.verify import verify_all

pytestmark = pytest.mark.django_db
TODAY = date(2026, 6, 1)


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker):
    """The demo, loaded once for this module (committed); each test's tampering is rolled back."""
    from trialkit.server.demo import load_demo

    with django_db_blocker.unblock():
        load_demo(today=TODAY)
    yield
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def demo(demo_data, db):
    write_checkpoint()
    result = verify_all()
    assert result["ok"], result  # the untouched demo, every row and event, verifies


def _verify():
    from trialkit.cli.main import app

    result = CliRunner().invoke(app, ["audit", "verify", "--format", "json"])
    return result.exit_code, json.loads(result.output)


def _rows(out):
    return {(r["table"], r["id"], r["field"], r["kind"]) for r in out["rows"]}


def test_an_mrs_value_changed_in_the_form_table(demo):
    from trialkit.server.capture.models import FormRecord

    form = FormRecord.objects.filter(instrument="mrs", deleted_at__isnull=True).order_by("pk").first()
    data = dict(form.data, score=(form.data["score"] + 1) % 6)
    insider_sql("UPDATE capture_formrecord SET data = %s WHERE id = %s", [json.dumps(data), form.pk])
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {("capture_formrecord", str(form.pk), "data", "changed")}
    [row] = out["rows"]
    assert row["audited"]["score"] == form.data["score"] and row["found"]["score"] == data["score"]


def test_two_participants_arms_swapped_in_the_allocation_table(demo):
    from trialkit.server.allocation.models import AllocationSlot

    used = AllocationSlot.objects.filter(participant__isnull=False).order_by("pk")
    a = used.first()
    b = used.exclude(arm_id=a.arm_id).filter(trial_id=a.trial_id).first()
    insider_sql(
        "UPDATE allocation_allocationslot SET arm_id = CASE WHEN id = %s THEN %s ELSE %s END WHERE id IN (%s, %s)",
        [a.pk, b.arm_id, a.arm_id, a.pk, b.pk],
    )
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {
        ("allocation_allocationslot", str(a.pk), "arm_id", "changed"),
        ("allocation_allocationslot", str(b.pk), "arm_id", "changed"),
    }
    # Where to look, not which arm: the values are shown only when asked for.
    assert a.arm_id not in json.dumps(out) and b.arm_id not in json.dumps(out)
    unblinded = verify_all(unblinded=True)
    assert {(r["id"], r["audited"], r["found"]) for r in unblinded["rows"]} == {
        (str(a.pk), a.arm_id, b.arm_id),
        (str(b.pk), b.arm_id, a.arm_id),
    }


def test_a_signature_reattributed(demo, django_user_model):
    from trialkit.server.capture.models import Signature

    signature = Signature.objects.order_by("pk").first()
    other = django_user_model.objects.exclude(pk=signature.signer_id).get(username="sponsor")
    insider_sql(
        "UPDATE capture_signature SET signer_id = %s, signer_name = %s WHERE id = %s",
        [other.pk, "Sam Sponsor", signature.pk],
    )
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {
        ("capture_signature", str(signature.pk), "signer_id", "changed"),
        ("capture_signature", str(signature.pk), "signer_name", "changed"),
    }


def test_an_adverse_event_hard_deleted(demo):
    from trialkit.server.capture.models import AdverseEvent

    ae = AdverseEvent.objects.filter(deleted_at__isnull=True).order_by("pk").first()
    follow_ups = [str(pk) for pk in ae.follow_ups.values_list("pk", flat=True)]
    insider_sql("DELETE FROM capture_adverseeventfollowup WHERE adverse_event_id = %s", [ae.pk])
    insider_sql("DELETE FROM capture_adverseevent WHERE id = %s", [ae.pk])
    code, out = _verify()
    assert code == 1
    assert _rows(out) == (
        {("capture_adverseevent", str(ae.pk), None, "missing")}
        | {("capture_adverseeventfollowup", pk, None, "missing") for pk in follow_ups}
    )


def test_a_row_inserted_around_the_application(demo):
    from trialkit.server.trials.models import Trial

    trial = Trial.objects.order_by("pk").first()
    insider_sql(
        "INSERT INTO trials_site (trial_id, code, name, city, country, status, contact_name, contact_email, "
        "contact_phone, time_zone, active) VALUES (%s, 'ghost', 'Ghost site', '', '', '', '', '', '', '', %s)",
        [trial.pk, True],
    )
    code, out = _verify()
    ghost = trial.sites.get(code="ghost")
    assert code == 1 and _rows(out) == {("trials_site", str(ghost.pk), None, "unaudited")}


def test_a_tampered_value_is_still_found_after_the_application_saves_the_row_again(demo):
    # Laundering: change a value around the application, then let a legitimate edit save the row.
    from trialkit.server.trials.models import Site

    site = Site.objects.order_by("pk").first()
    insider_sql("UPDATE trials_site SET contact_email = %s WHERE id = %s", ["insider@example.org", site.pk])
    site.refresh_from_db()
    site.contact_email = "trial-office@example.org"
    site.save()
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {("trials_site", str(site.pk), "contact_email", "changed_between")}


def test_the_tail_of_the_chain_deleted_and_the_head_rewound(demo):
    from trialkit.server.trials.models import Site

    site = Site.objects.order_by("pk").first()
    site.name = "Renamed by the coordinator"
    site.save()
    write_checkpoint()
    head, _ = chain_head(site.trial_id)  # the site's event is in its trial's chain
    # Remove the last event, so the chain ends one earlier and is valid on its own.
    insider_sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq = %s", [site.trial_id, head])
    assert chain_head(site.trial_id)[0] == head - 1
    code, out = _verify()
    assert code == 1
    assert out["problem"] is None  # what is left of the chain is intact ...
    assert any(f"event #{head}" in p and "removed" in p for p in out["checkpoint"]["problems"])  # ... but short
    assert _rows(out) == {("trials_site", str(site.pk), "name", "changed")}


def test_a_forged_event_appended_with_a_recomputed_hash(demo):
    # The insider changes an mRS score and appends the event that would explain it, chained to
    # the head with a hash they computed over the event's fields (SHA-256, as the chain was
    # before it was keyed): without the key the MAC does not match.
    import hashlib

    from trialkit.server.audit.chain import _payload
    from trialkit.server.capture.models import FormRecord

    form = FormRecord.objects.filter(instrument="mrs", deleted_at__isnull=True).order_by("pk").first()
    new = dict(form.data, score=(form.data["score"] + 1) % 6)
    insider_sql("UPDATE capture_formrecord SET data = %s WHERE id = %s", [json.dumps(new), form.pk])
    chain = form.participant.trial_id
    head_seq, head_mac = chain_head(chain)
    last = AuditEvent.objects.get(chain=chain, seq=head_seq)
    forged = {f.name: getattr(last, f.name) for f in AuditEvent._meta.fields if f.name != "id"}
    forged.update(
        seq=head_seq + 1,
        action="row.update",
        object_type="capture_formrecord",
        object_id=str(form.pk),
        before={"data": form.data},
        after={"data": new},
        prev_hash=head_mac,
        restricted=False,
    )
    forged["hash"] = hashlib.sha256(_payload(forged)).hexdigest()
    AuditEvent.objects.create(**forged)
    code, out = _verify()
    assert code == 1
    assert out["problem"]["chain"] == chain
    assert out["problem"]["seq"] == head_seq + 1 and out["problem"]["kind"] == "altered"
    assert out["rows"] == []  # the forged event hides the row change from the replay, not from the MAC


def test_the_audit_table_truncated_and_the_head_reset(demo):
    head, _ = chain_head()
    insider_sql("DELETE FROM audit_auditevent" if connection.vendor == "sqlite" else "TRUNCATE audit_auditevent")
    assert chain_head() == (0, "0" * 64)
    code, out = _verify()
    assert code == 1
    assert out["problem"] is None and out["checked"] == 0
    assert any(f"event #{head}" in p for p in out["checkpoint"]["problems"])
    kinds = {kind for _, _, _, kind in _rows(out)}
    assert kinds == {"unaudited"}  # and every live row is now a row the trail never saw
    from trialkit.server.capture.models import FormRecord

    assert {
        ("capture_formrecord", str(pk), None, "unaudited") for pk in FormRecord.objects.values_list("pk", flat=True)
    } <= _rows(out)


def test_a_data_table_truncated(demo):
    from trialkit.server.capture.models import QueryMessage

    ids = {str(pk) for pk in QueryMessage.objects.values_list("pk", flat=True)}
    assert ids
    insider_sql(
        "DELETE FROM capture_querymessage" if connection.vendor == "sqlite" else "TRUNCATE capture_querymessage"
    )
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {("capture_querymessage", i, None, "missing") for i in ids}


def test_manage_flush(demo):
    head, _ = chain_head()
    call_command("flush", interactive=False, verbosity=0)
    assert AuditEvent.objects.count() == 0
    code, out = _verify()
    assert code == 1
    assert out["problem"] is None and out["rows"] == []  # an empty database is consistent with an empty trail
    assert any(f"event #{head}" in p and "flushed" in p for p in out["checkpoint"]["problems"])


def test_a_checkpoint_line_edited_to_hide_a_rewind(demo):
    from trialkit.server.audit.checkpoint import checkpoint_file

    path = checkpoint_file()
    entry = json.loads(path.read_text().splitlines()[-1])
    head, _ = chain_head(entry["chain"])
    entry.update(seq=head - 5, mac=AuditEvent.objects.get(chain=entry["chain"], seq=head - 5).hash)
    path.write_text(json.dumps(entry) + "\n")
    code, out = _verify()
    assert code == 1 and "bad signature" in out["checkpoint"]["problems"][0]


# ---------------------------------------------------------------- the product's chain of custody
# The demo's supply (trialkit.server.product.demo) gives every table of the chain rows to tamper with.


def test_two_kits_numbers_swapped(demo):
    # Swapping the numbers of a cell kit and a placebo kit would hand a participant the other arm.
    from trialkit.server.product.models import Kit

    a = Kit.objects.filter(status="stored").order_by("pk").first()
    b = (
        Kit.objects.filter(trial_id=a.trial_id, status="stored")
        .exclude(lot__arm_id=a.lot.arm_id)
        .order_by("pk")
        .first()
    )
    # Three steps: the kit number is unique per trial, checked row by row.
    insider_sql("UPDATE product_kit SET kit_number = %s WHERE id = %s", ["SWAP", a.pk])
    insider_sql("UPDATE product_kit SET kit_number = %s WHERE id = %s", [a.kit_number, b.pk])
    insider_sql("UPDATE product_kit SET kit_number = %s WHERE id = %s", [b.kit_number, a.pk])
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {
        ("product_kit", str(a.pk), "kit_number", "changed"),
        ("product_kit", str(b.pk), "kit_number", "changed"),
    }
    assert a.kit_number not in json.dumps(out)  # a kit row is an allocation row: values only when asked for


def test_two_kits_statuses_swapped(demo):
    from trialkit.server.product.models import Kit

    a = Kit.objects.filter(status="infused").order_by("pk").first()
    b = Kit.objects.filter(trial_id=a.trial_id, status="stored").order_by("pk").first()
    insider_sql(
        "UPDATE product_kit SET status = CASE WHEN id = %s THEN %s ELSE %s END WHERE id IN (%s, %s)",
        [a.pk, b.status, a.status, a.pk, b.pk],
    )
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {
        ("product_kit", str(a.pk), "status", "changed"),
        ("product_kit", str(b.pk), "status", "changed"),
    }


@pytest.mark.parametrize(("field", "value"), [("viability_percent", 64.0), ("sterility", "fail")])
def test_a_lot_release_result_edited(demo, field, value):
    from trialkit.server.product.models import Lot

    lot = Lot.objects.filter(viability_percent__isnull=False, status="released").order_by("pk").first()
    insider_sql(f"UPDATE product_lot SET {field} = %s WHERE id = %s", [value, lot.pk])
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {("product_lot", str(lot.pk), field, "changed")}


def test_a_step_deleted_from_a_kits_timeline(demo):
    from trialkit.server.product.models import KitEvent

    thaw = KitEvent.objects.filter(step="thaw").order_by("pk").first()
    insider_sql("DELETE FROM product_kitevent WHERE id = %s", [thaw.pk])
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {("product_kitevent", str(thaw.pk), None, "missing")}


def test_an_infusion_volume_edited(demo):
    from trialkit.server.product.models import InfusionRecord

    record = InfusionRecord.objects.order_by("pk").first()
    insider_sql(
        "UPDATE product_infusionrecord SET volume_given_ml = %s WHERE id = %s",
        [str(record.volume_given_ml - 20), record.pk],
    )
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {("product_infusionrecord", str(record.pk), "volume_given_ml", "changed")}
    [row] = out["rows"]
    assert row["audited"] == str(record.volume_given_ml)


def _excursion_links(excursion):
    through = excursion.kits.through
    return {str(pk) for pk in through.objects.filter(temperatureexcursion_id=excursion.pk).values_list("pk", flat=True)}


def test_a_temperature_excursion_deleted(demo):
    from trialkit.server.product.models import TemperatureExcursion

    excursion = TemperatureExcursion.objects.order_by("pk").first()
    links = _excursion_links(excursion)
    assert links
    insider_sql("DELETE FROM product_temperatureexcursion_kits WHERE temperatureexcursion_id = %s", [excursion.pk])
    insider_sql("DELETE FROM product_temperatureexcursion WHERE id = %s", [excursion.pk])
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {("product_temperatureexcursion", str(excursion.pk), None, "missing")} | {
        ("product_temperatureexcursion_kits", pk, None, "missing") for pk in links
    }


def test_a_kit_unlinked_from_its_excursion(demo):
    # Which kits an excursion quarantined decides which kits its "discard" review destroys.
    from trialkit.server.product.models import TemperatureExcursion

    excursion = TemperatureExcursion.objects.order_by("pk").first()
    link = sorted(_excursion_links(excursion), key=int)[0]
    insider_sql("DELETE FROM product_temperatureexcursion_kits WHERE id = %s", [link])
    code, out = _verify()
    assert code == 1
    assert _rows(out) == {("product_temperatureexcursion_kits", link, None, "missing")}
