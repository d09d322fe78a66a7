"""``trialkit score`` and ``trialkit instruments list|show``: score a form, describe the scales."""

from __future__ import annotations

from typing import Any

import typer

from trialkit.cli.output import FORMAT_OPTION, Format, emit, fail, read_json_input
from trialkit.instruments import Instrument, InstrumentError, get_instrument, list_instruments

instruments_app = typer.Typer(help="Describe the outcome scales and case report forms.", no_args_is_help=True)


def _instrument_or_fail(name: str, fmt: Format) -> Instrument:
    try:
        return get_instrument(name)
    except KeyError as exc:
        fail(str(exc.args[0]), fmt=fmt)


def score(
    instrument: str = typer.Argument(..., help="Instrument name, e.g. nihss, mrs, barthel, mmse, fma_ue."),
    input: str = typer.Option(..., "--input", "-i", help="JSON object of item values, or '-' for stdin."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Validate a completed form and print its total and subscores (exit 2 if invalid)."""
    inst = _instrument_or_fail(instrument, fmt)
    values = read_json_input(input)
    if not isinstance(values, dict):
        fail("--input: must be a JSON object of item values", fmt=fmt)
    try:
        scored = inst.score(values)
    except InstrumentError as exc:
        fail(str(exc), errors=[e.as_dict() for e in exc.errors])
    data = {
        "instrument": scored.instrument,
        "version": scored.version,
        "total": scored.total,
        "subscores": scored.subscores,
    }
    emit(data, fmt, lambda d: _score_text(inst, d))


def _score_text(inst: Instrument, data: dict[str, Any]) -> str:
    if data["total"] is None:
        return f"{inst.title}: valid (not a scored instrument)"
    low, high = inst.total_range  # type: ignore[misc]
    lines = [f"{inst.title}: {data['total']} (range {low}-{high})"]
    labels = dict(inst.subscales)
    for key, value in data["subscores"].items():
        lo, hi = inst.subscale_range(key)
        lines.append(f"  {labels.get(key, key)}: {value} (range {lo}-{hi})")
    return "\n".join(lines)


@instruments_app.command("list")
def list_command(fmt: Format = FORMAT_OPTION) -> None:
    """List the scales and forms."""
    data = [
        {
            "name": i.name,
            "title": i.title,
            "kind": i.kind,
            "version": i.version,
            "items": len(i.items),
            "total_range": list(i.total_range) if i.total_range else None,
        }
        for i in list_instruments()
    ]

    def text(rows: list[dict[str, Any]]) -> str:
        out = []
        for r in rows:
            rng = f"{r['total_range'][0]}-{r['total_range'][1]}" if r["total_range"] else "-"
            out.append(f"{r['name']:<16} {r['kind']:<6} {r['items']:>3} items  total {rng:<7} {r['title']}")
        return "\n".join(out)

    emit(data, fmt, text)


@instruments_app.command("show")
def show_command(name: str = typer.Argument(..., help="Instrument name."), fmt: Format = FORMAT_OPTION) -> None:
    """Describe one instrument: items, allowed values, rules and sources."""
    inst = _instrument_or_fail(name, fmt)
    emit(inst.to_dict(), fmt, lambda _d: describe_text(inst))


def describe_text(inst: Instrument) -> str:
    lines = [f"{inst.title} ({inst.name}, version {inst.version})"]
    if inst.total_range:
        lines.append(f"Total: {inst.total_range[0]}-{inst.total_range[1]}")
    for key, label in inst.subscales:
        lo, hi = inst.subscale_range(key)
        lines.append(f"Subscore {key}: {label}, {lo}-{hi}")
    if inst.source:
        lines.append(f"Source: {inst.source}")
    lines.append("Items:")
    for item in inst.items:
        req = "required" if item.required else "optional"
        unit = f" [{item.unit}]" if item.unit else ""
        lines.append(f"  {item.key:<34} {item.type.value:<8} {req:<8} {item.describe_allowed()}{unit}  {item.label}")
    if inst.rules:
        lines.append("Rules:")
        for rule in inst.rules:
            cite = f" ({rule.source})" if rule.source else ""
            lines.append(f"  {rule.name}: {rule.description}{cite}")
    return "\n".join(lines)


@instruments_app.command("markdown")
def markdown_command() -> None:
    """Print the item reference of docs/instruments.md (Markdown), generated from the definitions."""
    from trialkit.instruments.reference_doc import reference_markdown

    typer.echo(reference_markdown(), nl=False)


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.add_typer(instruments_app, name="instruments")
