"""Changes made in the Django admin are attributed to the administrator who made them, and user
and password changes are in the trail."""

import pytest
from auth_support import login_verified

from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.verify import verify_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root-admin", password="pw-for-tests")
    login_verified(client, admin)
    return client


def test_a_membership_granted_in_the_admin_names_the_administrator(admin_client, trials, django_user_model):
    user = django_user_model.objects.create_user("newcomer", password="pw-for-tests")
    trial = trials["NCT04590118"]
    response = admin_client.post(
        "/admin/accounts/membership/add/", {"user": user.pk, "trial": trial.pk, "site": "", "role": "monitor"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    grant = AuditEvent.objects.get(action="permission_grant")
    row = AuditEvent.objects.get(action="row.insert", object_type="accounts_membership")
    assert (grant.actor, row.actor) == ("root-admin", "root-admin")
    assert row.after["role"] == "monitor" and row.after["user_id"] == user.pk


def test_a_password_and_a_user_changed_in_the_admin_are_audited(admin_client, django_user_model):
    user = django_user_model.objects.create_user("someone", password="old-password-1")
    old_digest = AuditEvent.objects.get(action="row.insert", object_type="auth_user", object_id=str(user.pk)).after[
        "password"
    ]
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "new-password-2", "password2": "new-password-2", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    change = AuditEvent.objects.filter(action="row.update", object_type="auth_user", object_id=str(user.pk)).latest(
        "seq"
    )
    assert change.actor == "root-admin"
    assert change.before == {"password": old_digest}
    assert change.after["password"].startswith("sha256:") and change.after["password"] != old_digest
    assert "pbkdf2" not in str(change.after) and "md5$" not in str(change.after)  # the hash itself is not stored

    user.refresh_from_db()
    user.is_superuser = True  # a privilege change, made with the admin client logged in
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": "someone",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    change = AuditEvent.objects.filter(action="row.update", object_type="auth_user", object_id=str(user.pk)).latest(
        "seq"
    )
    assert change.actor == "root-admin"
    assert change.before["is_superuser"] is False and change.after["is_superuser"] is True
    assert verify_all()["ok"]


def test_a_membership_revoked_in_the_admin_names_the_administrator(admin_client, trials, make_user):
    from trialkit.server.accounts.models import Membership

    user = make_user("monitor", trials["NCT04590118"])
    membership = Membership.objects.get(user=user)
    response = admin_client.post(f"/admin/accounts/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    revoke = AuditEvent.objects.get(action="permission_revoke")
    row = AuditEvent.objects.get(action="row.delete", object_type="accounts_membership")
    assert (revoke.actor, row.actor) == ("root-admin", "root-admin")
    assert verify_all()["ok"]


def test_every_audited_table_and_every_action_written_has_a_name():
    import re
    from pathlib import Path

    from trialkit.server.audit import rows, vocabulary

    assert {rows.table_of(spec) for spec in rows.AUDITED} == set(vocabulary.TABLES)
    source = "\n".join(p.read_text() for p in Path(rows.__file__).parents[1].rglob("*.py"))
    written = set(re.findall(r'action="([a-z_.]+)"', source)) - {"store_true", "ignore"}
    written |= {f"{m}" for m in re.findall(r'_audit\(actor, "([a-z_]+)"', source)}
    assert written - set(vocabulary.ACTIONS) == set()
    assert vocabulary.describe("row.update", "capture_formrecord") == "form changed"
