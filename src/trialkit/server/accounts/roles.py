"""The roles of a trial, and which of them may see treatment allocation.

Blinding is decided here and nowhere else: a role is unblinded only if it is listed in
``UNBLINDED_ROLES``. Every page, API response and export asks ``can_see_allocation``.
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

# Site staff who run a participant's course at their site: screening, consent, enrollment and
# the end of participation. Not the blinded assessor (who rates outcome scales) nor the unblinded
# pharmacist (who prepares doses).
SITE_STAFF = (Role.COORDINATOR, Role.INVESTIGATOR)

# Roles allowed to enter or change clinical data at their site.
DATA_ENTRY_ROLES = frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.BLINDED_ASSESSOR})


def is_blinded_role(role: str) -> bool:
    return role not in UNBLINDED_ROLES
