"""docs/instruments.md lists every scale and form with its items, ranges, rules and sources."""

import subprocess
import sys
from pathlib import Path

from trialkit.instruments import list_instruments
from trialkit.instruments.reference_doc import reference_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "instruments.md"


def test_the_doc_contains_the_reference_generated_from_the_definitions():
    """If this fails, regenerate: trialkit instruments markdown (and paste under "Reference")."""
    assert reference_markdown() in DOC.read_text(encoding="utf-8")


def test_the_doc_names_every_item_and_rule():
    text = DOC.read_text(encoding="utf-8")
    for inst in list_instruments():
        assert f"`{inst.name}`" in text
        for item in inst.items:
            assert f"`{item.key}`" in text
        for rule in inst.rules:
            assert f"`{rule.name}`" in text


def test_the_core_package_imports_no_django():
    code = (
        "import sys, trialkit.instruments, trialkit.instruments.labs, trialkit.instruments.reference_doc; "
        "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) else 0)"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    result = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": src}, capture_output=True)
    assert result.returncode == 0, result.stderr
