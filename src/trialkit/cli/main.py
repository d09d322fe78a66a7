"""Entry point of the ``trialkit`` command. Sub-command groups register here.

``trialkit <command> ...`` imports only the module of that command (``trialkit screen`` does not load
the allocation, analysis, export or server code); anything else (``trialkit --help``, no command, a
name that is not a command) builds the whole command tree. ``app`` is that whole tree.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from trialkit.cli.errors import TrialkitGroup
from trialkit.cli.output import FORMAT_OPTION, Format, emit

# Each command (or command group) on the ``trialkit`` line and the module whose ``register(app)`` adds it.
COMMAND_MODULES = {
    "protocol": "protocol_cmd",
    "score": "instruments_cmd",
    "instruments": "instruments_cmd",
    "screen": "screen_cmd",
    "facts": "facts_cmd",
    "allocation": "allocation_cmd",
    "analyze": "analyze_cmd",
    "simulate": "simulate_cmd",
    "report": "report_cmd",
    "audit": "audit_cmd",
    "export": "export_cmd",
    "manage": "server_cmd",
    "serve": "server_cmd",
    "worker": "server_cmd",
    "jobs": "server_cmd",
    "backup": "server_cmd",
}


def version(fmt: Format = FORMAT_OPTION) -> None:
    """Print the TrialKit version."""
    from trialkit import __version__

    emit({"version": __version__}, fmt, lambda r: r["version"])


def build_app(command: str | None = None) -> typer.Typer:
    """The ``trialkit`` command tree: every command, or (given a command's name) only that one."""
    import importlib

    app = typer.Typer(
        name="trialkit",
        cls=TrialkitGroup,  # one error-to-exit-code mapping for every command (cli/errors.py)
        help="Run randomized, blinded, placebo-controlled trials from a protocol file.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # plain help: rich panels label every flag (even --help) with a stray <bool>
        add_completion=False,
    )
    app.command()(version)  # always there: with one command only, typer would make it the whole program
    if command == "version":
        return app
    modules = dict.fromkeys(COMMAND_MODULES.values()) if command is None else [COMMAND_MODULES[command]]
    # Each group module defines ``register(app)``; a missing one is an ImportError, never a silently absent command.
    for name in modules:
        importlib.import_module(f"trialkit.cli.{name}").register(app)
    return app


_APP: typer.Typer | None = None


def __getattr__(name: str) -> Any:
    # ``from trialkit.cli.main import app``: the whole tree, built on first use.
    global _APP
    if name == "app":
        if _APP is None:
            _APP = build_app()
        return _APP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    args = sys.argv[1:]
    command = args[0] if args and (args[0] in COMMAND_MODULES or args[0] == "version") else None
    build_app(command)()
