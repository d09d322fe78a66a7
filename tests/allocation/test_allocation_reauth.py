"""Emergency unblinding re-authenticates the investigator with the password and a current code of
their authenticator app; every failure is audited and counts towards the lockout."""

import pytest
from allocation_cases import NOW
from auth_support import otp_code, totp_device
from django.conf import settings

from trialkit.server.allocation import services
from trialkit.server.allocation.models import UnblindingEvent
from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.service import verify_chain

pytestmark = pytest.mark.django_db
IXCELL = "NCT07197606"


@pytest.fixture
def randomized(generated, trials, make_user, enroll):
    trial = trials[IXCELL]
    p = enroll(trial, "ixcell-01")
    services.randomize(p, make_user("coordinator", trial, site=p.site), now=NOW)
    investigator = make_user("investigator", trial, site=p.site, password="secret-pw")
    return p, investigator


def _unblind(p, investigator, password="secret-pw", otp_token=None):
    return services.emergency_unblind(
        p,
        investigator,
        reason="Anaphylaxis",
        password=password,
        otp_token=otp_code(investigator) if otp_token is None else otp_token,
        now=NOW,
    )


def test_unblinding_is_refused_without_an_enrolled_authenticator(randomized):
    p, investigator = randomized
    with pytest.raises(services.AllocationProblem, match="two-factor") as refused:
        services.emergency_unblind(
            p, investigator, reason="Anaphylaxis", password="secret-pw", otp_token="123456", now=NOW
        )
    assert refused.value.field == "otp_token" and not UnblindingEvent.objects.exists()
    event = AuditEvent.objects.get(action="reauth_failed")
    assert event.after == {
        "attempted": f"emergency unblinding of {p.participant_number}",
        "factor": "two_factor",
        "enrolled": False,
    }


def test_a_wrong_code_is_refused_and_audited(randomized):
    p, investigator = randomized
    right = otp_code(investigator)
    wrong = "000000" if right != "000000" else "111111"
    with pytest.raises(services.AllocationProblem, match="code is not correct") as refused:
        _unblind(p, investigator, otp_token=wrong)
    assert refused.value.field == "otp_token"
    p.refresh_from_db()
    assert not p.emergency_unblinded and not UnblindingEvent.objects.exists()
    event = AuditEvent.objects.get(action="reauth_failed")
    assert event.actor == investigator.username and event.participant_id == p.pk
    assert event.after["factor"] == "two_factor"
    assert _unblind(p, investigator).arm_id  # the right password and code unblind


def test_repeated_wrong_passwords_lock_unblinding_even_with_the_right_ones(randomized):
    p, investigator = randomized
    totp_device(investigator)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        with pytest.raises(services.AllocationProblem):
            _unblind(p, investigator, password="guess")
    with pytest.raises(services.AllocationProblem, match="too many failed attempts"):
        _unblind(p, investigator)
    assert not UnblindingEvent.objects.exists()
    failures = AuditEvent.objects.filter(action="reauth_failed", actor=investigator.username)
    assert failures.count() == settings.AXES_FAILURE_LIMIT + 1
    assert all(e.after["attempted"] == f"emergency unblinding of {p.participant_number}" for e in failures)
    assert verify_chain()[1] is None


def test_the_unblinding_page_asks_for_the_code(client, randomized):
    p, investigator = randomized
    client.force_login(investigator)
    url = f"/allocation/{IXCELL}/participants/{p.participant_number}/unblind/"
    assert 'name="otp_token"' in client.get(url).content.decode()
    totp_device(investigator)
    refused = client.post(url, {"reason": "Bleeding", "password": "secret-pw", "otp_token": "12"})
    assert "authentication code is not correct" in refused.content.decode()
    shown = client.post(url, {"reason": "Bleeding", "password": "secret-pw", "otp_token": otp_code(investigator)})
    assert shown["Cache-Control"] == "no-store"


def test_the_api_unblinds_with_the_code_only(client, randomized):
    p, investigator = randomized
    client.force_login(investigator)
    url = f"/api/allocation/{IXCELL}/participants/{p.participant_number}/unblind"
    totp_device(investigator)
    refused = client.post(url, {"reason": "Bleeding", "password": "secret-pw"}, content_type="application/json")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "otp_token"  # invalid input
    ok = client.post(
        url,
        {"reason": "Bleeding", "password": "secret-pw", "otp_token": otp_code(investigator)},
        content_type="application/json",
    )
    assert ok.status_code == 200 and ok.json()["arm_id"]
