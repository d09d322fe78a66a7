"""The demo shows every visit status, signed/verified/locked forms, queries, an SAE clock and a diary."""

from datetime import date

import pytest

pytestmark = pytest.mark.django_db


def test_demo_covers_the_data_capture_flow(capsys):
    from trialkit.server.audit.service import verify_chain
    from trialkit.server.capture.models import AdverseEvent, DiaryEntry, FormRecord, Query, Signature, Visit
    from trialkit.server.demo import load_demo

    today = date(2026, 6, 15)
    load_demo(today=today)
    statuses = {v.status(today).value for v in Visit.objects.all()}
    assert {"done", "due", "overdue", "missed", "upcoming"} <= statuses
    assert FormRecord.objects.filter(status="complete", scores__total__isnull=False).count() > 20
    assert FormRecord.objects.filter(verified_at__isnull=False).exists()
    assert FormRecord.objects.filter(locked_at__isnull=False).exists()
    assert Signature.objects.filter(visit__isnull=False, voided_at__isnull=True).exists()
    assert Query.objects.exclude(status="closed").count() >= 2
    assert AdverseEvent.objects.filter(serious=True, reported_at__isnull=True).exists()
    assert DiaryEntry.objects.filter(participant__trial__nct_id="NCT07197606").count() > 5
    assert "diary code for" in capsys.readouterr().out
    assert verify_chain()[1] is None
