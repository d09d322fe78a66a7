"""``trialkit audit``: verify the trail against itself, its checkpoints and the live data; keys; checkpoints."""

from __future__ import annotations

import typer

from trialkit.cli.output import FORMAT_OPTION, Format, emit

audit_app = typer.Typer(help="The append-only, MAC-chained audit trail.", no_args_is_help=True)

EXIT_INTACT, EXIT_TAMPERED, EXIT_UNCHECKED = 0, 1, 3


def _text(result: dict) -> str:
    if result.get("error"):
        return f"audit NOT CHECKED: {result['error']}"
    lines = []
    if result["ok"]:
        cp = result["checkpoint"]["latest"]
        lines.append(
            f"audit trail intact: {result['checked']} event(s) verified in {len(result['chains'])} chain(s), "
            f"global head #{result['head']['seq']}, "
            f"every audited row matches the trail"
            + (f"; latest checkpoint #{cp['seq']} ({cp['at']}) present" if cp else "; no checkpoint yet")
        )
    else:
        lines.append(
            f"audit trail BROKEN ({result['checked']} event(s) checked in {len(result['chains'])} chain(s), "
            f"global head #{result['head']['seq']}):"
        )
        for p in result["problems"]:
            lines.append(f"  chain {p['chain']}: event #{p['seq']} {p['kind']} — {p['detail']}")
        lines += [f"  checkpoint: {m}" for m in result["checkpoint"]["problems"]]
        lines += [f"  row: {m}" for m in result["row_messages"]]
    if result.get("app_role_may"):
        lines.append(
            f"  warning: the connected database role may {', '.join(result['app_role_may'])} audit events "
            "(see `trialkit manage audit_db_roles`)"
        )
    return "\n".join(lines)


def _setup(database: bool = True):
    from trialkit.cli.server_cmd import setup_django

    setup_django(database)


@audit_app.command()
def verify(
    fmt: Format = FORMAT_OPTION,
    unblinded: bool = typer.Option(False, "--unblinded", help="show the values of changed allocation rows (arms)"),
) -> None:
    """Check the chain's MACs, the latest checkpoint and every audited row against the trail.

    Exit 0 intact, 1 tampering found, 3 could not check (database unreachable, no key...).
    """
    try:
        _setup()
        from trialkit.server.audit.verify import verify_all

        result = verify_all(unblinded=unblinded)
    except Exception as exc:
        from trialkit.cli.errors import CommandError

        error = exc.message if isinstance(exc, CommandError) else f"{exc.__class__.__name__}: {exc}".strip()
        emit({"ok": None, "error": " ".join(error.split())}, fmt, _text)
        raise typer.Exit(EXIT_UNCHECKED) from None
    emit(result, fmt, _text)
    raise typer.Exit(EXIT_INTACT if result["ok"] else EXIT_TAMPERED)


@audit_app.command()
def checkpoint(fmt: Format = FORMAT_OPTION) -> None:
    """Append a signed checkpoint of every chain's head to the checkpoint file outside the database."""
    _setup()
    from trialkit.server.audit.checkpoint import checkpoint_file, write_checkpoint

    entry = write_checkpoint()
    emit(
        {**entry, "file": str(checkpoint_file())},
        fmt,
        lambda r: (
            f"checkpoint: {r['chains']} chain head(s), global #{r['seq']} {r['mac'][:16]}… key {r['key_id']} → {r['file']}"
        ),
    )


@audit_app.command()
def keygen(fmt: Format = FORMAT_OPTION) -> None:
    """Create the audit key file (0600) if there is none."""
    _setup(database=False)
    from trialkit.server.audit import keys

    path, key_id, created = keys.generate()
    emit(
        {"file": str(path), "key_id": key_id, "created": created},
        fmt,
        lambda r: f"{'created' if r['created'] else 'already present'}: {r['file']} (current key {r['key_id']})",
    )


@audit_app.command("rotate-key")
def rotate_key(fmt: Format = FORMAT_OPTION) -> None:
    """Add a new key and make it current; events signed with older keys still verify."""
    _setup(database=False)
    from trialkit.server.audit import keys

    key_id = keys.rotate()
    emit(
        {"file": str(keys.key_file()), "key_id": key_id},
        fmt,
        lambda r: f"new current key {r['key_id']} in {r['file']}; older keys kept for verification",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
