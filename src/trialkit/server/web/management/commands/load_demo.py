from django.core.management.base import BaseCommand

from trialkit.server.demo import load_demo


class Command(BaseCommand):
    help = "Load both trials with demo sites, one user per role and participants at every stage."

    def handle(self, *args, **options):
        counts = load_demo()
        self.stdout.write(", ".join(f"{v} {k}" for k, v in counts.items()))
