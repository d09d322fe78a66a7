"""Entry point of the ``trialkit`` command. Sub-command groups register here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="trialkit",
    help="Run randomized, blinded, placebo-controlled trials from a protocol file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the TrialKit version."""
    from trialkit import __version__

    typer.echo(__version__)


def _register() -> None:
    # Each group module defines ``app`` (a typer.Typer) or ``register(app)``.
    import importlib

    for name in (
        "protocol_cmd",
        "instruments_cmd",
        "screen_cmd",
        "facts_cmd",
        "allocation_cmd",
        "analyze_cmd",
        "simulate_cmd",
        "report_cmd",
        "audit_cmd",
        "export_cmd",
        "server_cmd",
    ):
        try:
            module = importlib.import_module(f"trialkit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"trialkit.cli.{name}":
                continue
            raise
        module.register(app)


_register()


def run() -> None:
    app()
