"""FHIR R4 from a protocol and plain records, and screening labs from a FHIR Bundle of Observations.

Export: a ``collection`` Bundle with one ResearchStudy (from the protocol's registry facts, design and
arms) and, per participant, a ResearchSubject and a Consent. Participants are referred to by their
trial subject id only (a logical reference, no Patient resource): the export carries no name or other
direct identifier. Blinding: a ResearchSubject carries ``assignedArm``, and the ResearchStudy its arms
and summary, only when the export is asked for unblinded *and* the records carry arms (``ExportData``
from an unblinded export); a blinded export names no arm in any resource, whatever the records hold.

Import: Observations coded with LOINC (https://loinc.org) become screening facts: a quantity becomes
``labs.<analyte>`` with its unit, and the ULN is the Observation's ``referenceRange.high`` with its own
unit; a coded or text result becomes ``serology.<test>``. The facts are then read by the eligibility
core, so units are converted and an implausible ULN refused exactly as for facts typed in.

The models are ``fhir.resources.R4B``: FHIR R4B (4.3) has the same ResearchStudy, ResearchSubject,
Consent, Observation and Bundle as R4 (4.0.1); fhir.resources 8 ships R5 and R4B, not R4.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from trialkit.export.records import ExportData, ExportSubject
from trialkit.instruments.labs import find_analyte
from trialkit.instruments.serology import find_serology

if TYPE_CHECKING:
    from trialkit.protocol import Protocol

LOINC = "http://loinc.org"
NCT_SYSTEM = "https://clinicaltrials.gov"
SNOMED = "http://snomed.info/sct"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

# ClinicalTrials.gov overall status -> R4 ResearchStudy.status (required binding, research-study-status).
# "Unknown" on ClinicalTrials.gov is a study whose last reported status was not yet recruiting,
# recruiting, enrolling by invitation or active, not verified for two years; R4 has no "unknown", so the
# last reported state, active, is written.
STUDY_STATUS = {
    "NOT_YET_RECRUITING": "approved",
    "RECRUITING": "active",
    "ENROLLING_BY_INVITATION": "active",
    "ACTIVE_NOT_RECRUITING": "closed-to-accrual",
    "SUSPENDED": "temporarily-closed-to-accrual",
    "TERMINATED": "administratively-completed",
    "COMPLETED": "completed",
    "WITHDRAWN": "withdrawn",
    "UNKNOWN": "active",
}
# R4 research-study-phase codes.
PHASE_CODES = {
    ("EARLY_PHASE1",): "early-phase-1",
    ("PHASE1",): "phase-1",
    ("PHASE1", "PHASE2"): "phase-1-phase-2",
    ("PHASE2",): "phase-2",
    ("PHASE2", "PHASE3"): "phase-2-phase-3",
    ("PHASE3",): "phase-3",
    ("PHASE4",): "phase-4",
    ("NA",): "n-a",
}
PURPOSE_CODES = {
    "TREATMENT": "treatment",
    "PREVENTION": "prevention",
    "DIAGNOSTIC": "diagnostic",
    "SUPPORTIVE_CARE": "supportive-care",
}
# ExportSubject.status -> R4 ResearchSubject.status (research-subject-status).
SUBJECT_STATUS = {
    "ongoing": "on-study",
    "completed": "off-study",
    "withdrawn": "withdrawn",
    "lost_to_follow_up": "off-study",
    "died": "off-study",
}


def _cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def research_study(protocol: Protocol, unblinded: bool = False) -> dict[str, Any]:
    """The ResearchStudy resource (as FHIR JSON) of a protocol's registry facts and design; the arms and
    the summary (which names the comparator) only in an unblinded export: a blinded export names no arm
    in any file, as the other exports do."""
    from fhir.resources.R4B.researchstudy import ResearchStudy

    reg = protocol.registry
    phase = PHASE_CODES.get(tuple(reg.phases))
    study: dict[str, Any] = {
        "resourceType": "ResearchStudy",
        "id": reg.nct_id.lower(),
        "identifier": [
            {"system": NCT_SYSTEM, "value": reg.nct_id},
            {"type": {"text": "organisation study id"}, "value": reg.org_study_id},
            *({"type": {"text": "secondary id"}, "value": s} for s in reg.secondary_ids),
        ],
        "title": reg.official_title or reg.brief_title,
        "status": STUDY_STATUS[reg.overall_status.value],
        "condition": [{"text": c} for c in reg.conditions],
        "keyword": [{"text": k} for k in reg.keywords],
        "sponsor": {"display": reg.sponsor},
        "contact": [{"name": c.name} for c in reg.central_contacts],
    }
    if unblinded:
        study["description"] = reg.brief_summary
        study["arm"] = [
            {"name": arm.id, "type": {"text": arm.type}, "description": f"{arm.label}: {arm.description}"}
            for arm in protocol.arms
        ]
    if phase:
        study["phase"] = _cc("http://terminology.hl7.org/CodeSystem/research-study-phase", phase)
    purpose = PURPOSE_CODES.get(protocol.design.primary_purpose)
    if purpose:
        study["primaryPurposeType"] = _cc(
            "http://terminology.hl7.org/CodeSystem/research-study-prim-purp-type", purpose
        )
    if reg.start_date:
        study["period"] = {"start": reg.start_date.isoformat()}
    study = {k: v for k, v in study.items() if v not in ([], None)}
    return ResearchStudy.model_validate(study).model_dump(mode="json", exclude_none=True)


def research_subject(protocol: Protocol, subject: ExportSubject, unblinded: bool) -> dict[str, Any]:
    from fhir.resources.R4B.researchsubject import ResearchSubject

    resource: dict[str, Any] = {
        "resourceType": "ResearchSubject",
        "id": _id("subject", subject.subject_id),
        "identifier": [{"system": _subject_system(protocol), "value": subject.subject_id}],
        "status": SUBJECT_STATUS.get(subject.status or "ongoing", "on-study"),
        "study": {"reference": _full_url(protocol, "ResearchStudy", protocol.id.lower())},
        "individual": {"identifier": {"system": _subject_system(protocol), "value": subject.subject_id}},
    }
    start = subject.randomized_on or subject.consent_date
    if start:
        resource["period"] = {
            "start": start.isoformat(),
            **({"end": subject.end_date.isoformat()} if subject.end_date else {}),
        }
    if subject.consent_date:
        resource["consent"] = {"reference": _full_url(protocol, "Consent", _id("consent", subject.subject_id))}
    if unblinded and subject.arm_id is not None:
        # Only an unblinded export gets here (see module docstring).
        resource["assignedArm"] = subject.arm_id
    return ResearchSubject.model_validate(resource).model_dump(mode="json", exclude_none=True)


def consent(protocol: Protocol, subject: ExportSubject) -> dict[str, Any] | None:
    """The participant's research consent (scope and category research, policy: Common Rule informed
    consent, as in HL7's research consent examples); None when no consent date is recorded."""
    from fhir.resources.R4B.consent import Consent

    if subject.consent_date is None:
        return None
    resource = {
        "resourceType": "Consent",
        "id": _id("consent", subject.subject_id),
        "status": "active",
        "scope": _cc("http://terminology.hl7.org/CodeSystem/consentscope", "research", "Research"),
        "category": [_cc("http://terminology.hl7.org/CodeSystem/consentcategorycodes", "research")],
        "patient": {"identifier": {"system": _subject_system(protocol), "value": subject.subject_id}},
        "dateTime": subject.consent_date.isoformat(),  # a FHIR dateTime may be a date: the day is what is known
        "policyRule": _cc("http://terminology.hl7.org/CodeSystem/consentpolicycodes", "cric"),
        "provision": {
            "type": "permit",
            "data": [
                {
                    "meaning": "related",
                    "reference": {"reference": _full_url(protocol, "ResearchStudy", protocol.id.lower())},
                }
            ],
        },
    }
    return Consent.model_validate(resource).model_dump(mode="json", exclude_none=True)


def build_bundle(protocol: Protocol, data: ExportData | None = None, unblinded: bool = False) -> dict[str, Any]:
    """A FHIR R4 ``collection`` Bundle: the ResearchStudy, then per participant (in subject id order)
    their ResearchSubject and Consent. ``assignedArm`` only when ``unblinded`` and the records carry
    arms. (``write_bundle`` with one chunk, read back.)"""
    out = io.StringIO()
    write_bundle(protocol, [data] if data is not None else [], out, unblinded=unblinded)
    return json.loads(out.getvalue())


_PLACEHOLDER = "\ue000entries"


def _validated_entry(protocol: Protocol, resource: dict[str, Any]) -> dict[str, Any]:
    from fhir.resources.R4B.bundle import Bundle

    entry = {"fullUrl": _full_url(protocol, resource["resourceType"], resource["id"]), "resource": resource}
    bundle = Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "entry": [entry]})
    return bundle.model_dump(mode="json", exclude_none=True)["entry"][0]


def _subjects_in_order(chunks: Iterable[ExportData]) -> Iterator[ExportSubject]:
    """The subjects by subject id: streamed when the chunks hold them in that order (the extract
    reads them so), else gathered and sorted."""
    previous: str | None = None
    for chunk in chunks:
        for subject in chunk.subjects:
            if previous is not None and subject.subject_id < previous:
                yield from sorted((s for c in chunks for s in c.subjects), key=lambda s: s.subject_id)
                return
            previous = subject.subject_id
    for chunk in chunks:
        yield from sorted(chunk.subjects, key=lambda s: s.subject_id)


def write_bundle(protocol: Protocol, chunks: Iterable[ExportData], out: TextIO, unblinded: bool = False) -> int:
    """Write the Bundle of ``build_bundle`` to ``out`` as JSON (indent 2) one entry at a time;
    ``chunks`` is read more than once (trialkit.export.stream). Returns the number of entries."""
    from fhir.resources.R4B.bundle import Bundle

    from trialkit.export.stream import is_blinded, reiterable

    chunks = reiterable(chunks)
    study = research_study(protocol, unblinded=unblinded and not is_blinded(chunks))
    first = _validated_entry(protocol, study)
    shell = Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "entry": [first]}).model_dump(
        mode="json", exclude_none=True
    )
    shell["entry"] = [_PLACEHOLDER]
    head, _, tail = json.dumps(shell, indent=2, ensure_ascii=False).partition(f'"{_PLACEHOLDER}"')

    def entry_text(entry: dict[str, Any]) -> str:
        return json.dumps(entry, indent=2, ensure_ascii=False).replace("\n", "\n    ")

    out.write(head)
    out.write(entry_text(first))
    entries = 1
    for subject in _subjects_in_order(chunks):
        signed = consent(protocol, subject)
        for resource in (research_subject(protocol, subject, unblinded), signed):
            if resource:
                out.write(",\n    ")
                out.write(entry_text(_validated_entry(protocol, resource)))
                entries += 1
    out.write(tail)
    return entries


def _full_url(protocol: Protocol, kind: str, resource_id: str) -> str:
    # Entries of a collection Bundle refer to each other by fullUrl; a name-based UUID (RFC 4122 v5)
    # makes the same resource the same URL in every export.
    import uuid

    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"trialkit:{protocol.id}:{kind}/{resource_id}"))


def _subject_system(protocol: Protocol) -> str:
    return f"urn:trialkit:{protocol.id}:subject"


def _id(kind: str, subject_id: str) -> str:
    # A FHIR id is [A-Za-z0-9\-\.]{1,64}.
    import re

    return f"{kind}-" + re.sub(r"[^A-Za-z0-9.\-]", "-", subject_id)[:55]


# --------------------------------------------------------------------------- import: labs from a Bundle


class FhirInputError(ValueError):
    """A Bundle that cannot be read; ``errors`` are (location, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{where}: {message}" for where, message in errors))


@dataclass
class LabImport:
    facts: dict[str, Any]  # {"labs": {...}, "serology": {...}}: a screening facts patch
    sources: dict[str, str] = field(default_factory=dict)  # fact path -> the Observation it came from
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"observation", "why"}


_FINAL = {"final", "amended", "corrected"}
_NEGATIVE = {"negative", "neg", "non-reactive", "nonreactive", "not detected", "n", "260385009"}
_POSITIVE = {"positive", "pos", "reactive", "detected", "p", "10828004"}


def _unit(quantity: Mapping[str, Any]) -> str | None:
    """Our spelling of a Quantity's unit: the human ``unit`` first, else the UCUM ``code`` ("{INR}")."""
    for key in ("unit", "code"):
        value = quantity.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().strip("{}")
    return None


def _result_word(observation: Mapping[str, Any]) -> str | None:
    """'positive'/'negative' from valueCodeableConcept (SNOMED CT 10828004 Positive, 260385009
    Negative, or its text), valueString, or the interpretation (v3 POS/NEG)."""
    candidates: list[str] = []
    concept = observation.get("valueCodeableConcept") or {}
    candidates += [c.get("code", "") for c in concept.get("coding", []) if isinstance(c, dict)]
    candidates += [c.get("display", "") for c in concept.get("coding", []) if isinstance(c, dict)]
    candidates.append(concept.get("text", "") or "")
    candidates.append(observation.get("valueString", "") or "")
    for interpretation in observation.get("interpretation", []) or []:
        candidates += [c.get("code", "") for c in interpretation.get("coding", []) if isinstance(c, dict)]
    for text in candidates:
        word = str(text).strip().lower()
        if word in _POSITIVE:
            return "positive"
        if word in _NEGATIVE:
            return "negative"
    return None


def labs_from_bundle(bundle: Any) -> LabImport:
    """A screening facts patch from a Bundle of Observations; FhirInputError names each bad entry.

    Observations whose status is not final (amended, corrected), or whose LOINC code is not one of the
    laboratory or serology vocabulary, are skipped and listed. Two final results for one analyte: the
    later ``effectiveDateTime`` is taken; with no way to order them, the Bundle is refused.
    """
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirInputError([("resourceType", "a FHIR Bundle is expected (resourceType 'Bundle')")])
    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        raise FhirInputError(
            [(".".join(str(p) for p in e["loc"]) or "Bundle", e["msg"]) for e in exc.errors(include_url=False)][:10]
        ) from None

    result = LabImport(facts={})
    errors: list[tuple[str, str]] = []
    chosen: dict[str, tuple[str, str, Any]] = {}  # fact path -> (when, where, value)
    for index, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "Observation":
            continue
        where = f"entry.{index} (Observation/{resource.get('id', '?')})"
        if resource.get("status") not in _FINAL:
            result.skipped.append({"observation": where, "why": f"status {resource.get('status')!r}, not final"})
            continue
        codes = [
            c.get("code")
            for c in (resource.get("code") or {}).get("coding", [])
            if c.get("system") == LOINC and c.get("code")
        ]
        analyte = next((a for a in map(find_analyte, codes) if a), None)
        test = None if analyte else next((t for t in map(find_serology, codes) if t), None)
        if analyte is None and test is None:
            result.skipped.append(
                {
                    "observation": where,
                    "why": f"LOINC {', '.join(codes) or '(none)'} is not in the laboratory or serology vocabulary",
                }
            )
            continue
        when = str(resource.get("effectiveDateTime") or resource.get("issued") or "")
        if analyte is not None:
            quantity = resource.get("valueQuantity")
            if not isinstance(quantity, dict) or quantity.get("value") is None:
                errors.append((where, f"{analyte.key}: a valueQuantity with a value is needed"))
                continue
            unit = _unit(quantity)
            if unit is None:
                errors.append((where, f"{analyte.key}: valueQuantity has no unit"))
                continue
            lab: dict[str, Any] = {"value": quantity["value"], "unit": unit}
            value: dict[str, Any] | str
            ranges = [r for r in resource.get("referenceRange") or [] if isinstance(r.get("high"), dict)]
            if ranges:
                high = ranges[0]["high"]
                lab["uln"] = high.get("value")
                high_unit = _unit(high)
                if high_unit and high_unit != unit:
                    lab["uln_unit"] = high_unit
            path, value = f"labs.{analyte.key}", lab  # value: a lab (dict) or a serology word (str)
        else:
            assert test is not None  # one of the two vocabularies matched (checked above)
            word = _result_word(resource)
            if word is None:
                errors.append(
                    (
                        where,
                        f"{test.key}: no positive or negative result (valueCodeableConcept, "
                        "valueString or interpretation)",
                    )
                )
                continue
            path, value = f"serology.{test.key}", word
        if path in chosen:
            earlier_when, earlier_where, _ = chosen[path]
            if not when or not earlier_when or when == earlier_when:
                errors.append((where, f"{path} is also given by {earlier_where}; give one result or dated results"))
                continue
            if when < earlier_when:
                result.skipped.append({"observation": where, "why": f"an earlier result than {earlier_where}"})
                continue
            result.skipped.append({"observation": earlier_where, "why": f"a later result is {where}"})
        chosen[path] = (when, where, value)
    if errors:
        raise FhirInputError(errors)
    for path, (_, where, value) in chosen.items():
        section, key = path.split(".", 1)
        result.facts.setdefault(section, {})[key] = value
        result.sources[path] = where
    return result
