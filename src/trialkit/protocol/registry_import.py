"""A draft protocol file from a ClinicalTrials.gov API v2 study record (JSON read from a file).

Every registry fact is copied verbatim: identification, sponsor and collaborators, status, phases,
conditions, design and masking, enrollment, arms and interventions, eligibility (each bullet of the
eligibility text one criterion, its text unchanged), outcomes, central contacts, overall officials and
locations. What a registry record does not say (computable eligibility rules, doses, consent signers,
randomization, the visit schedule, the analysis plan) is written as a ``TODO`` entry explaining what
to decide. ``TODO`` is not a field of the protocol schema, so ``trialkit protocol validate`` refuses
the draft, naming each TODO's file, line and path, until someone has written it.

Record structure: ClinicalTrials.gov data API v2, ``protocolSection`` with identificationModule,
statusModule, sponsorCollaboratorsModule, descriptionModule, conditionsModule, designModule,
armsInterventionsModule, outcomesModule, eligibilityModule and contactsLocationsModule
(https://clinicaltrials.gov/data-api/about-api/study-data-structure).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml


class RegistryRecordError(ValueError):
    """A record that is not a ClinicalTrials.gov API v2 study; ``errors`` are (path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path or '(record)'}: {message}" for path, message in errors))


@dataclass
class Draft:
    nct_id: str
    data: dict[str, Any]
    todos: list[str] = field(default_factory=list)  # dotted paths of every TODO entry
    notes: list[str] = field(default_factory=list)  # registry facts not kept in a protocol field

    def yaml(self) -> str:
        header = [
            f"# Draft protocol for {self.nct_id}, from its ClinicalTrials.gov API v2 record.",
            "# Registry facts are verbatim. Each TODO entry is a decision the registry does not make;",
            "# replace it (docs/protocols.md) until `trialkit protocol validate` passes.",
        ]
        header += [f"# Registry: {note}" for note in self.notes]
        body = yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
        return "\n".join(header) + "\n" + body


# --------------------------------------------------------------------------- reading the record


class _Reader:
    """Typed access to the record that collects every problem with its path."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def obj(self, parent: Mapping[str, Any], key: str, path: str, required: bool = False) -> dict[str, Any]:
        value = parent.get(key)
        if value is None:
            if required:
                self.errors.append((f"{path}.{key}".lstrip("."), "required"))
            return {}
        if not isinstance(value, dict):
            self.errors.append((f"{path}.{key}".lstrip("."), f"must be an object, got {type(value).__name__}"))
            return {}
        return value

    def items(self, parent: Mapping[str, Any], key: str, path: str) -> list[dict[str, Any]]:
        value = parent.get(key)
        if value is None:
            return []
        where = f"{path}.{key}".lstrip(".")
        if not isinstance(value, list):
            self.errors.append((where, f"must be a list, got {type(value).__name__}"))
            return []
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.errors.append((f"{where}.{i}", f"must be an object, got {type(item).__name__}"))
            else:
                out.append(item)
        return out

    def text(self, parent: Mapping[str, Any], key: str, path: str, required: bool = False) -> str | None:
        value = parent.get(key)
        where = f"{path}.{key}".lstrip(".")
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.errors.append((where, "required"))
            return None
        if not isinstance(value, str):
            self.errors.append((where, f"must be text, got {type(value).__name__}"))
            return None
        return value

    def texts(self, parent: Mapping[str, Any], key: str, path: str) -> list[str]:
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.errors.append((f"{path}.{key}".lstrip("."), "must be a list of text"))
            return []
        return list(value)


def study_of(record: Any) -> dict[str, Any]:
    """The study object: the record itself, or the single study of a ``{"studies": [...]}`` page."""
    if isinstance(record, dict) and "protocolSection" not in record and isinstance(record.get("studies"), list):
        if len(record["studies"]) != 1:
            raise RegistryRecordError([("studies", f"holds {len(record['studies'])} studies; give one")])
        record = record["studies"][0]
    if not isinstance(record, dict):
        raise RegistryRecordError([("", f"a study record is a JSON object, got {type(record).__name__}")])
    if not isinstance(record.get("protocolSection"), dict):
        raise RegistryRecordError([("protocolSection", "required (a ClinicalTrials.gov API v2 study record)")])
    return record


def slug(text: str, taken: set[str], fallback: str) -> str:
    """A protocol id (lower case, hyphens) for ``text``, unique among ``taken``."""
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-") or fallback
    if not base[0].isalpha():
        base = f"{fallback}-{base}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _years(age: str | None) -> tuple[int | None, str | None]:
    """("18 Years") -> (18, None); an age in other units -> (None, a note)."""
    if age is None:
        return None, None
    m = re.fullmatch(r"\s*(\d+)\s+Years?\s*", age)
    if m:
        return int(m.group(1)), None
    return None, age


_BULLET = re.compile(r"^(\s*)(?:[*\-•]|\d+[.)])\s+(.*)$")
_HEADING = re.compile(r"^\s*(inclusion|exclusion)\s+criteria\s*:?\s*$", re.IGNORECASE)


def criteria_from_text(text: str) -> list[tuple[str, str]]:
    """(type, text) for each top-level bullet of the eligibility text, under its Inclusion/Exclusion
    heading. A bullet's continuation stays with it, words unchanged: paragraphs are joined by a blank
    line, a nested bullet starts a new line, a wrapped line continues with a space."""
    found: list[tuple[str, list[str]]] = []  # (type, paragraphs)
    kind: str | None = None
    new_paragraph = False
    for raw in text.splitlines():
        heading = _HEADING.match(raw)
        if heading:
            kind = heading.group(1).lower()
            continue
        if kind is None:
            continue
        bullet = _BULLET.match(raw)
        if bullet and not bullet.group(1):
            found.append((kind, [bullet.group(2).strip()]))
            new_paragraph = False
            continue
        if not found or found[-1][0] != kind:
            continue
        paragraphs = found[-1][1]
        line = raw.strip()
        if not line:
            new_paragraph = True
            continue
        piece = bullet.group(2).strip() if bullet else line
        if new_paragraph:
            paragraphs.append(piece)
        else:
            paragraphs[-1] += ("\n" if bullet else " ") + piece
        new_paragraph = False
    return [(k, "\n\n".join(paras)) for k, paras in found]


# --------------------------------------------------------------------------- the draft


def draft_protocol(record: Any, source: str | None = None) -> Draft:
    """The draft protocol of a ClinicalTrials.gov API v2 study record; RegistryRecordError names each
    missing or malformed field."""
    study = study_of(record)
    r = _Reader()
    ps = "protocolSection"
    section = study["protocolSection"]
    ident = r.obj(section, "identificationModule", ps, required=True)
    status = r.obj(section, "statusModule", ps)
    sponsors = r.obj(section, "sponsorCollaboratorsModule", ps)
    description = r.obj(section, "descriptionModule", ps)
    conditions = r.obj(section, "conditionsModule", ps)
    design = r.obj(section, "designModule", ps)
    arms_module = r.obj(section, "armsInterventionsModule", ps)
    outcomes = r.obj(section, "outcomesModule", ps)
    eligibility = r.obj(section, "eligibilityModule", ps)
    contacts = r.obj(section, "contactsLocationsModule", ps)

    p = f"{ps}.identificationModule"
    nct_id = r.text(ident, "nctId", p, required=True)
    if nct_id and not re.fullmatch(r"NCT\d{8}", nct_id):
        r.errors.append((f"{p}.nctId", f"{nct_id!r} is not an NCT number (NCT and 8 digits)"))
    notes: list[str] = []
    todos: list[str] = []
    registry: dict[str, Any] = {"nct_id": nct_id}
    org = r.obj(ident, "orgStudyIdInfo", p)
    registry["org_study_id"] = r.text(org, "id", f"{p}.orgStudyIdInfo") or _todo(
        todos, "registry.org_study_id", "the record gives no organisation study id"
    )
    secondary = [s.get("id") for s in r.items(ident, "secondaryIdInfos", p) if isinstance(s.get("id"), str)]
    if secondary:
        registry["secondary_ids"] = secondary
    for key, name in (("acronym", "acronym"), ("briefTitle", "brief_title"), ("officialTitle", "official_title")):
        value = r.text(ident, key, p, required=key == "briefTitle")
        if value:
            registry[name] = value
    organization = r.obj(ident, "organization", p)

    p = f"{ps}.sponsorCollaboratorsModule"
    lead = r.obj(sponsors, "leadSponsor", p)
    registry["sponsor"] = (
        r.text(lead, "name", f"{p}.leadSponsor")
        or r.text(organization, "fullName", f"{ps}.identificationModule.organization")
        or _todo(todos, "registry.sponsor", "the record names no lead sponsor")
    )
    collaborators = r.items(sponsors, "collaborators", p)
    if collaborators:
        registry["collaborators"] = [c["name"] for c in collaborators if isinstance(c.get("name"), str)]

    p = f"{ps}.statusModule"
    registry["overall_status"] = r.text(status, "overallStatus", p, required=True)
    start = r.obj(status, "startDateStruct", p).get("date")
    if isinstance(start, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", start):
        registry["start_date"] = start
    elif start:
        notes.append(
            f"start date {start} ({r.obj(status, 'startDateStruct', p).get('type', 'no type')}), not a full date"
        )

    p = f"{ps}.designModule"
    registry["phases"] = r.texts(design, "phases", p)
    registry["conditions"] = r.texts(conditions, "conditions", f"{ps}.conditionsModule")
    keywords = r.texts(conditions, "keywords", f"{ps}.conditionsModule")
    if keywords:
        registry["keywords"] = keywords
    registry["study_type"] = r.text(design, "studyType", p, required=True)
    registry["funder_types"] = list(
        dict.fromkeys(c for c in [lead.get("class"), *(c.get("class") for c in collaborators)] if isinstance(c, str))
    )
    enrollment = r.obj(design, "enrollmentInfo", p)
    if enrollment:
        registry["enrollment"] = {"count": enrollment.get("count"), "type": enrollment.get("type")}
    else:
        registry["enrollment"] = _todo(todos, "registry.enrollment", "the record gives no enrollment")

    p = f"{ps}.eligibilityModule"
    registry["sex"] = r.text(eligibility, "sex", p) or _todo(
        todos, "registry.sex", "the record does not say which sexes are eligible (ALL, FEMALE, MALE)"
    )
    for key, name in (("minimumAge", "minimum_age_years"), ("maximumAge", "maximum_age_years")):
        years, other = _years(r.text(eligibility, key, p))
        registry[name] = years
        if other:
            notes.append(f"{key} {other} (not in whole years; {name} left empty)")
    healthy = eligibility.get("healthyVolunteers")
    registry["healthy_volunteers"] = (
        healthy
        if isinstance(healthy, bool)
        else _todo(
            todos, "registry.healthy_volunteers", "the record does not say whether healthy volunteers are accepted"
        )
    )

    p = f"{ps}.descriptionModule"
    registry["brief_summary"] = r.text(description, "briefSummary", p) or _todo(
        todos, "registry.brief_summary", "the record has no brief summary"
    )
    detailed = r.text(description, "detailedDescription", p)
    if detailed:
        registry["detailed_description"] = detailed

    p = f"{ps}.armsInterventionsModule"
    taken: set[str] = set()
    interventions: list[dict[str, Any]] = []
    by_name: dict[str, str] = {}  # "drug: placebo" and "placebo" -> intervention id
    by_arm_label: dict[str, list[str]] = {}  # arm label -> ids of the interventions naming it
    for i, item in enumerate(r.items(arms_module, "interventions", p)):
        name = r.text(item, "name", f"{p}.interventions.{i}", required=True) or f"intervention {i + 1}"
        entry: dict[str, Any] = {
            "id": slug(name, taken, "intervention"),
            "type": r.text(item, "type", f"{p}.interventions.{i}"),
            "name": name,
        }
        text = r.text(item, "description", f"{p}.interventions.{i}")
        if text:
            entry["description"] = text
        interventions.append(entry)
        by_name[f"{entry['type'] or ''}: {name}".lower()] = entry["id"]
        by_name[name.lower()] = entry["id"]
        for label in r.texts(item, "armGroupLabels", f"{p}.interventions.{i}"):
            by_arm_label.setdefault(label, []).append(entry["id"])
    registry["interventions"] = interventions or _todo(todos, "registry.interventions", "the record lists none")

    p = f"{ps}.contactsLocationsModule"
    central = [_contact(c) for c in r.items(contacts, "centralContacts", p)]
    officials = r.items(contacts, "overallOfficials", p)
    central += [
        {
            k: v
            for k, v in {"name": o.get("name"), "role": o.get("role"), "affiliation": o.get("affiliation")}.items()
            if v
        }
        for o in officials
    ]
    registry["central_contacts"] = [c for c in central if c.get("name")]
    for c in registry["central_contacts"]:
        if "affiliation" in c:  # the schema's Contact has no affiliation: keep it verbatim in the role
            c["role"] = f"{c.get('role', 'overall official')}, {c.pop('affiliation')}"
    locations, site_ids = [], set()
    for i, loc in enumerate(r.items(contacts, "locations", p)):
        entry = {"id": f"site-{i + 1:02d}"}
        site_ids.add(entry["id"])
        facility = r.text(loc, "facility", f"{p}.locations.{i}")
        entry["name"] = facility or _todo(todos, f"registry.locations.{i}.name", "the record names no facility")
        for key in ("city", "state", "country", "status"):
            value = r.text(loc, key, f"{p}.locations.{i}")
            if value:
                entry[key] = value
        site_contacts = [_contact(c) for c in r.items(loc, "contacts", f"{p}.locations.{i}")]
        if any(c.get("name") for c in site_contacts):
            entry["contacts"] = [c for c in site_contacts if c.get("name")]
        locations.append(entry)
    registry["locations"] = locations
    registry["source"] = source or f"ClinicalTrials.gov API v2 record {nct_id}"

    p = f"{ps}.designModule.designInfo"
    info = r.obj(design, "designInfo", f"{ps}.designModule")
    masking_info = r.obj(info, "maskingInfo", p)
    masking: dict[str, Any] = {
        "masking": r.text(masking_info, "masking", f"{p}.maskingInfo")
        or _todo(todos, "design.masking.masking", "the record gives no masking"),
        "who_masked": r.texts(masking_info, "whoMasked", f"{p}.maskingInfo"),
    }
    expected = {"NONE": 0, "SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "QUADRUPLE": 4}.get(masking["masking"])
    if expected is not None and len(masking["who_masked"]) != expected:
        masking["TODO"] = (
            f"the record says {masking['masking']} masking but names "
            f"{len(masking['who_masked'])} masked roles; list the {expected} masked roles"
        )
        todos.append("design.masking")
    design_out = {
        "primary_purpose": r.text(info, "primaryPurpose", p),
        "allocation": r.text(info, "allocation", p),
        "intervention_model": r.text(info, "interventionModel", p),
        "masking": masking,
    }

    arms = []
    arm_ids: set[str] = set()
    for i, group in enumerate(r.items(arms_module, "armGroups", f"{ps}.armsInterventionsModule")):
        where = f"{ps}.armsInterventionsModule.armGroups.{i}"
        label = r.text(group, "label", where, required=True) or f"arm {i + 1}"
        arm: dict[str, Any] = {
            "id": slug(re.sub(r"^[^:]*:\s*", "", label), arm_ids, "arm"),
            "label": label,
            "type": r.text(group, "type", where),
        }
        arm["description"] = r.text(group, "description", where) or _todo(
            todos, f"arms.{i}.description", "the record gives no description of this arm"
        )
        ids = [by_name[n.lower()] for n in r.texts(group, "interventionNames", where) if n.lower() in by_name]
        ids += [x for x in by_arm_label.get(label, []) if x not in ids]
        arm["interventions"] = ids or _todo(todos, f"arms.{i}.interventions", "the record links no intervention")
        if arm["type"] != "NO_INTERVENTION":
            arm["TODO"] = (
                "dose: the registry gives no computable dose; write dose (basis, unit, levels, route, "
                "administrations) if the pharmacist prepares it, or delete this line"
            )
            todos.append(f"arms.{i}")
        arms.append(arm)

    p = f"{ps}.eligibilityModule"
    text = r.text(eligibility, "eligibilityCriteria", p, required=True) or ""
    criteria = []
    counters = {"inclusion": 0, "exclusion": 0}
    for kind, criterion_text in criteria_from_text(text):
        counters[kind] += 1
        criteria.append(
            {
                "id": f"{kind[:3]}-{counters[kind]:02d}",
                "type": kind,
                "text": criterion_text,
                "TODO": "rule: write a computable rule (docs/eligibility.md), or delete this line to "
                "leave the criterion to investigator attestation",
            }
        )
        todos.append(f"eligibility.criteria.{len(criteria) - 1}")
    if text and not criteria:
        r.errors.append(
            (
                f"{p}.eligibilityCriteria",
                "no 'Inclusion Criteria:' or 'Exclusion Criteria:' heading followed by bullets",
            )
        )

    endpoints: list[dict[str, Any]] = []
    for key, kind in (
        ("primaryOutcomes", "primary"),
        ("secondaryOutcomes", "secondary"),
        ("otherOutcomes", "exploratory"),
    ):
        for i, outcome in enumerate(r.items(outcomes, key, f"{ps}.outcomesModule")):
            where = f"{ps}.outcomesModule.{key}.{i}"
            measure = r.text(outcome, "measure", where, required=True) or ""
            time_frame = r.text(outcome, "timeFrame", where)
            parts = [
                t
                for t in (r.text(outcome, "description", where), f"Time frame: {time_frame}" if time_frame else None)
                if t
            ]
            endpoint = {"id": f"{kind}-{i + 1}", "kind": kind, "title": measure}
            if parts:
                endpoint["description"] = "\n\n".join(parts)
            endpoint["TODO"] = "instrument and visit: name the instrument scored and the visit it is read at"
            todos.append(f"endpoints.{len(endpoints)}")
            endpoints.append(endpoint)

    if r.errors:
        raise RegistryRecordError(r.errors)

    data: dict[str, Any] = {
        "schema_version": 1,
        "registry": registry,
        "design": design_out,
        "arms": arms,
        "eligibility": {"criteria": criteria},
    }
    sections = {
        "consent": "documents: each version and language (en, zh-Hans) with its ethics committee approval date, "
        "title, text and signers (participant, legal_guardian, spouse, legal_representative): the registry gives none",
        "randomization": "method (permuted_block or minimization), ratio per arm id, block sizes, stratification "
        "and kit prefix: the registry says only that allocation is "
        f"{design_out['allocation'] or 'not stated'}",
        "schedule": "anchor (randomization or infusion) and visits with days, windows and forms: the registry "
        "gives no visit schedule",
        "analysis_plan": "analyses per endpoint (method, visit, covariates) and the alpha: the registry gives "
        "no analysis plan",
    }
    for key, message in sections.items():
        data[key] = {"TODO": message}
        todos.append(key)
    data["endpoints"] = endpoints or [{"TODO": "the record lists no outcome measures; write the endpoints"}]
    if not endpoints:
        todos.append("endpoints")
    return Draft(nct_id=nct_id or "", data=data, todos=todos, notes=notes)


def _todo(todos: list[str], path: str, message: str) -> str:
    todos.append(path)
    return f"TODO: {message}"


def _contact(c: Mapping[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in ("name", "role", "phone", "email") if isinstance(c.get(k), str) and c[k]}
