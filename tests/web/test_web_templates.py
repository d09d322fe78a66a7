"""Template source rules that a rendered page would otherwise show to its reader.

Django's ``{# … #}`` comment ends on the line it starts; one spread over two lines is printed as page
text (a header once showed a developer's comment on every page).
"""

from __future__ import annotations

import re
from pathlib import Path

import trialkit.server

SERVER = Path(trialkit.server.__file__).resolve().parent
OPEN_COMMENT = re.compile(r"\{#(?!.*#\})")


def unclosed_comments(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if OPEN_COMMENT.search(line)]


def test_the_rule_finds_a_comment_spread_over_two_lines():
    assert unclosed_comments("<p>{# one line #}</p>\n{# starts here\n ends here #}") == [2]


def test_no_template_has_a_one_line_comment_spread_over_two_lines():
    found = {
        str(path.relative_to(SERVER)): lines
        for path in sorted(SERVER.rglob("templates/**/*.html"))
        if (lines := unclosed_comments(path.read_text(encoding="utf-8")))
    }
    assert not found, f"use {{% comment %}} for comments of several lines: {found}"
