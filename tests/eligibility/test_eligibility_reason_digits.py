"""A reason prints the numbers its decision used, to enough digits to agree with it.

"AST 100.1 U/L = 2.50×ULN > 2.5×ULN" contradicts itself: 2.50 is not above 2.5. The reference here
is the decision itself: for values near each limit the number printed in the reason, compared with
the printed limit by ordinary arithmetic, must fall on the same side of the limit as the status says
(and on the limit only when the value is on it, to 9 significant digits as the decision compares).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from eligibility_helpers import ASSIST, screen_example
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialkit.eligibility.rules import Bounds, at_least, fmt_as_decided

ORGAN = "inc-organ-function"
AST_REASON = re.compile(r"AST [\d.,]+ U/L = ([\d.]+)×ULN \(ULN [\d.]+ U/L\) (>|≤) 2\.5×ULN")
ALBUMIN_REASON = re.compile(r"albumin ([\d.]+) g/L \(([\d.]+) g/dL\) (<|≥) 3\.0 g/dL")


def _side(value: float, limit: float) -> int:
    return int(at_least(value, limit)) - int(at_least(limit, value))


def _ast_reason(value: float, uln: float):
    result = screen_example(ASSIST, "assist-eligible", labs__ast={"value": value, "unit": "U/L", "uln": uln})
    return result.criterion(ORGAN).status, result.criterion(ORGAN).reason


def test_the_issue_example_prints_enough_digits():
    status, reason = _ast_reason(100.1, 40)
    assert status == "fail"
    assert "AST 100.1 U/L = 2.502×ULN (ULN 40 U/L) > 2.5×ULN" in reason


def test_a_value_far_from_the_limit_keeps_two_decimals():
    _status, reason = _ast_reason(104, 40)
    assert reason == "AST 104 U/L = 2.60×ULN (ULN 40 U/L) > 2.5×ULN"


def _check_ast(value: float, uln: float) -> None:
    status, reason = _ast_reason(value, uln)
    match = AST_REASON.search(reason)
    assert match, reason
    printed, symbol = Decimal(match.group(1)), match.group(2)
    exact_side = _side(value / uln, 2.5)
    if status == "fail":
        assert symbol == ">" and printed > Decimal("2.5"), reason
    else:
        assert symbol == "≤" and printed <= Decimal("2.5"), reason
    assert (printed == Decimal("2.5")) == (exact_side == 0), reason


@pytest.mark.slow
@pytest.mark.parametrize("uln", [40, 35, 33, 52.3])
def test_a_dense_grid_around_the_uln_limit_agrees_with_the_decision(uln):
    """Every value within ±0.5 U/L of 2.5×ULN in steps of 0.01 U/L (101 values per ULN)."""
    centre = round(2.5 * uln, 2)
    for step in range(-50, 51):
        _check_ast(round(centre + step / 100, 2), uln)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    uln=st.sampled_from([40, 35, 33, 52.3, 17.5, 41.7]),
    offset=st.floats(min_value=-0.02, max_value=0.02, allow_nan=False),
    decimals=st.integers(min_value=1, max_value=6),
)
def test_values_near_the_uln_limit_print_a_multiple_that_agrees_with_the_decision(uln, offset, decimals):
    value = round(2.5 * uln + offset, decimals)
    _check_ast(value, uln)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offset=st.floats(min_value=-0.05, max_value=0.05, allow_nan=False), decimals=st.integers(1, 6))
def test_a_converted_lab_prints_both_numbers_to_agree_with_the_decision(offset, decimals):
    """Albumin ≥ 3.0 g/dL entered in g/L (1 g/dL = 10 g/L): both the entered value against 30 g/L
    and the converted value against 3.0 g/dL fall on the side the decision says."""
    value = round(30 + offset, decimals)
    result = screen_example(ASSIST, "assist-eligible", labs__albumin={"value": value, "unit": "g/L"})
    criterion = result.criterion(ORGAN)
    match = ALBUMIN_REASON.search(criterion.reason)
    assert match, criterion.reason
    entered, converted, symbol = Decimal(match.group(1)), Decimal(match.group(2)), match.group(3)
    if criterion.status == "fail":
        assert symbol == "<" and converted < Decimal("3.0") and entered < 30, criterion.reason
    else:
        assert symbol == "≥" and converted >= Decimal("3.0") and entered >= 30, criterion.reason


@settings(max_examples=300, deadline=None)
@given(
    limit=st.sampled_from([2.5, 1.25, 18, 3.0, 150000, 1.5, 0.5, 85]),
    relative=st.floats(min_value=-1e-3, max_value=1e-3, allow_nan=False),
)
def test_fmt_as_decided_compares_as_the_number_does(limit, relative):
    value = limit * (1 + relative)
    bounds = Bounds(max=limit)
    text = bounds.shown(value)
    assert _side(float(text.replace(",", "")), limit) == _side(value, limit), (value, text)
    text = fmt_as_decided(value, [limit], decimals=2)
    assert _side(float(text), limit) == _side(value, limit), (value, text)
