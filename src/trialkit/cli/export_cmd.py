"""`trialkit export`: CDISC ODM 1.3.2 and SDTM (SAS XPORT) files from a protocol and records."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import ValidationError

from trialkit.cli.output import FORMAT_OPTION, Format, emit, fail, read_json_input, writable_output

export_app = typer.Typer(
    help="CDISC exports: ODM 1.3.2 metadata and data; the SDTM package (XPT, Dataset-JSON, Define-XML).",
    no_args_is_help=True,
)


def _load(protocol_id: str, data_path: Path | None, fmt: Format):
    from trialkit.export import ExportData
    from trialkit.protocol import ProtocolError, load_protocol

    try:
        protocol = load_protocol(protocol_id)
    except ProtocolError as exc:
        fail(str(exc), fmt=fmt)
    data = None
    if data_path is not None:
        raw = read_json_input(str(data_path), "--data")
        try:
            data = ExportData.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            fail(f"--data: {data_path}: {where}: {first['msg']}", fmt=fmt)
    return protocol, data


@export_app.command("odm")
def odm(
    protocol: str = typer.Option(..., help="NCT id or protocol file"),
    data: Path | None = typer.Option(None, help="JSON file of subjects, forms and adverse events"),
    output: Path = typer.Option(..., help="where to write the ODM XML"),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Write CDISC ODM 1.3.2: the protocol's metadata, and clinical data if --data is given."""
    from trialkit.export.odm import build_odm

    writable_output(output)
    proto, records = _load(protocol, data, fmt)
    xml = build_odm(proto, records)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(xml, encoding="utf-8")
    emit(
        {
            "protocol": proto.id,
            "output": str(output),
            "bytes": len(xml.encode()),
            "subjects": len(records.subjects) if records else 0,
        },
        fmt,
        lambda d: f"wrote {d['output']} ({d['bytes']} bytes, {d['subjects']} subjects)",
    )


@export_app.command("sdtm")
def sdtm(
    protocol: str = typer.Option(..., help="NCT id or protocol file"),
    data: Path = typer.Option(..., help="JSON file of subjects, forms and adverse events"),
    output: Path = typer.Option(..., help="directory for <domain>.xpt, <domain>.json and define.xml"),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Write the SDTM package: each domain as SAS XPORT v5 and Dataset-JSON v1.1, and define.xml."""
    from trialkit.export.sdtm_package import write_package_chunks

    writable_output(output, directory=True)
    proto, records = _load(protocol, data, fmt)
    try:
        written = write_package_chunks(proto, [records], output)
    except ValueError as exc:  # a record the protocol does not know (a dose level of no arm)
        fail(f"{data}: {exc}", fmt=fmt)
    emit(
        {
            "protocol": proto.id,
            "blinded": records.blinded,
            "files": [
                {
                    "domain": path.stem.upper(),
                    "path": str(path),
                    "rows": rows,
                    "dataset_json": str(path.with_suffix(".json")),
                }
                for name, (path, rows) in written.items()
                if name.endswith(".xpt")
            ],
            "define": str(written["define.xml"][0]),
        },
        fmt,
        lambda d: (
            "\n".join(f"{f['domain']}: {f['rows']} rows -> {f['path']}" for f in d["files"])
            + f"\ndefine.xml -> {d['define']}"
        ),
    )


@export_app.command("from-db")
def from_db(
    trial: str = typer.Option(..., help="NCT id of a trial in the application's database"),
    output: Path = typer.Option(..., help="where to write the zip (odm.xml, sdtm/*.xpt, data/*.csv, manifest.json)"),
    unblinded: bool = typer.Option(False, "--unblinded", help="include each participant's arm (audited as restricted)"),
    drafts: bool = typer.Option(False, "--drafts", help="include draft forms and adverse events, flagged"),
    formats: str = typer.Option("odm,sdtm,csv", "--formats", help="comma-separated: odm, sdtm, csv"),
    labels: bool = typer.Option(False, "--labels", help="arm and sex in the CSV tables as labels, not codes"),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Export a running trial from the database, as the system user (audited)."""
    import shutil

    from trialkit.cli.server_cmd import setup_django

    writable_output(output)  # before the export runs: an export is audited, and its file must not be lost
    setup_django()
    from django.utils import timezone

    from trialkit.server.exports import services
    from trialkit.server.trials.models import Trial

    found = Trial.objects.filter(nct_id=trial).first()
    if found is None:
        fail(f"--trial: no trial {trial} in the database (load it with `trialkit manage load_protocols`)", fmt=fmt)
    try:
        job = services.create_export(
            found,
            None,
            formats=[f.strip() for f in formats.split(",") if f.strip()],
            unblinded=unblinded,
            include_drafts=drafts,
            now=timezone.now(),
            labels=labels,
        )
    except services.ExportProblem as exc:
        fail(f"--{exc.field or 'formats'}: {exc}", fmt=fmt)
    if job.status != job.Status.DONE:
        fail(f"export {job.pk} failed: {job.message}", fmt=fmt)
    output.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(job.result_path, output)
    emit(
        {
            "trial": found.nct_id,
            "export_id": job.pk,
            "output": str(output),
            "sha256": job.sha256,
            "bytes": job.size_bytes,
            "blinding": "unblinded" if job.unblinded else "blinded",
            "counts": job.manifest.get("counts", {}),
            "excluded": job.manifest.get("excluded", []),
            "files": job.manifest.get("files", []),
        },
        fmt,
        lambda d: (
            f"wrote {d['output']} ({d['bytes']} bytes, {d['blinding']}, sha256 {d['sha256']})\n"
            + "\n".join(f"  {f['path']}: {f['rows']} rows" for f in d["files"])
            + "".join(f"\n  excluded {e['count']} {e['what']}: {e['why']}" for e in d["excluded"])
        ),
    )


@export_app.command("fhir")
def fhir(
    protocol: str = typer.Option(..., help="NCT id or protocol file"),
    data: Path | None = typer.Option(None, help="JSON file of subjects (and forms, adverse events)"),
    output: Path = typer.Option(..., help="where to write the FHIR R4 Bundle (JSON)"),
    unblinded: bool = typer.Option(
        False, "--unblinded", help="write each ResearchSubject's assignedArm (only if the data carry arms)"
    ),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Write a FHIR R4 Bundle: the ResearchStudy, and a ResearchSubject and Consent per participant.

    Blinded unless --unblinded: no arm is written, even if the data carry arms.
    """
    from trialkit.export.fhir import build_bundle
    from trialkit.export.records import ExportData

    writable_output(output)
    proto, records = _load(protocol, data, fmt)
    records = records or ExportData()
    bundle = build_bundle(proto, records, unblinded=unblinded)
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    counts: dict[str, int] = {}
    for entry in bundle["entry"]:
        counts[entry["resource"]["resourceType"]] = counts.get(entry["resource"]["resourceType"], 0) + 1
    blinded = not (unblinded and not records.blinded)
    emit(
        {"protocol": proto.id, "output": str(output), "blinded": blinded, "resources": counts},
        fmt,
        lambda d: (
            f"wrote {d['output']} ({'blinded' if d['blinded'] else 'unblinded'}): "
            + ", ".join(f"{n} {kind}" for kind, n in d["resources"].items())
        ),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
