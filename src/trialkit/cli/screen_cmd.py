"""``trialkit screen``: screen facts records against a protocol's eligibility criteria."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import typer

from trialkit.cli.output import FORMAT_OPTION, Format, emit, fail, read_text_input

STATUS_MARKS = {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]", "unknown": "[yellow]unknown[/yellow]"}


def register(app: typer.Typer) -> None:
    app.command("screen")(screen_command)


def screen_command(
    protocol: str = typer.Option(..., "--protocol", "-p", help="NCT id of a protocol, or a protocol file."),
    input_path: str = typer.Option(
        ..., "--input", "-i", help="Facts records: a JSON object, a JSON array, or JSON Lines ('-' for stdin)."
    ),
    today: str | None = typer.Option(
        None, "--today", help="Date (YYYY-MM-DD) for records without screening_date; default: the system date."
    ),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Screen each facts record: every criterion pass, fail or unknown with its reason, and a verdict.

    Exit 0 when no record is ineligible, 1 when some record is ineligible (a finding), 2 bad input.

    Condition names come from the protocol's vocabulary (rule names, medical_history terms, synonyms).

    Another name, or "other" without a description, exits 2 naming the field and close matches.
    """
    from trialkit.eligibility import FactsError, screen
    from trialkit.protocol import ProtocolError, load_protocol

    try:
        trial = load_protocol(protocol)
    except ProtocolError as exc:
        fail(str(exc), fmt=fmt)
    on = _parse_day(today, fmt) if today else None
    text = read_text_input(input_path)
    try:
        records = read_records(text)
    except ValueError as exc:
        fail(f"--input: {input_path}: {exc}", fmt=fmt)

    results = []
    for number, record in enumerate(records, start=1):
        try:
            results.append(screen(trial, record, today=on))
        except FactsError as exc:
            who = f"record {exc.record_id}" if exc.record_id else f"record #{number}"
            problems = "; ".join(f"{path or '(record)'}: {message}" for path, message in exc.errors)
            fail(f"{input_path}: {who}: {problems}", fmt=fmt)
    data = {"protocol": trial.id, "results": [r.as_dict() for r in results]}
    emit(data, fmt, text=lambda _: render_text(trial.id, results))
    if any(result.verdict == "ineligible" for result in results):
        raise typer.Exit(1)  # a finding: somebody screened is not eligible


def read_records(text: str) -> list[dict[str, Any]]:
    """Records from a JSON array, a single JSON object, or JSON Lines; ValueError names the line."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("no records (the input is empty)")
    try:
        data = json.loads(stripped)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except json.JSONDecodeError:
        data = None
        records = []
        for line_no, line in enumerate(stripped.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except RecursionError:
                raise ValueError(f"line {line_no}: JSON nested too deeply") from None
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {line_no}: not valid JSON ({exc.msg})") from None
    else:
        records = data if isinstance(data, list) else [data]
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise ValueError(f"record #{number} is {type(record).__name__}, not a JSON object")
    return records


def _parse_day(text: str, fmt: Format) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--today: {text!r} is not a date (YYYY-MM-DD)", fmt=fmt)


def render_text(protocol_id: str, results: list[Any]) -> str:
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=140, force_terminal=False, highlight=False)
    for result in results:
        title = f"{protocol_id} · {result.record_id or 'record'} · screened {result.screening_date} · {result.verdict.upper()}"
        table = Table(title=title, title_justify="left", show_lines=False, expand=True)
        table.add_column("criterion", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("reason", ratio=1)
        for criterion in result.criteria:
            table.add_row(criterion.id, STATUS_MARKS[criterion.status], criterion.reason)
        console.print(table)
        if result.missing:
            console.print(f"still needed: {', '.join(result.missing)}")
        console.print()
    return buffer.getvalue().rstrip()
