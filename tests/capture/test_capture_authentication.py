"""Authentication controls (21 CFR 11.300, EU Annex 11 §12): lockout after repeated failures on the
login page, HTTP Basic and re-authentication for signing; untrusted user names; the idle session
timeout; the second factor for the DSMB and staff."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import time_machine
from auth_support import login_verified, otp_code
from capture_cases import NIHSS_7, NOW
from django.conf import settings
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from typer.testing import CliRunner

from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.service import verify_chain
from trialkit.server.capture.models import Signature
from trialkit.server.capture.services import CaptureError, save_form, sign_form

LIMIT = settings.AXES_FAILURE_LIMIT
LOGIN = "/accounts/login/"
API = "/api/allocation/notifications"  # an endpoint for signed-in users


def _basic(username: str | bytes, password: str = "pw") -> str:
    raw = username if isinstance(username, bytes) else username.encode()
    return "Basic " + base64.b64encode(raw + b":" + password.encode()).decode()


def _verify_exit_code() -> int:
    from trialkit.cli.main import app

    return CliRunner().invoke(app, ["audit", "verify"]).exit_code


@pytest.fixture
def investigator(staff):
    return staff["investigator"]  # password pw-for-tests


@pytest.fixture
def complete_form(participant, staff):
    return save_form(participant, "month3", "nihss", NIHSS_7, staff["coordinator"], complete=True, now=NOW)


# --------------------------------------------------------------------------- lockout


def test_the_login_page_locks_a_user_name_at_one_address_after_repeated_failures(client, staff):
    for attempt in range(1, LIMIT + 1):
        response = client.post(LOGIN, {"username": "cora", "password": "wrong"})
        assert response.status_code == (429 if attempt == LIMIT else 200)
    assert "Too many failed attempts" in response.content.decode()
    # Locked: the right password is refused too, from that address ...
    assert client.post(LOGIN, {"username": "cora", "password": "pw-for-tests"}).status_code == 429
    assert "_auth_user_id" not in client.session
    # ... but not from another address (nobody can lock a colleague out from elsewhere), and other
    # users at the locked address log in as usual (nobody can lock out the whole site).
    assert (
        client.post(LOGIN, {"username": "cora", "password": "pw-for-tests"}, REMOTE_ADDR="10.9.8.7").status_code == 302
    )
    client.logout()
    assert client.post(LOGIN, {"username": "mona", "password": "pw-for-tests"}).status_code == 302
    # Each failure up to the lockout is audited against the account; refused attempts are not repeated.
    failed = list(AuditEvent.objects.filter(action="login_failed", object_id=str(staff["coordinator"].pk)))
    assert len(failed) == LIMIT and failed[-1].after["locked_out"] is True
    assert verify_chain()[1] is None


def test_the_lockout_ends_after_the_cool_off(client, staff):
    for _ in range(LIMIT):
        client.post(LOGIN, {"username": "cora", "password": "wrong"})
    assert client.post(LOGIN, {"username": "cora", "password": "pw-for-tests"}).status_code == 429
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=5)):
        assert client.post(LOGIN, {"username": "cora", "password": "pw-for-tests"}).status_code == 302


def test_http_basic_on_the_api_locks_out_after_repeated_failures(client, staff):
    url = API
    for _ in range(LIMIT):
        assert client.get(url, HTTP_AUTHORIZATION=_basic("mona", "wrong")).status_code in (401, 429)
    locked = client.get(url, HTTP_AUTHORIZATION=_basic("mona", "pw-for-tests"))
    assert locked.status_code == 429 and "Too many failed attempts" in locked.json()["error"]
    assert client.get(url, HTTP_AUTHORIZATION=_basic("mona", "pw-for-tests"), REMOTE_ADDR="10.1.1.1").status_code == 200
    assert AuditEvent.objects.filter(action="login_failed", object_id=str(staff["monitor"].pk)).count() == LIMIT


def test_re_authentication_for_signing_is_audited_and_locks_out(client, investigator, complete_form):
    client.force_login(investigator)
    url = f"/capture/forms/{complete_form.pk}/sign/"
    for _ in range(LIMIT - 1):
        client.post(url, {"password": "wrong"})
    assert not Signature.objects.exists()
    failures = AuditEvent.objects.filter(action="reauth_failed", actor="ines")
    assert failures.count() == LIMIT - 1
    event = failures.first()
    assert (
        event.after["attempted"] == "sign nihss at month3 of P-001"
        and event.participant_id == complete_form.participant_id
    )
    # The last allowed failure locks: from then on even the right password does not sign.
    assert client.post(url, {"password": "wrong"}).status_code == 429
    assert client.post(url, {"password": "pw-for-tests"}).status_code == 429
    assert not Signature.objects.exists()
    assert failures.count() == LIMIT + 1 and failures.last().after["locked_out"] is True
    # The same counter guards the login page for this user name at this address.
    client.logout()
    assert client.post(LOGIN, {"username": "ines", "password": "pw-for-tests"}).status_code == 429
    assert verify_chain()[1] is None


def test_a_failed_re_authentication_keeps_its_audit_event_when_the_signature_is_refused(investigator, complete_form):
    with pytest.raises(CaptureError, match="password is not correct"):
        sign_form(complete_form, investigator, password="wrong", now=NOW)
    assert AuditEvent.objects.filter(action="reauth_failed", actor="ines").count() == 1
    sign_form(complete_form, investigator, password="pw-for-tests", now=NOW)
    assert Signature.objects.count() == 1


# --------------------------------------------------------------------------- untrusted user names

BAD_NAMES = {
    "65 characters": "x" * 65,
    "151 characters": "y" * 151,
    "10,000 characters": "z" * 10_000,
    "NUL byte": "cora\x00admin",
    "control characters": "\x1b[31mred\x07",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_strange_user_names_get_a_clear_answer_and_leave_the_trail_intact(client, staff, name):
    before = AuditEvent.objects.count()
    page = client.post(LOGIN, {"username": name, "password": "whatever"})
    text = page.content.decode()
    if "\x00" in name:  # refused before any view, naming the field (web.middleware.RefuseNulCharacters)
        assert page.status_code == 400 and "username: contains a NUL character" in text
    else:
        assert page.status_code == 200 and 'class="field-error"' in text
    assert "Traceback" not in text
    api = client.get(API, HTTP_AUTHORIZATION=_basic(name))
    assert api.status_code == 401
    assert AuditEvent.objects.count() == before  # a stranger's guesses do not grow the trail
    assert verify_chain()[1] is None and _verify_exit_code() == 0


def test_non_utf8_user_names_get_a_clear_answer(client, staff):
    page = client.post(LOGIN, b"username=%FF%FEcora&password=x", content_type="application/x-www-form-urlencoded")
    assert page.status_code == 200 and 'class="field-error"' in page.content.decode()
    page = client.post(LOGIN, b"username=\xff\xfe\x00&password=x", content_type="application/x-www-form-urlencoded")
    assert page.status_code == 400 and "username: contains a NUL character" in page.content.decode()
    assert client.get(API, HTTP_AUTHORIZATION=_basic(b"\xff\xfe\x80:pw")).status_code == 401
    assert client.get(API, HTTP_AUTHORIZATION="Basic not-base64!").status_code == 401
    assert verify_chain()[1] is None and _verify_exit_code() == 0


def test_a_flood_of_failed_logins_on_unknown_names_writes_nothing_to_the_trail(client, staff):
    before = AuditEvent.objects.count()
    for i in range(40):
        client.post(LOGIN, {"username": f"guess-{i}", "password": "x"}, REMOTE_ADDR=f"10.0.{i}.1")
    for _ in range(3 * LIMIT):
        client.post(LOGIN, {"username": "cora", "password": "x"})
    # Only the failures against the real account, up to its lockout, are events.
    assert AuditEvent.objects.count() - before == LIMIT
    assert verify_chain()[1] is None


# --------------------------------------------------------------------------- idle timeout


def test_an_idle_session_ends_and_activity_keeps_it_alive(client, staff):
    idle = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert idle == timedelta(minutes=30)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert client.post(LOGIN, {"username": "cora", "password": "pw-for-tests"}).status_code == 302
        for _ in range(3):  # used every 20 minutes for an hour: still logged in
            clock.shift(timedelta(minutes=20))
            assert client.get("/capture/").status_code == 200  # a page that does not itself write the session
        clock.shift(idle + timedelta(seconds=1))  # then left alone for longer than the limit
        response = client.get("/capture/")
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)


# --------------------------------------------------------------------------- second factor


def _current(device) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def test_a_dsmb_statistician_enrols_and_then_needs_the_code_at_every_login(client, ixcell, make_user):
    dsmb = make_user("dsmb_statistician", ixcell, username="stat")
    assert client.post(LOGIN, {"username": "stat", "password": "pw-for-tests"}).status_code == 302
    # Password alone opens nothing: pages send to the second factor, the API answers 401.
    home = client.get("/home/")
    assert home.status_code == 302 and home["Location"].startswith("/accounts/two-factor/")
    assert client.get(API).status_code == 401
    enrol = client.get("/accounts/two-factor/?next=/home/").content.decode()
    device = TOTPDevice.objects.get(user=dsmb, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode()
    assert secret in enrol and "otpauth://totp/" in enrol and "data:image/svg+xml" in enrol
    wrong = client.post("/accounts/two-factor/", {"token": "000000" if _current(device) != "000000" else "111111"})
    assert "not correct" in wrong.content.decode()
    device = TOTPDevice.objects.get(user=dsmb, confirmed=False)  # a fresh secret on every showing
    done = client.post("/accounts/two-factor/", {"token": _current(device), "next": "/home/"})
    assert done.status_code == 302 and done["Location"] == "/home/"
    assert client.get("/home/").status_code == 200
    assert AuditEvent.objects.filter(action="two_factor_enrolled", actor="stat").exists()
    # Next login: password, then the code; a wrong code is refused and audited.
    client.logout()
    client.post(LOGIN, {"username": "stat", "password": "pw-for-tests"})
    assert client.get("/home/").status_code == 302
    refused = client.post("/accounts/two-factor/", {"token": "12345x"})
    assert "not correct" in refused.content.decode() and client.get("/home/").status_code == 302
    assert AuditEvent.objects.filter(action="two_factor_failed", actor="stat").count() == 1
    client.post("/accounts/two-factor/", {"token": otp_code(dsmb)})
    assert client.get("/home/").status_code == 200


def test_staff_users_need_the_second_factor_for_the_admin(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="pw-for-tests")
    client.force_login(admin)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/")
    login_verified(client, admin)
    assert client.get("/admin/").status_code == 200


def test_blinded_roles_log_in_with_the_password_alone(client, staff):
    client.post(LOGIN, {"username": "cora", "password": "pw-for-tests"})
    assert client.get("/home/").status_code == 200


def test_http_basic_for_a_dsmb_account_needs_the_code(client, ixcell, make_user):
    dsmb = make_user("dsmb_statistician", ixcell, username="stat")
    auth = _basic("stat", "pw-for-tests")
    assert client.get(API, HTTP_AUTHORIZATION=auth).status_code == 401
    assert client.get(API, HTTP_AUTHORIZATION=auth, HTTP_X_OTP_TOKEN="000000x").status_code == 401
    assert client.get(API, HTTP_AUTHORIZATION=auth, HTTP_X_OTP_TOKEN=otp_code(dsmb)).status_code == 200


def test_an_administrator_resets_a_lost_authenticator_and_it_is_audited(ixcell, make_user, django_user_model):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    dsmb = make_user("dsmb_statistician", ixcell, username="stat")
    otp_code(dsmb)
    django_user_model.objects.create_user("root", password="x", is_staff=True)
    with pytest.raises(CommandError, match="--by"):
        call_command("reset_two_factor", "stat", reason="lost phone", by="stat")
    call_command("reset_two_factor", "stat", reason="lost phone", by="root")
    assert not TOTPDevice.objects.filter(user=dsmb).exists()
    event = AuditEvent.objects.get(action="two_factor_reset")
    assert event.actor == "root" and event.reason == "lost phone" and event.after["devices_removed"] == 1


def test_the_demo_login_page_shows_codes_only_in_demo_mode(client, settings, db):
    from trialkit.server.demo import demo_totp_code

    settings.TRIALKIT_DEMO = False
    assert "otp-code" not in client.get(LOGIN).content.decode()
    settings.TRIALKIT_DEMO = True
    page = client.get(LOGIN).content.decode()
    assert f'data-user="dsmb">{demo_totp_code("dsmb")}<' in page
    assert 'data-user="coordinator"' not in page  # blinded staff log in with the password alone
