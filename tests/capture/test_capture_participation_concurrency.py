"""Two site staff record the end of the same participation at the same moment: the row lock lets
one through and the other is told it has already ended; one audit event, one outcome."""

import threading

import pytest
from capture_cases import NOW
from django.db import connections

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.services import CaptureError, end_participation
from trialkit.server.participants.models import Participant

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_ends_record_exactly_one(participant, staff):
    attempts = [
        (staff["coordinator"], "withdrawn", "Withdrew consent to further visits"),
        (staff["investigator"], "lost_to_follow_up", "No contact after three attempts"),
    ]
    barrier = threading.Barrier(len(attempts))
    outcomes, refusals, others = [], [], []

    def run(user, outcome, reason):
        try:
            barrier.wait(timeout=30)
            fresh = Participant.objects.get(pk=participant.pk)
            end_participation(fresh, user, outcome=outcome, ended_on=NOW.date(), reason=reason, now=NOW)
            outcomes.append(outcome)
        except CaptureError as exc:
            refusals.append(str(exc))
        except Exception as exc:
            others.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=attempt) for attempt in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "an end request hung"
    assert others == []
    assert len(outcomes) == 1 and len(refusals) == 1
    assert "already ended participation" in refusals[0]
    participant.refresh_from_db()
    assert participant.status == outcomes[0] and participant.status_before_end == "treated"
    assert AuditEvent.objects.filter(action="participation_end").count() == 1
