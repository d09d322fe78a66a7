"""``trialkit report``: the protocol's analysis plan executed on trial data, as HTML and PDF."""

from __future__ import annotations

import typer

from trialkit.cli.output import FORMAT_OPTION, Format, emit, fail, writable_output


def report_command(
    protocol: str = typer.Option(..., "--protocol", help="NCT id or protocol file."),
    data: str = typer.Option(..., "--data", help="Data directory of CSVs, or an SQLite file with the same tables."),
    out: str = typer.Option("report", "--out", help="Output directory."),
    unblinded: bool = typer.Option(False, "--unblinded", help="Arm-level results (DSMB statistician only)."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Write the report (self-contained HTML, PDF and PNG figures). Blinded: pooled results only."""
    from trialkit.analysis import AnalysisInputError
    from trialkit.analysis.report import write_report
    from trialkit.analysis.trial_data import load_trial_data
    from trialkit.protocol import ProtocolError, load_protocol

    try:
        loaded = load_protocol(protocol)
    except (ProtocolError, FileNotFoundError) as exc:
        fail(f"--protocol: {exc}", fmt=fmt)
    try:
        trial_data = load_trial_data(data)
    except AnalysisInputError as exc:
        fail(str(exc), fmt=fmt)
    writable_output(out, "--out", directory=True)
    written = write_report(loaded, trial_data, out, unblinded=unblinded)
    report = written.pop("report")
    result = {
        "html": written["html"],
        "pdf": written["pdf"],
        "unblinded": unblinded,
        "figures": [str(p) for k, p in written.items() if k not in ("html", "pdf")],
        "sections": report.to_dict()["sections"],
    }
    emit(
        result,
        fmt,
        lambda r: (
            f"wrote {r['html']} and {r['pdf']} ({len(r['figures'])} figures, "
            f"{'unblinded' if unblinded else 'blinded: pooled results only'})"
        ),
    )


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
