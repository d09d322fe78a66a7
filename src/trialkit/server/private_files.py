"""Files that hold trial data are private to the account TrialKit runs as: the data directory and
every directory under it that holds exports, reports or the SQLite database is 0700, and each such
file 0600, so another local account can read neither an unblinded archive nor the database.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path | str) -> Path:
    """``path`` created if missing and made 0700, and the data directory above it too."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    data_dir = Path(settings.DATA_DIR)
    if data_dir != path and data_dir in path.parents:
        os.chmod(data_dir, DIR_MODE)
    return path


def private_file(path: Path | str) -> Path:
    path = Path(path)
    if path.exists():
        os.chmod(path, FILE_MODE)
    return path


def secure_sqlite(sender=None, connection=None, **kwargs) -> None:
    """On each new SQLite connection: its database file (and journal) 0600, its directory 0700."""
    if connection is None or connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    if path.exists():
        os.chmod(path.parent, DIR_MODE)
        for candidate in (path, Path(name + "-journal"), Path(name + "-wal"), Path(name + "-shm")):
            private_file(candidate)
