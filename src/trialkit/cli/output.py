"""One way to print results: JSON for machines (``--format json``), text for people."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import typer

from trialkit.cli.errors import CommandError


class Format(str, enum.Enum):
    json = "json"
    text = "text"


# Every command prints text for people by default and JSON with --format json (docs/cli.md).
FORMAT_OPTION = typer.Option(Format.text, "--format", "-f", help="text for people (default) or json for machines.")


def _default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(data: Any) -> str:
    return json.dumps(data, default=_default, indent=2, ensure_ascii=False)


def emit(data: Any, fmt: Format | str, text: Callable[[Any], str] | None = None) -> None:
    """Print ``data`` as JSON, or through ``text`` (a renderer for people) when fmt is text."""
    fmt = Format(fmt)
    if fmt is Format.json or text is None:
        typer.echo(to_json(data))
    else:
        typer.echo(text(data))


def fail(
    message: str, code: int = 2, fmt: Format | str | None = None, errors: list[dict[str, Any]] | None = None
) -> NoReturn:
    """End the command with ``message`` and exit ``code`` (2 bad input, 1 a finding, 3 could not run).

    The ``trialkit`` group prints it once, as text on stderr or JSON on stdout as the command line's
    ``--format`` asks (cli/errors.py); ``fmt`` is accepted for callers that pass it and not needed.
    """
    raise CommandError(message, code, errors)


# The largest input file a command reads whole (forms, facts records, export data, CSV tables). A trial's
# 5,000-participant analysis table is a few megabytes; anything far larger is a mistake or an attack.
MAX_INPUT_BYTES = 64 * 1024 * 1024


def input_file(path: str | Path, option: str = "--input") -> Path:
    """The file an option names, checked: it exists, is a regular file, and is not too large."""
    file = Path(path)
    if not file.exists():
        fail(f"{option}: {path}: no such file")
    if not file.is_file():
        fail(f"{option}: {path}: {'a directory' if file.is_dir() else 'not a regular file'}, not a file")
    size = file.stat().st_size
    if size > MAX_INPUT_BYTES:
        fail(f"{option}: {path}: {size:,} bytes; the limit is {MAX_INPUT_BYTES:,}")
    return file


def read_text_input(path: str, option: str = "--input") -> str:
    """Read a UTF-8 file, or standard input for '-'; every failure is one message naming the option."""
    if path == "-":
        text = sys.stdin.read(MAX_INPUT_BYTES + 1)
        if len(text) > MAX_INPUT_BYTES:
            fail(f"{option}: standard input is longer than {MAX_INPUT_BYTES:,} characters")
        return text
    try:
        return input_file(path, option).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{option}: {path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start : exc.start + 1]!r})")


def parse_json(text: str, option: str = "--input") -> Any:
    """Parse JSON text; invalid or too deeply nested JSON is one message naming the option."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{option}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
    except RecursionError:
        fail(f"{option}: JSON nested too deeply")


def read_json_input(path: str, option: str = "--input") -> Any:
    return parse_json(read_text_input(path, option), option)


def writable_output(path: str | Path, option: str = "--output", directory: bool = False) -> Path:
    """Check, before any work is done, that ``path`` can be written (a file, or a directory to fill).

    Parent directories that do not exist yet will be created by the command; the nearest existing
    one must be a directory the process may write in. Checked by writing a probe file, since
    permission bits do not tell the whole story (a read-only file system, root).
    """
    import tempfile

    target = Path(path)
    if target.exists():
        if directory and not target.is_dir():
            fail(f"{option}: {path} exists and is not a directory")
        if not directory and target.is_dir():
            fail(f"{option}: {path} is a directory; give a file name")
    probe_in = target if directory and target.is_dir() else target.parent
    while not probe_in.exists():
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        fail(f"{option}: {path}: {probe_in} is a file, not a directory")
    try:
        with tempfile.TemporaryFile(dir=probe_in):
            pass
        if target.is_file():
            with target.open("ab"):
                pass
    except OSError as exc:
        fail(f"{option}: {path}: cannot write there ({exc.strerror})", 3)
    return target
