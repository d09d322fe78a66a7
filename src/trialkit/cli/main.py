"""Entry point of the ``trialkit`` command. Sub-command groups register here."""

from __future__ import annotations

import typer

from trialkit.cli.errors import TrialkitGroup
from trialkit.cli.output import FORMAT_OPTION, Format, emit

app = typer.Typer(
    name="trialkit",
    cls=TrialkitGroup,  # one error-to-exit-code mapping for every command (cli/errors.py)
    help="Run randomized, blinded, placebo-controlled trials from a protocol file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich panels label every flag (even --help) with a stray <bool>
    add_completion=False,
)


@app.command()
def version(fmt: Format = FORMAT_OPTION) -> None:
    """Print the TrialKit version."""
    from trialkit import __version__

    emit({"version": __version__}, fmt, lambda r: r["version"])


def _register() -> None:
    # Each group module defines ``register(app)``; a missing one is an ImportError, never a silently absent command.
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
        importlib.import_module(f"trialkit.cli.{name}").register(app)


_register()


def run() -> None:
    app()
