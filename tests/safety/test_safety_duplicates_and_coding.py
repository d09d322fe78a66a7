"""Likely duplicate adverse events, and coding through the open list or a MedDRA ASCII distribution."""

from __future__ import annotations

from datetime import date

import pytest

from trialkit.safety import AeSummary, MeddraDictionary, OpenDictionary, default_dictionary, likely_duplicates

SEIZURE = AeSummary("AE1", "AS-001", "Seizure", date(2026, 3, 2))


@pytest.mark.parametrize(
    "other, duplicate",
    [
        (AeSummary("AE2", "AS-001", "seizure", date(2026, 3, 4)), True),  # same term, 2 days
        (AeSummary("AE2", "AS-001", "Seizures", date(2026, 3, 5)), True),  # 3 days: inside the window
        (AeSummary("AE2", "AS-001", "Seizure", date(2026, 3, 6)), False),  # 4 days apart
        (AeSummary("AE2", "AS-002", "Seizure", date(2026, 3, 2)), False),  # another participant
        (AeSummary("AE2", "AS-001", "Headache", date(2026, 3, 2)), False),
        (AeSummary("AE2", "AS-001", "Fit", date(2026, 3, 2), preferred_code="P1"), False),
    ],
)
def test_a_likely_duplicate_is_the_same_participant_a_similar_term_and_a_near_onset(other, duplicate):
    assert bool(likely_duplicates(other, [SEIZURE])) is duplicate


def test_the_same_coded_preferred_term_is_a_duplicate_whatever_the_words():
    coded = AeSummary("AE1", "AS-001", "Epileptic fit", date(2026, 3, 2), preferred_code="P1")
    new = AeSummary("AE2", "AS-001", "Convulsion", date(2026, 3, 3), preferred_code="P1")
    assert likely_duplicates(new, [coded]) == [coded]
    assert likely_duplicates(coded, [coded]) == []  # never itself


def test_the_open_dictionary_codes_common_terms_and_suggests():
    d = OpenDictionary()
    coded = d.code("  seizure ")
    assert coded is not None and coded.code == "open:seizure"
    assert coded.system_organ_class == "Nervous system disorders"
    assert [t.term for t in d.search("hyper")] == ["Hypertension"]
    assert d.code("Brain fog") is None
    assert isinstance(default_dictionary(), OpenDictionary)


# Made-up records in the MedDRA ASCII layout (not MedDRA content): llt, pt, soc.
LLT = (
    "90000001$Fit$90000100$$$$$$$Y$$\n"
    "90000002$Seizure$90000100$$$$$$$Y$$\n"
    "90000003$Old fit term$90000100$$$$$$$N$$\n"
    "90000004$Headache$90000200$$$$$$$Y$$\n"
)
PT = "90000100$Seizure$$90010000$$$$$$$$\n90000200$Headache$$90010000$$$$$$$$\n"
SOC = "90010000$Nervous system disorders$Nerv$$$$$$$$\n"


@pytest.fixture
def meddra_dir(tmp_path):
    (tmp_path / "llt.asc").write_text(LLT, encoding="latin-1")
    (tmp_path / "pt.asc").write_text(PT, encoding="latin-1")
    (tmp_path / "soc.asc").write_text(SOC, encoding="latin-1")
    return tmp_path


def test_the_meddra_loader_codes_a_lowest_level_term_to_its_preferred_term(meddra_dir):
    d = MeddraDictionary.from_directory(meddra_dir, "27.0")
    coded = d.code("fit")
    assert coded is not None
    assert (coded.code, coded.term, coded.preferred_code, coded.preferred_term) == (
        "90000001",
        "Fit",
        "90000100",
        "Seizure",
    )
    assert coded.system_organ_class == "Nervous system disorders" and coded.dictionary == "MedDRA 27.0"
    assert d.code("Old fit term") is None  # not current
    assert len(d) == 3
    assert isinstance(default_dictionary(meddra_dir, "27.0"), MeddraDictionary)


def test_a_broken_meddra_file_is_refused_with_its_line(meddra_dir):
    (meddra_dir / "llt.asc").write_text("not a record\n", encoding="latin-1")
    with pytest.raises(ValueError, match=r"llt\.asc line 1"):
        MeddraDictionary.from_directory(meddra_dir)
    (meddra_dir / "llt.asc").write_text("90000009$Stray$12345$$$$$$$Y$$\n", encoding="latin-1")
    with pytest.raises(ValueError, match=r"not in pt\.asc"):
        MeddraDictionary.from_directory(meddra_dir)
    (meddra_dir / "pt.asc").unlink()
    with pytest.raises(FileNotFoundError, match=r"no pt\.asc"):
        MeddraDictionary.from_directory(meddra_dir)
