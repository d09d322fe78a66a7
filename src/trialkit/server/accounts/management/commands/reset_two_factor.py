"""Recovery of a lost authenticator: remove a user's TOTP devices (audited) so that they set up a
new one at their next login. ``trialkit manage reset_two_factor USERNAME --reason "..." --by ADMIN``."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from trialkit.server.audit.service import record_event


class Command(BaseCommand):
    help = "Remove a user's two-factor devices (lost phone); they enrol again at their next login."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
        parser.add_argument("--by", required=True, help="the administrator doing the reset (a user name)")

    @transaction.atomic
    def handle(self, username, reason, by, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        admin = User.objects.filter(username=by).first()
        if user is None:
            raise CommandError(f"username: no user {username!r}")
        if admin is None or not admin.is_staff:
            raise CommandError(f"--by: {by!r} is not a staff user")
        if not reason.strip():
            raise CommandError("--reason: say why the second factor is reset")
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        record_event(
            actor=admin,
            action="two_factor_reset",
            object_type="user",
            object_id=user.pk,
            after={"username": user.username, "devices_removed": removed},
            reason=reason.strip(),
        )
        self.stdout.write(f"{username}: {removed} device(s) removed; they set up a new one at their next login.")
