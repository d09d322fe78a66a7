"""``trialkit facts from-fhir``: screening facts from a FHIR Bundle of laboratory Observations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from trialkit.cli.output import FORMAT_OPTION, Format, emit, fail, read_json_input, to_json, writable_output

facts_app = typer.Typer(help="Screening facts records: build them from other sources.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(facts_app, name="facts")


@facts_app.command("from-fhir")
def from_fhir(
    bundle_file: Path = typer.Argument(..., help="A FHIR R4 Bundle (JSON) of Observations coded with LOINC."),
    merge: Path = typer.Option(None, "--merge", help="A facts record (JSON) the labs and serology are added to."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the facts record here (default: stdout)."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Read labs (value, unit, ULN from referenceRange.high) and serology from a Bundle into a facts record.

    The record is checked as `trialkit screen` checks it (units, a ULN implausible in its unit);
    pipe it on: `trialkit facts from-fhir labs.json --merge facts.json -f json | trialkit screen -p ID -i -`.
    Exit status: 0 written, 2 unreadable Bundle or facts that do not check.
    """
    from trialkit.eligibility import FactsError, parse_facts
    from trialkit.export.fhir import FhirInputError, labs_from_bundle

    if output is not None:
        writable_output(output)
    bundle = read_json_input(str(bundle_file), "BUNDLE_FILE")
    try:
        imported = labs_from_bundle(bundle)
    except FhirInputError as exc:
        fail(f"{bundle_file}: " + "; ".join(f"{where}: {message}" for where, message in exc.errors), 2, fmt)
    record: dict[str, Any] = {}
    if merge is not None:
        record = read_json_input(str(merge), "--merge")
        if not isinstance(record, dict):
            fail(f"{merge}: a facts record is a JSON object", 2, fmt)
    for section, values in imported.facts.items():
        existing = record.get(section) or {}
        if not isinstance(existing, dict):
            fail(f"{merge}: {section} must be an object", 2, fmt)
        record[section] = {**existing, **values}
    try:
        parse_facts(record)
    except FactsError as exc:
        problems = []
        for path, message in exc.errors:
            source = next(
                (where for fact, where in imported.sources.items() if path == fact or path.startswith(fact + ".")), None
            )
            problems.append(f"{path}{f' (from {source})' if source else ''}: {message}")
        fail(f"{bundle_file}: " + "; ".join(problems), 2, fmt)
    text = to_json(record) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
    if fmt is Format.json and output is None:
        typer.echo(text, nl=False)
    else:
        summary = {
            "output": str(output) if output else None,
            "labs": sorted(imported.facts.get("labs", {})),
            "serology": sorted(imported.facts.get("serology", {})),
            "skipped": imported.skipped,
        }
        emit(
            summary,
            fmt,
            lambda d: "\n".join(
                [f"labs: {', '.join(d['labs']) or '-'}", f"serology: {', '.join(d['serology']) or '-'}"]
                + [f"skipped {s['observation']}: {s['why']}" for s in d["skipped"]]
            ),
        )
