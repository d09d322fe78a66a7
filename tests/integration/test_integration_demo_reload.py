"""`make demo` loads the demo into the same database each time it runs: loading it again, the same day or
a later one, adds nothing twice, fails nothing, and leaves the audit chain whole."""

from datetime import date, timedelta

import pytest

from trialkit.server.allocation.models import DoseRecord
from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.service import verify_chain
from trialkit.server.capture.models import FormRecord
from trialkit.server.participants.models import Participant

# slow: loads the whole demo three times; make test-all and CI run it
pytestmark = [pytest.mark.django_db, pytest.mark.slow]
TODAY = date(2026, 6, 1)


def _counts() -> dict[str, int]:
    return {
        "participants": Participant.objects.count(),
        "doses": DoseRecord.objects.count(),
        "forms": FormRecord.objects.count(),
    }


def test_loading_the_demo_again_changes_nothing_and_fails_nothing():
    from trialkit.server.demo import load_demo

    load_demo(today=TODAY)
    first = _counts()
    events = AuditEvent.objects.count()
    load_demo(today=TODAY)
    assert _counts() == first
    assert AuditEvent.objects.count() == events
    # A week later (make demo run again on another day): still loads, and nothing is doubled.
    load_demo(today=TODAY + timedelta(days=7))
    assert _counts()["participants"] == first["participants"]
    assert _counts()["doses"] == first["doses"]
    checked, problem = verify_chain()
    assert checked == AuditEvent.objects.count()
    assert problem is None
