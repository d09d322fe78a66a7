from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from trialkit.server.accounts.roles import Role, is_blinded_role

COMBINATION_RULE = (
    "one person may not hold a blinded and an unblinded role in the same trial: "
    "give the unblinded work to another person (docs/security.md, the combination rule)"
)


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
        ordering = ["trial_id", "site_id", "role", "id"]

    def clean(self) -> None:
        """The combination rule: a person is blinded or unblinded in a trial, never both."""
        super().clean()
        if not (self.user_id and self.trial_id and self.role):
            return
        others = Membership.objects.filter(user_id=self.user_id, trial_id=self.trial_id).exclude(pk=self.pk)
        clashing = sorted({m.role for m in others if is_blinded_role(m.role) != is_blinded_role(self.role)})
        if clashing:
            held = ", ".join(str(Role(r).label) for r in clashing)
            raise ValidationError(
                {
                    "role": f"{Role(self.role).label} refused: this person already holds {held} "
                    f"in this trial; {COMBINATION_RULE}"
                },
                code="blinding_combination",
            )

    def save(self, *args, **kwargs) -> None:
        # Checked on every save, not only in forms: the admin, the API, the CLI, the demo loader
        # and scripts all create memberships through here.
        from django.contrib.auth import get_user_model
        from django.db import transaction

        with transaction.atomic():
            # Lock the person: two memberships given at once cannot both pass the check.
            get_user_model().objects.select_for_update().filter(pk=self.user_id).first()
            self.clean()
            super().save(*args, **kwargs)

    def __str__(self) -> str:
        where = self.site.code if self.site_id else "all sites"
        return f"{self.user.username}: {self.get_role_display()} in {self.trial.nct_id} ({where})"


class ApiToken(models.Model):
    """A personal API token: a bearer credential for scripts and other systems, instead of a password.

    Only a SHA-256 digest of the token is kept (the token is 256 random bits, so a fast digest is
    enough: there is nothing to guess); the token itself is shown once, when it is made. A token acts
    as its owner with the owner's roles, limited by its scope: ``read`` tokens may only read."""

    class Scope(models.TextChoices):
        READ = "read", "read only"
        WRITE = "write", "read and write"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True)  # the token's public part, to find its row
    secret_hash = models.CharField(max_length=64)  # SHA-256 hex of the whole token
    scope = models.CharField(max_length=8, choices=Scope.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user_id", "-created_at", "id"]

    def is_active(self, now) -> bool:
        return self.revoked_at is None and self.expires_at > now

    def __str__(self) -> str:
        return f"{self.user.username}: {self.name} ({self.scope})"
