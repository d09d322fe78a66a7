"""NIH Stroke Scale (NIHSS): 15 items, total 0-42.

Source: Brott T et al. Measurements of acute cerebral infarction: a clinical examination scale.
Stroke 1989;20:864-870; item definitions and scoring instructions from the NINDS NIH Stroke Scale
form and instruction booklet (NINDS, "NIH Stroke Scale", items 1a-11). Item ranges are those of the
NINDS form. "UN" (untestable) is allowed only where the NINDS instructions allow it: motor items
5a-6b and ataxia (7) for amputation or joint fusion, dysarthria (10) for intubation or another
physical barrier to speech. UN is never added to the total.

CDISC: SDTM Controlled Terminology has no NIHSS codelist (no NIHSS test code in the QS, FT or RS
instrument codelists of a 2026 extract of the NCI EVS SDTM Terminology file, nor among the SDTM CT
codelists of release 2025-09-26). QSCAT "NIHSS" and QSTESTCD NIHS0101-NIHS0115 (items 1a to 11 in
form order) are therefore TrialKit's own, sponsor-defined codes; they follow the SDTM rules for
test codes (see docs/instruments.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialkit.instruments.framework import FieldError, Instrument, Item, ItemType, Rule, levels

NINDS = "NINDS NIH Stroke Scale form and instructions; Brott et al., Stroke 1989;20:864-870"
QS_CAT = "NIHSS"
UN = ("UN",)

_MOTOR_ARM = levels(
    "No drift; limb holds 90 (or 45) degrees for full 10 seconds",
    "Drift; limb holds 90 (or 45) degrees, but drifts down before full 10 seconds",
    "Some effort against gravity",
    "No effort against gravity; limb falls",
    "No movement",
)
_MOTOR_LEG = levels(
    "No drift; leg holds 30-degree position for full 5 seconds",
    "Drift; leg falls by the end of the 5-second period but does not hit the bed",
    "Some effort against gravity",
    "No effort against gravity; leg falls to bed at once",
    "No movement",
)


def _item(n: int, key: str, label: str, choices: Any, untestable: tuple[str, ...] = (), help: str = "") -> Item:
    return Item(
        key=key,
        label=label,
        type=ItemType.integer,
        choices=choices,
        untestable=untestable,
        scored=True,
        help=help,
        source=NINDS,
        qs_testcd=f"NIHS01{n:02d}",
        qs_test=f"NIHS01-{label}"[:40],
        qs_cat=QS_CAT,
    )


ITEMS = (
    _item(
        1,
        "1a",
        "Level of Consciousness",
        levels(
            "Alert; keenly responsive",
            "Not alert; but arousable by minor stimulation",
            "Not alert; requires repeated stimulation to attend",
            "Responds only with reflex motor or autonomic effects, or totally unresponsive",
        ),
    ),
    _item(
        2,
        "1b",
        "LOC Questions",
        levels(
            "Answers both questions correctly",
            "Answers one question correctly",
            "Answers neither question correctly",
        ),
        help="Month and age. Intubation or another barrier not due to aphasia scores 1.",
    ),
    _item(
        3,
        "1c",
        "LOC Commands",
        levels(
            "Performs both tasks correctly",
            "Performs one task correctly",
            "Performs neither task correctly",
        ),
    ),
    _item(
        4,
        "2",
        "Best Gaze",
        levels(
            "Normal",
            "Partial gaze palsy",
            "Forced deviation, or total gaze paresis not overcome by the oculocephalic maneuver",
        ),
    ),
    _item(
        5,
        "3",
        "Visual",
        levels(
            "No visual loss",
            "Partial hemianopia",
            "Complete hemianopia",
            "Bilateral hemianopia (blind including cortical blindness)",
        ),
    ),
    _item(
        6,
        "4",
        "Facial Palsy",
        levels(
            "Normal symmetrical movements",
            "Minor paralysis",
            "Partial paralysis (total or near-total paralysis of lower face)",
            "Complete paralysis of one or both sides",
        ),
    ),
    _item(7, "5a", "Motor Arm - Left", _MOTOR_ARM, UN, help="UN = amputation or joint fusion."),
    _item(8, "5b", "Motor Arm - Right", _MOTOR_ARM, UN, help="UN = amputation or joint fusion."),
    _item(9, "6a", "Motor Leg - Left", _MOTOR_LEG, UN, help="UN = amputation or joint fusion."),
    _item(10, "6b", "Motor Leg - Right", _MOTOR_LEG, UN, help="UN = amputation or joint fusion."),
    _item(
        11,
        "7",
        "Limb Ataxia",
        levels(
            "Absent",
            "Present in one limb",
            "Present in two limbs",
        ),
        UN,
        help="UN = amputation or joint fusion. Absent in a patient who cannot understand or is paralyzed.",
    ),
    _item(
        12,
        "8",
        "Sensory",
        levels(
            "Normal; no sensory loss",
            "Mild-to-moderate sensory loss",
            "Severe to total sensory loss",
        ),
    ),
    _item(
        13,
        "9",
        "Best Language",
        levels(
            "No aphasia; normal",
            "Mild-to-moderate aphasia",
            "Severe aphasia",
            "Mute, global aphasia; no usable speech or auditory comprehension",
        ),
    ),
    _item(
        14,
        "10",
        "Dysarthria",
        levels(
            "Normal",
            "Mild-to-moderate dysarthria",
            "Severe dysarthria; unintelligible, or mute/anarthric",
        ),
        UN,
        help="UN = intubated or other physical barrier to speech.",
    ),
    _item(
        15,
        "11",
        "Extinction and Inattention",
        levels(
            "No abnormality",
            "Inattention or extinction in one sensory modality",
            "Profound hemi-inattention or extinction to more than one modality",
        ),
    ),
)

# --------------------------------------------------------------------------- cross-item rules

# When 1a = 3 (coma), these items take a fixed score. NINDS instructions: 1b "Aphasic and
# stuporous patients who do not comprehend the questions will score 2"; 7 "ataxia is absent in the
# patient who cannot understand or is paralyzed" (0); 8 "Patients in a coma (item 1a=3) are
# automatically given a 2 on this item"; 9 "A patient in a coma (item 1a=3) will automatically
# score 3 on this item". 1c and 10 follow from the level definitions: a patient who responds only
# reflexively performs neither task (1c = 2) and is mute/anarthric (10 = 2, or UN if intubated).
COMA_SCORES: dict[str, tuple[Any, ...]] = {
    "1b": (2,),
    "1c": (2,),
    "7": (0,),
    "8": (2,),
    "9": (3,),
    "10": (2, "UN"),
}


def _coma_rule(values: Mapping[str, Any]) -> list[FieldError]:
    if values.get("1a") != 3:
        return []
    errors = []
    for key, allowed in COMA_SCORES.items():
        if key in values and values[key] not in allowed:
            want = " or ".join(str(a) for a in allowed)
            errors.append(
                FieldError(
                    key, values[key], "coma_default", f"must be {want} when 1a = 3 (coma), per the NINDS instructions"
                )
            )
    return errors


def _ataxia_rule(values: Mapping[str, Any]) -> list[FieldError]:
    # NINDS item 7: ataxia is scored only in limbs that can be tested; it "is absent in the patient
    # who ... is paralyzed", and an amputated or fused limb is untestable. So the number of limbs
    # with ataxia cannot exceed the number of limbs with some movement (motor score 0-3).
    if not isinstance(values.get("7"), int):
        return []
    motor = [values.get(k) for k in ("5a", "5b", "6a", "6b")]
    if any(m is None for m in motor):
        return []
    movable = sum(1 for m in motor if isinstance(m, int) and m < 4)
    if values["7"] > movable:
        return [
            FieldError(
                "7",
                values["7"],
                "ataxia_paralysis",
                f"ataxia in {values['7']} limb(s) but only {movable} limb(s) can move "
                "(motor 0-3); ataxia is absent in a paralyzed limb (NINDS item 7)",
            )
        ]
    return []


RULES = (
    Rule(
        "coma_default",
        "If 1a = 3 (coma): 1b = 2, 1c = 2, 7 = 0, 8 = 2, 9 = 3, 10 = 2 (or UN).",
        "NINDS NIHSS instructions, items 1b, 7, 8, 9; level definitions of 1c and 10",
        _coma_rule,
    ),
    Rule(
        "ataxia_paralysis",
        "Item 7 (limbs with ataxia) cannot exceed the number of limbs scoring 0-3 on items 5a-6b.",
        "NINDS NIHSS instructions, item 7",
        _ataxia_rule,
        reads=("7", "5a", "5b", "6a", "6b"),
    ),
)

NIHSS = Instrument(
    name="nihss",
    outcome=True,
    better="lower",
    title="NIH Stroke Scale",
    version="NINDS-1.0",
    items=ITEMS,
    total_range=(0, 42),
    rules=RULES,
    source=NINDS,
    description="Stroke-related neurological deficit; 15 items, total 0 (none) to 42. UN items add nothing.",
    qs_cat=QS_CAT,
    notes=(
        "The coma rule fixes only the items whose NINDS instructions or level definitions set them; "
        "motor items (5a-6b), gaze, visual fields, facial palsy and extinction (11) are scored as observed.",
    ),
)
