"""Fixtures of the screening tests: ASSIST's first sites and their staff."""

from __future__ import annotations

import pytest


@pytest.fixture
def assist(trials):
    return trials["NCT04590118"]


@pytest.fixture
def ixcell(trials):
    return trials["NCT07197606"]


@pytest.fixture
def site1(assist):
    return assist.sites.get(code="assist-01")


@pytest.fixture
def site2(assist):
    return assist.sites.get(code="assist-02")


@pytest.fixture
def coordinator(make_user, assist, site1):
    return make_user("coordinator", assist, site1, username="cora")


@pytest.fixture
def investigator(make_user, assist, site1):
    return make_user("investigator", assist, site1, username="ines")
