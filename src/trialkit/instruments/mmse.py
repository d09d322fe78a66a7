"""Mini-Mental State Examination (MMSE): 11 domains, 0-30.

Source: Folstein MF, Folstein SE, McHugh PR. "Mini-mental state": a practical method for grading
the cognitive state of patients for the clinician. J Psychiatr Res 1975;12:189-198. Domain maxima
are those of the 1975 form: orientation to time 5 and place 5, registration 3, attention and
calculation 5, recall 3, naming 2, repetition 1, three-stage command 3, reading 1, writing 1,
copying 1.

Each domain is entered as a score; where the 1975 form scores one point per question (orientation,
naming, the three-stage command) the questions may be entered instead, and the domain is their
sum. A domain given together with its questions must equal their sum.

CDISC: QSCAT "MINI-MENTAL STATE EXAMINATION"; QSTESTCD MMS01xx are our own codes in the CDISC
pattern (the MMSE text is licensed; only scores are stored).
"""

from __future__ import annotations

from trialkit.instruments.framework import Instrument, Item, ItemType

SOURCE = "Folstein et al., J Psychiatr Res 1975;12:189-198"
QS_CAT = "MINI-MENTAL STATE EXAMINATION"

# (key, label, maximum, subscale, questions answered one point each)
_DOMAINS = (
    ("orientation_time", "Orientation to time", 5, "orientation",
     (("year", "Year"), ("season", "Season"), ("date", "Date"), ("day", "Day of the week"),
      ("month", "Month"))),
    ("orientation_place", "Orientation to place", 5, "orientation",
     (("state", "State (country)"), ("county", "County (region)"), ("town", "Town or city"),
      ("hospital", "Hospital (building)"), ("floor", "Floor"))),
    ("registration", "Registration (three objects)", 3, "registration", ()),
    ("attention", "Attention and calculation (serial 7s or WORLD backwards)", 5, "attention", ()),
    ("recall", "Recall (three objects)", 3, "recall", ()),
    ("naming", "Naming (pencil, watch)", 2, "language_praxis",
     (("pencil", "Names a pencil"), ("watch", "Names a watch"))),
    ("repetition", "Repetition (\"No ifs, ands, or buts\")", 1, "language_praxis", ()),
    ("command", "Three-stage command", 3, "language_praxis",
     (("take", "Takes the paper in the right hand"), ("fold", "Folds it in half"),
      ("put", "Puts it on the floor"))),
    ("reading", "Reading (\"Close your eyes\")", 1, "language_praxis", ()),
    ("writing", "Writing a sentence", 1, "language_praxis", ()),
    ("copying", "Copying intersecting pentagons", 1, "language_praxis", ()),
)


def _items() -> tuple[Item, ...]:
    items: list[Item] = []
    n = 0
    for key, label, maximum, subscale, questions in _DOMAINS:
        n += 1
        items.append(Item(
            key=key, label=label, type=ItemType.integer, minimum=0, maximum=maximum, scored=True,
            subscale=subscale, source=SOURCE,
            help="May be left blank when its questions are entered." if questions else "",
            qs_testcd=f"MMS01{n:02d}", qs_test=f"MMS01-{label}"[:40], qs_cat=QS_CAT,
        ))
    for key, label, _maximum, _subscale, questions in _DOMAINS:
        for q_key, q_label in questions:
            n += 1
            items.append(Item(
                key=f"{key}_{q_key}", label=f"{label}: {q_label}", type=ItemType.integer,
                minimum=0, maximum=1, required=False, scored=True, part_of=key, source=SOURCE,
                qs_testcd=f"MMS01{n:02d}", qs_test=f"MMS01-{q_label}"[:40], qs_cat=QS_CAT,
            ))
    return tuple(items)


MMSE = Instrument(
    name="mmse",
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
)
