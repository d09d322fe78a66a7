"""The roles of a trial, and which of them are unblinded.

What each role may do is the permission table's (``accounts.permissions``); a role is unblinded
when it is listed in ``UNBLINDED_ROLES``, which the table's arm-revealing permissions follow and
the combination rule (``accounts.models.Membership``) reads.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    SPONSOR_ADMIN = "sponsor_admin", _("Sponsor administrator")
    INVESTIGATOR = "investigator", _("Investigator")
    COORDINATOR = "coordinator", _("Site coordinator")
    BLINDED_ASSESSOR = "blinded_assessor", _("Blinded outcome assessor")
    UNBLINDED_PHARMACIST = "unblinded_pharmacist", _("Unblinded pharmacist")
    MONITOR = "monitor", _("Monitor")
    DATA_MANAGER = "data_manager", _("Data manager")
    DSMB_STATISTICIAN = "dsmb_statistician", _("DSMB statistician (unblinded)")


# The pharmacist prepares doses; the DSMB statistician generates and holds the allocation list
# and sees unblinded safety data. Everyone else is blinded (participant, care provider,
# investigator and outcomes assessor are masked in both seed trials).
UNBLINDED_ROLES = frozenset({Role.UNBLINDED_PHARMACIST, Role.DSMB_STATISTICIAN})

# Roles that work at one site; the others see every site of a trial.
SITE_ROLES = frozenset({Role.INVESTIGATOR, Role.COORDINATOR, Role.BLINDED_ASSESSOR, Role.UNBLINDED_PHARMACIST})


def is_blinded_role(role: str) -> bool:
    return role not in UNBLINDED_ROLES
