"""CSV cells a spreadsheet would run as formulas are written as text (OWASP, "CSV Injection")."""

import pytest

from trialkit.export.spreadsheet import inert_cell


@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-1+A1", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0"])
def test_formula_text_gets_a_leading_quote(text):
    assert inert_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-2", "+3.5", "-1e3", -2, 3.5, None, "Headache", "", "a=b"])
def test_numbers_and_plain_text_are_left_alone(value):
    assert inert_cell(value) == value
