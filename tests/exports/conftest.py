"""Fixtures of the export tests; the world they use is built in exports_world.py."""

import pytest
from exports_world import build_world


@pytest.fixture(autouse=True)
def exports_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path / "exports"


@pytest.fixture
def world(trials, make_user):
    return build_world(trials, make_user)
