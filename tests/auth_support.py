"""Logging in as a user who needs a second factor, in Django and browser tests.

``login_verified(client, user)`` logs the test client in with a verified second factor;
``otp_code(user)`` gives the current code of the user's authenticator (created if missing), for
forms that ask for one (the two-factor page, unblinding) and for ``X-OTP-Token`` on the API.
"""

from __future__ import annotations

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_device(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Test authenticator", confirmed=True)


def otp_code(user) -> str:
    """The current code; the device forgets the last code used and any throttling, so that a test
    may ask twice within one 30-second step."""
    device = totp_device(user)
    TOTPDevice.objects.filter(pk=device.pk).update(
        last_t=-1, throttling_failure_count=0, throttling_failure_timestamp=None
    )
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():0{device.digits}d}"


def login_verified(client, user):
    """``client.force_login(user)`` with the second factor already verified in the session."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device(user).persistent_id
    session.save()
    return client


_TOKENS: dict[tuple[int, str], str] = {}


def api_token(user, scope: str = "write") -> dict:
    """Test-client keyword arguments that authenticate an API call with the user's personal token
    (made once per user and scope while it stays valid, so calls do not each add a token)."""
    from trialkit.server.accounts import tokens

    plaintext = _TOKENS.get((user.pk, scope))
    found = tokens.authenticate(plaintext) if plaintext else None
    if found is None or found.user_id != user.pk:
        plaintext = tokens.issue(user, name="test client", scope=scope, days=366).plaintext
        _TOKENS[(user.pk, scope)] = plaintext
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
