"""The demo shows every visit status, signed/verified/locked forms, queries, an SAE clock, a diary,
and ended participations."""

from datetime import date, timedelta

import pytest

# slow: loads the whole demo (both trials, every stage); make test-all and CI run it
pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_demo_covers_the_data_capture_flow(capsys):
    from trialkit.server.audit.service import verify_chain
    from trialkit.server.capture.models import AdverseEvent, DiaryEntry, FormRecord, Query, Signature, Visit
    from trialkit.server.demo import load_demo

    today = date(2026, 6, 15)
    load_demo(today=today)
    statuses = {v.status(today).value for v in Visit.objects.select_related("participant")}
    assert {"done", "in_window", "missed", "upcoming", "not_expected"} <= statuses
    assert FormRecord.objects.filter(status="complete", scores__total__isnull=False).count() > 20
    assert FormRecord.objects.filter(verified_at__isnull=False).exists()
    assert FormRecord.objects.filter(locked_at__isnull=False).exists()
    assert Signature.objects.filter(visit__isnull=False, voided_at__isnull=True).exists()
    assert Query.objects.exclude(status="closed").count() >= 2
    assert AdverseEvent.objects.filter(serious=True, reported_at__isnull=True).exists()
    assert DiaryEntry.objects.filter(participant__trial__nct_id="NCT07197606").count() > 5
    assert "diary code for" in capsys.readouterr().out
    # Each trial: the participant with every visit held completed on the day of its end-of-study
    # visit; the next (day 0 200 days back) withdrew (first trial) or was lost (second), 12 days ago.
    from trialkit.server.participants.models import Participant

    for nct_id, left in (("NCT04590118", "withdrawn"), ("NCT07197606", "lost_to_follow_up")):
        ended = {p.status: p for p in Participant.objects.filter(trial__nct_id=nct_id, ended_on__isnull=False)}
        assert set(ended) == {"completed", left}
        completed = ended["completed"]
        assert completed.ended_on == Visit.objects.get(participant=completed, kind="end_of_study").done_on
        assert ended[left].ended_on == date(2026, 6, 3) and ended[left].end_reason
        assert ended[left].anchor_date == date(2026, 6, 15) - timedelta(days=200)
    assert verify_chain()[1] is None
