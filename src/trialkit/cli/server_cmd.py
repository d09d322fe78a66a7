"""Server commands: run Django management commands and the development server."""

from __future__ import annotations

import os

import typer


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
    import django

    django.setup()


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def manage(ctx: typer.Context) -> None:
        """Run a Django management command (migrate, createsuperuser, load_demo, ...)."""
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
        from django.core.management import execute_from_command_line

        execute_from_command_line(["trialkit manage", *ctx.args])

    @app.command()
    def worker(
        interval: float = typer.Option(1.0, help="seconds to wait when the queue is empty"),
        max_tasks: int = typer.Option(0, help="exit after this many jobs (0: never)"),
        batch: bool = typer.Option(False, help="run what is queued, then exit"),
    ) -> None:
        """Run queued jobs (reports, exports, audit checkpoints) until stopped; start as many as needed."""
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
        from django.core.management import execute_from_command_line

        argv = ["trialkit manage", "worker", "--interval", str(interval)]
        if max_tasks:
            argv += ["--max-tasks", str(max_tasks)]
        if batch:
            argv.append("--batch")
        execute_from_command_line(argv)

    @app.command()
    def serve(
        address: str = typer.Option("127.0.0.1:8000", help="host:port to listen on"),
        demo: bool = typer.Option(False, help="list the demo users on the login page"),
    ) -> None:
        """Serve the web application (Django's threaded server with static files)."""
        if demo:
            os.environ["TRIALKIT_DEMO"] = "1"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
        from django.core.management import execute_from_command_line

        execute_from_command_line(["trialkit manage", "runserver", "--insecure", "--noreload", address])
