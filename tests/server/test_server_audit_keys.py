"""The audit key outside the database, its rotation, the append-only database, the roles, exit codes."""

import json
import os
import sqlite3
import stat
import subprocess
import sys
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from trialkit.server.audit import keys
from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.service import record_event, verify_chain

pytestmark = pytest.mark.django_db


def _write(n, action="test_event"):
    for i in range(n):
        record_event(actor=None, action=action, object_type="thing", object_id=str(i), after={"i": i})


@pytest.fixture
def own_key_file(tmp_path, monkeypatch):
    path = tmp_path / "keys" / "keys.json"
    monkeypatch.setenv("TRIALKIT_AUDIT_KEY_FILE", str(path))
    monkeypatch.delenv("TRIALKIT_AUDIT_KEY", raising=False)
    keys.reset_cache()
    yield path
    keys.reset_cache()


def test_a_development_install_gets_a_private_key_file(own_key_file):
    _write(1)
    assert own_key_file.exists()
    assert stat.S_IMODE(own_key_file.stat().st_mode) == 0o600
    data = json.loads(own_key_file.read_text())
    assert AuditEvent.objects.get().key_id == data["current"]


def test_production_without_a_key_refuses_clearly_and_writes_nothing(own_key_file, settings):
    settings.SECRET_KEY = "a-real-production-secret"
    with pytest.raises(keys.MissingAuditKey, match=r"TRIALKIT_AUDIT_KEY.*trialkit audit keygen"):
        _write(1)
    assert not own_key_file.exists() and AuditEvent.objects.count() == 0


def test_the_environment_key_signs_new_events(own_key_file, monkeypatch, settings):
    settings.SECRET_KEY = "a-real-production-secret"
    monkeypatch.setenv("TRIALKIT_AUDIT_KEY", "env1:" + "ab" * 32)
    keys.reset_cache()
    _write(2)
    assert set(AuditEvent.objects.values_list("key_id", flat=True)) == {"env1"}
    assert verify_chain()[1] is None


def test_rotation_keeps_old_events_verifiable_and_a_lost_key_is_reported(own_key_file):
    _write(2)
    first = keys.keyring().current_id
    second = keys.rotate()
    _write(2)
    assert list(AuditEvent.objects.order_by("seq").values_list("key_id", flat=True)) == [first] * 2 + [second] * 2
    assert verify_chain() == (4, None)
    # Without the old key the old events cannot be checked: said so, never "intact".
    data = json.loads(own_key_file.read_text())
    del data["keys"][first]
    own_key_file.write_text(json.dumps(data))
    keys.reset_cache()
    _checked, problem = verify_chain()
    assert (problem.kind, problem.seq) == ("unknown_key", 1)


def test_an_event_macd_under_another_key_is_altered(own_key_file):
    from trialkit.server.audit.chain import event_mac

    _write(2)
    event = AuditEvent.objects.get(seq=2)
    fields = {f.name: getattr(event, f.name) for f in AuditEvent._meta.fields}
    assert event_mac(fields, b"k" * 32) != event.hash
    assert event_mac(fields, keys.keyring().current) == event.hash


def test_the_database_refuses_to_update_or_delete_audit_events():
    _write(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(reason="changed")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=2).delete()
    assert AuditEvent.objects.count() == 2 and AuditEvent.objects.get(seq=1).reason == ""


@pytest.mark.django_db(transaction=True)
def test_sqlite_refuses_another_program_too():
    # A program other than TrialKit (the sqlite3 shell) has no trialkit_audit_unlocked(): refused.
    if connection.vendor != "sqlite":
        pytest.skip("SQLite triggers")
    _write(1)
    other = sqlite3.connect(connection.settings_dict["NAME"])
    try:
        for sql in ("UPDATE audit_auditevent SET reason = 'x'", "DELETE FROM audit_auditevent"):
            with pytest.raises(sqlite3.OperationalError, match="trialkit_audit_unlocked"):
                other.execute(sql)
    finally:
        other.close()
    assert AuditEvent.objects.count() == 1


def _role_names():
    suffix = uuid.uuid4().hex[:8]
    return f"p13a_{suffix}_owner", f"p13a_{suffix}_app"


def test_postgres_application_role_cannot_rewrite_the_trail(on_postgres):
    from django.core.management import call_command
    from django.db import ProgrammingError

    from trialkit.server.audit.roles import app_role_may_rewrite

    _write(2)
    owner, app = _role_names()
    call_command("audit_db_roles", app_role=app, owner_role=owner, apply=True, verbosity=0)
    try:
        with connection.cursor() as cursor:
            for sql in (
                "UPDATE audit_auditevent SET reason = 'hidden'",
                "DELETE FROM audit_auditevent",
                "TRUNCATE audit_auditevent",
            ):
                with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
                    cursor.execute(f'SET LOCAL ROLE "{app}"')
                    cursor.execute(sql)
            # What the application needs still works as that role: append events, change data.
            with transaction.atomic():
                cursor.execute(f'SET LOCAL ROLE "{app}"')
                assert app_role_may_rewrite(connection) == []
                _write(1, action="as_app_role")
                cursor.execute("UPDATE trials_site SET name = name")
                cursor.execute("SELECT current_user")
                assert cursor.fetchone()[0] == app
                cursor.execute("RESET ROLE")  # SET LOCAL outlives a released savepoint
        assert AuditEvent.objects.filter(action="as_app_role").count() == 1
        assert verify_chain() == (3, None)
        assert "UPDATE" in app_role_may_rewrite(connection)  # the test's own superuser connection may
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            for role in (app, owner):
                cursor.execute(f'DROP OWNED BY "{role}"')
                cursor.execute(f'DROP ROLE "{role}"')


def _cli(*args, env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "trialkit", "audit", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_verify_exits_3_when_the_database_cannot_be_reached(tmp_path):
    done = _cli(
        "verify",
        "--format",
        "json",
        env_extra={
            "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
            "TRIALKIT_DATA_DIR": str(tmp_path),
            "TRIALKIT_DEMO": "1",
        },
    )
    assert done.returncode == 3, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["ok"] is None and "OperationalError" in out["error"]


def test_verify_exits_3_in_production_without_a_key(tmp_path):
    done = _cli(
        "verify",
        env_extra={
            "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
            "TRIALKIT_DATA_DIR": str(tmp_path),
            "SECRET_KEY": "production",
            "TRIALKIT_AUDIT_KEY": "",
        },
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "No audit key" in done.stdout


def test_the_migration_re_macs_a_legacy_chain_and_baselines_existing_rows(trials):
    """Events written before keys (unkeyed SHA-256) are re-signed; existing rows get a baseline."""
    import importlib

    from audit_insider import insider_sql
    from django.apps import apps

    from trialkit.server.audit.chain import GENESIS, legacy_event_hash
    from trialkit.server.audit.verify import verify_all

    migration = importlib.import_module("trialkit.server.audit.migrations.0004_rekey_and_baseline")
    insider_sql("DELETE FROM audit_auditevent")
    prev = GENESIS
    for seq in (1, 2, 3):  # the old chain, as the previous version wrote it
        fields = {
            "seq": seq,
            "at": AuditEvent._meta.get_field("at").to_python("2026-01-01T00:00:00+00:00"),
            "actor_id": None,
            "actor": "system",
            "action": "legacy",
            "object_type": "x",
            "object_id": str(seq),
            "trial_id": None,
            "site_id": None,
            "participant_id": None,
            "before": None,
            "after": {"n": seq},
            "reason": "",
            "restricted": False,
            "prev_hash": prev,
            "key_id": "",
        }
        fields["hash"] = legacy_event_hash(fields)
        AuditEvent.objects.create(**fields)
        prev = fields["hash"]
    assert verify_chain()[1] is not None  # not verifiable as keyed events ...

    class Editor:
        def __init__(self):
            self.connection = connection

        def execute(self, sql, params=None):
            with connection.cursor() as cursor:
                cursor.execute(sql, params)

    with transaction.atomic():
        from trialkit.server.audit.guard import unlocked

        with unlocked():
            migration.forwards(apps, Editor())
    assert verify_chain()[1] is None  # ... until re-signed
    assert list(AuditEvent.objects.filter(seq__lte=3).values_list("action", flat=True)) == ["legacy"] * 3
    assert AuditEvent.objects.filter(action="row.baseline").count() > 0
    assert verify_all()["ok"]


def test_the_migration_refuses_to_re_sign_a_broken_legacy_chain(trials):
    import importlib

    from audit_insider import insider_sql
    from django.apps import apps

    from trialkit.server.audit.chain import GENESIS, legacy_event_hash

    migration = importlib.import_module("trialkit.server.audit.migrations.0004_rekey_and_baseline")
    insider_sql("DELETE FROM audit_auditevent")
    fields = {
        "seq": 1,
        "at": AuditEvent._meta.get_field("at").to_python("2026-01-01T00:00:00+00:00"),
        "actor_id": None,
        "actor": "system",
        "action": "legacy",
        "object_type": "x",
        "object_id": "1",
        "trial_id": None,
        "site_id": None,
        "participant_id": None,
        "before": None,
        "after": {"n": 1},
        "reason": "",
        "restricted": False,
        "prev_hash": GENESIS,
        "key_id": "",
    }
    fields["hash"] = legacy_event_hash(fields)
    fields["after"] = {"n": 2}  # edited after it was hashed
    AuditEvent.objects.create(**fields)

    class Editor:
        connection = connection

    with pytest.raises(RuntimeError, match="broken at event #1"):
        migration.forwards(apps, Editor())
