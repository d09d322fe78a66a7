"""Shared builders for the eligibility tests: example records and a screen-with-changes helper."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from trialkit.eligibility import ScreeningResult, screen
from trialkit.protocol import load_protocol

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "screening"
ASSIST = "NCT04590118"
IXCELL = "NCT07197606"
DELETE = object()


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; dotted keys reach into mappings, DELETE removes a key."""
    out = copy.deepcopy(base)
    for dotted, value in changes.items():
        target = out
        *parents, last = dotted.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        if value is DELETE:
            target.pop(last, None)
        else:
            target[last] = value
    return out


def screen_example(protocol_id: str, name: str, **changes: Any) -> ScreeningResult:
    record = merged(example(name), {k.replace("__", "."): v for k, v in changes.items()})
    return screen(load_protocol(protocol_id), record)


def screen_record(protocol_id: str, record: dict[str, Any], **kwargs: Any) -> ScreeningResult:
    return screen(load_protocol(protocol_id), record, **kwargs)
