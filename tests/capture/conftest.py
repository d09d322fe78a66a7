from datetime import date

import pytest
from capture_cases import ANCHOR, NIHSS_7, NOW  # noqa: F401  (used by the fixtures below)


@pytest.fixture
def ixcell(trials):
    return trials["NCT07197606"]


@pytest.fixture
def site(ixcell):
    return ixcell.sites.order_by("code").first()


@pytest.fixture
def other_site(ixcell):
    return ixcell.sites.order_by("code").last()


@pytest.fixture
def staff(ixcell, site, make_user):
    return {
        "coordinator": make_user("coordinator", ixcell, site, username="cora"),
        "investigator": make_user("investigator", ixcell, site, username="ines"),
        "monitor": make_user("monitor", ixcell, username="mona"),
        "data_manager": make_user("data_manager", ixcell, username="dana"),
        "sponsor": make_user("sponsor_admin", ixcell, username="sam"),
        "pharmacist": make_user("unblinded_pharmacist", ixcell, site, username="phil"),
    }


@pytest.fixture
def make_participant(ixcell, site, django_user_model):
    from trialkit.server.participants.models import Participant, ScreeningRecord

    creator = django_user_model.objects.create_user("enroller", password="x")
    counter = {"n": 0}

    def make(anchor=ANCHOR, at_site=None, trial=None):
        counter["n"] += 1
        trial_ = trial or ixcell
        site_ = at_site or site
        screening = ScreeningRecord.objects.create(
            trial=trial_,
            site=site_,
            screening_number=f"S-{counter['n']:03d}",
            screening_date=date(2026, 2, 20),
            created_by=creator,
            outcome="enrolled",
        )
        return Participant.objects.create(
            trial=trial_,
            site=site_,
            screening=screening,
            participant_number=f"P-{counter['n']:03d}",
            status="treated",
            enrolled_at=NOW,
            randomization_number=f"R{counter['n']:03d}",
            kit_number=f"IX-{counter['n']:04d}",
            anchor_date=anchor,
        )

    return make


@pytest.fixture
def participant(make_participant):
    from trialkit.server.capture.services import ensure_schedule

    p = make_participant()
    ensure_schedule(p)
    return p
