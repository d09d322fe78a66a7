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


class Format(str, enum.Enum):
    json = "json"
    text = "text"


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


def fail(message: str, code: int = 2, fmt: Format | str = Format.text) -> NoReturn:
    """Report a user error on stderr (and as JSON on stdout for --format json) and exit."""
    if Format(fmt) is Format.json:
        typer.echo(to_json({"error": message}))
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def read_text_input(path: str) -> str:
    """Read a file, or standard input for '-'."""
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")
