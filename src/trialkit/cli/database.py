"""Which database a command uses, and a clear refusal when there is none (before Django starts)."""

from __future__ import annotations

import os

from trialkit.cli.errors import EXIT_COULD_NOT_RUN, CommandError
from trialkit.server import locations

HOW_TO_SET = (
    "run the command in the project directory (its ./data), set TRIALKIT_DATA_DIR to the data directory "
    "(SQLite), or DATABASE_URL to the database (e.g. postgres://user@host:5432/trialkit)"
)


def database_description() -> str:
    if os.environ.get("DATABASE_URL"):
        return f"{locations.shown_database_url()} (DATABASE_URL)"
    origin = "TRIALKIT_DATA_DIR" if os.environ.get("TRIALKIT_DATA_DIR") else "./data of the current directory"
    return f"{locations.sqlite_path()} (SQLite in {origin})"


def _django_ready() -> bool:
    """Django already set up in this process (a test, or a command run from the application): its database
    is the one in use."""
    import sys

    apps = sys.modules.get("django.apps")
    return bool(apps and apps.apps.ready)


def require_database() -> None:
    """Refuse, exit 3, when no database is configured and the SQLite file does not exist.

    Django's SQLite backend would otherwise create an empty database file (and its directory) wherever
    the command happens to run, and the command would then fail on a missing table.
    """
    if os.environ.get("DATABASE_URL") or _django_ready():
        return
    path = locations.sqlite_path()
    if not path.is_file():
        raise CommandError(
            f"no TrialKit database: looked for {database_description()}; {HOW_TO_SET} "
            "(`trialkit manage migrate` creates a new one)",
            EXIT_COULD_NOT_RUN,
        )
