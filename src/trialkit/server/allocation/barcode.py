"""The kit number as a Code 128 barcode (SVG) for the blinded label, drawn by python-barcode.

The kit number is the same kind of code in every arm, so the barcode reveals nothing the printed
kit number does not.
"""

from __future__ import annotations

import io
import re

import barcode
from barcode.writer import SVGWriter
from django.utils.html import format_html


def code128_svg(text: str) -> str:
    """An inline ``<svg>`` element (no XML prolog) encoding ``text`` in Code 128, with a text
    alternative for screen readers."""
    out = io.BytesIO()
    barcode.get("code128", text, writer=SVGWriter()).write(
        out, options={"module_width": 0.3, "module_height": 14.0, "quiet_zone": 3.0, "write_text": False}
    )
    svg = out.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    return svg.replace("<svg ", format_html('<svg role="img" aria-label="Barcode of kit number {}" ', text), 1)
