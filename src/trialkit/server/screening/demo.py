"""Demo screening data: for both trials and every site, candidates at each stage of screening.

Each site gets its own coordinator and investigator (the demo's ``coordinator`` and ``investigator``
logins work the first site). Every record goes through the same services as the web app, so the
facts, verdicts, audit trail and numbering are what a real site would produce.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import Role
from trialkit.server.participants.models import ScreeningRecord
from trialkit.server.screening import services

# Enrolled candidates per site (first site first): ten per trial, the number the allocation demo
# randomizes, so every participant of the demo has a real screening record behind them.
ENROLLED_PER_SITE = (4, 3, 3)

ASSIST_LAB_ULN = {
    "ast": 40,
    "alt": 40,
    "bilirubin": 1.2,
    "pt": 13.5,
    "ptt": 35,
    "creatinine": 1.1,
    "amylase": 110,
    "lipase": 60,
}


def _site_staff(trial, site, users: dict, index: int) -> tuple[Any, Any]:
    """(coordinator, investigator) for a site: the demo logins at the first site, site users elsewhere."""
    if index == 0 and "coordinator" in users and "investigator" in users:
        return users["coordinator"], users["investigator"]
    from trialkit.server.demo import DEMO_PASSWORD

    User = get_user_model()
    staff = []
    for role, prefix, first in ((Role.COORDINATOR, "coord", "Site"), (Role.INVESTIGATOR, "inv", "Dr")):
        user, created = User.objects.get_or_create(
            username=f"{prefix}-{site.code}",
            defaults={
                "first_name": first,
                "last_name": f"{role.label} {site.code}",
                "email": f"{prefix}-{site.code}@demo.trialkit.invalid",
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        Membership.objects.get_or_create(user=user, trial=trial, site=site, role=role)
        staff.append(user)
    return staff[0], staff[1]


def _birth(rng: random.Random, on: date, low: int, high: int) -> str:
    age_days = rng.randint(low * 365 + 30, high * 365 - 30)
    return (on - timedelta(days=age_days)).isoformat()


def _nihss(rng: random.Random, target: int) -> dict[str, int]:
    """Item scores summing to ``target`` with motor arm/leg 2-4 and level of consciousness 0 (IxCell's item rule)."""
    items = {
        "1a": 0,
        "1b": 0,
        "1c": 0,
        "2": 0,
        "3": 0,
        "4": 0,
        "5a": 0,
        "5b": 0,
        "6a": 0,
        "6b": 0,
        "7": 0,
        "8": 0,
        "9": 0,
        "10": 0,
        "11": 0,
    }
    if target < 2:
        items["4"] = target
        return items
    side = rng.choice(["a", "b"])
    items[f"5{side}"] = 2
    remaining = target - 2
    room = {f"5{side}": 2, f"6{side}": 4, "4": 3, "10": 2, "9": 3, "8": 2, "1b": 2, "2": 2, "11": 2, "3": 3}
    for item in rng.sample(list(room), len(room)):
        add = min(room[item], remaining)
        items[item] += add
        remaining -= add
        if remaining == 0:
            break
    return items


def assist_facts(rng: random.Random, on: date, **change: Any) -> dict[str, Any]:
    """A candidate who meets every computable ASSIST criterion (chronic ischemic stroke, NIHSS 6-20)."""
    female = rng.random() < 0.4
    labs = {
        "ast": {"value": rng.randint(14, 45), "unit": "U/L", "uln": ASSIST_LAB_ULN["ast"]},
        "alt": {"value": rng.randint(10, 50), "unit": "U/L", "uln": ASSIST_LAB_ULN["alt"]},
        "bilirubin": {"value": round(rng.uniform(0.3, 1.4), 1), "unit": "mg/dL", "uln": ASSIST_LAB_ULN["bilirubin"]},
        "albumin": {"value": rng.randint(34, 48), "unit": "g/L"},
        "anc": {"value": round(rng.uniform(2.0, 6.5), 1), "unit": "10^9/L"},
        "platelets": {"value": rng.randint(170, 380), "unit": "10^9/L"},
        "hemoglobin": {"value": round(rng.uniform(11.5, 15.8), 1), "unit": "g/dL"},
        "creatinine": {"value": rng.randint(55, 110), "unit": "umol/L", "uln": 97},
        "amylase": {"value": rng.randint(40, 100), "unit": "U/L", "uln": ASSIST_LAB_ULN["amylase"]},
    }
    facts: dict[str, Any] = {
        "birth_date": _birth(rng, on, 42, 78),
        "sex": "female" if female else "male",
        "stroke": {
            "type": "ischemic",
            "territory": rng.choice(["anterior", "anterior", "posterior"]),
            "onset_date": (on - timedelta(days=rng.randint(200, 900))).isoformat(),
        },
        "nihss": _nihss(rng, rng.randint(6, 16)),
        "premorbid_mrs": rng.choice([0, 0, 1]),
        "labs": labs,
        "serology": {test: "negative" for test in ("hbsag", "hbeag", "anti_hbe", "anti_hbc", "hcv", "hiv", "rpr")},
        "conditions": rng.choice([[], [{"name": "hypertension"}], [{"name": "diabetes"}, {"name": "hypertension"}]]),
        "medications": [
            {"name": rng.choice(["aspirin", "clopidogrel"]), "class": "antiplatelet"},
            {"name": "atorvastatin", "class": "other"},
        ],
        "allergies": [],
    }
    if female:
        facts.update(pregnant=False, lactating=False)
    facts.update(change)
    return facts


def ixcell_facts(rng: random.Random, on: date, **change: Any) -> dict[str, Any]:
    """A candidate who meets every computable IxCell criterion (anterior ischemic stroke 14-90 days ago)."""
    facts: dict[str, Any] = {
        "birth_date": _birth(rng, on, 38, 69),
        "sex": rng.choice(["female", "male", "male"]),
        "stroke": {
            "type": "ischemic",
            "territory": "anterior",
            "onset_date": (on - timedelta(days=rng.randint(16, 85))).isoformat(),
        },
        "nihss": _nihss(rng, rng.randint(6, 18)),
        "premorbid_mrs": rng.choice([0, 0, 1]),
        "conditions": rng.choice([[], [{"name": "hypertension"}], [{"name": "atrial_fibrillation"}]]),
        "medications": [{"name": "aspirin", "class": "antiplatelet"}],
    }
    facts.update(change)
    return facts


# Screen failures per trial: (what is wrong, change to the facts). Each is a real rule failing.
ASSIST_FAILURES = [
    ("NIHSS 4", lambda rng, on: {"nihss": _nihss(rng, 4)}),
    ("albumin low", lambda rng, on: {"labs": {"albumin": {"value": 2.6, "unit": "g/dL"}}}),
    (
        "stroke 4 months ago",
        lambda rng, on: {
            "stroke": {
                "type": "ischemic",
                "territory": "anterior",
                "onset_date": (on - timedelta(days=120)).isoformat(),
            }
        },
    ),
    ("HBsAg positive", lambda rng, on: {"serology": {"hbsag": "positive"}}),
    ("epilepsy", lambda rng, on: {"conditions": [{"name": "epilepsy", "date": "2015-06-01"}]}),
]
IXCELL_FAILURES = [
    (
        "day 120 after stroke",
        lambda rng, on: {
            "stroke": {
                "type": "ischemic",
                "territory": "anterior",
                "onset_date": (on - timedelta(days=120)).isoformat(),
            }
        },
    ),
    ("NIHSS 4", lambda rng, on: {"nihss": _nihss(rng, 4)}),
    ("age 74", lambda rng, on: {"birth_date": _birth(rng, on, 74, 75)}),
    (
        "posterior circulation",
        lambda rng, on: {
            "stroke": {
                "type": "ischemic",
                "territory": "posterior",
                "onset_date": (on - timedelta(days=30)).isoformat(),
            }
        },
    ),
    ("pre-stroke mRS 3", lambda rng, on: {"premorbid_mrs": 3}),
]


def _enrolled_days_back(k: int, today: date) -> int:
    """Days before the demo day that the trial's k-th enrolled candidate is screened: four days
    before their day 0 for the dosed ones, then 6, 5, 4, ... days back (always later than the
    one before, so randomization numbers follow the order of enrollment)."""
    from trialkit.server.demo import DAY0_AGES

    if k < len(DAY0_AGES):
        return DAY0_AGES[k] + 4
    return max(2, DAY0_AGES[-1] + 3 - (k - len(DAY0_AGES)))


def _attest_all(record, investigator, now, value_for) -> None:
    """The investigator answers every attestation criterion; ``value_for(criterion)`` gives the answer."""
    protocol = record.trial.protocol
    by_id = {c.id: c for c in protocol.eligibility.criteria}
    for criterion_id in services.attestable_criteria(protocol):
        services.record_attestation(record, criterion_id, value_for(by_id[criterion_id]), investigator, now=now)


def _favourable(criterion) -> bool:
    # Inclusion criteria are met; exclusion criteria do not apply.
    return criterion.type == "inclusion"


def populate(trials, users, today: date) -> dict[str, int]:
    """Screening records for both trials at every stage; returns counts by outcome."""
    if ScreeningRecord.objects.exists():
        return {}
    rng = random.Random(20250301)
    for trial in trials:
        make_facts = assist_facts if trial.nct_id == "NCT04590118" else ixcell_facts
        failures = list(ASSIST_FAILURES if trial.nct_id == "NCT04590118" else IXCELL_FAILURES)
        signers = trial.protocol.consent.signers
        enrolled_so_far = 0
        for index, site in enumerate(trial.sites.order_by("code")[:3]):
            coordinator, investigator = _site_staff(trial, site, users, index)
            day = today - timedelta(days=60 - 7 * index)

            def new_record(facts_change=None, days_ago=0, coordinator=coordinator):
                on = day + timedelta(days=days_ago)
                record = services.create_screening(trial, site, coordinator, on)
                facts = make_facts(rng, on)
                if facts_change:
                    facts = services.merge_patch(facts, facts_change(rng, on))
                services.update_facts(record, facts, coordinator)
                return record, on

            def at(on: date) -> datetime:
                return timezone.make_aware(datetime.combine(on, time(10, 30)))

            # Enrolled: eligible, attested, consented (sometimes by a relative), enrolled; the first
            # of the trial early enough to be dosed on the demo's day 0 dates (DAY0_AGES).
            for n in range(ENROLLED_PER_SITE[min(index, len(ENROLLED_PER_SITE) - 1)]):
                back = _enrolled_days_back(enrolled_so_far, today)
                enrolled_so_far += 1
                record, on = new_record(days_ago=(today - timedelta(days=back) - day).days)
                _attest_all(record, investigator, at(on), _favourable)
                signed_by = signers[n % len(signers)]
                services.record_consent(
                    record,
                    on,
                    signed_by,
                    coordinator,
                    today=today,
                    signer_name="" if signed_by == "participant" else "Family member (demo)",
                    # Both trials recruit in China: most sign the Simplified Chinese document.
                    language="en" if n % 3 == 2 else "zh-Hans",
                )
                services.enroll(
                    services.get_record(trial, record.screening_number), coordinator, at(on + timedelta(days=1))
                )
            # Screen failures with the failing criterion as the reason.
            for _ in range(2):
                _label, change = failures.pop(0) if failures else ASSIST_FAILURES[0]
                record, on = new_record(change, days_ago=3)
                services.mark_screen_failed(services.get_record(trial, record.screening_number), coordinator)
            # Eligible, awaiting consent.
            record, on = new_record(days_ago=40)
            _attest_all(record, investigator, at(on), _favourable)
            # In screening: facts half entered, no attestations yet.
            record = services.create_screening(trial, site, coordinator, today - timedelta(days=index))
            partial = make_facts(rng, record.screening_date)
            services.update_facts(record, {k: partial[k] for k in ("birth_date", "sex", "stroke")}, coordinator)
        # One candidate who withdrew after consenting, at the first site.
        site = trial.sites.order_by("code").first()
        coordinator, investigator = _site_staff(trial, site, users, 0)
        record = services.create_screening(trial, site, coordinator, today - timedelta(days=20))
        services.update_facts(record, make_facts(rng, record.screening_date), coordinator)
        services.record_consent(record, record.screening_date, signers[0], coordinator, today=today)
        services.withdraw(record, coordinator, today - timedelta(days=18), "decided not to take part")
    counts: dict[str, int] = {}
    for outcome in ScreeningRecord.objects.values_list("outcome", flat=True):
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
