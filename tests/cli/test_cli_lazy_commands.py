"""``trialkit <command>`` imports only that command's module: the map from names to modules must name
every command of the whole tree, and the narrowed tree must run the command as the whole one does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from trialkit.cli.main import COMMAND_MODULES, app, build_app

REPO = Path(__file__).resolve().parents[2]


def _names(tree: typer.Typer) -> set[str]:
    group = typer.main.get_command(tree)
    return set(group.commands)  # type: ignore[attr-defined]


def test_every_command_is_mapped_to_its_module():
    assert _names(app) == set(COMMAND_MODULES) | {"version"}


def test_a_narrowed_tree_holds_the_command_and_version_only():
    for command in COMMAND_MODULES:
        names = _names(build_app(command))
        assert command in names and "version" in names
        assert names <= set(COMMAND_MODULES) | {"version"}
    assert _names(build_app("screen")) == {"screen", "version"}


@pytest.mark.slow
def test_screen_does_not_import_the_other_commands(tmp_path):
    record = tmp_path / "one.jsonl"
    record.write_text('{"id": "r1", "screening_date": "2025-03-03", "birth_date": "1960-01-01"}\n', encoding="utf-8")
    code = (
        "import sys; sys.argv = ['trialkit', 'screen', '-p', 'NCT04590118', '-i', sys.argv[1], '--summary', '-f', 'json']\n"
        "from trialkit.cli.main import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('trialkit.cli.') and m.endswith('_cmd'))\n"
        "print('LOADED', ','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(record)], capture_output=True, text=True, cwd=REPO, check=False
    ).stdout
    assert '"screened": 1' in out
    assert out.strip().splitlines()[-1] == "LOADED trialkit.cli.screen_cmd"
