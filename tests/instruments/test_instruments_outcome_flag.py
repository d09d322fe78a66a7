"""The instruments' ``outcome`` flag is the one list of outcome scales; nothing else names them."""

import re
from pathlib import Path

from trialkit.instruments import OUTCOME_INSTRUMENTS, get_instrument

SRC = Path(__file__).resolve().parents[2] / "src" / "trialkit"


def test_the_outcome_scales_are_the_flagged_instruments_each_with_a_better_direction():
    assert set(OUTCOME_INSTRUMENTS) == {"mrs", "nihss", "barthel", "mmse", "fma_ue", "fma_le"}
    # mRS 0 no symptoms .. 6 dead (van Swieten 1988); NIHSS 0 no deficit (Brott 1989); Barthel 100
    # independent (Mahoney & Barthel 1965); MMSE 30 (Folstein 1975); Fugl-Meyer full score normal (1975).
    assert {name: get_instrument(name).better for name in OUTCOME_INSTRUMENTS} == {
        "mrs": "lower",
        "nihss": "lower",
        "barthel": "higher",
        "mmse": "higher",
        "fma_ue": "higher",
        "fma_le": "higher",
    }


def test_no_source_file_writes_a_list_of_outcome_scale_names():
    names = "|".join(OUTCOME_INSTRUMENTS)
    found = [
        f"{path.relative_to(SRC)}:{n}"
        for path in SRC.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(rf"""["']({names})["']\s*,\s*["']({names})["']""", line)
    ]
    assert found == [], f"hard-coded lists of outcome scales (use OUTCOME_INSTRUMENTS): {found}"
