"""Demo data: both seed trials, several sites each, one user per role, participants at every stage.

Stages beyond sites and users are contributed by the apps that own them: each may define
``trialkit.server.<app>.demo.populate(trials, users, today)``; they run in the order below.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
from datetime import date

from django.contrib.auth import get_user_model
from django.db import transaction

from trialkit.schedule.diary import country_time_zone
from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import SITE_ROLES, Role
from trialkit.server.participants.models import Participant
from trialkit.server.trials.loading import load_protocols
from trialkit.server.trials.models import Site, Trial

DEMO_PASSWORD = "trialkit-demo"

DEMO_USERS = [
    # username, full name, role
    ("sponsor", "Sam Sponsor", Role.SPONSOR_ADMIN),
    ("investigator", "Dr Ines Investigator", Role.INVESTIGATOR),
    ("coordinator", "Cora Coordinator", Role.COORDINATOR),
    ("assessor", "Ash Assessor", Role.BLINDED_ASSESSOR),
    ("pharmacist", "Phil Pharmacist", Role.UNBLINDED_PHARMACIST),
    ("monitor", "Mona Monitor", Role.MONITOR),
    ("datamanager", "Dana Datamanager", Role.DATA_MANAGER),
    ("dsmb", "Dr Stat DSMB", Role.DSMB_STATISTICIAN),
]

# Fictional demo sites added to the registry's own location of each trial.
DEMO_SITES = {
    "NCT04590118": [
        ("assist-02", "Northbridge Stroke Centre (demo)", "Beijing", "China"),
        ("assist-03", "Riverside Neurology Unit (demo)", "Guangzhou", "China"),
    ],
    "NCT07197606": [
        ("ixcell-02", "Eastlake Rehabilitation Hospital (demo)", "Hangzhou", "China"),
        ("ixcell-03", "Harbourview Brain Institute (demo)", "Suzhou", "China"),
    ],
}

# Days from day 0 (the infusion, or the randomization) back to the demo day, for the first six
# participants of each trial: the allocation demo gives their doses on those days and the capture
# demo fills their visits, so that visits are done, missed, overdue, due and upcoming: 400 (all
# done), 200 (month 3 missed, month 6 done), 95 (month 3 overdue), 33 (month 1 overdue), 6 (day 7
# due), 3 (day 7 upcoming). The screening demo enrolls them early enough.
DAY0_AGES = (400, 200, 95, 33, 6, 3)

POPULATORS = (
    "trialkit.server.screening.demo",
    "trialkit.server.allocation.demo",
    "trialkit.server.capture.demo",
)


# Demo users with a TOTP authenticator: those who must log in with a second factor (the DSMB
# statistician, the admin) and the investigator, who needs it to unblind. Their secrets are
# derived from the user name, so that every demo install has the same ones (docs/audit.md).
DEMO_TOTP_USERS = ("investigator", "dsmb", "admin")


def demo_totp_key(username: str) -> str:
    """The demo user's TOTP secret (20 bytes, hex as django-otp stores it): SHA-1 of a fixed text."""
    return hashlib.sha1(f"trialkit-demo-totp:{username}".encode()).hexdigest()


def demo_totp_secret(username: str) -> str:
    """The same secret in base32, as an authenticator app takes it."""
    return base64.b32encode(bytes.fromhex(demo_totp_key(username))).decode()


def demo_totp_code(username: str) -> str:
    from django_otp.oath import TOTP

    return f"{TOTP(bytes.fromhex(demo_totp_key(username))).token():06d}"


def demo_logins() -> list[dict[str, str]]:
    rows = []
    for username, _name, role in DEMO_USERS:
        where = "first site of each trial" if role in SITE_ROLES else "all sites of both trials"
        rows.append({"username": username, "role": role.label, "where": where})
    rows.append({"username": "admin", "role": "Django admin (staff)", "where": "/admin/"})
    for row in rows:
        if row["username"] in DEMO_TOTP_USERS:
            row.update(otp_code=demo_totp_code(row["username"]), otp_secret=demo_totp_secret(row["username"]))
    return rows


@transaction.atomic
def load_demo(today: date | None = None) -> dict[str, int]:
    today = today or date.today()
    trials = load_protocols()
    for trial in trials:
        for code, name, city, country in DEMO_SITES.get(trial.nct_id, []):
            Site.objects.get_or_create(
                trial=trial,
                code=code,
                defaults={
                    "name": name,
                    "city": city,
                    "country": country,
                    "status": "Recruiting (demo)",
                    "time_zone": country_time_zone(country),
                },
            )
    User = get_user_model()
    users = {}
    for username, full_name, role in DEMO_USERS:
        first, _, last = full_name.rpartition(" ")
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@demo.trialkit.invalid"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        users[username] = user
        for trial in trials:
            site = trial.sites.order_by("code").first() if role in SITE_ROLES else None
            Membership.objects.get_or_create(user=user, trial=trial, site=site, role=role)
    admin, created = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
    if created:
        admin.set_password(DEMO_PASSWORD)
        admin.save()
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for username in DEMO_TOTP_USERS:
        user = users.get(username) or admin
        TOTPDevice.objects.get_or_create(
            user=user, name="Demo authenticator", defaults={"key": demo_totp_key(username), "confirmed": True}
        )
    # The stages are loaded once per trial: a trial that already holds participants (an earlier
    # `make demo` on this database, or real ones) is left as it is, so loading again, the same day or
    # later, adds nothing twice and does not replay a dose onto a kit the first load used.
    fresh = [trial for trial in trials if not Participant.objects.filter(trial=trial).exists()]
    if fresh:
        for module_name in POPULATORS:
            importlib.import_module(module_name).populate(trials=fresh, users=users, today=today)
    return {
        "trials": Trial.objects.count(),
        "sites": Site.objects.count(),
        "users": User.objects.count(),
        "already loaded": len(trials) - len(fresh),
    }
