"""Barthel Index: 10 activities of daily living, 0-100 in steps of 5.

Source: Mahoney FI, Barthel DW. Functional evaluation: the Barthel Index. Md State Med J
1965;14:61-65. Each item accepts only the values of the 1965 form (e.g. bathing 0 or 5, transfers
0/5/10/15); a value between them (say bathing 3) is rejected, never rounded.

CDISC: SDTM Controlled Terminology has no Barthel Index codelist (none among the SDTM CT codelists
of release 2025-09-26 nor in a 2026 extract of the instrument test codes of the NCI EVS SDTM
Terminology file). QSCAT "BARTHEL INDEX" and QSTESTCD BI0101-BI0110 (items in 1965 form order) are
TrialKit's own, sponsor-defined codes.
"""

from __future__ import annotations

from trialkit.instruments.framework import Instrument, Item, ItemType, scores

SOURCE = "Mahoney & Barthel, Md State Med J 1965;14:61-65"
QS_CAT = "BARTHEL INDEX"

_DEFINITIONS = (
    ("feeding", "Feeding", ((0, "Unable"), (5, "Needs help cutting, spreading butter, etc."), (10, "Independent"))),
    ("bathing", "Bathing", ((0, "Dependent"), (5, "Independent (or in shower)"))),
    (
        "grooming",
        "Grooming",
        ((0, "Needs help with personal care"), (5, "Independent face/hair/teeth/shaving (implements provided)")),
    ),
    (
        "dressing",
        "Dressing",
        (
            (0, "Dependent"),
            (5, "Needs help but can do about half unaided"),
            (10, "Independent (including buttons, zips, laces, etc.)"),
        ),
    ),
    (
        "bowels",
        "Bowels",
        ((0, "Incontinent (or needs to be given enemas)"), (5, "Occasional accident"), (10, "Continent")),
    ),
    (
        "bladder",
        "Bladder",
        ((0, "Incontinent, or catheterized and unable to manage alone"), (5, "Occasional accident"), (10, "Continent")),
    ),
    (
        "toilet_use",
        "Toilet use",
        (
            (0, "Dependent"),
            (5, "Needs some help, but can do something alone"),
            (10, "Independent (on and off, dressing, wiping)"),
        ),
    ),
    (
        "transfers",
        "Transfers (bed to chair and back)",
        (
            (0, "Unable, no sitting balance"),
            (5, "Major help (one or two people, physical), can sit"),
            (10, "Minor help (verbal or physical)"),
            (15, "Independent"),
        ),
    ),
    (
        "mobility",
        "Mobility (on level surfaces)",
        (
            (0, "Immobile or < 50 yards"),
            (5, "Wheelchair independent, including corners, > 50 yards"),
            (10, "Walks with help of one person (verbal or physical) > 50 yards"),
            (15, "Independent (but may use any aid, e.g. stick) > 50 yards"),
        ),
    ),
    ("stairs", "Stairs", ((0, "Unable"), (5, "Needs help (verbal, physical, carrying aid)"), (10, "Independent"))),
)

ITEMS = tuple(
    Item(
        key=key,
        label=label,
        type=ItemType.integer,
        choices=scores(pairs),
        scored=True,
        source=SOURCE,
        qs_testcd=f"BI01{n:02d}",
        qs_test=f"BI01-{label}"[:40],
        qs_cat=QS_CAT,
    )
    for n, (key, label, pairs) in enumerate(_DEFINITIONS, start=1)
)

BARTHEL = Instrument(
    name="barthel",
    outcome=True,
    better="higher",
    title="Barthel Index",
    version="1965-1.0",
    items=ITEMS,
    total_range=(0, 100),
    source=SOURCE,
    description="Independence in 10 activities of daily living; 0 (dependent) to 100 (independent).",
    qs_cat=QS_CAT,
)
