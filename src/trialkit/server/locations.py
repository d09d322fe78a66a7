"""Where the installation keeps its data, read from the environment; no Django import, so the command line
can say where it looks before it starts Django (and before SQLite creates an empty database file)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def data_dir() -> Path:
    """``$TRIALKIT_DATA_DIR``, else ``./data`` of the current directory."""
    return Path(os.environ.get("TRIALKIT_DATA_DIR") or Path.cwd() / "data")


def sqlite_path() -> Path:
    return data_dir() / "trialkit.sqlite3"


def database_url() -> str:
    """``$DATABASE_URL``, else the SQLite file in the data directory."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{sqlite_path()}"


def shown_database_url() -> str:
    """The database URL with any password replaced by ``***``, for messages."""
    url = database_url()
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
