"""Float unit conversion (the documented rounding rule) decides every boundary as the exact fractions do.

Screening converts laboratory units in floating point and compares after rounding to 9 significant
digits (``rules.at_least``). Here each boundary case is screened twice, once as it runs and once with
the conversions swapped for the exact ``fractions`` arithmetic of ``instruments.labs``; the results,
reasons included, must be identical. Plus the boundaries that involve no conversion: age limits, NIHSS 6/20.
"""

from __future__ import annotations

import copy
from datetime import date
from fractions import Fraction

import pytest
from eligibility_helpers import ASSIST, IXCELL, example

from trialkit.eligibility import measures, screen
from trialkit.instruments import labs
from trialkit.protocol import load_protocol

ON = date(2025, 3, 3)


@pytest.fixture(scope="module")
def assist():
    return load_protocol(ASSIST)


def exact_in_unit(analyte, value, unit, target_unit):
    return float(labs.convert_exact(analyte, value, unit, target_unit))


def exact_uln_multiple(analyte, value, unit, uln, uln_unit):
    return float(labs.uln_multiple_exact(analyte, value, unit, uln, uln_unit))


def with_lab(analyte: str, lab: dict) -> dict:
    record = copy.deepcopy(example("assist-eligible"))
    record["labs"][analyte] = lab
    return record


# Values on, just inside and just outside each limit, in the rule's unit and in the other one.
BOUNDARY_LABS = [
    ("ast", {"value": 100, "unit": "U/L", "uln": 40}),  # exactly 2.5×ULN
    ("ast", {"value": 100.1, "unit": "U/L", "uln": 40}),
    ("ast", {"value": 99.99, "unit": "U/L", "uln": 40}),
    ("ast", {"value": 1.6666, "unit": "ukat/L", "uln": 40, "uln_unit": "U/L"}),
    ("ast", {"value": 1.6667, "unit": "ukat/L", "uln": 40, "uln_unit": "U/L"}),
    ("alt", {"value": 2.5, "unit": "ukat/L", "uln": 1, "uln_unit": "ukat/L"}),
    ("alt", {"value": 87.5, "unit": "U/L", "uln": 35}),
    ("bilirubin", {"value": 1.8, "unit": "mg/dL", "uln": 1.2}),  # exactly 1.5×ULN
    ("bilirubin", {"value": 30.7872, "unit": "umol/L", "uln": 1.2, "uln_unit": "mg/dL"}),  # 1.8 mg/dL
    ("bilirubin", {"value": 30.788, "unit": "umol/L", "uln": 1.2, "uln_unit": "mg/dL"}),
    ("bilirubin", {"value": 30.78, "unit": "umol/L", "uln": 20.52}),
    ("albumin", {"value": 30, "unit": "g/L"}),  # exactly 3.0 g/dL (3.0000000000000004 unrounded)
    ("albumin", {"value": 29.9, "unit": "g/L"}),
    ("albumin", {"value": 3.0, "unit": "g/dL"}),
    ("hemoglobin", {"value": 90, "unit": "g/L"}),  # exactly 9.0 g/dL
    ("hemoglobin", {"value": 5.585, "unit": "mmol/L"}),
    ("hemoglobin", {"value": 5.5852, "unit": "mmol/L"}),
    ("hemoglobin", {"value": 5.58520541, "unit": "mmol/L"}),
    ("anc", {"value": 1.5, "unit": "10^9/L"}),  # exactly 1500 /µL
    ("anc", {"value": 1.499, "unit": "10^9/L"}),
    ("platelets", {"value": 150, "unit": "10^3/uL"}),
    ("platelets", {"value": 149.999, "unit": "10^9/L"}),
    ("creatinine", {"value": 1.95, "unit": "mg/dL", "uln": 1.3}),  # exactly 1.5×ULN
    ("creatinine", {"value": 172.38, "unit": "umol/L", "uln": 1.3, "uln_unit": "mg/dL"}),  # 1.95 mg/dL
    ("creatinine", {"value": 172.39, "unit": "umol/L", "uln": 1.3, "uln_unit": "mg/dL"}),
    ("creatinine", {"value": 172.38, "unit": "umol/L", "uln": 114.92}),
    ("amylase", {"value": 100, "unit": "U/L", "uln": 100}),  # exactly 1.0×ULN
    ("amylase", {"value": 1.6667, "unit": "ukat/L", "uln": 100, "uln_unit": "U/L"}),
    ("lipase", {"value": 1, "unit": "ukat/L", "uln": 60, "uln_unit": "U/L"}),  # exactly 1.0×ULN
]


@pytest.mark.parametrize(("analyte", "lab"), BOUNDARY_LABS, ids=lambda v: str(v))
def test_float_conversion_screens_a_boundary_as_exact_fractions_do(assist, monkeypatch, analyte, lab):
    record = with_lab(analyte, lab)
    fast = screen(assist, record, today=ON)
    monkeypatch.setattr(measures, "lab_in_unit", exact_in_unit)
    monkeypatch.setattr(measures, "lab_uln_multiple", exact_uln_multiple)
    exact = screen(assist, record, today=ON)
    assert fast == exact
    assert fast.criterion("inc-organ-function").status in ("pass", "fail")


def test_on_the_limit_passes_and_past_it_fails(assist):
    def labs_status(analyte, lab):
        return screen(assist, with_lab(analyte, lab), today=ON).criterion("inc-organ-function").status

    # Organ function (an inclusion) is met on a limit and not past it.
    assert labs_status("ast", {"value": 100, "unit": "U/L", "uln": 40}) == "pass"
    assert labs_status("ast", {"value": 100.1, "unit": "U/L", "uln": 40}) == "fail"
    assert labs_status("albumin", {"value": 30, "unit": "g/L"}) == "pass"
    assert labs_status("albumin", {"value": 29.9, "unit": "g/L"}) == "fail"
    assert labs_status("creatinine", {"value": 172.38, "unit": "umol/L", "uln": 1.3, "uln_unit": "mg/dL"}) == "pass"
    assert labs_status("lipase", {"value": 1, "unit": "ukat/L", "uln": 60, "uln_unit": "U/L"}) == "pass"


def test_float_and_exact_agree_on_a_grid_of_uln_multiples():
    """Every value of 0.01 steps around each limit, in the other unit: decided as the exact multiple is
    (both compared under the rounding rule, as screening compared the exact fraction before)."""
    from trialkit.eligibility.rules import at_least

    for analyte, unit, other, uln, limit in [
        ("ast", "U/L", "ukat/L", 40, Fraction(5, 2)),
        ("bilirubin", "mg/dL", "umol/L", Fraction(6, 5), Fraction(3, 2)),
        ("creatinine", "mg/dL", "umol/L", Fraction(13, 10), Fraction(3, 2)),
    ]:
        for hundredths in range(-300, 301):
            value = float(labs.convert_exact(analyte, uln * limit, unit, other) + Fraction(hundredths, 100))
            if value <= 0:
                continue
            fast = measures.lab_uln_multiple(analyte, value, other, float(uln), unit)
            exact = labs.uln_multiple_exact(analyte, value, other, uln, unit)
            assert at_least(float(limit), fast) == at_least(float(limit), float(exact)), (analyte, value)
            if hundredths % 7 == 0:  # and a value as a person writes it, to 4 decimals
                written = round(value, 4)
                fast = measures.lab_uln_multiple(analyte, written, other, float(uln), unit)
                exact = labs.uln_multiple_exact(analyte, written, other, uln, unit)
                assert at_least(float(limit), fast) == (exact <= limit), (analyte, written)


@pytest.mark.parametrize(
    ("birth_date", "status"),
    [("2007-03-03", "pass"), ("2007-03-04", "fail")],  # 18 on the screening day; one day short
)
def test_age_limit_18(assist, birth_date, status):
    record = example("assist-eligible") | {"birth_date": birth_date}
    assert screen(assist, record, today=ON).criterion("inc-age").status == status


@pytest.mark.parametrize(
    ("birth_date", "status"),
    [("1954-03-04", "pass"), ("1954-03-03", "fail")],  # 70 until the day before the 71st birthday
)
def test_age_limit_70(birth_date, status):
    ixcell = load_protocol(IXCELL)
    record = example("ixcell-eligible") | {"birth_date": birth_date}
    assert screen(ixcell, record, today=ON).criterion("inc-age").status == status


def nihss_summing_to(total: int) -> dict:
    items = {k: 0 for k in ("1a", "1b", "1c", "2", "3", "4", "5a", "5b", "6a", "6b", "7", "8", "9", "10", "11")}
    for item, top in (("5a", 4), ("5b", 4), ("6a", 4), ("6b", 4), ("4", 3), ("9", 3), ("2", 2), ("8", 2)):
        items[item] = min(top, total)
        total -= items[item]
    assert total == 0
    return items


@pytest.mark.parametrize(("total", "status"), [(5, "fail"), (6, "pass"), (20, "pass"), (21, "fail")])
def test_nihss_limits_6_and_20_scored_once_per_record(assist, monkeypatch, total, status):
    calls = []
    real = measures.nihss_partial
    monkeypatch.setattr(measures, "nihss_partial", lambda values: calls.append(1) or real(values))
    record = example("assist-eligible") | {"nihss": nihss_summing_to(total)}
    # Two criteria read the NIHSS total (a protocol may ask it twice, as IxCell asks items and total).
    nihss = next(c for c in assist.eligibility.criteria if c.id == "inc-nihss")
    twice = [*assist.eligibility.criteria, nihss.model_copy(update={"id": "inc-nihss-again"})]
    protocol = assist.model_copy(update={"eligibility": assist.eligibility.model_copy(update={"criteria": twice})})
    result = screen(protocol, record, today=ON)
    assert result.criterion("inc-nihss").status == status, result.criterion("inc-nihss").reason
    assert result.criterion("inc-nihss-again") == result.criterion("inc-nihss").model_copy(
        update={"id": "inc-nihss-again"}
    )
    assert len(calls) == 1  # scored once for the record, not once per criterion


def test_at_least_decides_as_the_rounding_rule_whatever_its_shortcut():
    import random

    from trialkit.eligibility.rules import at_least

    rng = random.Random(7)
    pairs = [(3.0000000000000004, 3.0), (2.9999999999999996, 3.0), (2.4999999995, 2.5), (2.49999999, 2.5)]
    for _ in range(5000):
        bound = rng.choice([1.0, 1.25, 1.5, 2.5, 3.0, 9.0, 1500.0, 150000.0, 18.0])
        pairs.append((bound * (1 + rng.choice([-1, 1]) * 10 ** rng.uniform(-17, -1)), bound))
    for value, bound in pairs:
        rounded = float(f"{value:.9g}") >= float(f"{bound:.9g}")
        assert at_least(value, bound) == rounded and at_least(bound, value) == (
            float(f"{bound:.9g}") >= float(f"{value:.9g}")
        ), (value, bound)
