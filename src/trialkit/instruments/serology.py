"""Serology tests screened on: their keys, names people and laboratories use, and LOINC codes.

The keys are the ones the rule language names (``serology_positive: [hbsag, hiv]``). A result is
``positive`` or ``negative``. LOINC codes from the LOINC table (https://loinc.org/<code>/):

- 5196-1 Hepatitis B virus surface Ag [Presence] in Serum by Immunoassay; 5195-3 ... in Serum
- 13954-3 Hepatitis B virus e Ag [Presence] in Serum
- 13953-5 Hepatitis B virus e Ab [Presence] in Serum
- 13952-7 Hepatitis B virus core Ab [Presence] in Serum or Plasma by Immunoassay; 16933-4 ... in Serum
- 13955-0 Hepatitis C virus Ab [Presence] in Serum or Plasma by Immunoassay; 16128-1 ... in Serum
- 56888-1 HIV 1+2 Ab and HIV 1 p24 Ag [Presence] in Serum or Plasma by Immunoassay
- 20507-0 Reagin Ab [Presence] in Serum by RPR
"""

from __future__ import annotations

from dataclasses import dataclass

from trialkit.instruments.labs import name_key


@dataclass(frozen=True)
class SerologyTest:
    key: str
    label: str
    aliases: tuple[str, ...] = ()
    loinc: tuple[str, ...] = ()


SEROLOGY_TESTS: dict[str, SerologyTest] = {
    t.key: t
    for t in (
        SerologyTest(
            "hbsag",
            "Hepatitis B surface antigen (HBsAg)",
            ("hbs_ag", "hepatitis_b_surface_antigen"),
            ("5196-1", "5195-3"),
        ),
        SerologyTest("hbeag", "Hepatitis B e antigen (HBeAg)", ("hbe_ag", "hepatitis_b_e_antigen"), ("13954-3",)),
        SerologyTest(
            "anti_hbe",
            "Hepatitis B e antibody (anti-HBe)",
            ("hbeab", "hbe_ab", "antihbe", "hepatitis_b_e_antibody"),
            ("13953-5",),
        ),
        SerologyTest(
            "anti_hbc",
            "Hepatitis B core antibody (anti-HBc)",
            ("hbcab", "hbc_ab", "antihbc", "hepatitis_b_core_antibody"),
            ("13952-7", "16933-4"),
        ),
        SerologyTest(
            "hcv",
            "Hepatitis C antibody (anti-HCV)",
            ("anti_hcv", "antihcv", "hcv_ab", "hcvab", "hepatitis_c_antibody"),
            ("13955-0", "16128-1"),
        ),
        SerologyTest(
            "hiv",
            "HIV antibody/antigen (HIV Ag/Ab)",
            ("hiv_ag_ab", "hiv_ab_ag", "hiv_1_2", "hiv_1_2_ag_ab", "hiv_ab", "anti_hiv"),
            ("56888-1",),
        ),
        SerologyTest(
            "rpr", "Syphilis (rapid plasma reagin, RPR)", ("rapid_plasma_reagin", "syphilis_rpr"), ("20507-0",)
        ),
    )
}

_ALIASES = {name_key(alias): t.key for t in SEROLOGY_TESTS.values() for alias in (t.key, *t.aliases)}
_LOINC = {code: t.key for t in SEROLOGY_TESTS.values() for code in t.loinc}


def find_serology(name: str) -> SerologyTest | None:
    """The test ``name`` stands for: its key, an alias in any case and spelling, or a LOINC code."""
    if not isinstance(name, str):
        return None
    text = name.strip().removeprefix("http://loinc.org|").removeprefix("LOINC:").strip()
    key = _LOINC.get(text) or _ALIASES.get(name_key(text))
    return SEROLOGY_TESTS[key] if key else None
