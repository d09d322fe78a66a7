"""Django settings, read from the environment through small helpers.

SQLite in ``$TRIALKIT_DATA_DIR`` (default ``./data``) unless ``DATABASE_URL`` names another database.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from trialkit.server import locations


def envbool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envstr(name: str, default: str) -> str:
    return os.environ.get(name, default)


BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = locations.data_dir()

DEBUG = envbool("DEBUG", False)
# Demo mode lists the demo users and their password on the login page.
TRIALKIT_DEMO = envbool("TRIALKIT_DEMO", False)
# The test suite (pytest) and the demo may run with the public development key; nothing else may.
TESTING = "pytest" in sys.modules
DEVELOPMENT = DEBUG or TRIALKIT_DEMO or TESTING
_DEVELOPMENT_KEY = "trialkit-development-key-change-me-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEVELOPMENT:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Outside the demo and the tests TrialKit refuses to start without a real "
            "secret key: set SECRET_KEY to a long random value (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), or run the demo with TRIALKIT_DEMO=1."
        )
    SECRET_KEY = _DEVELOPMENT_KEY
elif SECRET_KEY == _DEVELOPMENT_KEY and not DEVELOPMENT:
    raise ImproperlyConfigured("SECRET_KEY is the public development key; set a long random value of your own")
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
    "trialkit.server.referrals",
    "trialkit.server.allocation",
    "trialkit.server.capture",
    "trialkit.server.product",
    "trialkit.server.exports",
    "trialkit.server.web",
    "django_tasks_db",
    "trialkit.server.jobs",
]

# One job queue: Django's tasks framework with the database backend (works on SQLite and
# PostgreSQL); `trialkit worker` processes run it. Tests use the immediate backend.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
TRIALKIT_AUDIT_CHECKPOINT_MINUTES = int(envstr("TRIALKIT_AUDIT_CHECKPOINT_MINUTES", "60"))
# A running job's worker writes a heartbeat this often; a job silent for TRIALKIT_JOB_STALE_SECONDS
# has lost its worker and is taken over by another (queued again or failed).
TRIALKIT_JOB_HEARTBEAT_SECONDS = float(envstr("TRIALKIT_JOB_HEARTBEAT_SECONDS", "5"))
TRIALKIT_JOB_STALE_SECONDS = float(envstr("TRIALKIT_JOB_STALE_SECONDS", "30"))
# Export archives older than this many days are removed by a daily job (the record and its
# SHA-256 stay, the removal is audited); 0 keeps them for ever.
TRIALKIT_EXPORT_RETENTION_DAYS = int(envstr("TRIALKIT_EXPORT_RETENTION_DAYS", "0"))
# More modules that register job kinds (comma-separated), imported by every process at start.
TRIALKIT_JOB_KIND_MODULES = [m for m in envstr("TRIALKIT_JOB_KIND_MODULES", "").split(",") if m]

# Diary reminders (capture/reminders.py): email through Django's mailers (Django 6.1's MAILERS,
# which replaces EMAIL_BACKEND; console in development, smtp otherwise, locmem in the tests), text
# messages through TRIALKIT_SMS_BACKEND (trialkit/server/sms; console in development, locmem in the
# tests; no real provider shipped). A day's reminder goes out from TRIALKIT_DIARY_REMINDER_HOUR
# o'clock at the site (0 to 23).
MAILERS = {
    "default": {
        "BACKEND": envstr(
            "TRIALKIT_EMAIL_BACKEND",
            "django.core.mail.backends.console.EmailBackend"
            if DEVELOPMENT
            else "django.core.mail.backends.smtp.EmailBackend",
        ),
        "OPTIONS": {
            k: v
            for k, v in {
                "host": os.environ.get("TRIALKIT_EMAIL_HOST"),
                "port": int(os.environ["TRIALKIT_EMAIL_PORT"]) if os.environ.get("TRIALKIT_EMAIL_PORT") else None,
                "username": os.environ.get("TRIALKIT_EMAIL_USER"),
                "password": os.environ.get("TRIALKIT_EMAIL_PASSWORD"),
                "use_tls": envbool("TRIALKIT_EMAIL_USE_TLS") or None,
            }.items()
            if v is not None
        },
    }
}
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "trialkit@localhost")
TRIALKIT_SMS_BACKEND = envstr(
    "TRIALKIT_SMS_BACKEND",
    "trialkit.server.sms.backends.locmem.SmsBackend" if TESTING else "trialkit.server.sms.backends.console.SmsBackend",
)
TRIALKIT_DIARY_REMINDER_HOUR = int(envstr("TRIALKIT_DIARY_REMINDER_HOUR", "18"))
# How often the workers queue the reminder run (minutes); each run sends only what is due and not sent.
TRIALKIT_DIARY_REMINDER_MINUTES = int(envstr("TRIALKIT_DIARY_REMINDER_MINUTES", "60"))
# The address participants open their diary at, in reminders ("https://trials.example.org"); blank: no link.
TRIALKIT_PUBLIC_URL = envstr("TRIALKIT_PUBLIC_URL", "")

MIDDLEWARE = [
    "trialkit.server.ops.RequestIdMiddleware",
    "trialkit.server.ops.HealthzMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions (set_language may keep the choice there), before CommonMiddleware (Django's
    # documented order): the language follows the cookie set by the header's switch, else the
    # browser's Accept-Language, else LANGUAGE_CODE. URLs carry no language prefix.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "trialkit.server.audit.context.AuditActorMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "trialkit.server.accounts.middleware.SecondFactorMiddleware",
    "trialkit.server.accounts.middleware.ActivityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx: whether a page is asked for as a fragment
    "trialkit.server.web.middleware.RefuseNulCharacters",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "trialkit.server.web.middleware.StyledMethodNotAllowed",
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
            # |day, |when, |form_label, |item_label on every page without a {% load %}.
            "builtins": ["trialkit.server.web.templatetags.trialkit"],
        },
    },
]

WSGI_APPLICATION = "trialkit.server.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        locations.database_url(),
        # Persistent connections: `trialkit serve` keeps each server thread's connection for a minute
        # (TRIALKIT_DB_CONN_MAX_AGE, seconds) instead of opening one per request; checked before reuse.
        conn_max_age=int(envstr("TRIALKIT_DB_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
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
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if AXES_IPWARE_PROXY_COUNT else ("REMOTE_ADDR",)
)

# Idle session timeout: a session unused for this long ends; activity renews it (at most once a
# minute, accounts.middleware.ActivityMiddleware).
SESSION_COOKIE_AGE = int(envstr("TRIALKIT_IDLE_MINUTES", "30")) * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Two-factor authentication (TOTP, RFC 6238) for staff, the DSMB and unblinding.
OTP_TOTP_ISSUER = envstr("TRIALKIT_OTP_ISSUER", "TrialKit")

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/home/"
LOGOUT_REDIRECT_URL = "/trials/"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
# English and Simplified Chinese (both trials recruit in China). The catalogue is
# locale/zh_Hans/LC_MESSAGES/django.po beside this file; `make messages` updates and compiles it,
# and the compiled .mo is committed so a fresh machine needs no gettext to run (docs/participants.md).
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates by language: English "14 Mar 2026" (formats/en), Chinese Django's own "2026年3月14日".
FORMAT_MODULE_PATH = ["trialkit.server.formats"]
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# The shared stylesheet and htmx live beside the settings, outside any app.
STATICFILES_DIRS = [BASE_DIR / "static"]

PROTOCOL_DIR = os.environ.get("TRIALKIT_PROTOCOL_DIR")  # None: the repository's protocols/
# The sponsor's licensed MedDRA ASCII distribution (the folder with llt.asc and pt.asc) and its
# version; unset: adverse events are coded with TrialKit's small open list (trialkit.safety.coding).
TRIALKIT_MEDDRA_DIR = envstr("TRIALKIT_MEDDRA_DIR", "")
TRIALKIT_MEDDRA_VERSION = envstr("TRIALKIT_MEDDRA_VERSION", "")

if envbool("TRIALKIT_FAST_HASHER"):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# ---------------------------------------------------------------- serving (docs/operations.md)
# Static files are served by the application server itself (whitenoise), compressed and with
# far-future caching of hashed names outside development.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEVELOPMENT
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEVELOPMENT  # the demo and tests serve static files without collectstatic
WHITENOISE_AUTOREFRESH = DEVELOPMENT

# HTTPS: on by default outside development. TRIALKIT_HTTPS=0 for plain HTTP (a private network,
# the load test); TRIALKIT_BEHIND_PROXY=1 when a TLS-terminating proxy sets X-Forwarded-Proto.
TRIALKIT_HTTPS = envbool("TRIALKIT_HTTPS", not DEVELOPMENT)
if envbool("TRIALKIT_BEHIND_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if TRIALKIT_HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(envstr("TRIALKIT_HSTS_SECONDS", "31536000"))  # one year
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("TRIALKIT_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("TRIALKIT_HSTS_PRELOAD", True)
CSRF_TRUSTED_ORIGINS = [o for o in envstr("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (Django's own, django.middleware.csp): scripts and style sheets from
# this site only, no inline script and no <style> element; style attributes (progress bars) are
# allowed. The report's self-contained HTML gets its own policy (web.views.job_result).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# ---------------------------------------------------------------- logging
# One JSON object per line on stderr (TRIALKIT_LOG_FORMAT=text for people reading a terminal),
# each with the request id; a 500 is logged by django.request with its traceback.
TRIALKIT_LOG_FORMAT = envstr("TRIALKIT_LOG_FORMAT", "json")
LOG_LEVEL = envstr("TRIALKIT_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "trialkit.server.ops.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
            "timestamp": False,
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "trialkit.server.ops.StderrHandler",
            "formatter": "text" if TRIALKIT_LOG_FORMAT == "text" else "json",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
    },
}
