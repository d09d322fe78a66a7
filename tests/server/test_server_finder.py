"""The public trial finder and the trials API."""

import pytest

pytestmark = pytest.mark.django_db


def _nct_ids(response):
    html = response.content.decode()
    return {nct for nct in ("NCT04590118", "NCT07197606") if f"/trials/{nct}/" in html}


def test_it_lists_both_seed_trials(client, trials):
    response = client.get("/trials/")
    assert response.status_code == 200
    assert _nct_ids(response) == {"NCT04590118", "NCT07197606"}


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"q": "umbilical cord"}, {"NCT07197606"}),
        ({"q": "ASSIST"}, {"NCT04590118"}),
        ({"q": "NCT04590118"}, {"NCT04590118"}),
        ({"condition": "Ischemic Stroke"}, {"NCT04590118", "NCT07197606"}),
        ({"status": "NOT_YET_RECRUITING"}, {"NCT07197606"}),
        ({"status": "UNKNOWN"}, {"NCT04590118"}),
        ({"status": "COMPLETED"}, set()),
        ({"phase": "PHASE1"}, {"NCT04590118"}),
        ({"phase": "PHASE2"}, {"NCT04590118", "NCT07197606"}),
        ({"location": "Shanghai"}, {"NCT07197606"}),
        ({"location": "Guangzhou"}, {"NCT04590118"}),
        ({"q": "stem cells", "phase": "PHASE1", "location": "China"}, {"NCT04590118"}),
        ({"q": "no such words anywhere"}, set()),
    ],
)
def test_it_filters(client, trials, params, expected):
    assert _nct_ids(client.get("/trials/", params)) == expected


def test_htmx_requests_get_only_the_results(client, trials):
    response = client.get("/trials/", {"q": "umbilical"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and "1 trial found" in html


def test_the_api_lists_trials_without_login(client, trials):
    data = client.get("/api/trials/").json()["items"]
    assert {t["nct_id"] for t in data} == {"NCT04590118", "NCT07197606"}
    assert {t["enrollment"] for t in data} == {60, 86}


def test_the_openapi_schema_is_served(client, trials):
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "TrialKit API"


@pytest.mark.parametrize("nct_id", ["NCT04590118", "NCT07197606"])
def test_the_trial_page_shows_every_criterion_and_arm_verbatim(client, trials, nct_id):
    import html as html_lib

    response = client.get(f"/trials/{nct_id}/")
    assert response.status_code == 200
    text = html_lib.unescape(response.content.decode())
    protocol = trials[nct_id].protocol
    for criterion in protocol.eligibility.criteria:
        for part in criterion.text.split("\n\n"):
            assert part in text, f"{criterion.id} missing from the web page"
    for arm in protocol.arms:
        assert arm.description in text and arm.label in text
    assert "Assumptions not stated by the registry" in text
    assert "Northbridge" in text or "Eastlake" in text  # sites run here are listed


def test_an_unknown_trial_is_404(client, trials):
    assert client.get("/trials/NCT00000000/").status_code == 404


def test_the_stylesheet_and_htmx_are_found_by_staticfiles():
    from django.contrib.staticfiles import finders

    assert finders.find("trialkit/trialkit.css")
    assert finders.find("trialkit/htmx.min.js")
