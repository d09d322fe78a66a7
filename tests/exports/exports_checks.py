"""Checks shared by the export tests (a module with its own name: conftest names collide)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path


def forbidden_strings(protocol) -> tuple[set[str], set[str]]:
    """(one-word tokens, longer labels) that name an arm, its dose or its intervention."""
    tokens, labels = set(), set()
    for arm in protocol.arms:
        tokens.add(arm.id)
        labels.update({arm.label, arm.description})
        if arm.dose:
            # Level ids (low, mid, high) are ordinary words; their labels name the dose.
            labels.update(level.label for level in arm.dose.levels)
    for intervention in protocol.registry.interventions:
        tokens.update({intervention.id})
        labels.add(intervention.name)
    one_word = {t for t in tokens | labels if not re.search(r"\s", t)}
    return one_word, {s for s in labels if re.search(r"\s", s)}


def arm_mentions(members: dict[str, bytes], protocol) -> list[str]:
    """Every place a member of the zip names an arm: tokens as whole words, labels anywhere."""
    tokens, labels = forbidden_strings(protocol)
    found = []
    for name, content in members.items():
        text = content.decode("utf-8", "replace")  # XPT is ASCII in fixed-width records
        for token in tokens:
            if re.search(r"(?<![\w-])" + re.escape(token) + r"(?![\w-])", text, re.IGNORECASE):
                found.append(f"{name}: token {token!r}")
        for label in labels:
            if label.lower() in text.lower():
                found.append(f"{name}: label {label!r}")
    return found


def members(path: str | Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}
