"""The command line's one error contract: every error ends a command with one message and an exit code.

Exit codes (the same for every command, see docs/cli.md):

* 0 success;
* 1 a finding: the command ran and found something the caller must act on (an audit chain broken,
  a candidate ineligible, a protocol file invalid, a list out of its balance bound);
* 2 bad input: an option, a file or its content that the command cannot use (the message names the
  option or field and the rule);
* 3 could not run: the input may be fine but the command could not do its work (a database that is
  unreachable or absent, a file the operating system refuses to write, a bug).

Commands raise (``fail``, a domain error, an OSError ...); ``TrialkitGroup`` below, the class of the one
``trialkit`` typer app, catches what they raise and calls ``describe`` here, once for every command.
The message goes to standard error as one line, ``error: <message>``; with ``--format json`` it goes
to standard output instead as one JSON object ``{"error": <message>, "exit_code": <code>}``. Never both,
and never a traceback (``TRIALKIT_DEBUG=1`` shows the traceback of an unexpected error).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
import typer.core

EXIT_OK, EXIT_FINDING, EXIT_BAD_INPUT, EXIT_COULD_NOT_RUN = 0, 1, 2, 3


class CommandError(Exception):
    """A command refusing with a message; ``exit_code`` says which kind of refusal (2 unless told)."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.errors = errors  # every problem, each naming its field and rule, for --format json


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return "; ".join(lines) or "(no message)"


def _database_error(exc: BaseException) -> str | None:
    """A message for a database that cannot be reached, or None if ``exc`` is not a database error."""
    module = type(exc).__module__ or ""
    if not module.startswith(("django.db", "psycopg")):
        return None
    if type(exc).__name__ not in {"OperationalError", "InterfaceError", "DatabaseError", "ProgrammingError"}:
        return None
    from trialkit.cli.database import database_description

    return f"database {database_description()} could not be used ({type(exc).__name__}: {_one_line(exc)})"


def describe(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an exception a command raised."""
    from pydantic import ValidationError

    if isinstance(exc, CommandError):
        return exc.exit_code, _one_line(exc.message)
    database = _database_error(exc)
    if database:
        return EXIT_COULD_NOT_RUN, database
    if isinstance(exc, UnicodeDecodeError):
        return (
            EXIT_BAD_INPUT,
            f"input is not UTF-8 text (byte {exc.start} is {exc.object[exc.start : exc.start + 1]!r})",
        )
    if isinstance(exc, json.JSONDecodeError):
        return EXIT_BAD_INPUT, f"input is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return EXIT_BAD_INPUT, "input is nested too deeply"
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(input)"
        return EXIT_BAD_INPUT, f"{where}: {first['msg']}"
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        # A path the caller gave that names nothing, or the wrong kind of thing: their input.
        return EXIT_BAD_INPUT, f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
    if isinstance(exc, OSError):
        # The operating system refusing or failing (permission, disk full, ...): the command could not run.
        where = f"{exc.filename}: " if exc.filename else ""
        return EXIT_COULD_NOT_RUN, f"{where}{exc.strerror or exc}"
    if isinstance(exc, MemoryError):
        return EXIT_COULD_NOT_RUN, "out of memory"
    if isinstance(exc, ValueError):
        # Domain errors of the core (ProtocolError, AnalysisInputError, InstrumentError, FactsError,
        # StratumError, SimulationInputError, GroupSequentialError ...) are ValueErrors or name the input.
        return EXIT_BAD_INPUT, _one_line(exc)
    name = type(exc).__name__
    if name.endswith("Error") and type(exc).__module__.startswith("trialkit."):
        return EXIT_BAD_INPUT, _one_line(exc)
    return EXIT_COULD_NOT_RUN, (
        f"internal error {name}: {_one_line(exc)} (please report it; TRIALKIT_DEBUG=1 shows the traceback)"
    )


def wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asked for ``--format json`` (``--format=json``, ``-f json``)."""
    args = list(args)
    for i, arg in enumerate(args):
        if arg in ("--format", "-f") and i + 1 < len(args) and args[i + 1] == "json":
            return True
        if arg == "--format=json":
            return True
    return False


def report_error(code: int, message: str, as_json: bool, errors: list[dict[str, Any]] | None = None) -> None:
    if as_json:
        body: dict[str, Any] = {"error": message, "exit_code": code}
        if errors:
            body["errors"] = errors
        typer.echo(json.dumps(body, ensure_ascii=False, default=str))
    else:
        typer.echo(f"error: {message}", err=True)


class TrialkitGroup(typer.core.TyperGroup):
    """The ``trialkit`` command group: turns whatever a sub-command raises into one message and an exit code."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, *rest, standalone_mode=False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, *rest, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # usage errors: one line, not click's usage block
            if type(exc).__name__ == "NoArgsIsHelpError":  # `trialkit analyze` alone: its help
                typer.echo(exc.ctx.get_help())
                sys.exit(exc.exit_code)
            where = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
            report_error(exc.exit_code, _one_line(exc.format_message()) + where, wants_json(argv))
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(EXIT_FINDING)
        sys.exit(code if isinstance(code, int) else EXIT_OK)

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        ctx.meta.setdefault("trialkit.argv", list(args))
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.TyperException, typer.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("TRIALKIT_DEBUG"):
                raise
            code, message = describe(exc)
            report_error(
                code,
                message,
                wants_json(ctx.meta.get("trialkit.argv", sys.argv[1:])),
                getattr(exc, "errors", None) if isinstance(exc, CommandError) else None,
            )
            raise typer.Exit(code) from None
