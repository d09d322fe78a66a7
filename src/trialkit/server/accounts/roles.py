"""The roles of a trial, and which of them are unblinded.

What each role may do is the permission table's (``accounts.permissions``); a role is unblinded
when it is listed in ``UNBLINDED_ROLES``, which the table's arm-revealing permissions follow and
the combination rule (``accounts.models.Membership``) reads.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    SPONSOR_ADMIN = "sponsor_admin", "Sponsor administrator"
    INVESTIGATOR = "investigator", "Investigator"
    COORDINATOR = "coordinator", "Site coordinator"
    BLINDED_ASSESSOR = "blinded_assessor", "Blinded outcome assessor"
    UNBLINDED_PHARMACIST = "unblinded_pharmacist", "Unblinded pharmacist"
    MONITOR = "monitor", "Monitor"
    DATA_MANAGER = "data_manager", "Data manager"
    DSMB_STATISTICIAN = "dsmb_statistician", "DSMB statistician (unblinded)"


# The pharmacist prepares doses; the DSMB statistician generates and holds the allocation list
# and sees unblinded safety data. Everyone else is blinded (participant, care provider,
# investigator and outcomes assessor are masked in both seed trials).
UNBLINDED_ROLES = frozenset({Role.UNBLINDED_PHARMACIST, Role.DSMB_STATISTICIAN})

# Roles that work at one site; the others see every site of a trial.
SITE_ROLES = frozenset({Role.INVESTIGATOR, Role.COORDINATOR, Role.BLINDED_ASSESSOR, Role.UNBLINDED_PHARMACIST})


def is_blinded_role(role: str) -> bool:
    return role not in UNBLINDED_ROLES
