"""Demo screening data, and screening numbers handed out under concurrent creation (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from screening_cases import SCREENING_DATE

from trialkit.server.participants.models import Participant, ScreeningRecord


@pytest.mark.slow  # slow: loads the whole demo (both trials, every stage); make test-all and CI run it
@pytest.mark.django_db
def test_demo_has_every_stage_for_both_trials():
    from trialkit.server.demo import load_demo

    load_demo(today=date(2025, 6, 2))
    for nct_id in ("NCT04590118", "NCT07197606"):
        # Screening numbers <SITE>-S0001 are the screening demo's own records.
        records = ScreeningRecord.objects.filter(trial__nct_id=nct_id, screening_number__regex=r"-S[0-9]{4}$")
        outcomes = {o: records.filter(outcome=o).count() for o in ScreeningRecord.Outcome.values}
        assert outcomes["enrolled"] == 10 and outcomes["screen_failed"] >= 5 and outcomes["withdrawn"] == 1
        assert records.filter(outcome="in_screening", verdict="eligible").count() == 3  # awaiting consent
        assert records.filter(outcome="in_screening", verdict="incomplete").count() == 3
        assert Participant.objects.filter(trial__nct_id=nct_id).count() == 10  # none added by the allocation demo
        assert Participant.objects.filter(trial__nct_id=nct_id).values("site").distinct().count() == 3
        # Every screen failure names the criterion the rules failed.
        for record in records.filter(outcome="screen_failed"):
            failing = {c["id"] for c in record.criteria_results if c["status"] == "fail"}
            assert {r["criterion_id"] for r in record.fail_reasons} == failing != set()
    reasons = {
        r["criterion_id"]
        for r in ScreeningRecord.objects.filter(outcome="screen_failed").values_list("fail_reasons", flat=True)
        for r in r
    }
    assert {"inc-nihss", "inc-organ-function", "inc-days-since-stroke"} <= reasons


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_hands_out_distinct_numbers(on_postgres, trials, make_user):
    from django.db import connection

    from trialkit.server.screening import services

    assist = trials["NCT04590118"]
    site = assist.sites.get(code="assist-01")
    users = [make_user("coordinator", assist, site) for _ in range(4)]
    numbers, errors = [], []
    start = threading.Barrier(len(users))

    def create(user):
        try:
            start.wait()
            numbers.append(services.create_screening(assist, site, user, SCREENING_DATE).screening_number)
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == [f"ASSIST-01-S000{i}" for i in range(1, 5)]
