"""`trialkit export from-db`: the system exports, audited; unblinded only with the flag."""

from __future__ import annotations

import hashlib
import json

import pytest
from exports_checks import arm_mentions, members
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.server.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_the_command_line_exports_blinded_unless_told(world, tmp_path):
    runner = CliRunner()
    out = tmp_path / "assist.zip"
    result = runner.invoke(
        app, ["export", "from-db", "--trial", "NCT04590118", "--output", str(out), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["blinding"] == "blinded" and body["counts"]["subjects"] == 4
    assert hashlib.sha256(out.read_bytes()).hexdigest() == body["sha256"]
    assert arm_mentions(members(out), world["trial"].protocol) == []

    unblinded = tmp_path / "assist-unblinded.zip"
    result = runner.invoke(
        app,
        ["export", "from-db", "--trial", "NCT04590118", "--output", str(unblinded), "--unblinded", "--format", "text"],
    )
    assert result.exit_code == 0, result.output
    assert "unblinded" in result.stdout and "sdtm/dm.xpt: 4 rows" in result.stdout
    assert arm_mentions(members(unblinded), world["trial"].protocol)
    events = AuditEvent.objects.filter(action="export_request").order_by("seq")
    assert [(e.actor, e.restricted, e.after["role"]) for e in events] == [
        ("system", False, "system"),
        ("system", True, "system"),
    ]


def test_an_unknown_trial_or_format_exits_2_naming_the_option(world, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app, ["export", "from-db", "--trial", "NCT00000000", "--output", str(tmp_path / "x.zip"), "--format", "json"]
    )
    assert result.exit_code == 2 and "--trial" in json.loads(result.stdout)["error"]
    result = runner.invoke(
        app,
        [
            "export",
            "from-db",
            "--trial",
            "NCT04590118",
            "--formats",
            "odm,pdf",
            "--output",
            str(tmp_path / "x.zip"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 2 and "--formats" in json.loads(result.stdout)["error"]
