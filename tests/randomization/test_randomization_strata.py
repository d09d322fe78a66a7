"""Strata keys from site and screening facts, and the sequence of dose cohorts."""

from __future__ import annotations

import pytest

from trialkit.protocol import load_protocol
from trialkit.randomization import (
    AllocationError,
    StratumError,
    all_strata,
    allocation_stratum,
    current_cohort,
    stratum_key,
)
from trialkit.randomization.strata import factor_level

ASSIST = load_protocol("NCT04590118")
IXCELL = load_protocol("NCT07197606")


@pytest.mark.parametrize("nihss, band", [(6, "moderate"), (10, "moderate"), (11, "severe"), (20, "severe")])
def test_the_nihss_total_is_mapped_to_its_band_inclusive_at_both_ends(nihss, band):
    assert stratum_key(IXCELL, "ixcell-01", {"nihss_total": nihss}) == f"site=ixcell-01|nihss-band={band}"


def test_a_dotted_fact_path_is_read_from_nested_facts():
    band = IXCELL.randomization.stratify_by[1].model_copy(update={"source": "nihss.total"})
    assert factor_level(band, {"nihss": {"total": 14}}) == "severe"


@pytest.mark.parametrize("nihss", [5, 21, 10.5])
def test_an_out_of_band_value_is_an_error_naming_the_factor(nihss):
    with pytest.raises(StratumError, match=r"'nihss-band'.*nihss_total = .* outside every band"):
        stratum_key(IXCELL, "ixcell-01", {"nihss_total": nihss})


def test_a_missing_or_non_numeric_fact_is_an_error_naming_it():
    with pytest.raises(StratumError, match="'nihss_total', which is missing"):
        stratum_key(IXCELL, "ixcell-01", {})
    with pytest.raises(StratumError, match="must be a number"):
        stratum_key(IXCELL, "ixcell-01", {"nihss_total": "12"})


def test_an_unknown_site_is_an_error():
    with pytest.raises(StratumError, match="site 'elsewhere' is not one of ixcell-01"):
        stratum_key(IXCELL, "elsewhere", {"nihss_total": 8})


def test_cohort_trials_need_the_cohort_in_the_key():
    assert stratum_key(ASSIST, "assist-01", {}, cohort_id="cohort-mid") == "cohort=cohort-mid"
    with pytest.raises(StratumError, match="current_cohort"):
        stratum_key(ASSIST, "assist-01", {})


def test_all_strata_enumerates_cohorts_sites_and_bands():
    assert all_strata(ASSIST) == [f"cohort={c}" for c in ("cohort-low", "cohort-mid", "cohort-high")]
    assert all_strata(IXCELL) == ["site=ixcell-01|nihss-band=moderate", "site=ixcell-01|nihss-band=severe"]


def test_cohorts_open_one_after_the_other_lowest_dose_first():
    assert current_cohort(ASSIST, {}).id == "cohort-low"
    assert current_cohort(ASSIST, {"cohort-low": 19}).id == "cohort-low"
    assert current_cohort(ASSIST, {"cohort-low": 20}).id == "cohort-mid"
    assert current_cohort(ASSIST, {"cohort-low": 20, "cohort-mid": 20, "cohort-high": 3}).id == "cohort-high"
    assert current_cohort(ASSIST, {"cohort-low": 20, "cohort-mid": 20, "cohort-high": 20}) is None


def test_a_later_cohort_filling_before_an_earlier_one_is_an_error():
    with pytest.raises(AllocationError, match="earlier cohort 'cohort-low' is not full"):
        current_cohort(ASSIST, {"cohort-low": 12, "cohort-mid": 1})
    with pytest.raises(AllocationError, match="size of 20"):
        current_cohort(ASSIST, {"cohort-low": 21})


def test_the_allocation_stratum_follows_the_enrolling_cohort():
    assert allocation_stratum(ASSIST, "assist-01", {}, {"cohort-low": 20, "cohort-mid": 4}) == "cohort=cohort-mid"
    assert allocation_stratum(IXCELL, "ixcell-01", {"nihss_total": 9}) == "site=ixcell-01|nihss-band=moderate"
    with pytest.raises(AllocationError, match="every cohort is full"):
        allocation_stratum(ASSIST, "assist-01", {}, {"cohort-low": 20, "cohort-mid": 20, "cohort-high": 20})
