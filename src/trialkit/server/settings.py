"""Django settings, read from the environment through small helpers.

SQLite in ``$TRIALKIT_DATA_DIR`` (default ``./data``) unless ``DATABASE_URL`` names another database.
"""

from __future__ import annotations

import os
from datetime import timedelta
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
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
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
    "django_otp.middleware.OTPMiddleware",
    "trialkit.server.accounts.middleware.SecondFactorMiddleware",
    "trialkit.server.accounts.middleware.ActivityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the lockout page (429)
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
# Authentication controls (21 CFR 11.300(d), EU Annex 11 §12); see docs/audit.md.
# django-axes counts failed logins (login page, admin, HTTP Basic) and failed re-authentications
# (signing, unblinding) per username *and* client address, so that nobody can lock a colleague
# out from elsewhere, nor the whole site; after AXES_FAILURE_LIMIT failures that pair is refused
# until AXES_COOLOFF_TIME has passed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(envstr("TRIALKIT_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(envstr("TRIALKIT_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts refused during a lockout neither extend it nor count again.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "trialkit.server.accounts.authn.axes_username"
AXES_LOCKOUT_CALLABLE = "trialkit.server.accounts.authn.lockout_response"
AXES_VERBOSE = False
# Behind a reverse proxy set TRIALKIT_PROXY_COUNT to the number of proxies in front, so that the
# client address (not the proxy's) is what lockout counts.
AXES_IPWARE_PROXY_COUNT = int(envstr("TRIALKIT_PROXY_COUNT", "0")) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if AXES_IPWARE_PROXY_COUNT else ("REMOTE_ADDR",)

# Idle session timeout: a session unused for this long ends; activity renews it (at most once a
# minute, accounts.middleware.ActivityMiddleware).
SESSION_COOKIE_AGE = int(envstr("TRIALKIT_IDLE_MINUTES", "30")) * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Two-factor authentication (TOTP, RFC 6238) for staff, the DSMB and unblinding.
OTP_TOTP_ISSUER = envstr("TRIALKIT_OTP_ISSUER", "TrialKit")

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
