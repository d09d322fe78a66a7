from django.core.management.base import BaseCommand

from trialkit.server.trials.loading import load_protocols


class Command(BaseCommand):
    help = "Load (or refresh) every protocol file into the database."

    def handle(self, *args, **options):
        for trial in load_protocols():
            self.stdout.write(f"loaded {trial.nct_id} {trial.title}")
