"""The web flow from a new screening record to an enrolled participant, through the Django test client.

Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL: the same test, the same assertions.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from screening_cases import ELIGIBLE_ASSIST

from trialkit.server.participants.models import Participant, ScreeningRecord
from trialkit.server.screening import services

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def form_data(facts: dict) -> dict:
    """The facts as the record page's form posts them (field names are the facts' paths)."""
    data = {
        "birth_date": facts["birth_date"],
        "sex": facts["sex"],
        "premorbid_mrs": str(facts["premorbid_mrs"]),
        "stroke.type": facts["stroke"]["type"],
        "stroke.territory": facts["stroke"]["territory"],
        "stroke.onset_date": facts["stroke"]["onset_date"],
        "conditions_reviewed": "1",
        "medications_reviewed": "1",
        "allergies_reviewed": "1",
        "allergies": "",
    }
    data.update({f"nihss.{k}": str(v) for k, v in facts["nihss"].items()})
    for analyte, lab in facts["labs"].items():
        data.update(
            {
                f"labs.{analyte}.value": str(lab["value"]),
                f"labs.{analyte}.unit": lab["unit"],
                f"labs.{analyte}.uln": str(lab.get("uln", "")),
            }
        )
    data.update({f"serology.{k}": v for k, v in facts["serology"].items()})
    for i, c in enumerate(facts["conditions"]):
        data[f"conditions.{i}.name"] = c["name"]
        data[f"conditions.{i}.date"] = c.get("date", "")
    for i, m in enumerate(facts["medications"]):
        data[f"medications.{i}.name"] = m["name"]
        data[f"medications.{i}.class"] = m["class"]
    return data


def criterion_status(html: str, criterion_id: str) -> str:
    match = re.search(rf'class="criterion criterion-(\w+)" id="criterion-{re.escape(criterion_id)}"', html)
    assert match, f"criterion {criterion_id} not shown"
    return match.group(1)


def test_new_record_to_enrolled_participant(client, assist, site1, coordinator, investigator):
    client.force_login(coordinator)
    log = client.get("/screening/NCT04590118/")
    assert log.status_code == 200 and "New screening" in log.content.decode()

    created = client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"})
    assert created.status_code == 302 and created["Location"] == "/screening/NCT04590118/ASSIST-01-S0001/"
    page = client.get(created["Location"]).content.decode()
    assert "NIH Stroke Scale" in page and "Clinical diagnosis of ischemic stroke for more than 6 months." in page
    assert criterion_status(page, "inc-nihss") == "unknown"
    assert re.search(r'id="enroll-button" disabled', page)

    facts_url = "/screening/NCT04590118/ASSIST-01-S0001/facts/"
    data = form_data(ELIGIBLE_ASSIST)
    # A low NIHSS first: the panel shows the failure live, with its reason.
    low = {**data, "nihss.5a": "0", "nihss.6a": "0"}
    answer = client.post(facts_url, low, **HTMX).content.decode()
    assert criterion_status(answer, "inc-nihss") == "fail"
    assert "NIHSS total <strong>4</strong>" in answer
    assert 'id="save-status" hx-swap-oob="true" class="saved"' in answer

    # A bad value is refused next to its field and nothing is saved.
    bad = {**data, "labs.albumin.value": "forty"}
    answer = client.post(facts_url, bad, **HTMX).content.decode()
    assert re.search(r'id="err-labs-albumin" class="field-error" hx-swap-oob="true">[^<]*number', answer)
    assert "Not saved" in answer
    assert ScreeningRecord.objects.get().facts["nihss"]["5a"] == 0

    answer = client.post(facts_url, data, **HTMX).content.decode()
    assert criterion_status(answer, "inc-nihss") == "pass"
    assert criterion_status(answer, "inc-organ-function") == "pass"
    assert criterion_status(answer, "inc-imaging") == "unknown"  # waits for the investigator
    assert "NIHSS total <strong>9</strong>" in answer
    record = ScreeningRecord.objects.get()
    assert record.facts["labs"]["albumin"] == {"value": 41, "unit": "g/L"}
    assert record.facts["conditions"] == [{"name": "hypertension"}]

    # The coordinator sees no attestation buttons; the investigator does and answers each.
    assert 'name="criterion_id"' not in client.get("/screening/NCT04590118/ASSIST-01-S0001/").content.decode()
    client.force_login(investigator)
    page = client.get("/screening/NCT04590118/ASSIST-01-S0001/").content.decode()
    assert 'name="criterion_id" value="inc-imaging"' in page
    criteria = {c.id: c for c in assist.protocol.eligibility.criteria}
    from trialkit.server.screening.services import attestable_criteria

    for criterion_id in attestable_criteria(assist.protocol):
        value = "true" if criteria[criterion_id].type == "inclusion" else "false"
        answer = client.post(
            "/screening/NCT04590118/ASSIST-01-S0001/attest/", {"criterion_id": criterion_id, "value": value}, **HTMX
        )
        assert answer.status_code == 200
    html = answer.content.decode()
    assert criterion_status(html, "inc-imaging") == "pass"
    assert "badge status-eligible" in html
    assert "no informed consent recorded" in html

    client.force_login(coordinator)
    refused = client.post(
        "/screening/NCT04590118/ASSIST-01-S0001/consent/",
        {"consent_date": "2025-03-04", "signed_by": "legal_guardian", "signer_name": "", "document_version": ""},
    )
    assert refused.status_code == 422 and "name the legal guardian" in refused.content.decode()
    consented = client.post(
        "/screening/NCT04590118/ASSIST-01-S0001/consent/",
        {
            "consent_date": "2025-03-04",
            "signed_by": "legal_guardian",
            "signer_name": "Zhang Min",
            "document_version": "",
        },
    )
    assert consented.status_code == 302
    page = client.get("/screening/NCT04590118/ASSIST-01-S0001/").content.decode()
    assert "Version 1.0 (en), signed 4 Mar 2025 by legal guardian (Zhang Min)" in page
    assert 'id="enroll-button"' in page and 'id="enroll-button" disabled' not in page

    enrolled = client.post("/screening/NCT04590118/ASSIST-01-S0001/enroll/", follow=True)
    html = enrolled.content.decode()
    assert "Enrolled as participant ASSIST-01-001: ready for randomization." in html
    participant = Participant.objects.get()
    assert (participant.participant_number, participant.status, participant.site) == (
        "ASSIST-01-001",
        "enrolled",
        site1,
    )
    log = client.get("/screening/NCT04590118/?outcome=enrolled").content.decode()
    assert "ASSIST-01-001" in log


def test_a_screen_failure_from_the_record_page_appears_in_the_log(client, assist, site1, coordinator):
    client.force_login(coordinator)
    client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"})
    facts_url = "/screening/NCT04590118/ASSIST-01-S0001/facts/"
    client.post(
        facts_url, {**form_data(ELIGIBLE_ASSIST), "labs.albumin.value": "2.6", "labs.albumin.unit": "g/dL"}, **HTMX
    )
    client.post("/screening/NCT04590118/ASSIST-01-S0001/screen-fail/", {"reason": ""})
    log = client.get("/screening/NCT04590118/?outcome=screen_failed").content.decode()
    assert "ASSIST-01-S0001" in log and "inc-organ-function" in log and "albumin" in log


def test_without_htmx_a_facts_post_redirects_back_to_the_page(client, assist, site1, coordinator):
    client.force_login(coordinator)
    client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"})
    response = client.post("/screening/NCT04590118/ASSIST-01-S0001/facts/", {"sex": "male"})
    assert response.status_code == 302
    assert ScreeningRecord.objects.get().facts["sex"] == "male"


def test_the_condition_list_offers_the_trial_vocabulary_and_other(client, assist, site1, coordinator):
    client.force_login(coordinator)
    client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"})
    page = client.get("/screening/NCT04590118/ASSIST-01-S0001/").content.decode()
    datalist = re.search(r'<datalist id="condition-names">(.*?)</datalist>', page).group(1)
    offered = re.findall(r'<option value="([a-z_]+)"', datalist)
    vocabulary = assist.protocol.condition_vocabulary
    assert offered == [*vocabulary.names, "other"]
    assert {"epilepsy", "myocardial_infarction", "hypertension", "atrial_fibrillation"} <= set(offered)
    assert '<option value="other" label="none of the listed conditions: describe it">' in datalist
    assert 'name="conditions.0.description"' in page


def test_an_unknown_condition_is_refused_in_its_row_and_nothing_is_saved(client, assist, site1, coordinator):
    from trialkit.server.audit.models import AuditEvent

    client.force_login(coordinator)
    client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"})
    facts_url = "/screening/NCT04590118/ASSIST-01-S0001/facts/"
    data = form_data(ELIGIBLE_ASSIST)
    client.post(facts_url, data, **HTMX)
    saved, events = ScreeningRecord.objects.get().facts, AuditEvent.objects.count()

    typo = {
        **data,
        "sex": "female",
        "pregnant": "false",
        "lactating": "false",
        "conditions.1.name": "diabetes",
        "conditions.2.name": "epilepsey",
        "conditions.2.date": "2019-03-01",
    }
    answer = client.post(facts_url, typo, **HTMX).content.decode()
    slot = re.search(r'id="err-conditions-2" class="field-error" hx-swap-oob="true">([^<]*)<', answer).group(1)
    assert "&#x27;epilepsey&#x27; is not in the condition vocabulary of NCT04590118; did you mean epilepsy?" in slot
    assert "Not saved" in answer
    assert re.search(r'id="err-conditions-1" class="field-error" hx-swap-oob="true"></span>', answer)
    record = ScreeningRecord.objects.get()
    assert record.facts == saved and record.facts["sex"] == "male"
    assert AuditEvent.objects.count() == events

    unexplained = {**data, "conditions.1.name": "other"}
    answer = client.post(facts_url, unexplained, **HTMX).content.decode()
    assert re.search(r'id="err-conditions-1" class="field-error" hx-swap-oob="true">[^<]*needs a description', answer)
    assert ScreeningRecord.objects.get().facts == saved

    described = {
        **unexplained,
        "conditions.1.description": "migraine with aura",
        "conditions.2.name": "Seizure disorder",
        "conditions.2.date": "2019-03-01",
    }
    answer = client.post(facts_url, described, **HTMX).content.decode()
    assert criterion_status(answer, "exc-epilepsy") == "fail"
    assert ScreeningRecord.objects.get().facts["conditions"] == [
        {"name": "hypertension"},
        {"name": "other", "description": "migraine with aura"},
        {"name": "epilepsy", "date": "2019-03-01"},
    ]


def test_a_refused_attestation_echoes_the_criterion_escaped(client, assist, site1, coordinator, investigator):
    """The criterion id comes from the request: the HTMX error fragment must not reflect it as markup."""
    record = services.create_screening(assist, site1, coordinator, date(2025, 3, 1))
    client.force_login(investigator)
    payload = '<img src=x onerror="alert(1)">'
    response = client.post(
        f"/screening/NCT04590118/{record.screening_number}/attest/",
        {"criterion_id": payload, "value": "true"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code in (400, 422)
    assert "<img" not in html and "&lt;img src=x" in html
    assert not record.attestations.exists()


def _tag(html: str, element_id: str) -> str:
    """The opening tag of the element with ``id``."""
    match = re.search(rf'<(?:input|select|textarea)[^>]*\bid="{re.escape(element_id)}"[^>]*>', html)
    assert match, f"no input #{element_id}"
    return match.group(0)


def test_a_refused_facts_save_keeps_what_was_typed_and_ties_each_message_to_its_field(
    client, assist, site1, coordinator
):
    """Without htmx: the page comes back (422) with every value as typed, each message in the error
    slot its input is described by, the input aria-invalid, and a summary linking to each field."""
    client.force_login(coordinator)
    client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"})
    facts_url = "/screening/NCT04590118/ASSIST-01-S0001/facts/"
    bad = {
        **form_data(ELIGIBLE_ASSIST),
        "age": "sixty",
        "labs.albumin.value": "forty",
        "conditions.1.name": "epilepsey",
        "conditions.1.date": "2019-03-01",
        "allergies": "bovine, latex",
    }
    response = client.post(facts_url, bad)
    html = response.content.decode()
    assert response.status_code == 422
    assert "age" not in ScreeningRecord.objects.get().facts and "labs" not in ScreeningRecord.objects.get().facts

    for input_id, slot, value, words in (
        ("f-age", "err-age", "sixty", "integer"),
        ("f-labs.albumin.value", "err-labs-albumin", "forty", "number"),
        ("f-conditions.1.name", "err-conditions-1", "epilepsey", "did you mean"),
    ):
        tag = _tag(html, input_id)
        assert f'value="{value}"' in tag and 'aria-invalid="true"' in tag, tag
        assert re.search(rf'aria-describedby="[^"]*\b{slot}\b', tag), tag
        message = re.search(rf'<span id="{slot}" class="field-error">([^<]+)</span>', html).group(1)
        assert words in message, message
        assert re.search(rf'<a href="#{re.escape(input_id)}">[^<]*{re.escape(message[:20])}', html), input_id
    # The fields without a problem keep their typed values and are not marked.
    assert 'value="2019-03-01"' in _tag(html, "f-conditions.1.date")
    assert 'value="bovine, latex"' in _tag(html, "f-allergies")
    assert "aria-invalid" not in _tag(html, "f-birth_date")
    assert re.search(r'<option value="ischemic" selected>', html)
    summary = re.search(
        r'<div id="facts-errors" class="error-summary" tabindex="-1" autofocus>(.*?)</div>', html, re.S
    ).group(1)
    assert "Not saved: 3 fields need attention" in summary and summary.count("<li>") == 3


def test_a_refused_live_save_names_the_fields_in_its_summary(client, assist, site1, coordinator):
    client.force_login(coordinator)
    client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"})
    answer = client.post(
        "/screening/NCT04590118/ASSIST-01-S0001/facts/",
        {**form_data(ELIGIBLE_ASSIST), "labs.albumin.value": "forty"},
        **HTMX,
    ).content.decode()
    summary = re.search(
        r'<div id="facts-errors" class="error-summary" tabindex="-1" hx-swap-oob="true">(.*?)</div>', answer, re.S
    ).group(1)
    assert (
        '<a href="#f-labs.albumin.value">Serum albumin: enter a number' in summary
        and "1 field needs attention" in summary
    )
    # A later good save empties the summary (and the slot) again.
    answer = client.post(
        "/screening/NCT04590118/ASSIST-01-S0001/facts/", form_data(ELIGIBLE_ASSIST), **HTMX
    ).content.decode()
    assert '<div id="facts-errors" class="error-summary" hx-swap-oob="true"></div>' in answer
    assert '<span id="err-labs-albumin" class="field-error" hx-swap-oob="true"></span>' in answer
    page = client.get("/screening/NCT04590118/ASSIST-01-S0001/").content.decode()
    assert re.search(r'aria-describedby="err-labs-albumin"', _tag(page, "f-labs.albumin.value"))


def test_a_refused_consent_keeps_what_was_typed_and_ties_the_message_to_its_field(client, assist, site1, coordinator):
    client.force_login(coordinator)
    client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"})
    url = "/screening/NCT04590118/ASSIST-01-S0001/consent/"
    refused = client.post(
        url,
        {
            "consent_date": "2025-03-04",
            "signed_by": "legal_guardian",
            "signer_name": "",
            "document_version": "1.0",
        },
    )
    html = refused.content.decode()
    assert refused.status_code == 422
    name = _tag(html, "c-name")
    assert 'aria-invalid="true"' in name and 'aria-describedby="c-name-error"' in name
    assert re.search(r'<span class="field-error" id="c-name-error">name the legal guardian', html)
    assert '<a href="#c-name">Name of the signer: name the legal guardian' in html
    assert 'value="2025-03-04"' in _tag(html, "c-date") and 'value="1.0" selected' in html
    assert '<option value="legal_guardian" selected>' in html
    assert "aria-invalid" not in _tag(html, "c-date")

    no_date = client.post(url, {"consent_date": "04/03/2025", "signed_by": "participant", "signer_name": "Li Wei"})
    html = no_date.content.decode()
    assert no_date.status_code == 422
    assert 'aria-describedby="c-date-error"' in _tag(html, "c-date")
    assert re.search(r'id="c-date-error">enter the date of signature', html)
    assert 'value="Li Wei"' in _tag(html, "c-name")


def test_a_uln_implausible_in_its_unit_is_refused_on_its_row_and_its_unit_can_be_given(
    client, assist, site1, coordinator
):
    """AST 6 µkat/L with ULN 40 read in µkat/L is refused at the AST row; with the ULN's unit (U/L)
    chosen, it is saved and AST fails at 9×ULN."""
    client.force_login(coordinator)
    client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"})
    facts_url = "/screening/NCT04590118/ASSIST-01-S0001/facts/"
    page = client.get("/screening/NCT04590118/ASSIST-01-S0001/").content.decode()
    assert 'name="labs.ast.uln_unit"' in page
    bad = {**form_data(ELIGIBLE_ASSIST), "labs.ast.value": "6", "labs.ast.unit": "ukat/L", "labs.ast.uln": "40"}
    answer = client.post(facts_url, bad, **HTMX).content.decode()
    assert re.search(
        r'id="err-labs-ast" class="field-error" hx-swap-oob="true">[^<]*not a plausible upper limit', answer
    )
    assert "labs" not in ScreeningRecord.objects.get().facts
    answer = client.post(facts_url, {**bad, "labs.ast.uln_unit": "U/L"}, **HTMX).content.decode()
    assert criterion_status(answer, "inc-organ-function") == "fail"
    assert ScreeningRecord.objects.get().facts["labs"]["ast"] == {
        "value": 6,
        "unit": "ukat/L",
        "uln": 40,
        "uln_unit": "U/L",
    }


def test_a_refused_fact_is_explained_in_the_reader_s_language(client, assist, site1, coordinator):
    # The core's FactsError stays English (its rule code and suggestion are read); a Chinese reader
    # gets the sentence for the rule, by the field.
    zh = {**HTMX, "HTTP_ACCEPT_LANGUAGE": "zh-Hans"}
    client.force_login(coordinator)
    client.post("/screening/NCT04590118/new/", {"site": "assist-01", "screening_date": "2025-03-03"})
    facts_url = "/screening/NCT04590118/ASSIST-01-S0001/facts/"
    data = form_data(ELIGIBLE_ASSIST)
    client.post(facts_url, data, **HTMX)
    typo = {
        **data,
        "conditions.1.name": "diabetes",
        "conditions.2.name": "epilepsey",
        "conditions.2.date": "2019-03-01",
    }
    answer = client.post(facts_url, typo, **zh).content.decode()
    slot = re.search(r'id="err-conditions-2" class="field-error" hx-swap-oob="true">([^<]*)<', answer).group(1)
    assert "此名称不在本试验的词表中。" in slot and "epilepsy" in slot and "其他" in slot
    assert "is not in the condition vocabulary" not in answer
    answer = client.post(facts_url, {**data, "conditions.1.name": "other"}, **zh).content.decode()
    slot = re.search(r'id="err-conditions-1" class="field-error" hx-swap-oob="true">([^<]*)<', answer).group(1)
    assert "请描述该疾病。" in slot and "needs a description" not in answer
