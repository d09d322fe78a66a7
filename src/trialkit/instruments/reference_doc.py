"""The reference part of docs/instruments.md, written from the definitions themselves so the
documentation cannot drift from the code (a test checks that the file contains this text)."""

from __future__ import annotations

from trialkit.instruments import list_instruments
from trialkit.instruments.framework import Instrument


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def instrument_markdown(inst: Instrument) -> str:
    lines = [f"### `{inst.name}`: {inst.title}", ""]
    facts = [f"version {inst.version}"]
    if inst.total_range:
        facts.append(f"total {inst.total_range[0]}-{inst.total_range[1]}")
    if inst.repeating:
        facts.append("one record per event (repeating)")
    if inst.qs_cat:
        facts.append(f"SDTM {inst.sdtm_domain}, {inst.sdtm_domain}CAT `{inst.qs_cat}`")
    lines.append("; ".join(facts) + ".")
    if inst.description:
        lines += ["", inst.description]
    if inst.source:
        lines += ["", f"Source: {inst.source}."]
    if inst.subscales:
        lines += [
            "",
            "Subscores: "
            + "; ".join(
                f"`{k}` {label} ({inst.subscale_range(k)[0]}-{inst.subscale_range(k)[1]})"
                for k, label in inst.subscales
            )
            + ".",
        ]
    scale = inst.kind == "scale"
    header = "| key | label | type | allowed | required |" + (f" {inst.sdtm_domain}TESTCD |" if scale else "")
    lines += ["", header, "|---|---|---|---|---|" + ("---|" if scale else "")]
    for item in inst.items:
        allowed = item.describe_allowed().removeprefix("allowed: ")
        if item.unit:
            allowed = allowed if item.unit in allowed else f"{allowed} {item.unit}"
        if item.part_of:
            allowed += f" (item-level entry of `{item.part_of}`)"
        row = (
            f"| `{item.key}` | {_cell(item.label)} | {item.type.value} | {_cell(allowed)} | "
            f"{'yes' if item.required else 'no'} |"
        )
        if scale:
            row += f" {item.qs_testcd or ''} |"
        lines.append(row)
    if len(inst.items) == 1 and inst.items[0].choices:
        lines += ["", "Levels:", ""]
        lines += [f"- {c.code}: {c.label}" for c in inst.items[0].choices]
    if inst.rules:
        lines += ["", "Rules:", ""]
        for rule in inst.rules:
            cite = f" Source: {rule.source}." if rule.source else ""
            lines.append(f"- `{rule.name}`: {rule.description}{cite}")
    for note in inst.notes:
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def reference_markdown() -> str:
    parts = ["## Scales\n"]
    parts += [instrument_markdown(i) for i in list_instruments("scale")]
    parts.append("## Forms\n")
    parts += [instrument_markdown(i) for i in list_instruments("form")]
    return "\n".join(parts)
