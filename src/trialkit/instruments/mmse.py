"""Mini-Mental State Examination (MMSE): 11 domains, 0-30.

Source: Folstein MF, Folstein SE, McHugh PR. "Mini-mental state": a practical method for grading
the cognitive state of patients for the clinician. J Psychiatr Res 1975;12:189-198. Domain maxima
are those of the 1975 form: orientation to time 5 and place 5, registration 3, attention and
calculation 5, recall 3, naming 2, repetition 1, three-stage command 3, reading 1, writing 1,
copying 1.

Each domain is entered as a score; where the 1975 form scores one point per question (orientation,
naming, the three-stage command) the questions may be entered instead, and the domain is their
sum. A domain given together with all its questions must equal their sum; given with some of
them, it must lie between the sum of those entered and that sum plus the maxima of the missing ones.

CDISC: SDTM Controlled Terminology defines the MMSE as a functional test (SDTMIG FT domain, where
the SDTM export writes it), codelists MMS1TC (C100142, "Mini-Mental State Examination Functional
Test Test Code") and MMS1TN (test names), read from a 2026 extract of the NCI EVS SDTM Terminology
file. Every item that has a term there carries it exactly (e.g. year MMS101A "MMS1-What Is the
Year", C100543; attention and calculation MMS104 "MMS1-Attention and Calculation Subtotal",
C100570). CT has no term for the other domain scores (orientation to time, to place, registration,
recall, naming, three-stage command): it codes those domains only per question or per word.
SDTMIG v3.4 (QRS shared assumption 4.a.iii) lets a sponsor add such collected subtotals to an
instrument's codelist and asks that CDISC be requested to add them; until CDISC does, those six
domain scores carry TrialKit's own codes TKMMS01-TKMMS08, outside the CDISC MMS1 namespace so they
cannot collide with a code CDISC assigns later. The category value ("MINI-MENTAL STATE
EXAMINATION") is TrialKit's own: the CT category term was not in the extract read. The MMSE text is
licensed; only scores are stored.
"""

from __future__ import annotations

from trialkit.instruments.framework import Instrument, Item, ItemType

SOURCE = "Folstein et al., J Psychiatr Res 1975;12:189-198"
QS_CAT = "MINI-MENTAL STATE EXAMINATION"

# (key, label, maximum, subscale, (code, test name), questions answered one point each as
# (key, label, (code, test name))). Codes MMS1xxx and their test names are the CDISC CT terms of
# codelists MMS1TC/MMS1TN, NCIt C-code noted; TKMMSxx are TrialKit's own (no CT term exists),
# numbered after the CT question group of the same domain (01 time ... 08 command).
_DOMAINS = (
    (
        "orientation_time",
        "Orientation to time",
        5,
        "orientation",
        ("TKMMS01", "TKMMS-Orientation to Time Subtotal"),
        (
            ("year", "Year", ("MMS101A", "MMS1-What Is the Year")),  # C100543
            ("season", "Season", ("MMS101B", "MMS1-What Is the Season")),  # C100544
            ("date", "Date", ("MMS101E", "MMS1-What Is the Date")),  # C100545
            ("day", "Day of the week", ("MMS101D", "MMS1-What Is the Day of Week")),  # C100546
            ("month", "Month", ("MMS101C", "MMS1-What Is the Month of Year")),
        ),
    ),  # C100547
    (
        "orientation_place",
        "Orientation to place",
        5,
        "orientation",
        ("TKMMS02", "TKMMS-Orientation to Place Subtotal"),
        (
            ("state", "State (country)", ("MMS102A", "MMS1-What Is the State")),  # C100549
            ("county", "County (region)", ("MMS102B", "MMS1-What Is the County")),  # C100550
            ("town", "Town or city", ("MMS102C", "MMS1-What Is the City/Town")),  # C100551
            ("hospital", "Hospital (building)", ("MMS102D", "MMS1-What Is the Building")),  # C100552
            ("floor", "Floor", ("MMS102E", "MMS1-What Is the Floor")),
        ),
    ),  # C100553
    ("registration", "Registration (three objects)", 3, "registration", ("TKMMS03", "TKMMS-Registration Subtotal"), ()),
    (
        "attention",
        "Attention and calculation (serial 7s or WORLD backwards)",
        5,
        "attention",
        ("MMS104", "MMS1-Attention and Calculation Subtotal"),
        (),
    ),  # C100570
    ("recall", "Recall (three objects)", 3, "recall", ("TKMMS05", "TKMMS-Recall Subtotal"), ()),
    (
        "naming",
        "Naming (pencil, watch)",
        2,
        "language_praxis",
        ("TKMMS06", "TKMMS-Naming Subtotal"),
        (
            ("pencil", "Names a pencil", ("MMS106A", "MMS1-Naming Object 1")),  # C100576
            ("watch", "Names a watch", ("MMS106B", "MMS1-Naming Object 2")),
        ),
    ),  # C100577
    (
        "repetition",
        'Repetition ("No ifs, ands, or buts")',
        1,
        "language_praxis",
        ("MMS107", "MMS1-Repeat What I Say"),
        (),
    ),  # C100578
    (
        "command",
        "Three-stage command",
        3,
        "language_praxis",
        ("TKMMS08", "TKMMS-Three-Stage Command Subtotal"),
        (
            ("take", "Takes the paper in the right hand", ("MMS108A", "MMS1-Take in Right Hand")),  # C100580
            ("fold", "Folds it in half", ("MMS108B", "MMS1-Fold in Half")),  # C100581
            ("put", "Puts it on the floor", ("MMS108C", "MMS1-Put on Floor (or Table)")),
        ),
    ),  # C100582
    (
        "reading",
        'Reading ("Close your eyes")',
        1,
        "language_praxis",
        ("MMS109", "MMS1-Read This and Do What It Says"),
        (),
    ),  # C100583
    ("writing", "Writing a sentence", 1, "language_praxis", ("MMS110", "MMS1-Write a Sentence"), ()),  # C100584
    (
        "copying",
        "Copying intersecting pentagons",
        1,
        "language_praxis",
        ("MMS111", "MMS1-Copy This Design"),
        (),
    ),  # C100585
)


def _items() -> tuple[Item, ...]:
    items: list[Item] = []
    for key, label, maximum, subscale, (testcd, test), questions in _DOMAINS:
        items.append(
            Item(
                key=key,
                label=label,
                type=ItemType.integer,
                minimum=0,
                maximum=maximum,
                scored=True,
                subscale=subscale,
                source=SOURCE,
                help="May be left blank when its questions are entered." if questions else "",
                qs_testcd=testcd,
                qs_test=test,
                qs_cat=QS_CAT,
            )
        )
    for key, label, _maximum, _subscale, _code, questions in _DOMAINS:
        for q_key, q_label, (testcd, test) in questions:
            items.append(
                Item(
                    key=f"{key}_{q_key}",
                    label=f"{label}: {q_label}",
                    type=ItemType.integer,
                    minimum=0,
                    maximum=1,
                    required=False,
                    scored=True,
                    part_of=key,
                    source=SOURCE,
                    qs_testcd=testcd,
                    qs_test=test,
                    qs_cat=QS_CAT,
                )
            )
    return tuple(items)


MMSE = Instrument(
    name="mmse",
    outcome=True,
    better="higher",
    title="Mini-Mental State Examination",
    version="1975-1.0",
    items=_items(),
    total_range=(0, 30),
    subscales=(
        ("orientation", "Orientation (time and place)"),
        ("registration", "Registration"),
        ("attention", "Attention and calculation"),
        ("recall", "Recall"),
        ("language_praxis", "Language and praxis"),
    ),
    source=SOURCE,
    description="Global cognition; 0-30, higher is better.",
    qs_cat=QS_CAT,
    sdtm_domain="FT",  # CDISC CT: MMS1TC is a functional test codelist
)
