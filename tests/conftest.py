import logging
import os

import pytest

os.environ.setdefault("TRIALKIT_FAST_HASHER", "1")


def pytest_configure(config):
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Jobs run in the test's own process once their row commits; the worker tests start real
    # workers with the database backend.
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    # The suite empties its SQLite database between transactional tests; the audit triggers
    # refuse that anywhere else.
    settings.TRIALKIT_AUDIT_ALLOW_FLUSH = True
    # On a machine where matplotlib has no font cache yet, its first import logs "generated new
    # fontManager" at INFO. Under the server's logging configuration (loaded here for the whole
    # session) that line reached the standard error of whichever in-process CLI call imported
    # matplotlib first, and broke its one-line contract; a real `trialkit` process has no handler
    # for it and prints nothing.
    logging.getLogger("matplotlib").setLevel(logging.WARNING)


# Fixtures through which a test reaches the database (pytest-django's own, and the live server).
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_setup", "live_server"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test under tests/browser is a browser test; every test that reaches the database, through a
    fixture or pytest-django's mark, is marked ``database`` (the default run leaves those to ``make test-all``
    and CI: pyproject.toml's addopts)."""
    for item in items:
        if item.path.parent.name == "browser":
            item.add_marker(pytest.mark.browser)
        if DATABASE_FIXTURES & set(item.fixturenames) or item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.database)


@pytest.fixture(autouse=True)
def _audit_checkpoints_per_test(tmp_path, monkeypatch):
    """Each test's database is new, so its audit checkpoints must be too (the key stays shared)."""
    monkeypatch.setenv("TRIALKIT_AUDIT_CHECKPOINTS", str(tmp_path / "audit-checkpoints.jsonl"))


@pytest.fixture(autouse=True)
def _language_of_the_test_is_its_own():
    """Each test starts and ends in the default language. A test-client request activates the language
    it asks for (LocaleMiddleware) and leaves it active in the thread; services translate their
    refusals when raised, so a Chinese request must not make a later test's direct service call Chinese."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def on_postgres(db):
    """Skip on SQLite; on the PostgreSQL run (TRIALKIT_REQUIRE_POSTGRES=1) never skip."""
    from django.db import connection

    if connection.vendor != "postgresql":
        if os.environ.get("TRIALKIT_REQUIRE_POSTGRES"):
            pytest.fail("TRIALKIT_REQUIRE_POSTGRES is set but the database is not PostgreSQL")
        pytest.skip("needs PostgreSQL (runs in CI's PostgreSQL pass)")
    return connection


@pytest.fixture
def trials(db):
    """Both seed trials loaded from protocols/, with their registry sites plus two demo sites each."""
    from trialkit.server.demo import DEMO_SITES
    from trialkit.server.trials.loading import load_protocols
    from trialkit.server.trials.models import Site

    loaded = {t.nct_id: t for t in load_protocols()}
    for nct_id, sites in DEMO_SITES.items():
        for code, name, city, country in sites:
            Site.objects.get_or_create(
                trial=loaded[nct_id], code=code, defaults={"name": name, "city": city, "country": country}
            )
    return loaded


@pytest.fixture
def make_user(db):
    """make_user("coordinator", trial, site=None, username=None) -> a user holding that role."""
    from django.contrib.auth import get_user_model

    from trialkit.server.accounts.models import Membership

    counter = {"n": 0}

    def make(role, trial, site=None, username=None, password="pw-for-tests"):
        counter["n"] += 1
        User = get_user_model()
        user = User.objects.create_user(username or f"{role}{counter['n']}", password=password)
        Membership.objects.create(user=user, trial=trial, site=site, role=role)
        return user

    return make


@pytest.fixture
def admin_client(db, admin_user, client):
    """pytest-django's admin client, with the second factor staff must verify (django-otp)."""
    from auth_support import login_verified

    return login_verified(client, admin_user)
