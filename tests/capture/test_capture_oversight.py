"""Oversight screens: the record status dashboard, the visit calendar, the lists of queries, source
verification and signatures, and the bulk review of a visit. Who may see them, what they show,
that they never touch allocation data, and that their query count does not grow with the trial."""

from datetime import date

import pytest
import time_machine
from auth_support import login_verified
from capture_cases import NIHSS_7, NOW
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.models import FormRecord
from trialkit.server.capture.services import (
    end_participation,
    ensure_schedule,
    lock_form,
    open_query,
    save_form,
    sign_form,
    sign_visit,
    verify_form,
)

pytestmark = pytest.mark.django_db

VITALS = {"systolic_bp": 130, "diastolic_bp": 80, "heart_rate": 70, "weight_kg": 72.5}


def _scheduled(make_participant, **kw):
    p = make_participant(**kw)
    ensure_schedule(p)
    return p


def _rows(page: str) -> str:
    return page.split("<tbody>")[1].split("</tbody>")[0]


def _cell(page: str, visit_label: str, title: str, state: str) -> bool:
    return f'<span class="sr-only">{visit_label}, {title}: {state}</span>' in page


# --------------------------------------------------------------------------- dashboard


@time_machine.travel(NOW, tick=False)
def test_dashboard_shows_each_form_state_with_a_symbol_and_text(client, participant, staff, make_participant):
    coordinator = staff["coordinator"]
    save_form(participant, "baseline", "vital_signs", VITALS, coordinator, complete=False, now=NOW)  # draft
    save_form(participant, "baseline", "nihss", NIHSS_7, coordinator, complete=True, now=NOW)  # complete
    mrs = save_form(participant, "baseline", "mrs", {"score": 2}, coordinator, complete=True, now=NOW)
    verify_form(mrs, staff["monitor"], now=NOW)  # verified
    barthel = save_form(participant, "month1", "mrs", {"score": 3}, coordinator, complete=True, now=NOW)
    sign_form(barthel, staff["investigator"], password="pw-for-tests", now=NOW)  # signed
    locked = save_form(participant, "month1", "nihss", NIHSS_7, coordinator, complete=True, now=NOW)
    lock_form(locked, staff["data_manager"], reason="clean", now=NOW)  # locked
    ended = _scheduled(make_participant)
    end_participation(ended, coordinator, outcome="withdrawn", ended_on=NOW.date(), reason="withdrew consent", now=NOW)
    login_verified(client, staff["monitor"])
    page = client.get(f"/capture/trials/{participant.trial.nct_id}/status/").content.decode()
    assert _cell(page, "Baseline and infusion", "Vital signs and body weight", "Draft")
    assert _cell(page, "Baseline and infusion", "NIH Stroke Scale", "Complete")
    assert _cell(page, "Baseline and infusion", "modified Rankin Scale", "Verified")
    assert _cell(page, "Month 1", "modified Rankin Scale", "Signed")
    assert _cell(page, "Month 1", "NIH Stroke Scale", "Locked")
    assert _cell(page, "Month 3", "modified Rankin Scale", "Missed")  # window closed 14 June
    assert _cell(page, "Month 6", "modified Rankin Scale", "Not started")
    assert _cell(page, "Month 6", "modified Rankin Scale", "Not expected")  # the withdrawn participant
    for symbol, label in (("D", "Draft"), ("L", "Locked"), ("M", "Missed"), ("N", "Not expected")):
        assert f'aria-hidden="true">{symbol}</span> <strong>{label}</strong>' in page  # the legend


def test_dashboard_is_for_oversight_roles_and_only_shows_covered_sites(
    client, ixcell, site, other_site, staff, make_participant, make_user
):
    here = _scheduled(make_participant)
    there = _scheduled(make_participant, at_site=other_site)
    url = f"/capture/trials/{ixcell.nct_id}/status/"
    login_verified(client, staff["coordinator"])
    page = client.get(url).content.decode()
    assert here.participant_number in page and there.participant_number not in page
    assert client.get(url, {"site": other_site.code}).status_code == 404
    login_verified(client, staff["monitor"])
    page = client.get(url, {"site": other_site.code}).content.decode()
    assert there.participant_number in page and here.participant_number not in page
    for who in (
        staff["pharmacist"],
        make_user("dsmb_statistician", ixcell),
        make_user("blinded_assessor", ixcell, site),
    ):
        login_verified(client, who)
        assert client.get(url).status_code == 403


# --------------------------------------------------------------------------- no arm, constant queries


def _world(make_participant, staff, n):
    coordinator, monitor = staff["coordinator"], staff["monitor"]
    people = []
    for _ in range(n):
        p = _scheduled(make_participant)
        form = save_form(p, "baseline", "mrs", {"score": 2}, coordinator, complete=True, now=NOW)
        save_form(p, "baseline", "vital_signs", VITALS, coordinator, complete=False, now=NOW)
        open_query(form, "score", "please check", monitor, now=NOW)
        sign_form(form, staff["investigator"], password="pw-for-tests", now=NOW)
        people.append(p)
    return people


OVERSIGHT_PAGES = (
    "status/",
    "calendar/?month=2026-03",
    "queries/",
    "verification/?status=to_verify",
    "verification/?status=verified",
    "signatures/",
    "signatures/?status=signed",
)


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return [q["sql"] for q in ctx.captured_queries]


@time_machine.travel(NOW, tick=False)
def test_query_counts_do_not_grow_with_participants_and_no_page_reads_allocation(
    client, ixcell, staff, make_participant
):
    login_verified(client, staff["monitor"])
    client.get("/home/")  # the session's once-a-minute activity stamp is written here, not while measuring
    _world(make_participant, staff, 2)
    small = {page: _queries(client, f"/capture/trials/{ixcell.nct_id}/{page}") for page in OVERSIGHT_PAGES}
    _world(make_participant, staff, 7)
    large = {page: _queries(client, f"/capture/trials/{ixcell.nct_id}/{page}") for page in OVERSIGHT_PAGES}
    for page in OVERSIGHT_PAGES:
        assert len(small[page]) == len(large[page]), (page, len(small[page]), len(large[page]))
        assert not [sql for sql in small[page] + large[page] if "allocation" in sql.lower()], page
    page = client.get(f"/capture/trials/{ixcell.nct_id}/status/").content.decode()
    for arm in ixcell.protocol.arms:
        assert arm.label not in page


@time_machine.travel(NOW, tick=False)
def test_dashboard_pages_participants(client, ixcell, staff, make_participant):
    people = [_scheduled(make_participant) for _ in range(27)]
    login_verified(client, staff["data_manager"])
    url = f"/capture/trials/{ixcell.nct_id}/status/"
    first = client.get(url).content.decode()
    second = client.get(url, {"page": 2}).content.decode()
    assert "27 participants; showing 1–25" in first and "Page 1 of 2" in first
    assert people[0].participant_number in first and people[26].participant_number not in first
    assert people[26].participant_number in second and people[0].participant_number not in second


# --------------------------------------------------------------------------- calendar


@time_machine.travel(NOW, tick=False)
def test_calendar_marks_window_open_target_and_close(client, ixcell, staff, make_participant):
    p = _scheduled(make_participant, anchor=date(2026, 3, 20))  # month3: target 18 June, 4 June – 2 July
    login_verified(client, staff["coordinator"])
    url = f"/capture/trials/{ixcell.nct_id}/calendar/"
    june = client.get(url, {"month": "2026-06"}).content.decode()
    assert "June 2026" in june and 'href="?month=2026-05"' in june and 'href="?month=2026-07"' in june
    assert "Thursday 4 June" in june and "Thursday 18 June" in june
    assert f"{p.participant_number} · Month 3</a>" in june
    assert "window opens (window 4 Jun–2 Jul, target 18 Jun)" in june
    assert "target day (window 4 Jun–2 Jul, target 18 Jun)" in june
    july = client.get(url, {"month": "2026-07"}).content.decode()
    assert "window closes (window 4 Jun–2 Jul" in july
    bad = client.get(url, {"month": "June"})
    assert bad.status_code == 400 and "is not a month (YYYY-MM)" in bad.content.decode()


@time_machine.travel(NOW, tick=False)
def test_a_busy_month_shows_counts_per_day_and_lists_one_day_in_pages(
    client, ixcell, staff, make_participant, monkeypatch
):
    """Past the detail limit the month shows how many windows open, targets fall and windows close
    each day, and lists the chosen day's visits a page at a time, in the same number of queries
    whatever the size of the network."""
    from trialkit.server.capture import oversight

    monkeypatch.setattr(oversight, "CALENDAR_DETAIL_LIMIT", 2)
    monkeypatch.setattr(oversight, "CALENDAR_DAY_PAGE", 2)
    people = [_scheduled(make_participant, anchor=date(2026, 3, 20)) for _ in range(3)]
    login_verified(client, staff["monitor"])
    client.get("/home/")
    url = f"/capture/trials/{ixcell.nct_id}/calendar/"
    june = client.get(url, {"month": "2026-06"}).content.decode()
    assert 'class="cal-entry"' not in june  # no visit listed on the month
    assert "3 visits this month: choose a day to list its visits." in june
    assert '<span class="mark mark-opens">3 open</span>' in june  # 4 June
    assert '<span class="mark mark-target">3 targets</span>' in june  # 18 June
    assert 'href="?month=2026-06&amp;day=2026-06-04#day-list"' in june
    first = client.get(url, {"month": "2026-06", "day": "2026-06-18"}).content.decode()
    assert "Thursday 18 June: 3 visits" in first and "Page 1 of 2" in first
    listed = [p.participant_number for p in people if f"{p.participant_number} · Month 3</a>" in first]
    assert len(listed) == 2
    second = client.get(url, {"month": "2026-06", "day": "2026-06-18", "page": 2}).content.decode()
    assert [p.participant_number for p in people if f"{p.participant_number} · Month 3</a>" in second] == [
        p.participant_number for p in people if p.participant_number not in listed
    ]
    assert "target day (window 4 Jun–2 Jul, target 18 Jun)" in second
    bad = client.get(url, {"month": "2026-06", "day": "18th"})
    assert bad.status_code == 400 and "day &#x27;18th&#x27; is not a date (YYYY-MM-DD)" in bad.content.decode()
    small = _queries(client, f"{url}?month=2026-06&day=2026-06-18")
    for _ in range(4):
        _scheduled(make_participant, anchor=date(2026, 3, 20))
    assert len(_queries(client, f"{url}?month=2026-06&day=2026-06-18")) == len(small)
    assert len(_queries(client, f"{url}?month=2026-06")) == len(small) - 1  # no day chosen: no visit loaded


# --------------------------------------------------------------------------- lists


@time_machine.travel(NOW, tick=False)
def test_lists_filter_and_count(client, ixcell, other_site, staff, make_participant):
    coordinator = staff["coordinator"]
    a = _scheduled(make_participant)
    b = _scheduled(make_participant, at_site=other_site)
    mrs_a = save_form(a, "baseline", "mrs", {"score": 2}, coordinator, complete=True, now=NOW)
    save_form(a, "baseline", "nihss", NIHSS_7, coordinator, complete=True, now=NOW)
    save_form(a, "baseline", "vital_signs", VITALS, coordinator, complete=False, now=NOW)
    verify_form(mrs_a, staff["monitor"], now=NOW)
    sign_form(mrs_a, staff["investigator"], password="pw-for-tests", now=NOW)
    open_query(mrs_a, "score", "source says 3", staff["monitor"], now=NOW)
    lead = _scheduled(make_participant, at_site=other_site)
    del lead
    login_verified(client, staff["monitor"])
    base = f"/capture/trials/{ixcell.nct_id}"
    verification = client.get(f"{base}/verification/").content.decode()
    assert '<span class="value">1</span> <span class="label">To verify</span>' in verification
    assert '<span class="value">1</span> <span class="label">Verified</span>' in verification
    assert '<span class="value">1</span> <span class="label">Draft (not yet verifiable)</span>' in verification
    assert "NIH Stroke Scale" in _rows(verification) and "modified Rankin Scale" not in _rows(verification)
    by_form = client.get(f"{base}/verification/", {"form": "mrs", "status": "verified"}).content.decode()
    assert "modified Rankin Scale" in _rows(by_form) and "1 form;" in by_form
    bad_form = client.get(f"{base}/verification/", {"form": "nonsense"})
    assert bad_form.status_code == 400 and "form &#x27;nonsense&#x27; is not a form of" in bad_form.content.decode()
    bad_status = client.get(f"{base}/verification/", {"status": "nonsense"})
    assert bad_status.status_code == 400 and "is not one of: to_verify, verified, draft" in bad_status.content.decode()
    other = client.get(f"{base}/verification/", {"site": other_site.code}).content.decode()
    assert "0 forms." in other and b.participant_number not in other
    queries = client.get(f"{base}/queries/", {"participant": a.participant_number}).content.decode()
    assert "source says 3" in queries and '<span class="value">1</span> <span class="label">Open</span>' in queries
    assert "source says 3" not in client.get(f"{base}/queries/", {"status": "closed"}).content.decode()
    signatures = client.get(f"{base}/signatures/").content.decode()
    assert '<span class="value">1</span> <span class="label">Awaiting signature</span>' in signatures
    assert '<span class="value">1</span> <span class="label">Signed</span>' in signatures
    assert "NIH Stroke Scale" in _rows(signatures) and "modified Rankin Scale" not in _rows(signatures)


@time_machine.travel(NOW, tick=False)
def test_signature_list_counts_visit_signatures_and_not_voided_ones(client, ixcell, staff, make_participant):
    """A form is signed by its own signature or its visit's, and no longer once that is voided."""
    coordinator, investigator = staff["coordinator"], staff["investigator"]
    a, b = _scheduled(make_participant), _scheduled(make_participant)
    first = save_form(a, "baseline", "mrs", {"score": 2}, coordinator, complete=True, now=NOW)
    save_form(a, "baseline", "nihss", NIHSS_7, coordinator, complete=True, now=NOW)
    sign_visit(first.visit, investigator, password="pw-for-tests", now=NOW)
    changed = save_form(b, "baseline", "mrs", {"score": 2}, coordinator, complete=True, now=NOW)
    sign_form(changed, investigator, password="pw-for-tests", now=NOW)
    save_form(b, "baseline", "mrs", {"score": 3}, coordinator, complete=True, now=NOW, reason="source says 3")
    save_form(b, "baseline", "nihss", NIHSS_7, coordinator, complete=True, now=NOW)
    c = _scheduled(make_participant)  # a form signed on its own: a signature of no visit
    sign_form(
        save_form(c, "baseline", "mrs", {"score": 1}, coordinator, complete=True, now=NOW),
        investigator,
        password="pw-for-tests",
        now=NOW,
    )
    login_verified(client, staff["monitor"])
    base = f"/capture/trials/{ixcell.nct_id}/signatures/"
    awaiting = client.get(base).content.decode()
    assert '<span class="value">2</span> <span class="label">Awaiting signature</span>' in awaiting
    assert '<span class="value">3</span> <span class="label">Signed</span>' in awaiting
    assert b.participant_number in _rows(awaiting) and a.participant_number not in _rows(awaiting)
    signed = client.get(base, {"status": "signed"}).content.decode()
    assert a.participant_number in _rows(signed) and c.participant_number in _rows(signed)
    assert b.participant_number not in _rows(signed)


# --------------------------------------------------------------------------- bulk review


def _review_url(p, visit="baseline"):
    return f"/capture/participants/{p.pk}/visits/{visit}/review/"


def _complete_baseline(p, coordinator):
    return [
        save_form(p, "baseline", name, values, coordinator, complete=True, now=NOW)
        for name, values in (("mrs", {"score": 2}), ("nihss", NIHSS_7), ("vital_signs", VITALS))
    ]


@time_machine.travel(NOW, tick=False)
def test_bulk_verify_writes_one_audited_event_per_form_with_the_reason(client, participant, staff):
    forms = _complete_baseline(participant, staff["coordinator"])
    login_verified(client, staff["monitor"])
    response = client.post(
        _review_url(participant),
        {"forms": [f.pk for f in forms], "action": "verify", "reason": "Checked against the hospital chart"},
    )
    assert response.status_code == 302
    assert all(FormRecord.objects.get(pk=f.pk).verified_by == staff["monitor"] for f in forms)
    events = AuditEvent.objects.filter(action="form_verify")
    assert sorted(int(e.object_id) for e in events) == sorted(f.pk for f in forms)
    assert {e.reason for e in events} == {"Checked against the hospital chart"}


@time_machine.travel(NOW, tick=False)
def test_bulk_verify_is_all_or_nothing_and_names_each_refused_form(client, participant, staff):
    forms = _complete_baseline(participant, staff["coordinator"])
    save_form(
        participant,
        "baseline",
        "vital_signs",
        VITALS,
        staff["coordinator"],
        complete=False,
        now=NOW,
        reason="weight to be re-measured",
    )
    login_verified(client, staff["monitor"])
    events = AuditEvent.objects.count()
    response = client.post(
        _review_url(participant), {"forms": [f.pk for f in forms], "action": "verify", "reason": "site visit 3"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was source-verified" in page
    assert "Vital signs and body weight: only a complete form can be source-verified" in page
    assert "NIH Stroke Scale:" not in page.split('id="bulk-error"')[1].split("</div>")[0]
    assert not FormRecord.objects.filter(verified_at__isnull=False).exists()
    assert AuditEvent.objects.count() == events
    assert page.count("checked") >= 3  # the choice is kept
    no_reason = client.post(_review_url(participant), {"forms": [forms[0].pk], "action": "verify", "reason": " "})
    assert "give a reason" in no_reason.content.decode() and AuditEvent.objects.count() == events


@time_machine.travel(NOW, tick=False)
def test_bulk_lock_is_the_data_managers_and_skips_forms_already_locked(client, participant, staff):
    forms = _complete_baseline(participant, staff["coordinator"])
    lock_form(forms[0], staff["data_manager"], reason="early", now=NOW)
    login_verified(client, staff["monitor"])
    assert (
        client.post(
            _review_url(participant), {"forms": [f.pk for f in forms], "action": "lock", "reason": "clean"}
        ).status_code
        == 403
    )
    login_verified(client, staff["data_manager"])
    response = client.post(
        _review_url(participant),
        {"forms": [f.pk for f in forms], "action": "lock", "reason": "database lock of baseline"},
        follow=True,
    )
    page = response.content.decode()
    assert "2 form(s) locked" in page and "Skipped 1" in page
    assert FormRecord.objects.filter(locked_at__isnull=False).count() == 3
    assert AuditEvent.objects.filter(action="form_lock", reason="database lock of baseline").count() == 2
    other = save_form(participant, "month1", "mrs", {"score": 1}, staff["coordinator"], complete=True, now=NOW)
    foreign = client.post(_review_url(participant), {"forms": [other.pk], "action": "lock", "reason": "x"})
    assert f"form {other.pk}: is not a form of Baseline and infusion" in foreign.content.decode()
    assert FormRecord.objects.get(pk=other.pk).locked_at is None


@time_machine.travel(NOW, tick=False)
def test_dashboard_shows_every_record_of_a_repeating_form(client, participant, staff):
    """Two adverse events at one visit, one verified and one a draft: the cell counts both, shows the
    least advanced state, and links to each record with its own state."""
    coordinator = staff["coordinator"]
    ae = {
        "term": "Headache",
        "onset_date": "2026-06-10",
        "ctcae_grade": 1,
        "serious": False,
        "relatedness": "unlikely",
        "expectedness": "expected",
        "action_taken": "not_applicable",
        "outcome": "recovered",
    }
    first = save_form(participant, "day7", "adverse_event", ae, coordinator, complete=True, now=NOW, repeat=1)
    verify_form(first, staff["monitor"], now=NOW)
    save_form(
        participant,
        "day7",
        "adverse_event",
        {"term": "Fall", "onset_date": "2026-06-11"},
        coordinator,
        complete=False,
        now=NOW,
        repeat=2,
    )
    login_verified(client, staff["monitor"])
    page = client.get(f"/capture/trials/{participant.trial.nct_id}/status/").content.decode()
    title = "Adverse event"
    assert f'<span class="sr-only">Day 7, {title}: 2 records, the least advanced Draft</span>' in page
    assert 'aria-hidden="true">D<sup>2</sup></span>' in page
    base = f"/capture/participants/{participant.pk}/visits/day7/forms/adverse_event/"
    for repeat, state in ((1, "Verified"), (2, "Draft")):
        link = f'<a class="fs fs-{state.lower()}" href="{base}?repeat={repeat}">'
        assert link in page, link
        assert f'<span class="sr-only">Day 7, {title} #{repeat}: {state}</span>' in page
    # A form entered once keeps its single square.
    assert not _cell(page, "Day 7", title, "Verified") and not _cell(page, "Day 7", title, "Draft")
