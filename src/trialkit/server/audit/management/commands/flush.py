"""``manage flush`` with the audit trail's append-only triggers respected.

Where ``TRIALKIT_AUDIT_ALLOW_FLUSH`` is set (the test suite, which empties its database between
tests), the SQLite triggers let this command through. Anywhere else a flush on SQLite is refused by
the triggers, and one on PostgreSQL by the application role's missing TRUNCATE right; a flush run
as the owner is found by ``trialkit audit verify`` against the latest checkpoint.
"""

from django.conf import settings
from django.core.management.commands.flush import Command as FlushCommand

from trialkit.server.audit.guard import unlocked


class Command(FlushCommand):
    def handle(self, **options):
        if getattr(settings, "TRIALKIT_AUDIT_ALLOW_FLUSH", False):
            with unlocked():
                return super().handle(**options)
        return super().handle(**options)
