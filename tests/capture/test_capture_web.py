"""Capture pages: timeline statuses, eCRF errors that keep what was typed, live score, signing with a
password, the weekly work list, query counts, and the SAE clock shown to investigator and sponsor."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from capture_cases import NIHSS_7, NOW

from trialkit.server.capture.models import FormRecord, Signature, Visit
from trialkit.server.capture.services import (
    answer_query,
    close_query,
    open_queries_by_participant,
    open_queries_by_site,
    open_query,
    record_visit_date,
    save_adverse_event,
    save_form,
)

pytestmark = pytest.mark.django_db


@time_machine.travel(NOW, tick=False)
def test_timeline_shows_every_status(client, participant, staff):
    """Anchor 2 March 2026, today 15 June 2026 (conftest): screening done in window, baseline out of
    window, day7 done, month1 missed, month3 missed (closed 14 June), month6/month12 upcoming.
    Due and overdue are shown by the weekly list test below."""
    coordinator = staff["coordinator"]
    visits = {v.visit_id: v for v in Visit.objects.filter(participant=participant)}
    # The Screening visit was held on the screening date (20 Feb), carried in from the screening record.
    assert visits["screening"].done_on == date(2026, 2, 20)
    record_visit_date(visits["baseline"], date(2026, 3, 3), coordinator, NOW)  # window is day 0 only
    record_visit_date(visits["day7"], date(2026, 3, 9), coordinator, NOW)
    statuses = {v.visit_id: v.status(NOW.date()).value for v in Visit.objects.filter(participant=participant)}
    # Held visits whose required forms are not entered are not done: their windows have closed.
    assert statuses == {
        "screening": "overdue",
        "baseline": "out_of_window",
        "day7": "overdue",
        "month1": "missed",
        "month3": "missed",
        "month6": "upcoming",
        "month12": "upcoming",
    }
    statuses = {
        v.visit_id: v.status(NOW.date(), forms_complete=True).value
        for v in Visit.objects.filter(participant=participant)
    }
    assert statuses == {
        "screening": "done",
        "baseline": "out_of_window",
        "day7": "done",
        "month1": "missed",
        "month3": "missed",
        "month6": "upcoming",
        "month12": "upcoming",
    }
    client.force_login(staff["monitor"])
    page = client.get(f"/capture/participants/{participant.pk}/").content.decode()
    for status in ("status-overdue", "status-out_of_window", "status-missed", "status-upcoming"):
        assert status in page
    assert "Visits out of window (protocol deviation): Baseline and infusion" in page


@time_machine.travel(NOW, tick=False)
def test_due_and_overdue_appear_on_the_weekly_list(client, make_participant, staff, site):
    from trialkit.server.capture.services import ensure_schedule

    # Anchor 10 May: month1 target 9 June, window 2-16 June -> overdue on 15 June.
    overdue = make_participant(anchor=date(2026, 5, 10))
    # Anchor 8 June: day7 target 15 June, window 13-17 June -> due on 15 June.
    due = make_participant(anchor=date(2026, 6, 8))
    ensure_schedule(overdue)
    ensure_schedule(due)
    client.force_login(staff["coordinator"])
    rows = client.get(f"/api/capture/trials/{site.trial.nct_id}/due", HTTP_ACCEPT="application/json").json()["items"]
    found = {(r["participant"], r["visit_id"]): r["status"] for r in rows}
    # Past its target with the window still open is "in window", not overdue.
    assert found[(overdue.participant_number, "month1")] == "in_window"
    assert found[(due.participant_number, "day7")] == "in_window"
    page = client.get(f"/capture/trials/{site.trial.nct_id}/due/").content.decode()
    assert "status-in_window" in page and ">in window<" in page and site.code in page


@time_machine.travel(NOW, tick=False)
def test_an_invalid_ecrf_post_keeps_what_was_typed_and_marks_the_field(client, participant, staff):
    client.force_login(staff["coordinator"])
    url = f"/capture/participants/{participant.pk}/visits/month3/forms/vital_signs/"
    response = client.post(
        url, {"systolic_bp": "310", "diastolic_bp": "82", "heart_rate": "71", "weight_kg": "68.5", "action": "complete"}
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Nothing was changed" in page
    assert 'value="82"' in page and 'value="68.5"' in page and 'value="310"' in page
    assert "has-error" in page and "out of range" in page
    assert not FormRecord.objects.exists()
    response = client.post(
        url, {"systolic_bp": "130", "diastolic_bp": "82", "heart_rate": "71", "weight_kg": "68.5", "action": "complete"}
    )
    assert response.status_code == 302
    assert FormRecord.objects.get().data["weight_kg"] == 68.5


@time_machine.travel(NOW, tick=False)
def test_live_preview_shows_the_total_or_the_partial_sum(client, participant, staff):
    client.force_login(staff["coordinator"])
    url = f"/capture/participants/{participant.pk}/visits/month3/forms/nihss/preview/"
    full = client.post(url, {k: str(v) for k, v in NIHSS_7.items()}).content.decode()
    assert "total: 7" in full
    partial = client.post(url, {"5a": "2", "6a": "3"}).content.decode()
    assert "Sum so far: <strong>5</strong>" in partial and "2 of 15" in partial


@time_machine.travel(NOW, tick=False)
def test_signing_a_visit_on_the_web_needs_the_password(client, participant, staff):
    save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    client.force_login(staff["investigator"])
    url = f"/capture/participants/{participant.pk}/visits/month3/sign/"
    client.post(url, {"password": "guess"})
    assert not Signature.objects.exists()
    client.post(url, {"password": "pw-for-tests"})
    assert Signature.objects.get().visit.visit_id == "month3"


def test_open_query_counts_per_site_and_participant(participant, make_participant, staff, ixcell):
    from trialkit.server.capture.services import ensure_schedule

    second = make_participant()
    ensure_schedule(second)
    f1 = save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    f2 = save_form(second, "month3", "mrs", {"score": 5}, staff["coordinator"], complete=True, now=NOW)
    q1 = open_query(f1, "score", "Please confirm against the source.", staff["monitor"], now=NOW)
    open_query(f1, "(form)", "Assessor not blinded?", staff["data_manager"], now=NOW)
    q3 = open_query(f2, "score", "mRS 5 at month 3?", staff["monitor"], now=NOW)
    answer_query(q3, "Confirmed: bedridden since an SAE.", staff["coordinator"], now=NOW)
    assert open_queries_by_participant(ixcell) == {participant.pk: 2, second.pk: 1}
    close_query(q3, staff["monitor"], now=NOW)
    answer_query(q1, "Corrected", staff["coordinator"], now=NOW, corrected=True)
    assert open_queries_by_participant(ixcell) == {participant.pk: 2}
    assert open_queries_by_site(ixcell) == {participant.site_id: 2}
    from trialkit.server.capture.services import CaptureError

    with pytest.raises(CaptureError, match="closed"):
        answer_query(q3, "late", staff["coordinator"], now=NOW)


SAE = {
    "term": "Ischaemic stroke, recurrent",
    "onset_date": "2026-06-14",
    "ctcae_grade": 4,
    "serious": True,
    "sae_hospitalization": True,
    "sae_life_threatening": True,
    "relatedness": "unlikely",
    "expectedness": "unexpected",
    "action_taken": "not_applicable",
    "outcome": "not_recovered",
}


def test_the_sae_clock_is_shown_to_investigator_and_sponsor(client, participant, staff):
    aware = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
    ae = save_adverse_event(participant, SAE, staff["investigator"], complete=True, now=aware, awareness_at=aware)
    assert ae.serious
    with time_machine.travel(aware + timedelta(hours=5, minutes=30), tick=False):
        for who in ("investigator", "sponsor"):
            client.force_login(staff[who])
            page = client.get(f"/capture/participants/{participant.pk}/adverse-events/{ae.pk}/").content.decode()
            assert "18 h 30 min left to report" in page, who
            assert "16 Jun 2026 09:00" in page
    with time_machine.travel(aware + timedelta(hours=25), tick=False):
        client.force_login(staff["investigator"])
        page = client.get(f"/capture/participants/{participant.pk}/").content.decode()
        assert "report overdue by 1 h 00 min" in page and "SAE reporting late: AE1" in page
        client.post(f"/capture/participants/{participant.pk}/adverse-events/{ae.pk}/report/")
        ae.refresh_from_db()
        assert ae.reported_at == aware + timedelta(hours=25)
        page = client.get(f"/capture/participants/{participant.pk}/adverse-events/{ae.pk}/").content.decode()
        assert "reported 1 h 00 min late" in page


def test_a_non_serious_ae_has_no_clock_and_seriousness_later_starts_it(participant, staff):
    from trialkit.schedule import sae_clock

    mild = dict(SAE, serious=False, ctcae_grade=1, outcome="recovered")
    del mild["sae_hospitalization"], mild["sae_life_threatening"]
    ae = save_adverse_event(participant, mild, staff["coordinator"], complete=False, now=NOW)
    assert not ae.serious
    later = NOW + timedelta(days=2)
    ae = save_adverse_event(participant, SAE, staff["coordinator"], complete=True, now=later, adverse_event=ae)
    assert ae.serious and ae.awareness_at == later
    assert sae_clock(ae.awareness_at, None, later).deadline == later + timedelta(hours=24)


def test_an_ae_form_breaking_the_seriousness_rule_is_refused(participant, staff):
    from trialkit.server.capture.services import FormInvalid

    with pytest.raises(FormInvalid) as caught:
        save_adverse_event(
            participant,
            dict(SAE, sae_hospitalization=False, sae_life_threatening=False),
            staff["coordinator"],
            complete=True,
            now=NOW,
        )
    assert [(e.item, e.rule) for e in caught.value.errors] == [("serious", "criterion_if_serious")]


@time_machine.travel(NOW, tick=False)
def test_web_pages_render_for_each_role(client, participant, staff):
    form = save_form(participant, "month3", "nihss", NIHSS_7, staff["coordinator"], complete=True, now=NOW)
    save_adverse_event(participant, SAE, staff["investigator"], complete=True, now=NOW)
    for who in staff:
        client.force_login(staff[who])
        for url in (
            "/capture/",
            f"/capture/trials/{participant.trial.nct_id}/participants/",
            f"/capture/participants/{participant.pk}/",
            f"/capture/participants/{participant.pk}/visits/month3/forms/nihss/",
            f"/capture/participants/{participant.pk}/adverse-events/new/",
            f"/capture/forms/{form.pk}/audit/",
        ):
            response = client.get(url)
            # The efficacy firewall: the unblinded pharmacist reads no NIHSS (accounts.permissions).
            behind_firewall = who == "pharmacist" and ("/forms/nihss/" in url or url.endswith("/audit/"))
            assert response.status_code == (403 if behind_firewall else 200), (who, url, response.status_code)
            if behind_firewall:
                continue
            main = response.content.decode().lower().split("<main")[1].split("</main>")[0]
            assert "placebo" not in main and "mscs treatment" not in main, (who, url)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("repeat", ["abc", "0", "-1", "99999999999999999999", "1e3", "٣"])
def test_a_form_address_with_a_bad_record_number_is_not_found_and_writes_nothing(client, participant, staff, repeat):
    client.force_login(staff["coordinator"])
    url = f"/capture/participants/{participant.pk}/visits/month3/forms/vital_signs/?repeat={repeat}"
    assert client.get(url).status_code == 404
    response = client.post(
        url, {"systolic_bp": "130", "diastolic_bp": "82", "heart_rate": "71", "weight_kg": "68.5", "action": "complete"}
    )
    assert response.status_code == 404
    assert not FormRecord.objects.exists()
