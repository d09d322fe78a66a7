"""Django settings, read from the environment through small helpers.

SQLite in ``$TRIALKIT_DATA_DIR`` (default ``./data``) unless ``DATABASE_URL`` names another database.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url


def envbool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envstr(name: str, default: str) -> str:
    return os.environ.get(name, default)


BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(envstr("TRIALKIT_DATA_DIR", str(Path.cwd() / "data")))

SECRET_KEY = envstr("SECRET_KEY", "trialkit-development-key-change-me-in-production")
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = [h for h in envstr("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "trialkit.server.audit",
    "trialkit.server.trials",
    "trialkit.server.accounts",
    "trialkit.server.participants",
    "trialkit.server.screening",
    "trialkit.server.allocation",
    "trialkit.server.capture",
    "trialkit.server.exports",
    "trialkit.server.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "trialkit.server.web.middleware.StyledMethodNotAllowed",
]

ROOT_URLCONF = "trialkit.server.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trialkit.server.web.navigation.navigation",
            ],
            # |day, |when, |form_label, |item_label on every page without a {% load %}.
            "builtins": ["trialkit.server.web.templatetags.trialkit"],
        },
    },
]

WSGI_APPLICATION = "trialkit.server.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'trialkit.sqlite3'}",
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Allocation and the audit chain take a write lock at the start of their transaction.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"transaction_mode": "IMMEDIATE", "timeout": 20})
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Tests use a file, not the in-memory database: concurrency tests open one connection per
    # thread, which an in-memory database cannot share. pytest-django suffixes the name per
    # xdist worker.
    DATABASES["default"].setdefault("TEST", {})
    DATABASES["default"]["TEST"].setdefault("NAME", str(DATA_DIR / "test-trialkit.sqlite3"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/home/"
LOGOUT_REDIRECT_URL = "/trials/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# The shared stylesheet and htmx live beside the settings, outside any app.
STATICFILES_DIRS = [BASE_DIR / "static"]

PROTOCOL_DIR = os.environ.get("TRIALKIT_PROTOCOL_DIR")  # None: the repository's protocols/
# Demo mode lists the demo users and their password on the login page.
TRIALKIT_DEMO = envbool("TRIALKIT_DEMO", False)

if envbool("TRIALKIT_FAST_HASHER"):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
