"""Laboratory units: conversions both ways against reference factors, ×ULN on boundaries."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialkit.instruments import get_instrument
from trialkit.instruments.labs import (
    ANALYTES,
    LabUnitError,
    SiteReferenceRanges,
    convert,
    to_canonical,
    uln_multiple,
    within_uln_multiple,
)

ASSIST_ANALYTES = {
    "ast",
    "alt",
    "bilirubin",
    "pt",
    "ptt",
    "albumin",
    "anc",
    "platelets",
    "hemoglobin",
    "creatinine",
    "amylase",
    "lipase",
}


def test_every_analyte_assist_screens_on_is_defined():
    """NCT04590118 eligibility: AST, ALT, TSB, PT, PTT, albumin, ANC, platelets, hemoglobin,
    creatinine, amylase, lipase."""
    assert set(ANALYTES) >= ASSIST_ANALYTES


@pytest.mark.parametrize(
    "analyte, conventional, conv_unit, si, si_unit",
    [
        # AMA Manual of Style SI conversion table factors.
        ("albumin", 3.0, "g/dL", 30, "g/L"),
        ("hemoglobin", 9.0, "g/dL", 90, "g/L"),
        ("creatinine", 1.0, "mg/dL", 88.4, "umol/L"),
        ("creatinine", 1.5, "mg/dL", 132.6, "µmol/L"),
        ("bilirubin", 1.0, "mg/dL", 17.104, "μmol/L"),
        ("anc", 1500, "/uL", 1.5, "10^9/L"),
        ("platelets", 150_000, "/µL", 150, "x10^9/L"),
        ("platelets", 150_000, "cells/mm3", 150, "10^3/uL"),
        ("ast", 60, "U/L", 1, "ukat/L"),
    ],
)
def test_conversion_matches_the_reference_factor_both_ways(analyte, conventional, conv_unit, si, si_unit):
    assert convert(analyte, si, si_unit, conv_unit) == pytest.approx(conventional, rel=1e-12)
    assert convert(analyte, conventional, conv_unit, si_unit) == pytest.approx(si, rel=1e-12)


def test_the_documented_examples_are_exact():
    assert convert("albumin", 30, "g/L", "g/dL") == 3.0
    assert to_canonical("creatinine", 88.4, "umol/L") == (1.0, "mg/dL")
    assert to_canonical("creatinine", 88.4, "µmol/L") == (1.0, "mg/dL")


@settings(max_examples=200, deadline=None)
@given(
    analyte=st.sampled_from(sorted(ANALYTES)),
    data=st.data(),
    value=st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
)
def test_converting_there_and_back_returns_the_value(analyte, data, value):
    a = ANALYTES[analyte]
    u1 = data.draw(st.sampled_from(a.units))
    u2 = data.draw(st.sampled_from(a.units))
    there = convert(analyte, value, u1, u2)
    assert convert(analyte, there, u2, u1) == pytest.approx(float(value), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("unit", ["G/L", "g", "mg/L", "mmol/L", "", "g/dL "])
def test_an_unknown_or_foreign_unit_is_an_error_never_a_guess(unit):
    """Albumin in "G/L" (giga-cells) or mg/L is not read as g/L; a trailing space is tolerated."""
    if unit == "g/dL ":
        assert convert("albumin", 3, unit, "g/dL") == 3.0
        return
    with pytest.raises(LabUnitError):
        convert("albumin", 30, unit, "g/dL")


def test_an_unknown_analyte_is_an_error():
    with pytest.raises(LabUnitError, match="unknown analyte"):
        to_canonical("troponin", 1, "ng/L")


@pytest.mark.parametrize(
    "analyte, value, unit, uln, uln_unit, limit, within",
    [
        # NCT04590118: AST <= 2.5 x ULN; 100 U/L against ULN 40 is exactly 2.5 and is eligible.
        ("ast", 100, "U/L", 40, None, 2.5, True),
        ("ast", 100.01, "U/L", 40, None, 2.5, False),
        # TSB <= 1.5 x ULN with value and ULN in different units: 1.8 mg/dL vs ULN 20.52 umol/L.
        ("bilirubin", 1.8, "mg/dL", 20.5248, "umol/L", 1.5, True),
        # Creatinine <= 1.5 x ULN: 132.6 umol/L against ULN 1.0 mg/dL is exactly 1.5.
        ("creatinine", 132.6, "umol/L", 1.0, "mg/dL", 1.5, True),
        ("creatinine", 132.7, "umol/L", 1.0, "mg/dL", 1.5, False),
        # PT <= 1.25 x ULN: 15 s against 12 s is exactly 1.25.
        ("pt", 15, "s", 12, "s", 1.25, True),
        # Lipase <= 1.0 x ULN.
        ("lipase", 60, "U/L", 60, "U/L", 1, True),
        ("lipase", 61, "U/L", 1, "ukat/L", 1, False),
    ],
)
def test_uln_multiple_is_exact_on_boundaries(analyte, value, unit, uln, uln_unit, limit, within):
    assert within_uln_multiple(analyte, value, unit, uln, limit, uln_unit=uln_unit) is within
    multiple = uln_multiple(analyte, value, unit, uln, uln_unit)
    assert (multiple <= limit) is within


def test_uln_multiple_value():
    assert uln_multiple("ast", 100, "U/L", 40) == 2.5
    assert uln_multiple("bilirubin", 34.208, "umol/L", 1.0, "mg/dL") == 2.0
    with pytest.raises(LabUnitError, match="positive"):
        uln_multiple("ast", 100, "U/L", 0)


def test_site_reference_ranges_supply_the_uln():
    ranges = SiteReferenceRanges.from_dict(
        {
            "site-01": {
                "ast": {"low": 10, "high": 40, "unit": "U/L"},
                "creatinine": [{"high": 1.1, "unit": "mg/dL", "sex": "F"}, {"high": 1.3, "unit": "mg/dL", "sex": "M"}],
            },
            "site-02": {"ast": {"high": 0.6, "unit": "µkat/L"}},
        }
    )
    assert ranges.uln_multiple("site-01", "ast", 100, "U/L") == 2.5
    assert ranges.uln_multiple("site-02", "ast", 72, "U/L") == 2.0  # 0.6 ukat/L = 36 U/L
    assert ranges.reference("site-01", "creatinine", sex="M").high == 1.3
    with pytest.raises(LabUnitError, match="no reference range"):
        ranges.reference("site-02", "alt")
    with pytest.raises(LabUnitError, match="not a unit of ast"):
        SiteReferenceRanges.from_dict({"s": {"ast": {"high": 40, "unit": "g/L"}}})


def test_the_labs_form_requires_units_and_rejects_a_unit_slip():
    """Albumin 30 entered as g/dL is 30 g/L mislabelled: rejected as implausible for its unit."""
    labs = get_instrument("labs")
    ok = {"collection_date": "2024-05-02", "albumin": 30, "albumin_unit": "g/L", "ast": 35, "ast_unit": "U/L"}
    assert labs.validate(ok) == []
    errors = labs.validate({**ok, "albumin_unit": "g/dL"})
    assert [(e.item, e.rule) for e in errors] == [("albumin", "implausible_for_unit")]
    errors = labs.validate({"collection_date": "2024-05-02", "creatinine": 1.1})
    assert [(e.item, e.rule) for e in errors] == [("creatinine_unit", "unit_required")]
