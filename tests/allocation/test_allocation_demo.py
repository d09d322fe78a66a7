"""The demo data set: both trials randomized, some dosed, some waiting, one unblinding."""

from datetime import date

import pytest

from trialkit.server.allocation.models import AllocationList, DoseRecord, Notification
from trialkit.server.participants.models import Participant

# slow: loads the whole demo (both trials, every stage); make test-all and CI run it
pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_the_demo_shows_every_allocation_stage_in_both_trials():
    from trialkit.server.demo import load_demo

    load_demo(today=date(2025, 6, 1))
    assert AllocationList.objects.count() == 2
    for nct_id in ("NCT04590118", "NCT07197606"):
        people = Participant.objects.filter(trial__nct_id=nct_id)
        assert people.filter(status="enrolled").exists()
        assert people.filter(status="randomized", dose_record__isnull=True).exists()
        assert people.filter(status="treated").exists()
        assert people.exclude(randomization_number="").values("site").distinct().count() >= 2
    assert DoseRecord.objects.filter(administered_at__isnull=True).exists()
    unblinded = Participant.objects.get(emergency_unblinded=True)
    assert unblinded.trial.nct_id == "NCT07197606"
    assert Notification.objects.filter(trial=unblinded.trial, recipient__username="sponsor").exists()
