"""The demo data agree across the apps: day 0 is the day the dose was given, the visits are placed
from it, the dose was prepared from the weight entered at the dosing visit, and no anchor is moved."""

from datetime import date, timedelta

import pytest

from trialkit.server.allocation.models import DoseRecord
from trialkit.server.audit.models import AuditEvent
from trialkit.server.audit.service import verify_chain
from trialkit.server.capture.models import FormRecord, Visit

# slow: loads the whole demo (both trials, every stage); make test-all and CI run it
pytestmark = [pytest.mark.django_db, pytest.mark.slow]
TODAY = date(2026, 6, 1)


def test_demo_doses_anchors_and_visits_agree():
    from trialkit.server.demo import DAY0_AGES, load_demo

    load_demo(today=TODAY)
    assert not AuditEvent.objects.filter(action="demo_anchor").exists()
    given = DoseRecord.objects.filter(administered_at__isnull=False).select_related("participant__trial")
    for nct_id in ("NCT04590118", "NCT07197606"):
        ages = sorted(
            ((TODAY - d.participant.anchor_date).days for d in given if d.participant.trial.nct_id == nct_id),
            reverse=True,
        )
        assert ages == list(DAY0_AGES)
    for dose in given:
        participant = dose.participant
        assert participant.anchor_date == dose.administered_at.date()
        assert participant.randomized_at < dose.prepared_at < dose.administered_at
        day0 = Visit.objects.get(participant=participant, kind="treatment")
        assert day0.target == day0.done_on == participant.anchor_date
        vitals = FormRecord.objects.get(participant=participant, visit=day0, instrument="vital_signs")
        assert float(dose.weight_kg) == vitals.data["weight_kg"]
        month1 = Visit.objects.filter(participant=participant, visit_id="month1").first()
        if month1 is not None:
            assert month1.target == participant.anchor_date + timedelta(days=30)
    assert verify_chain()[1] is None
