"""The pure core never imports Django: it must run (and be tested) without the web shell."""

import subprocess
import sys
from pathlib import Path

import pytest

CORE = [
    "protocol",
    "instruments",
    "eligibility",
    "randomization",
    "dosing",
    "analysis",
    "simulation",
    "schedule",
    "export",
    "safety",
]
SRC = Path(__file__).resolve().parents[2] / "src" / "trialkit"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in CORE if (SRC / n).exists() or (SRC / f"{n}.py").exists()])
def test_core_module_imports_without_django(name):
    code = (
        "import sys, importlib, pkgutil\n"
        f"m = importlib.import_module('trialkit.{name}')\n"
        "if hasattr(m, '__path__'):\n"
        "    for info in pkgutil.walk_packages(m.__path__, m.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "bad = sorted(k for k in sys.modules if k == 'django' or k.startswith('django.') or k.startswith('trialkit.server'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(SRC.parent)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"trialkit.{name} pulls in {result.stdout.strip()}"


def test_no_core_source_file_mentions_django():
    offenders = []
    for name in CORE:
        for path in [*list((SRC / name).rglob("*.py")), SRC / f"{name}.py"]:
            if (path.exists() and "import django" in path.read_text()) or (
                path.exists() and "from django" in path.read_text()
            ):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []
