"""The laboratory and serology vocabulary of screening facts: the names a ``labs`` or ``serology`` key
may have, like the condition vocabulary (``vocabulary.py``) for medical history.

A name is accepted as the canonical key in any case (``AST``, ``ast``), as a common abbreviation or
synonym (``SGOT``, ``total bilirubin``, ``HBeAb``, ``anti-HCV``, ``HIV Ag/Ab``) or as a LOINC code
(``1920-8``). The analytes and tests with their codes are defined in ``trialkit.instruments.labs`` and
``trialkit.instruments.serology``; this module resolves names and says why one is refused, with the
closest known names as suggestions.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

from trialkit.instruments.labs import ANALYTES, find_analyte, name_key
from trialkit.instruments.serology import SEROLOGY_TESTS, find_serology


@lru_cache(maxsize=4096)
def lab_key(entered: str) -> str | None:
    """The analyte key ``entered`` stands for, or None."""
    analyte = find_analyte(entered)
    return analyte.key if analyte else None


@lru_cache(maxsize=4096)
def serology_key(entered: str) -> str | None:
    """The serology test key ``entered`` stands for, or None."""
    test = find_serology(entered)
    return test.key if test else None


def _suggest(entered: str, names: dict[str, str], limit: int = 3) -> list[str]:
    close = difflib.get_close_matches(name_key(entered), list(names), n=limit * 3, cutoff=0.6)
    out: list[str] = []
    for match in close:
        if names[match] not in out:
            out.append(names[match])
    return out[:limit]


def _names(defs) -> dict[str, str]:
    return {name_key(alias): d.key for d in defs.values() for alias in (d.key, *d.aliases)}


def lab_problem(entered: str) -> str | None:
    """Why ``entered`` is not an analyte name; None when it is one."""
    if lab_key(entered) is not None:
        return None
    close = _suggest(entered, _names(ANALYTES))
    hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(ANALYTES)}"
    return f"{entered!r} is not in the laboratory vocabulary; {hint}"


def serology_problem(entered: str) -> str | None:
    """Why ``entered`` is not a serology test name; None when it is one."""
    if serology_key(entered) is not None:
        return None
    close = _suggest(entered, _names(SEROLOGY_TESTS))
    hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(SEROLOGY_TESTS)}"
    return f"{entered!r} is not in the serology vocabulary; {hint}"
