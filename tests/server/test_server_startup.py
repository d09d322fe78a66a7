"""Starting Django (every web worker, job worker and management command does) loads no analysis stack:
scipy, statsmodels and matplotlib are imported by the report job and the charts when they run, not by
``django.setup()`` (the report job registers itself when the apps load)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
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


@pytest.mark.slow
def test_gunicorn_workers_keep_the_loaded_application_out_of_the_garbage_collector():
    """gunicorn reads ``post_worker_init`` from the server's config module (as ``trialkit serve`` passes
    it), and the hook freezes what the loaded application made: full collections skip it."""
    code = textwrap.dedent(
        """
        import gc
        from gunicorn.app.base import Application
        from gunicorn.config import Config

        class App(Application):
            def load_config(self): pass
            def load(self): pass

        settings = App().load_config_from_module_name_or_filename("python:trialkit.server.gunicorn_conf")
        cfg = Config()
        for key, value in settings.items():
            if key in cfg.settings:  # as gunicorn's Application.load_config_from_file
                cfg.set(key.lower(), value)
        before = gc.get_freeze_count()
        cfg.post_worker_init(None)
        print(before, gc.get_freeze_count())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True, timeout=60
    )
    before, after = map(int, out.stdout.split())
    assert before == 0 and after > 10_000, out.stdout
