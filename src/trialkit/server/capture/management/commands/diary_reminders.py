"""``trialkit manage diary_reminders``: queue a diary-reminder run now (the workers also queue one
every TRIALKIT_DIARY_REMINDER_MINUTES). ``--wait`` runs it in this process and prints the result."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from trialkit.server.jobs import runner


class Command(BaseCommand):
    help = "Queue a run of the daily diary reminders (sends only what is due and not yet sent)."

    def add_arguments(self, parser):
        parser.add_argument("--wait", action="store_true", help="run it here and now instead of queueing it")

    def handle(self, *args, wait: bool, **options):
        job = runner.submit("diary_reminders", message="requested from the command line", queue=not wait)
        if wait:
            job = runner.execute(job.pk)
            self.stdout.write(f"job {job.pk}: {job.status}: {job.message}")
        else:
            self.stdout.write(f"job {job.pk} queued")
