"""Server commands: run Django management commands and the development server."""

from __future__ import annotations

import os
import sys

import typer

from trialkit.cli.errors import CommandError
from trialkit.cli.output import FORMAT_OPTION, Format, emit


def setup_django(database: bool = True) -> None:
    """Start Django for a command; with ``database`` (the default) refuse first, exit 3 naming where it
    looked, when there is no database to use."""
    if database:
        from trialkit.cli.database import require_database

        require_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
    import django

    with refused_settings():
        django.setup()


class refused_settings:
    """Unsafe settings (no SECRET_KEY outside the demo, ...) end the command with their message, exit 2."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        from django.core.exceptions import ImproperlyConfigured

        if kind is not None and issubclass(kind, ImproperlyConfigured):
            raise CommandError(str(exc), 2) from None
        return False


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def manage(ctx: typer.Context) -> None:
        """Run a Django management command (migrate, createsuperuser, load_demo, ...)."""
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
        from django.core.management import execute_from_command_line

        with refused_settings():
            execute_from_command_line(["trialkit manage", *ctx.args])

    backup_app = typer.Typer(help="Back up and restore the database and the data directory.", no_args_is_help=True)
    app.add_typer(backup_app, name="backup")

    @backup_app.command("create")
    def backup_create(
        dest: str = typer.Argument(..., help="a new folder for the backup"), fmt: Format = FORMAT_OPTION
    ) -> None:
        """Back up the database (SQLite backup API or pg_dump) and the data directory into DEST."""
        from pathlib import Path

        setup_django()
        from trialkit.server.backup import create_backup

        if Path(dest).exists():
            raise CommandError(f"DEST {dest} exists; give a new folder")
        manifest = create_backup(Path(dest))
        emit(
            manifest,
            fmt,
            lambda m: "\n".join(f"{dest}/{e['name']}  {e['bytes']} bytes  sha256 {e['sha256']}" for e in m["files"]),
        )

    @backup_app.command("restore")
    def backup_restore(
        src: str = typer.Argument(..., help="a folder written by `trialkit backup create`"),
        database_url: str = typer.Option(..., "--database-url", help="a NEW database (empty PostgreSQL or new file)"),
        data_dir: str = typer.Option(..., "--data-dir", help="a new, empty data directory"),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Restore a backup into a new database and data directory (never over the running ones)."""
        from pathlib import Path

        from trialkit.server.backup import restore_backup

        try:
            restore_backup(Path(src), database_url=database_url, data_dir=Path(data_dir))
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from None
        emit(
            {"database_url": database_url, "data_dir": data_dir},
            fmt,
            lambda r: f"restored into {r['database_url']} and {r['data_dir']}; check it with `trialkit audit verify`",
        )

    jobs_app = typer.Typer(
        help="The job queue: what is queued or running, and queueing a job by hand.", no_args_is_help=True
    )
    app.add_typer(jobs_app, name="jobs")

    @jobs_app.command("enqueue")
    def jobs_enqueue(
        kind: str = typer.Argument(..., help="audit_checkpoint, export_retention or notifications"),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Queue a job of the installation now (a worker runs it); prints its id."""
        setup_django()
        from trialkit.server.jobs import runner

        if kind not in ("audit_checkpoint", "export_retention", "notifications"):
            raise CommandError(
                "KIND must be audit_checkpoint, export_retention or notifications "
                "(reports and exports are asked for on their pages or the API)"
            )
        job = runner.submit(kind, message="queued by hand")
        emit({"kind": kind, "job": job.pk}, fmt, lambda r: f"queued {r['kind']} job {r['job']}")

    @jobs_app.command("list")
    def jobs_list(limit: int = typer.Option(20, help="how many, newest first"), fmt: Format = FORMAT_OPTION) -> None:
        """The newest jobs with their status, progress, attempt and worker."""
        setup_django()
        from trialkit.server.jobs.models import Job

        rows = [
            {
                "id": job.pk,
                "kind": job.kind,
                "trial": job.trial.nct_id if job.trial else None,
                "status": job.status,
                "progress": job.progress,
                "attempts": job.attempts,
                "worker": job.worker_id or None,
                "message": job.message,
            }
            for job in Job.objects.select_related("trial")[:limit]
        ]
        emit(
            rows,
            fmt,
            lambda jobs: "\n".join(
                f"{j['id']:>6} {j['kind']:<17} {j['trial'] or '-':<12} {j['status']:<8} {j['progress']:>3}% "
                f"attempt {j['attempts']} {j['worker'] or '-'}  {j['message'][:60]}"
                for j in jobs
            ),
        )

    @app.command()
    def worker(
        interval: float = typer.Option(1.0, help="seconds to wait when the queue is empty"),
        max_tasks: int = typer.Option(0, help="exit after this many jobs (0: never)"),
        batch: bool = typer.Option(False, help="run what is queued, then exit"),
    ) -> None:
        """Run queued jobs (reports, exports, audit checkpoints) until stopped; start as many as needed."""
        from trialkit.cli.database import require_database

        require_database()
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
        from django.core.management import execute_from_command_line

        argv = ["trialkit manage", "worker", "--interval", str(interval)]
        if max_tasks:
            argv += ["--max-tasks", str(max_tasks)]
        if batch:
            argv.append("--batch")
        with refused_settings():
            execute_from_command_line(argv)

    @app.command()
    def serve(
        bind: str = typer.Option("127.0.0.1:8000", "--bind", "--address", help="host:port to listen on"),
        workers: int = typer.Option(2, help="application server processes (gunicorn workers)"),
        threads: int = typer.Option(4, help="threads per process"),
        with_worker: int = typer.Option(0, "--with-worker", help="also run this many job workers (make demo: 1)"),
        collectstatic: bool = typer.Option(True, help="collect static files before serving (production)"),
        demo: bool = typer.Option(False, help="list the demo users on the login page"),
        dev: bool = typer.Option(False, "--dev", help="Django's development server instead (never in production)"),
    ) -> None:
        """Serve the web application with gunicorn (static files by whitenoise)."""
        if with_worker:
            import signal

            # Ctrl-C while starting up is a clean stop too (make demo), not a traceback.
            signal.signal(signal.SIGINT, lambda signum, frame: sys.exit(0))
        if demo:
            os.environ["TRIALKIT_DEMO"] = "1"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
        if dev:
            from django.core.management import execute_from_command_line

            os.environ.setdefault("DEBUG", "1")  # a developer's machine: tracebacks in the browser
            with refused_settings():
                execute_from_command_line(["trialkit manage", "runserver", "--noreload", bind])
            return
        # Application servers and workers keep their database connection (settings.DATABASES).
        os.environ.setdefault("TRIALKIT_DB_CONN_MAX_AGE", "60")
        setup_django()  # refuses to start here, with its message, if the settings are unsafe
        from django.conf import settings

        if collectstatic and not settings.WHITENOISE_USE_FINDERS:
            from django.core.management import call_command

            call_command("collectstatic", "--noinput", verbosity=0)
        gunicorn = [
            sys.executable,
            "-m",
            "gunicorn",
            "trialkit.server.wsgi:application",
            "--config",
            "python:trialkit.server.gunicorn_conf",
            "--bind",
            bind,
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ]
        if not with_worker:
            os.execv(sys.executable, gunicorn)  # gunicorn takes over this process and its signals
        raise typer.Exit(supervise([gunicorn] + [[sys.executable, "-m", "trialkit", "worker"]] * with_worker))


def supervise(commands: list[list[str]]) -> int:
    """Run the processes together; on Ctrl-C or SIGTERM stop each once, wait, and exit 0.

    Children run in their own process group, so a terminal's Ctrl-C reaches them only through
    here: a job worker gets one SIGTERM and finishes its current job instead of dying in it.
    """
    import signal
    import subprocess
    import time

    children: list[subprocess.Popen] = []
    stopping = {"at": None, "crashed": False}

    def stop(signum, frame):
        if stopping["at"] is None:
            stopping["at"] = time.monotonic()
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for command in commands:
        if stopping["at"] is None:
            children.append(subprocess.Popen(command, start_new_session=True))
    while True:
        codes = [child.poll() for child in children]
        if all(code is not None for code in codes):
            break
        if stopping["at"] is None and any(code is not None for code in codes):
            stopping["crashed"] = True  # one of them died: stop the rest rather than serve half a service
            stop(None, None)
        if stopping["at"] is not None and time.monotonic() - stopping["at"] > 60:
            for child in children:
                if child.poll() is None:
                    child.kill()
        time.sleep(0.2)
    return 1 if stopping["crashed"] else 0
