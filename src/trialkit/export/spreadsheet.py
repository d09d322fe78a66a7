"""Text cells that a spreadsheet would run as a formula, made inert.

A CSV opened in Excel or LibreOffice runs a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula (CSV injection; OWASP, "CSV Injection", which recommends prefixing such
cells with a single quote). Free text typed into the trial (an adverse event's term, a note) reaches
the exports, so every text cell that starts that way is written with a leading ``'``. Numbers are
numbers, not text, and are written as they are: a change score of -2 stays -2.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text
