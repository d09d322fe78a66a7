"""The screening facts become the Screening visit's forms; a visit is done when its required forms
are complete; the sign box only on visits held; blank seriousness answers stay blank."""

from datetime import date

import pytest
import time_machine
from capture_cases import NOW

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import FormRecord, Visit
from trialkit.server.capture.services import ensure_schedule, save_form
from trialkit.server.capture.worklist import timeline

pytestmark = pytest.mark.django_db

NIHSS = {
    "1a": 0,
    "1b": 0,
    "1c": 0,
    "2": 0,
    "3": 0,
    "4": 2,
    "5a": 2,
    "5b": 0,
    "6a": 2,
    "6b": 0,
    "7": 0,
    "8": 0,
    "9": 1,
    "10": 1,
    "11": 0,
}
FACTS = {
    "birth_date": "1968-04-02",
    "sex": "female",
    "premorbid_mrs": 0,
    "stroke": {"type": "ischemic", "onset_date": "2026-01-20"},
    "nihss": NIHSS,
    "labs": {"albumin": {"value": 41, "unit": "g/L", "uln": None}},
    "conditions": [{"name": "hypertension", "date": "2015-01-01", "description": ""}],
    "medications": [],
}


@time_machine.travel(NOW, tick=False)
def test_a_new_participant_s_screening_visit_holds_the_screening_facts(make_participant, staff):
    p = make_participant(anchor=date(2026, 2, 25))
    p.screening.facts = FACTS
    p.screening.save()
    ensure_schedule(p)
    screening = Visit.objects.get(participant=p, visit_id="screening")
    assert screening.done_on == p.screening.screening_date  # held on the day of screening, not missed
    forms = {f.instrument: f for f in FormRecord.objects.filter(visit=screening)}
    assert forms["nihss"].status == "complete" and forms["nihss"].data["4"] == 2 and forms["nihss"].total == 8
    assert forms["demographics"].data == {"birth_date": "1968-04-02", "sex": "F"}  # nothing guessed
    assert forms["demographics"].status == "draft"  # ethnicity and race are not asked at screening
    assert forms["labs"].data["albumin"] == 41 and forms["labs"].data["collection_date"] == "2026-02-20"
    assert forms["medical_history"].data["category"] == "hypertension"
    assert forms["nihss"].created_by == p.screening.created_by  # the coordinator who screened
    event = AuditEvent.objects.get(action="form_create", object_id=str(forms["nihss"].pk))
    assert event.reason == f"carried in from screening record {p.screening.screening_number}"
    t = timeline(p, NOW.date(), NOW)
    assert not any("Missed visits: Screening" in flag for flag in t.flags)
    card = next(c for c in t.visits if c.visit.visit_id == "screening")
    assert card.status.value == "overdue" and card.complete_count == 2 and card.required_count == 10
    # Carrying in twice creates nothing new.
    ensure_schedule(p)
    assert FormRecord.objects.filter(visit=screening).count() == len(forms)


@time_machine.travel(NOW, tick=False)
def test_a_visit_is_done_only_when_every_required_form_is_complete(make_participant, staff):
    participant = make_participant(anchor=date(2026, 6, 8))  # day 7: 15 June, window 13-17 June
    ensure_schedule(participant)
    visit = Visit.objects.get(participant=participant, visit_id="day7")
    save_form(participant, "day7", "nihss", NIHSS, staff["coordinator"], complete=True, now=NOW)
    visit.refresh_from_db()
    assert visit.done_on == NOW.date() and visit.status(NOW.date()).value == "incomplete"  # one form of four
    from trialkit.server.capture.demo import _required_values

    for name in ("vital_signs", "labs", "biomarkers"):
        values = (
            _required_values(name, visit.done_on)
            if name != "vital_signs"
            else {"systolic_bp": 120, "diastolic_bp": 80, "heart_rate": 70, "weight_kg": 70}
        )
        save_form(participant, "day7", name, values, staff["coordinator"], complete=True, now=NOW)
    # The adverse event form is event-driven: not required for the visit to be done.
    assert Visit.objects.get(pk=visit.pk).status(NOW.date()).value == "done"


@time_machine.travel(NOW, tick=False)
def test_the_sign_box_is_offered_only_on_visits_held(client, participant, staff):
    client.force_login(staff["investigator"])
    page = client.get(f"/capture/participants/{participant.pk}/").content.decode()
    signable = [v.visit_id for v in Visit.objects.filter(participant=participant) if v.done_on is not None]
    assert signable == ["screening"]
    for visit in Visit.objects.filter(participant=participant):
        card = page.split(f'id="visit-{visit.visit_id}"')[1].split('<div class="card" id="visit-')[0]
        assert ("Sign this visit" in card) == (visit.visit_id in signable), visit.visit_id


@time_machine.travel(NOW, tick=False)
def test_blank_seriousness_answers_stay_blank_after_a_refused_save(client, participant, staff):
    client.force_login(staff["coordinator"])
    response = client.post(
        f"/capture/participants/{participant.pk}/adverse-events/new/",
        {
            "term": "Fall",
            "onset_date": "2026-06-10",
            "ctcae_grade": "2",
            "serious": "true",
            "relatedness": "",
            "action": "complete",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Nothing was changed" in page
    assert "at least one ICH E2A seriousness criterion answered Yes" in page and "ticked" not in page
    for flag in ("sae_death", "sae_life_threatening", "sae_hospitalization"):
        select = page.split(f'id="id_{flag}"')[1].split("</select>")[0]
        assert "selected" not in select, flag  # no silent "No"
    assert 'aria-invalid="true"' in page and 'aria-describedby="id_serious-error' in page


def _fill_the_rest(participant, visit, actor):
    """Every required form of ``visit`` complete (the carried ones finished, the others entered)."""
    from trialkit.schedule import required_forms
    from trialkit.server.capture.demo import _required_values
    from trialkit.server.capture.form_names import instrument_name

    done = visit.done_on
    for name in (instrument_name(f) for f in required_forms(visit.forms)):
        form = FormRecord.objects.filter(visit=visit, instrument=name, repeat=1).first()
        if form is not None and form.status == "complete":
            continue
        values = (
            {"systolic_bp": 120, "diastolic_bp": 80, "heart_rate": 70, "weight_kg": 70}
            if name == "vital_signs"
            else _required_values(name, done)
        )
        if form is not None:
            values = {**form.data, **values}
        save_form(
            participant,
            visit.visit_id,
            name,
            values,
            actor,
            complete=True,
            now=NOW,
            expected_version=form.version if form is not None else None,
        )


@time_machine.travel(NOW, tick=False)
def test_carried_forms_are_not_done_until_the_coordinator_confirms_the_review(client, make_participant, staff):
    from trialkit.server.capture.screening_forms import REVIEW_STATEMENT

    p = make_participant(anchor=date(2026, 2, 25))
    p.screening.facts = FACTS
    p.screening.save()
    ensure_schedule(p)
    visit = Visit.objects.get(participant=p, visit_id="screening")
    assert visit.carried_from == p.screening.screening_number and visit.awaiting_review
    _fill_the_rest(p, visit, staff["coordinator"])
    visit.refresh_from_db()
    assert visit.status(NOW.date()).value == "overdue"  # every form complete, the carried data not reviewed

    client.force_login(staff["coordinator"])
    url = f"/capture/participants/{p.pk}/"
    card = client.get(url).content.decode().split('id="visit-screening"')[1].split('<div class="card" id="visit-')[0]
    assert "Forms carried from screening record" in card and f">{p.screening.screening_number}</a>" in card
    assert "carried from screening — awaiting review" in card and REVIEW_STATEMENT in card
    assert "forms overdue" in card and ">done<" not in card
    home = client.get("/home/").content.decode()  # the coordinator's home says what is left to do
    assert f"{p.participant_number} · Screening" in home and "review screening data" in home

    # The box not ticked: nothing recorded, the reason said.
    response = client.post(f"{url}visits/screening/carried-review/", {}, follow=True)
    assert "confirm: tick" in response.content.decode()
    assert Visit.objects.get(pk=visit.pk).awaiting_review
    assert not AuditEvent.objects.filter(action="carried_forms_review").exists()

    client.post(f"{url}visits/screening/carried-review/", {"confirm": "yes"})
    visit.refresh_from_db()
    assert visit.carried_reviewed_by == staff["coordinator"] and visit.carried_reviewed_at == NOW
    assert visit.status(NOW.date()).value == "done"
    event = AuditEvent.objects.get(action="carried_forms_review")
    assert event.actor_id == staff["coordinator"].pk and event.object_id == str(visit.pk)
    assert event.after["carried_from"] == p.screening.screening_number and event.after["statement"] == REVIEW_STATEMENT
    assert {f["instrument"] for f in event.after["forms"]} >= {"nihss", "demographics", "labs"}
    card = client.get(url).content.decode().split('id="visit-screening"')[1].split('<div class="card" id="visit-')[0]
    assert "awaiting review" not in card and "reviewed by" in card and "carried-review-form" not in card
    assert "review screening data" not in client.get("/home/").content.decode()
    # Once is enough: a second confirmation is refused, the first stands.
    response = client.post(f"{url}visits/screening/carried-review/", {"confirm": "yes"}, follow=True)
    assert "already reviewed" in response.content.decode()
    assert AuditEvent.objects.filter(action="carried_forms_review").count() == 1


@time_machine.travel(NOW, tick=False)
def test_only_the_site_s_coordinator_or_investigator_confirms_the_review(
    client, make_participant, staff, make_user, other_site, ixcell
):
    p = make_participant(anchor=date(2026, 2, 25))
    p.screening.facts = FACTS
    p.screening.save()
    ensure_schedule(p)
    url = f"/capture/participants/{p.pk}/visits/screening/carried-review/"
    for user in (
        staff["monitor"],
        staff["data_manager"],
        make_user("blinded_assessor", ixcell, p.site),
        make_user("coordinator", ixcell, other_site),
    ):
        client.force_login(user)
        assert client.post(url, {"confirm": "yes"}).status_code in (403, 404), user
    assert Visit.objects.get(participant=p, visit_id="screening").awaiting_review
    client.force_login(staff["investigator"])
    page = client.get(f"/capture/participants/{p.pk}/").content.decode()
    assert "carried-review-form" in page


@time_machine.travel(NOW, tick=False)
def test_the_api_shows_and_records_the_review(client, make_participant, staff):
    import json

    from auth_support import login_verified

    p = make_participant(anchor=date(2026, 2, 25))
    p.screening.facts = FACTS
    p.screening.save()
    ensure_schedule(p)
    login_verified(client, staff["coordinator"])
    visits = client.get(f"/api/capture/participants/{p.pk}/visits").json()["items"]
    screening = next(v for v in visits if v["visit_id"] == "screening")
    assert screening["carried_from"] == p.screening.screening_number and screening["awaiting_review"] is True
    url = f"/api/capture/participants/{p.pk}/visits/screening/carried-review"
    refused = client.post(url, data=json.dumps({"confirm": False}), content_type="application/json")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "confirm"
    done = client.post(url, data=json.dumps({"confirm": True}), content_type="application/json")
    assert done.status_code == 200 and done.json()["awaiting_review"] is False
    again = client.post(url, data=json.dumps({"confirm": True}), content_type="application/json")
    assert again.status_code == 409 and "already reviewed" in again.json()["error"]
