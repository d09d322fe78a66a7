"""``trialkit protocol``: validate protocol files, list them, and show a trial's page."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer

from trialkit.cli.output import FORMAT_OPTION, Format, emit, fail, read_json_input, to_json, writable_output
from trialkit.protocol.loader import (
    ProtocolError,
    default_protocol_dir,
    load_protocol,
    load_protocol_file,
    protocol_files,
    validate_files,
)
from trialkit.protocol.page import build_page, concealed_protocol_dump, render_html, render_text, trial_card

protocol_app = typer.Typer(help="Protocol files: validate, list, show a trial's page.", no_args_is_help=True)


class PageFormat(str, enum.Enum):
    html = "html"
    json = "json"
    text = "text"


def register(app: typer.Typer) -> None:
    app.add_typer(protocol_app, name="protocol")


# --------------------------------------------------------------------------- validate


def _files_to_validate(paths: list[Path]) -> list[Path]:
    if not paths:
        return protocol_files()
    files: list[Path] = []
    for path in paths:
        files.extend(protocol_files(path) if path.is_dir() else [path])
    return files


def _validation_text(report: dict[str, Any]) -> str:
    lines = []
    for entry in report["files"]:
        if entry["valid"]:
            lines.append(f"{entry['file']}: OK")
        else:
            for issue in entry["issues"]:
                where = f"{issue['file']}:{issue['line']}" if issue["line"] else issue["file"]
                lines.append(f"{where}: {issue['path'] or '(top level)'}: {issue['message']}")
    if not report["files"]:
        lines.append("no protocol files found")
    return "\n".join(lines)


@protocol_app.command("validate")
def validate(
    paths: list[Path] = typer.Argument(None, help="Protocol files or directories (default: the protocol directory)."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Check protocol files; print OK or every issue as file:line: path: message.

    Exit status: 0 all valid, 1 some file has an error, 2 a path does not exist.
    """
    paths = paths or []
    for path in paths:
        if not path.exists():
            fail(f"{path}: no such file or directory", 2, fmt)
    results = validate_files(_files_to_validate(paths))
    report = {
        "files": [
            {"file": file, "valid": not issues, "issues": [issue.as_dict() for issue in issues]}
            for file, issues in results.items()
        ]
    }
    emit(report, fmt, _validation_text)
    if any(issues for issues in results.values()):
        raise typer.Exit(1)


# --------------------------------------------------------------------------- list


def _list_text(report: dict[str, Any]) -> str:
    rows = [("ID", "TRIAL", "STATUS", "ENROLLMENT")]
    for trial in report["protocols"]:
        rows.append(
            (trial["nct_id"], trial["acronym"] or trial["title"], trial["status_label"], trial["enrollment_label"])
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip() for row in rows]
    for bad in report["invalid"]:
        lines.append(f"{bad['file']}: invalid ({len(bad['issues'])} issue(s); run 'trialkit protocol validate')")
    return "\n".join(lines)


@protocol_app.command("list")
def list_protocols(
    directory: Path = typer.Option(
        None, "--dir", help="Protocol directory (default: $TRIALKIT_PROTOCOL_DIR or ./protocols)."
    ),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """List the trials of the protocol directory: id, acronym or title, status, enrollment."""
    directory = directory or default_protocol_dir()
    if not directory.is_dir():
        fail(f"{directory}: not a directory", 2, fmt)
    protocols, invalid = [], []
    for path in protocol_files(directory):
        try:
            protocol = load_protocol_file(path)
        except ProtocolError as exc:
            invalid.append({"file": str(path), "issues": [issue.as_dict() for issue in exc.issues]})
            continue
        card = trial_card(protocol)
        protocols.append(
            {
                **card.__dict__,
                "conditions": list(card.conditions),
                "enrollment": protocol.registry.enrollment.count,
                "file": str(path),
            }
        )
    emit({"protocols": protocols, "invalid": invalid}, fmt, _list_text)
    if invalid:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- show


@protocol_app.command("show")
def show(
    ref: str = typer.Argument(..., help="NCT number (from the protocol directory) or a protocol file path."),
    fmt: PageFormat = typer.Option(PageFormat.text, "--format", "-f", help="text for people (default), json or html."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of standard output."),
) -> None:
    """Show a trial: its registry page (html, text) or the full validated protocol (json)."""
    json_errors = Format.json if fmt is PageFormat.json else Format.text
    if output:
        writable_output(output)
    try:
        protocol = load_protocol(ref)
    except ProtocolError as exc:  # unknown id, unreadable file, or an invalid protocol
        fail("\n".join(str(issue) for issue in exc.issues), 2, json_errors)
    if fmt is PageFormat.json:
        rendered = to_json(concealed_protocol_dump(protocol)) + "\n"
    elif fmt is PageFormat.html:
        rendered = render_html(build_page(protocol))
    else:
        rendered = render_text(build_page(protocol))
    if output:
        output.write_text(rendered, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)
    else:
        typer.echo(rendered, nl=False)


# --------------------------------------------------------------------------- import


@protocol_app.command("import")
def import_record(
    record_file: Path = typer.Argument(..., help="A ClinicalTrials.gov API v2 study record (JSON file)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the draft here (default: standard output)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Draft a protocol file from a registry record: registry facts verbatim, TODOs for the rest.

    The draft does not validate until every TODO (rules, doses, consent, randomization, schedule,
    analysis plan) is written. Exit status: 0 drafted, 2 unreadable or malformed record.
    """
    from trialkit.protocol.registry_import import RegistryRecordError, draft_protocol

    if output is not None:
        if output.exists() and not force:
            fail(f"{output}: exists; give --force to replace it", 2, fmt)
        writable_output(output)
    record = read_json_input(str(record_file), "FILE")
    try:
        draft = draft_protocol(record, source=f"ClinicalTrials.gov API v2 record, file {record_file.name}")
    except RegistryRecordError as exc:
        fail(
            f"{record_file}: not a usable ClinicalTrials.gov API v2 study record: "
            + "; ".join(f"{path or '(record)'}: {message}" for path, message in exc.errors),
            2,
            fmt,
        )
    text = draft.yaml()
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"{output}: cannot write ({exc.strerror})", 3, fmt)
    summary = {
        "nct_id": draft.nct_id,
        "output": str(output) if output else None,
        "todos": draft.todos,
        "notes": draft.notes,
    }
    if fmt is Format.json:
        emit(summary if output else {**summary, "draft": text}, fmt)
    elif output is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(
            f"wrote {output}: {len(draft.todos)} TODO(s) to resolve before 'trialkit protocol validate' passes",
            err=True,
        )
