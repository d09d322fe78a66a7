"""Fugl-Meyer Assessment, motor function: upper extremity (33 items, 0-66), lower extremity
(17 items, 0-34).

Sources: Fugl-Meyer AR et al. The post-stroke hemiplegic patient. 1. A method for evaluation of
physical performance. Scand J Rehabil Med 1975;7:13-31; item wording and scoring from the
University of Gothenburg standardized protocols (FMA-UE and FMA-LE); Gladstone DJ et al.,
Neurorehabil Neural Repair 2002;16:232-240 (review; UE 66, LE 34).

Items score 0 (cannot perform), 1 (performs partly), 2 (performs fully), except the reflex items
of part I, which the published form scores 0 (no reflex activity) or 2 (reflex activity can be
elicited) - never 1. Part V (normal reflex activity) is assessed only when part IV has its full
score; otherwise it is 0.

CDISC: SDTM Controlled Terminology has no Fugl-Meyer Assessment codelist (none among the SDTM CT
codelists of release 2025-09-26 nor in a 2026 extract of the instrument test codes of the NCI EVS
SDTM Terminology file). QSCAT "FUGL-MEYER ASSESSMENT" and QSTESTCD FMUE0101-FMUE0133 and
FMLE0101-FMLE0117 (items in form order) are TrialKit's own, sponsor-defined codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialkit.instruments.framework import Choice, FieldError, Instrument, Item, ItemType, Rule, levels

SOURCE = "Fugl-Meyer et al., Scand J Rehabil Med 1975;7:13-31; Gothenburg FMA protocols"
QS_CAT = "FUGL-MEYER ASSESSMENT"

PERFORMANCE = levels("Cannot be performed", "Performed partly", "Performed faultlessly")
REFLEX = (Choice(0, "No reflex activity can be elicited"), Choice(2, "Reflex activity can be elicited"))
NORMAL_REFLEX = levels(
    "2 of 3 reflexes markedly hyperactive (or part IV not at full score)",
    "1 reflex markedly hyperactive or at least 2 reflexes lively",
    "At most 1 reflex lively, none hyperactive",
)
TREMOR = levels("Marked", "Slight", "None")
DYSMETRIA = levels("Pronounced or unsystematic", "Slight and systematic", "None")
TIME = levels("6 s or more slower than the unaffected side", "2-5 s slower", "Less than 2 s difference")

# (key, label, section, choices); the section names the part of the published form.
_UE = (
    ("a_reflex_flexors", "Reflex activity: flexors (biceps, finger flexors)", "A.I", REFLEX),
    ("a_reflex_extensors", "Reflex activity: extensors (triceps)", "A.I", REFLEX),
    ("a_flexor_shoulder_retraction", "Flexor synergy: shoulder retraction", "A.II", PERFORMANCE),
    ("a_flexor_shoulder_elevation", "Flexor synergy: shoulder elevation", "A.II", PERFORMANCE),
    ("a_flexor_shoulder_abduction", "Flexor synergy: shoulder abduction (90 degrees)", "A.II", PERFORMANCE),
    ("a_flexor_shoulder_outward_rotation", "Flexor synergy: shoulder outward rotation", "A.II", PERFORMANCE),
    ("a_flexor_elbow_flexion", "Flexor synergy: elbow flexion", "A.II", PERFORMANCE),
    ("a_flexor_forearm_supination", "Flexor synergy: forearm supination", "A.II", PERFORMANCE),
    ("a_extensor_shoulder_adduction", "Extensor synergy: shoulder adduction/inward rotation", "A.II", PERFORMANCE),
    ("a_extensor_elbow_extension", "Extensor synergy: elbow extension", "A.II", PERFORMANCE),
    ("a_extensor_forearm_pronation", "Extensor synergy: forearm pronation", "A.II", PERFORMANCE),
    ("a_mixing_hand_to_lumbar_spine", "Mixing synergies: hand to lumbar spine", "A.III", PERFORMANCE),
    ("a_mixing_shoulder_flexion_0_90", "Mixing synergies: shoulder flexion 0-90 degrees", "A.III", PERFORMANCE),
    (
        "a_mixing_pronation_supination",
        "Mixing synergies: pronation-supination, elbow at 90 degrees",
        "A.III",
        PERFORMANCE,
    ),
    (
        "a_isolated_shoulder_abduction_0_90",
        "Little or no synergy: shoulder abduction 0-90 degrees",
        "A.IV",
        PERFORMANCE,
    ),
    (
        "a_isolated_shoulder_flexion_90_180",
        "Little or no synergy: shoulder flexion 90-180 degrees",
        "A.IV",
        PERFORMANCE,
    ),
    (
        "a_isolated_pronation_supination",
        "Little or no synergy: pronation-supination, elbow at 0 degrees",
        "A.IV",
        PERFORMANCE,
    ),
    ("a_normal_reflex_activity", "Normal reflex activity (biceps, triceps, finger flexors)", "A.V", NORMAL_REFLEX),
    ("b_stability_elbow_90", "Wrist: stability at 15 degrees dorsiflexion, elbow at 90 degrees", "B", PERFORMANCE),
    (
        "b_flexion_extension_elbow_90",
        "Wrist: repeated dorsiflexion/volar flexion, elbow at 90 degrees",
        "B",
        PERFORMANCE,
    ),
    ("b_stability_elbow_0", "Wrist: stability at 15 degrees dorsiflexion, elbow at 0 degrees", "B", PERFORMANCE),
    ("b_flexion_extension_elbow_0", "Wrist: repeated dorsiflexion/volar flexion, elbow at 0 degrees", "B", PERFORMANCE),
    ("b_circumduction", "Wrist: circumduction", "B", PERFORMANCE),
    ("c_mass_flexion", "Hand: mass flexion", "C", PERFORMANCE),
    ("c_mass_extension", "Hand: mass extension", "C", PERFORMANCE),
    ("c_grasp_hook", "Hand: grasp a - hook grasp", "C", PERFORMANCE),
    ("c_grasp_thumb_adduction", "Hand: grasp b - thumb adduction (paper)", "C", PERFORMANCE),
    ("c_grasp_pincer", "Hand: grasp c - pincer grasp (pencil)", "C", PERFORMANCE),
    ("c_grasp_cylinder", "Hand: grasp d - cylinder grasp (can)", "C", PERFORMANCE),
    ("c_grasp_spherical", "Hand: grasp e - spherical grasp (ball)", "C", PERFORMANCE),
    ("d_tremor", "Coordination/speed: tremor", "D", TREMOR),
    ("d_dysmetria", "Coordination/speed: dysmetria", "D", DYSMETRIA),
    ("d_time", "Coordination/speed: time (finger-to-nose, 5 repetitions)", "D", TIME),
)

_LE = (
    ("e_reflex_flexors", "Reflex activity: flexors (knee flexors)", "E.I", REFLEX),
    ("e_reflex_extensors", "Reflex activity: extensors (patellar, Achilles)", "E.I", REFLEX),
    ("e_flexor_hip_flexion", "Flexor synergy: hip flexion", "E.II", PERFORMANCE),
    ("e_flexor_knee_flexion", "Flexor synergy: knee flexion", "E.II", PERFORMANCE),
    ("e_flexor_ankle_dorsiflexion", "Flexor synergy: ankle dorsiflexion", "E.II", PERFORMANCE),
    ("e_extensor_hip_extension", "Extensor synergy: hip extension", "E.II", PERFORMANCE),
    ("e_extensor_hip_adduction", "Extensor synergy: hip adduction", "E.II", PERFORMANCE),
    ("e_extensor_knee_extension", "Extensor synergy: knee extension", "E.II", PERFORMANCE),
    ("e_extensor_ankle_plantar_flexion", "Extensor synergy: ankle plantar flexion", "E.II", PERFORMANCE),
    ("e_mixing_knee_flexion", "Mixing synergies (sitting): knee flexion beyond 90 degrees", "E.III", PERFORMANCE),
    ("e_mixing_ankle_dorsiflexion", "Mixing synergies (sitting): ankle dorsiflexion", "E.III", PERFORMANCE),
    ("e_isolated_knee_flexion", "Little or no synergy (standing): knee flexion to 90 degrees", "E.IV", PERFORMANCE),
    ("e_isolated_ankle_dorsiflexion", "Little or no synergy (standing): ankle dorsiflexion", "E.IV", PERFORMANCE),
    ("e_normal_reflex_activity", "Normal reflex activity (knee flexors, patellar, Achilles)", "E.V", NORMAL_REFLEX),
    ("f_tremor", "Coordination/speed: tremor", "F", TREMOR),
    ("f_dysmetria", "Coordination/speed: dysmetria", "F", DYSMETRIA),
    ("f_time", "Coordination/speed: time (heel to opposite knee, 5 repetitions)", "F", TIME),
)

# QSTEST for each item: "<prefix>01-" and a short name, so every name stays within the SDTM limit of
# 40 characters and stays distinct (cutting the labels at 40 made two wrist items and two part IV
# items share one QSTEST).
_QS_TEST = {
    "a_reflex_flexors": "Reflex Flexors",
    "a_reflex_extensors": "Reflex Extensors",
    "a_flexor_shoulder_retraction": "Flexor Syn Shoulder Retraction",
    "a_flexor_shoulder_elevation": "Flexor Syn Shoulder Elevation",
    "a_flexor_shoulder_abduction": "Flexor Syn Shoulder Abduction",
    "a_flexor_shoulder_outward_rotation": "Flexor Syn Shoulder Ext Rotation",
    "a_flexor_elbow_flexion": "Flexor Syn Elbow Flexion",
    "a_flexor_forearm_supination": "Flexor Syn Forearm Supination",
    "a_extensor_shoulder_adduction": "Extensor Syn Shoulder Add/Int Rot",
    "a_extensor_elbow_extension": "Extensor Syn Elbow Extension",
    "a_extensor_forearm_pronation": "Extensor Syn Forearm Pronation",
    "a_mixing_hand_to_lumbar_spine": "Mixing Syn Hand to Lumbar Spine",
    "a_mixing_shoulder_flexion_0_90": "Mixing Syn Shoulder Flexion 0-90",
    "a_mixing_pronation_supination": "Mixing Syn Pronation/Supination",
    "a_isolated_shoulder_abduction_0_90": "No Syn Shoulder Abduction 0-90",
    "a_isolated_shoulder_flexion_90_180": "No Syn Shoulder Flexion 90-180",
    "a_isolated_pronation_supination": "No Syn Pronation/Supination",
    "a_normal_reflex_activity": "Normal Reflex Activity",
    "b_stability_elbow_90": "Wrist Stability Elbow 90",
    "b_flexion_extension_elbow_90": "Wrist Flexion/Extension Elbow 90",
    "b_stability_elbow_0": "Wrist Stability Elbow 0",
    "b_flexion_extension_elbow_0": "Wrist Flexion/Extension Elbow 0",
    "b_circumduction": "Wrist Circumduction",
    "c_mass_flexion": "Hand Mass Flexion",
    "c_mass_extension": "Hand Mass Extension",
    "c_grasp_hook": "Grasp a Hook",
    "c_grasp_thumb_adduction": "Grasp b Thumb Adduction",
    "c_grasp_pincer": "Grasp c Pincer",
    "c_grasp_cylinder": "Grasp d Cylinder",
    "c_grasp_spherical": "Grasp e Spherical",
    "d_tremor": "Coordination Tremor",
    "d_dysmetria": "Coordination Dysmetria",
    "d_time": "Coordination Time",
    "e_reflex_flexors": "Reflex Flexors",
    "e_reflex_extensors": "Reflex Extensors",
    "e_flexor_hip_flexion": "Flexor Syn Hip Flexion",
    "e_flexor_knee_flexion": "Flexor Syn Knee Flexion",
    "e_flexor_ankle_dorsiflexion": "Flexor Syn Ankle Dorsiflexion",
    "e_extensor_hip_extension": "Extensor Syn Hip Extension",
    "e_extensor_hip_adduction": "Extensor Syn Hip Adduction",
    "e_extensor_knee_extension": "Extensor Syn Knee Extension",
    "e_extensor_ankle_plantar_flexion": "Extensor Syn Ankle Plantarflexion",
    "e_mixing_knee_flexion": "Mixing Syn Knee Flexion",
    "e_mixing_ankle_dorsiflexion": "Mixing Syn Ankle Dorsiflexion",
    "e_isolated_knee_flexion": "No Syn Knee Flexion",
    "e_isolated_ankle_dorsiflexion": "No Syn Ankle Dorsiflexion",
    "e_normal_reflex_activity": "Normal Reflex Activity",
    "f_tremor": "Coordination Tremor",
    "f_dysmetria": "Coordination Dysmetria",
    "f_time": "Coordination Time",
}

SECTION_LABELS = {
    "A": "A. Upper extremity (shoulder/elbow/forearm)",
    "B": "B. Wrist",
    "C": "C. Hand",
    "D": "D. Coordination/speed",
    "E": "E. Lower extremity (hip/knee/ankle)",
    "F": "F. Coordination/speed",
}


def _items(definitions: Any, prefix: str) -> tuple[Item, ...]:
    return tuple(
        Item(
            key=key,
            label=label,
            type=ItemType.integer,
            choices=choices,
            scored=True,
            subscale=section[0],
            help=f"Part {section} of the published form.",
            source=SOURCE,
            qs_testcd=f"{prefix}01{n:02d}",
            qs_test=f"{prefix}01-{_QS_TEST[key]}",
            qs_cat=QS_CAT,
        )
        for n, (key, label, section, choices) in enumerate(definitions, start=1)
    )


def _part_v_rule(part_iv: tuple[str, ...], part_v: str, full: int) -> Rule:
    def check(values: Mapping[str, Any]) -> list[FieldError]:
        if not all(k in values for k in part_iv) or values.get(part_v, 0) == 0:
            return []
        score = sum(values[k] for k in part_iv)
        if score < full:
            return [
                FieldError(
                    part_v,
                    values[part_v],
                    "part_v_requires_full_part_iv",
                    f"must be 0: part V is assessed only when part IV scores {full} (it scores {score})",
                )
            ]
        return []

    return Rule(
        "part_v_requires_full_part_iv",
        f"{part_v} is scored only if part IV has its full score of {full}; otherwise 0.",
        "Gothenburg FMA protocol, part V",
        check,
    )


FMA_UE = Instrument(
    name="fma_ue",
    outcome=True,
    better="higher",
    title="Fugl-Meyer Assessment, upper extremity motor",
    version="1975-gothenburg-1.0",
    items=_items(_UE, "FMUE"),
    total_range=(0, 66),
    subscales=tuple((s, SECTION_LABELS[s]) for s in "ABCD"),
    rules=(_part_v_rule(tuple(k for k, _l, s, _c in _UE if s == "A.IV"), "a_normal_reflex_activity", 6),),
    source=SOURCE,
    description="Motor impairment of the affected arm; 33 items, 0-66 (A 36, B 10, C 14, D 6).",
    qs_cat=QS_CAT,
)

FMA_LE = Instrument(
    name="fma_le",
    outcome=True,
    better="higher",
    title="Fugl-Meyer Assessment, lower extremity motor",
    version="1975-gothenburg-1.0",
    items=_items(_LE, "FMLE"),
    total_range=(0, 34),
    subscales=tuple((s, SECTION_LABELS[s]) for s in "EF"),
    rules=(_part_v_rule(tuple(k for k, _l, s, _c in _LE if s == "E.IV"), "e_normal_reflex_activity", 4),),
    source=SOURCE,
    description="Motor impairment of the affected leg; 17 items, 0-34 (E 28, F 6).",
    qs_cat=QS_CAT,
)
