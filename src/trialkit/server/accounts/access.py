"""Who may do what, where: the grants of a user's memberships in one trial, asked by permission name
(``accounts.permissions``). Views, API endpoints, services and templates call these; none tests a
role inline.

Each membership grants its role's permissions at its own site (or at every site of the trial when
its site is empty), and only there: an investigator at site 1 who is also a trial-wide monitor may
sign at site 1 and verify anywhere, never sign at site 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.permissions import REVEALS_ARM, roles_with
from trialkit.server.accounts.roles import Role

ALL_SITES = None


@dataclass(frozen=True)
class Access:
    """A user's grants in one trial: (role, site id or None for every site) per membership."""

    trial_id: int
    grants: frozenset[tuple[str, int | None]]

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(role for role, _site in self.grants)

    def can(self, permission: str, site_id: int | None = None) -> bool:
        """Whether a membership grants ``permission`` (at ``site_id`` when given; anywhere when not)."""
        allowed = roles_with(permission)
        if permission in REVEALS_ARM and not self.roles <= roles_with("allocation.view_arm"):
            return False
        return any(
            role in allowed and (site_id is None or site is None or site == site_id) for role, site in self.grants
        )

    def sites(self, permission: str) -> frozenset[int] | None:
        """The sites where ``permission`` is granted; None for every site of the trial."""
        if not self.can(permission):
            return frozenset()
        allowed = roles_with(permission)
        sites = set()
        for role, site in self.grants:
            if role in allowed:
                if site is None:
                    return ALL_SITES
                sites.add(site)
        return frozenset(sites)

    @property
    def site_ids(self) -> frozenset[int] | None:
        """The sites whose participants the user may see at all (``participant.view``)."""
        return self.sites("participant.view")

    def covers_site(self, site_id: int) -> bool:
        return self.can("participant.view", site_id)

    @property
    def can_see_allocation(self) -> bool:
        # Every role held must grant the arm: a person holding a blinded role as well (refused at
        # assignment since the combination rule; kept here for rows made before it) stays blinded.
        return bool(self.grants) and self.roles <= roles_with("allocation.view_arm")

    def can_see_arm_at(self, site_id: int) -> bool:
        return self.can_see_allocation and self.can("allocation.view_arm", site_id)

    def sites_of_role(self, role: str) -> frozenset[int] | None:
        """The sites where ``role`` is held (None: every site): a role's home shows its own sites only."""
        sites = set()
        for held, site in self.grants:
            if held == role:
                if site is None:
                    return ALL_SITES
                sites.add(site)
        return frozenset(sites)

    def role_granting(self, permission: str) -> str | None:
        """The role through which ``permission`` is held (the first in ``Role`` order), to record
        what an artefact was made under; None when it is not held."""
        if not self.can(permission):
            return None
        allowed = roles_with(permission)
        return next(role.value for role in Role if role in allowed and role in self.roles)

    def has_role(self, role: str) -> bool:
        """Whether the user holds ``role`` anywhere in the trial: for choosing a home page, never for a check."""
        return role in self.roles


def access_for(user, trial) -> Access:
    if not user.is_authenticated or not user.is_active:
        return Access(trial.id, frozenset())
    grants = frozenset(Membership.objects.filter(user=user, trial=trial).values_list("role", "site_id"))
    return Access(trial.id, grants)


def require(user, trial, permission: str, *, site_id: int | None = None) -> Access:
    """The user's access, or PermissionDenied unless a membership grants ``permission`` (at ``site_id``)."""
    access = access_for(user, trial)
    if not access.can(permission):
        raise PermissionDenied("your role does not allow this")
    if site_id is not None and not access.can(permission, site_id):
        raise PermissionDenied("this belongs to a site where your role does not allow this")
    return access


def user_roles(user) -> list[Membership]:
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("trial", "site"))


__all__ = ["Access", "access_for", "require", "user_roles"]
