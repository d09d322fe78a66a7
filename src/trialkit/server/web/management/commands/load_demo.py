from django.core.management.base import BaseCommand

from trialkit.server.demo import load_demo


class Command(BaseCommand):
    help = "Load both trials with demo sites, one user per role and participants at every stage."

    def handle(self, *args, **options):
        counts = load_demo()
        again = counts.pop("already loaded")
        self.stdout.write(", ".join(f"{v} {k}" for k, v in counts.items()))
        if again:
            self.stdout.write(
                f"{again} trial(s) already held participants in this database: their demo data were left as they were"
            )
