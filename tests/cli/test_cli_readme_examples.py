"""The README's command-line examples run, in order, with the inputs shipped in examples/, and exit 0.

The commands are read from the README's first ``sh`` block after "On the command line", so the README
cannot name a file that is not shipped or a command that fails. The long simulations and the report
(tens of seconds each) are marked slow; the rest run in the default suite, in-process.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialkit.cli.main import app

REPO = Path(__file__).resolve().parents[2]
SLOW = {("simulate", "power"), ("simulate", "trial"), ("simulate", "design"), ("report",)}
DATABASE = {"from-db", "audit", "manage", "serve", "worker", "backup", "jobs"}


def readme_blocks() -> list[list[list[str]]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("**On the command line**") :]
    blocks = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)[:2]:
        commands = []
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line)  # a comment
            for part in line.split(";"):
                words = shlex.split(part)
                if words:
                    commands.append(words)
        blocks.append(commands)
    return blocks


RUNNABLE, WITH_DATABASE = readme_blocks()


def _param(words: list[str]):
    slow = any(tuple(words[1 : 1 + len(key)]) == key for key in SLOW)
    return pytest.param(words, id=" ".join(words[1:4]), marks=[pytest.mark.slow] if slow else [])


def test_the_readme_lists_runnable_commands_then_database_commands():
    assert len(RUNNABLE) >= 15 and all(words[0] == "trialkit" for words in RUNNABLE)
    assert not [w for w in RUNNABLE if DATABASE & set(w)], "a database command among the runnable examples"
    assert all(DATABASE & set(words) for words in WITH_DATABASE)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A scratch directory that sees the repository's examples/ and protocols/ (outputs land here)."""
    root = tmp_path_factory.mktemp("readme")
    for name in ("examples", "protocols"):
        (root / name).symlink_to(REPO / name)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("words", [_param(w) for w in RUNNABLE])
def test_a_readme_example_exits_0(workdir, monkeypatch, words):
    monkeypatch.chdir(workdir)
    result = CliRunner().invoke(app, words[1:])
    assert result.exit_code == 0, f"{' '.join(words)}\n{result.stdout}\n{result.stderr}"
    assert result.stderr == "" or "error" not in result.stderr
