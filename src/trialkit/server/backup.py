"""Backup and restore of an installation: the database and the data directory, together.

A backup is a folder holding
- ``database.sqlite3`` (SQLite's online backup API: a consistent copy while the service runs) or
  ``database.pgdump`` (``pg_dump --format=custom``, one consistent snapshot);
- ``data.tar.gz``: the data directory (exports, report folders, keys kept outside the database)
  without the database file itself, collected static files and temporary job outputs;
- ``manifest.json``: what was backed up, when, and the SHA-256 of each file.

``restore_backup`` puts both back into a new database and data directory; docs/operations.md
says how to check the result (``trialkit audit verify``) and switch over.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import dj_database_url

SKIPPED_IN_DATA = ("static",)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pg_env(config: dict) -> tuple[list[str], dict]:
    args = ["--host", config.get("HOST") or "127.0.0.1", "--port", str(config.get("PORT") or 5432)]
    if config.get("USER"):
        args += ["--username", config["USER"]]
    env = dict(os.environ)
    if config.get("PASSWORD"):
        env["PGPASSWORD"] = config["PASSWORD"]
    return args, env


def create_backup(dest: Path, *, database: dict | None = None, data_dir: Path | None = None) -> dict:
    """Write a backup of the database (``settings.DATABASES['default']`` unless given) and data directory."""
    from django.conf import settings
    from django.db import connections

    config = database or connections["default"].settings_dict
    data = Path(data_dir or settings.DATA_DIR)
    dest.mkdir(parents=True, exist_ok=False)
    files = []
    if config["ENGINE"].endswith("sqlite3"):
        target = dest / "database.sqlite3"
        source = sqlite3.connect(config["NAME"])
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        database_file = Path(config["NAME"]).resolve()
    else:
        target = dest / "database.pgdump"
        args, env = _pg_env(config)
        subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", "--file", str(target), *args, config["NAME"]],
            check=True,
            env=env,
            capture_output=True,
        )
        database_file = None
    files.append(target)
    archive = dest / "data.tar.gz"

    def keep(info: tarfile.TarInfo):
        parts = Path(info.name).parts
        if len(parts) > 1 and parts[1] in SKIPPED_IN_DATA:
            return None
        name = parts[-1]
        if name.startswith(".tmp-job") or name.endswith(("-wal", "-shm", "-journal")):
            return None
        if database_file is not None and data.joinpath(*parts[1:]).resolve() == database_file:
            return None
        if name.startswith(("test-trialkit", "trialkit.sqlite3")):
            return None  # databases are backed up above, never as files
        return info

    with tarfile.open(archive, "w:gz") as tar:
        if data.exists():
            tar.add(data, arcname="data", filter=keep)
    files.append(archive)
    manifest = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "sqlite" if database_file else "postgresql",
        "files": [{"name": f.name, "bytes": f.stat().st_size, "sha256": _sha256(f)} for f in files],
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def check_backup(src: Path) -> dict:
    manifest = json.loads((src / "manifest.json").read_text())
    for entry in manifest["files"]:
        if _sha256(src / entry["name"]) != entry["sha256"]:
            raise ValueError(f"{entry['name']}: SHA-256 differs from the manifest; the backup is damaged")
    return manifest


def restore_backup(src: Path, *, database_url: str, data_dir: Path) -> dict:
    """Restore into a NEW database (an empty PostgreSQL database, or a SQLite file that does not
    exist yet) and a new data directory. Never overwrites."""
    manifest = check_backup(src)
    config = dj_database_url.parse(database_url)
    if manifest["database"] == "sqlite":
        if not config["ENGINE"].endswith("sqlite3"):
            raise ValueError("this backup holds a SQLite database: restore it to a sqlite:/// URL")
        target = Path(config["NAME"])
        if target.exists():
            raise ValueError(f"{target} exists; restore into a new file")
        target.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(src / "database.sqlite3")
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    else:
        if config["ENGINE"].endswith("sqlite3"):
            raise ValueError("this backup holds a PostgreSQL dump: restore it to a postgres:// URL")
        args, env = _pg_env(config)
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                *args,
                "--dbname",
                config["NAME"],
                str(src / "database.pgdump"),
            ],
            check=True,
            env=env,
            capture_output=True,
        )
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ValueError(f"{data_dir} is not empty; restore into a new data directory")
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = data_dir.parent / f".restore-{data_dir.name}"
    with tarfile.open(src / "data.tar.gz", "r:gz") as tar:
        tar.extractall(staging, filter="data")
    for item in (staging / "data").iterdir() if (staging / "data").exists() else []:
        shutil.move(str(item), data_dir / item.name)
    shutil.rmtree(staging, ignore_errors=True)
    return manifest
