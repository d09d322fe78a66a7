"""Starting Django (every web worker, job worker and management command does) loads no analysis stack:
scipy, statsmodels and matplotlib are imported by the report job and the charts when they run, not by
``django.setup()`` (the report job registers itself when the apps load)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "trialkit.server.settings"
import django
django.setup()
from trialkit.server.jobs import kinds
print(json.dumps({"kinds": sorted(kinds.KINDS), "loaded": sorted(m for m in sys.modules if m.split(".")[0] in {"scipy", "statsmodels", "matplotlib"})}))
"""


@pytest.mark.slow
def test_django_starts_without_loading_scipy_statsmodels_or_matplotlib():
    env = {**os.environ, "TRIALKIT_DEMO": "1", "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=REPO, check=True
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert "report" in seen["kinds"]  # the report job is still registered
    assert seen["loaded"] == []
