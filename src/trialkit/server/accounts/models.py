from __future__ import annotations

from django.conf import settings
from django.db import models

from trialkit.server.accounts.roles import Role


class Membership(models.Model):
    """A user's role in one trial, at one site or (site empty) at every site of it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    trial = models.ForeignKey("trials.Trial", on_delete=models.CASCADE, related_name="memberships")
    site = models.ForeignKey("trials.Site", on_delete=models.CASCADE, null=True, blank=True, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "trial", "site", "role"], name="unique_membership"),
        ]
        ordering = ["trial_id", "site_id", "role"]

    def __str__(self) -> str:
        where = self.site.code if self.site_id else "all sites"
        return f"{self.user.username}: {self.get_role_display()} in {self.trial.nct_id} ({where})"
