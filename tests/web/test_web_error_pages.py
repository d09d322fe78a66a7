"""Styled error pages with a way back: 403, 404, 405 (a link to a POST-only address) and 500."""

import pytest

pytestmark = pytest.mark.django_db


def test_404_and_405_are_styled_pages_with_a_way_back(client, trials, make_user):
    trial = trials["NCT07197606"]
    client.force_login(make_user("coordinator", trial, trial.sites.first()))
    missing = client.get("/capture/participants/999999/")
    assert missing.status_code == 404 and 'class="card error-page"' in missing.content.decode()
    assert 'href="/home/"' in missing.content.decode()
    wrong_method = client.get("/capture/participants/1/end/")
    assert wrong_method.status_code == 405 and "POST" in wrong_method["Allow"]
    assert "only takes a form" in wrong_method.content.decode() and 'href="/home/"' in wrong_method.content.decode()


def test_403_is_styled(client, trials, make_user):
    trial = trials["NCT04590118"]
    client.force_login(make_user("blinded_assessor", trial, trial.sites.first()))
    page = client.get(f"/allocation/{trial.nct_id}/list/")
    assert page.status_code == 403 and "Not allowed" in page.content.decode()


def test_500_is_styled(client, trials, make_user, monkeypatch):
    from trialkit.server.capture import views

    trial = trials["NCT07197606"]
    client.force_login(make_user("coordinator", trial, trial.sites.first()))

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "due_visits", broken)
    client.raise_request_exception = False
    page = client.get(f"/capture/trials/{trial.nct_id}/due/")
    assert page.status_code == 500 and "Something went wrong" in page.content.decode()
    assert "boom" not in page.content.decode()
