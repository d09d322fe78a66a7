"""``trialkit audit verify``: walk the hash chain of the audit trail and name the first broken link."""

from __future__ import annotations

import typer

from trialkit.cli.output import Format, emit

audit_app = typer.Typer(help="The append-only, hash-chained audit trail.", no_args_is_help=True)


def _text(result: dict) -> str:
    if result["problem"] is None:
        return f"audit chain intact: {result['checked']} event(s) verified"
    p = result["problem"]
    return (f"audit chain BROKEN after checking {result['checked']} event(s): "
            f"event #{p['seq']} {p['kind']} — {p['detail']}")


@audit_app.command()
def verify(fmt: Format = typer.Option(Format.text, "--format", help="json or text")) -> None:
    """Check every audit event against its hash and its predecessor; exit 1 at the first problem."""
    from trialkit.cli.server_cmd import setup_django

    setup_django()
    from trialkit.server.audit.service import verify_chain

    checked, problem = verify_chain()
    result = {"checked": checked, "ok": problem is None, "problem": problem.as_dict() if problem else None}
    emit(result, fmt, _text)
    if problem is not None:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
