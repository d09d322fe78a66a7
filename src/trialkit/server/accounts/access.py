"""Who may do what, where. Views and API endpoints call these; they never test roles inline."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import UNBLINDED_ROLES, Role


@dataclass(frozen=True)
class Access:
    """A user's roles in one trial."""

    trial_id: int
    roles: frozenset[str]
    site_ids: frozenset[int] | None  # None: every site

    @property
    def can_see_allocation(self) -> bool:
        # Blinded if any blinded role is held: a user with a blinded and an unblinded role
        # in one trial would otherwise carry arm knowledge into blinded work.
        return bool(self.roles) and self.roles <= UNBLINDED_ROLES

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    def covers_site(self, site_id: int) -> bool:
        return self.site_ids is None or site_id in self.site_ids


def access_for(user, trial) -> Access:
    if not user.is_authenticated:
        return Access(trial.id, frozenset(), frozenset())
    memberships = list(Membership.objects.filter(user=user, trial=trial))
    roles = frozenset(m.role for m in memberships)
    if any(m.site_id is None for m in memberships):
        sites = None
    else:
        sites = frozenset(m.site_id for m in memberships)
    return Access(trial.id, roles, sites)


def require(user, trial, *roles: str, site_id: int | None = None) -> Access:
    """The user's access, or PermissionDenied if they hold none of ``roles`` (at ``site_id``)."""
    access = access_for(user, trial)
    if not access.has(*roles):
        raise PermissionDenied("your role does not allow this")
    if site_id is not None and not access.covers_site(site_id):
        raise PermissionDenied("this belongs to a site you are not assigned to")
    return access


def user_roles(user) -> list[Membership]:
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("trial", "site"))


ALL_ROLES = [r.value for r in Role]
