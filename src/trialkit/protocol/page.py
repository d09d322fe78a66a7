"""The public trial page: a protocol's registry facts in the registry page's order and wording.

``build_page(protocol)`` builds plain data (frozen dataclasses), so the command line and the web
shell show the same page: ``render_text`` and ``render_html`` here, a Django template there.

The sections follow the public registry page the seed trials come from (ClinicalTrials.gov records
as shown on ClinicalTrials.Veeva): title, sponsor, status and phase, conditions, treatments, study
type, funder types, identifiers; then "Details and patient eligibility" (about, full description,
enrollment, sex, ages, volunteers, inclusion and exclusion criteria); then "Trial design" with the
arms; then "Trial contacts and locations". Registry texts are shown verbatim.

Languages: ``build_page(protocol, language="zh-Hans", labels=...)`` shows the protocol's translated
registry texts (``Protocol.translations``) where it gives them, English otherwise; the page's own
fixed wording (headings, coded values, phrases such as "18 to 80 years old") goes through ``labels``,
a mapping from the English text (every key is in ``PAGE_WORDING``) to the reader's language. This
module imports no Django: the web shell builds the mapping with gettext (trials/page_wording.py).

TrialKit adds one section of its own at the end, "Assumptions not stated by the registry", listing
every choice the protocol file marks with ``assumption:``; it is kept apart from the registry facts
(``Section.origin == "trialkit"``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from trialkit.protocol.schema import (
    ARM_TYPE_LABELS,
    PHASE_LABELS,
    STATUS_LABELS,
    Contact,
    Location,
    Protocol,
    RegistryTranslation,
)

Labels = Mapping[str, str]


def _l(labels: Labels | None, text: str) -> str:
    """The page's fixed wording in the reader's language: ``labels`` maps English to it."""
    return labels.get(text, text) if labels else text


# --------------------------------------------------------------------------- wording
# Labels as ClinicalTrials.gov shows its coded values (and the seed pages show them).

STUDY_TYPE_LABELS = {"INTERVENTIONAL": "Interventional", "OBSERVATIONAL": "Observational"}
FUNDER_TYPE_LABELS = {
    "NIH": "NIH",
    "FED": "U.S. Fed",
    "INDUSTRY": "Industry",
    "OTHER": "Other",
    "OTHER_GOV": "Other U.S. Federal agency",
    "INDIV": "Individual",
    "NETWORK": "Network",
    "UNKNOWN": "Unknown",
}
INTERVENTION_TYPE_LABELS = {
    "DRUG": "Drug",
    "BIOLOGICAL": "Biological",
    "DEVICE": "Device",
    "PROCEDURE": "Procedure",
    "OTHER": "Other",
}
SEX_LABELS = {"ALL": "All", "FEMALE": "Female", "MALE": "Male"}
PURPOSE_LABELS = {
    "TREATMENT": "Treatment",
    "PREVENTION": "Prevention",
    "DIAGNOSTIC": "Diagnostic",
    "SUPPORTIVE_CARE": "Supportive Care",
    "OTHER": "Other",
}
ALLOCATION_LABELS = {"RANDOMIZED": "Randomized", "NON_RANDOMIZED": "Non-Randomized", "NA": "N/A"}
MODEL_LABELS = {
    "SINGLE_GROUP": "Single Group Assignment",
    "PARALLEL": "Parallel Assignment",
    "CROSSOVER": "Crossover Assignment",
    "FACTORIAL": "Factorial Assignment",
    "SEQUENTIAL": "Sequential Assignment",
}
MASKING_LABELS = {
    "NONE": "None (Open label)",
    "SINGLE": "Single Blind",
    "DOUBLE": "Double Blind",
    "TRIPLE": "Triple Blind",
    "QUADRUPLE": "Quadruple Blind",
}
# The registry page lists the highest phase first ("Phase 2" above "Phase 1").
PHASE_ORDER = ["PHASE4", "PHASE3", "PHASE2", "PHASE1", "EARLY_PHASE1", "NA"]

DETAILS_PART = "Details and patient eligibility"
ASSUMPTIONS_HEADING = "Assumptions not stated by the registry"
ASSUMPTIONS_INTRO = (
    "The registry record does not state the choices below. TrialKit needs them to run the trial, "
    "so the protocol file makes them and marks each one; they are TrialKit's assumptions, "
    "not registry facts."
)


# Every fixed text of the page, for the shell to translate (placeholders in braces stay as they are).
PHRASES = (
    "Status and phase",
    "Conditions",
    "Treatments",
    "Study type",
    "Funder types",
    "Identifiers",
    "About",
    "Full description",
    "Enrollment",
    "Sex",
    "Ages",
    "Volunteers",
    "Inclusion criteria",
    "Exclusion criteria",
    "Trial design",
    "Primary purpose",
    "Allocation",
    "Interventional model",
    "Masking",
    "Locations",
    "Central trial contact",
    "Central trial contacts",
    "Trial contacts and locations",
    "Description:",
    "Treatment:",
    "Treatments:",
    "Registry facts from:",
    "Not named by the registry; see the assumptions below.",
    "{count} estimated patients",
    "{count} estimated patient",
    "{count} actual patients",
    "{count} actual patient",
    "{lo} to {hi} years old",
    "{lo}+ years old",
    "Up to {hi} years old",
    "All ages",
    "Accepts Healthy Volunteers",
    "No Healthy Volunteers",
    "{count} participants in {groups} patient groups",
    "{count} participants in {groups} patient group",
    ", including a placebo group",
    "No locations listed",
    "{count} locations",
    "{count} location",
    "{summary} in {countries}",
    " and ",
    DETAILS_PART,
    ASSUMPTIONS_HEADING,
    ASSUMPTIONS_INTRO,
)
PAGE_WORDING: tuple[str, ...] = tuple(
    dict.fromkeys(
        PHRASES
        + tuple(STATUS_LABELS.values())
        + tuple(PHASE_LABELS.values())
        + tuple(ARM_TYPE_LABELS.values())
        + tuple(STUDY_TYPE_LABELS.values())
        + tuple(FUNDER_TYPE_LABELS.values())
        + tuple(INTERVENTION_TYPE_LABELS.values())
        + tuple(SEX_LABELS.values())
        + tuple(PURPOSE_LABELS.values())
        + tuple(ALLOCATION_LABELS.values())
        + tuple(MODEL_LABELS.values())
        + tuple(MASKING_LABELS.values())
    )
)


# --------------------------------------------------------------------------- the page as data


@dataclass(frozen=True)
class Paragraphs:
    """Running text; each paragraph may hold line breaks (shown as such)."""

    texts: tuple[str, ...]
    kind: ClassVar[str] = "paragraphs"


@dataclass(frozen=True)
class Lines:
    """Short values, one a line (e.g. "Unknown", "Phase 2", "Phase 1")."""

    lines: tuple[str, ...]
    kind: ClassVar[str] = "lines"


@dataclass(frozen=True)
class Bullet:
    text: str  # verbatim, as in the protocol file
    ref: str | None = None  # the criterion id, for links from screening records

    @property
    def lines(self) -> tuple[str, ...]:
        """The text's non-empty lines: one bullet may carry a heading and its list."""
        return tuple(line for line in self.text.split("\n") if line.strip())


@dataclass(frozen=True)
class Bullets:
    items: tuple[Bullet, ...]
    kind: ClassVar[str] = "bullets"


@dataclass(frozen=True)
class Group:
    """A labelled fact inside a section, e.g. "Masking" / "Triple Blind"."""

    heading: str
    blocks: tuple[Any, ...]
    kind: ClassVar[str] = "group"


@dataclass(frozen=True)
class ArmCard:
    label: str
    group_type: str  # "Experimental group", "Placebo Comparator group", ...
    description: str
    treatments: tuple[str, ...]  # "Drug: it-hMSC"
    ref: str = ""  # the arm id
    kind: ClassVar[str] = "arm"


@dataclass(frozen=True)
class ContactCard:
    name: str
    role: str | None = None
    phone: str | None = None
    email: str | None = None
    kind: ClassVar[str] = "contact"


@dataclass(frozen=True)
class LocationCard:
    name: str
    place: str  # "Shanghai, China"
    status: str | None = None
    contacts: tuple[ContactCard, ...] = ()
    assumed: bool = False  # the registry does not name this site; see the assumptions section
    ref: str = ""  # the site id
    kind: ClassVar[str] = "location"


@dataclass(frozen=True)
class AssumptionItem:
    topic: str  # "Randomization", "Location: IxCell study site 1"
    path: str  # where in the protocol file: "randomization", "registry.locations[0]"
    text: str
    kind: ClassVar[str] = "assumption"


@dataclass(frozen=True)
class Section:
    id: str
    heading: str | None  # None for the title and the sponsor, which the page shows without one
    blocks: tuple[Any, ...]
    part: str | None = None  # a heading above several sections ("Details and patient eligibility")
    origin: str = "registry"  # "registry": facts of the record; "trialkit": TrialKit's own


@dataclass(frozen=True)
class TrialCard:
    """What a trial finder lists for one trial."""

    nct_id: str
    acronym: str | None
    title: str
    sponsor: str
    status: str
    status_label: str
    phases_label: str
    conditions: tuple[str, ...]
    enrollment_label: str
    ages_label: str
    locations_summary: str


@dataclass(frozen=True)
class TrialPage:
    nct_id: str
    title: str
    sponsor: str
    card: TrialCard
    sections: tuple[Section, ...]
    source: str | None = None
    assumptions: tuple[AssumptionItem, ...] = field(default=())
    language: str = "en"
    labels: Labels = field(default_factory=dict, compare=False, hash=False, repr=False)

    def section(self, section_id: str) -> Section:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise KeyError(section_id)

    @property
    def registry_sections(self) -> tuple[Section, ...]:
        return tuple(s for s in self.sections if s.origin == "registry")


# --------------------------------------------------------------------------- labels


def phases_in_page_order(protocol: Protocol, labels: Labels | None = None) -> list[str]:
    return [_l(labels, PHASE_LABELS[p]) for p in sorted(protocol.registry.phases, key=PHASE_ORDER.index)]


def enrollment_label(protocol: Protocol, labels: Labels | None = None) -> str:
    e = protocol.registry.enrollment
    noun = "patient" if e.count == 1 else "patients"
    return _l(labels, f"{{count}} {e.type.lower()} {noun}").format(count=e.count)


def ages_label(protocol: Protocol, labels: Labels | None = None) -> str:
    lo, hi = protocol.registry.minimum_age_years, protocol.registry.maximum_age_years
    if lo is not None and hi is not None:
        return _l(labels, "{lo} to {hi} years old").format(lo=lo, hi=hi)
    if lo is not None:
        return _l(labels, "{lo}+ years old").format(lo=lo)
    if hi is not None:
        return _l(labels, "Up to {hi} years old").format(hi=hi)
    return _l(labels, "All ages")


def volunteers_label(protocol: Protocol, labels: Labels | None = None) -> str:
    text = "Accepts Healthy Volunteers" if protocol.registry.healthy_volunteers else "No Healthy Volunteers"
    return _l(labels, text)


def treatment_label(protocol: Protocol, intervention_id: str, labels: Labels | None = None) -> str:
    for intervention in protocol.registry.interventions:
        if intervention.id == intervention_id:
            return f"{_l(labels, INTERVENTION_TYPE_LABELS[intervention.type])}: {intervention.name}"
    raise KeyError(intervention_id)


def groups_summary(protocol: Protocol, labels: Labels | None = None) -> str:
    """ "60 participants in 2 patient groups, including a placebo group", as the registry page says."""
    n_arms = len(protocol.arms)
    key = "{count} participants in {groups} patient group" + ("s" if n_arms != 1 else "")
    text = _l(labels, key).format(count=protocol.registry.enrollment.count, groups=n_arms)
    if any(arm.type == "PLACEBO_COMPARATOR" for arm in protocol.arms):
        text += _l(labels, ", including a placebo group")
    return text


def place_label(location: Location) -> str:
    return ", ".join(part for part in (location.city, location.state, location.country) if part)


def locations_summary(protocol: Protocol, labels: Labels | None = None) -> str:
    """ "1 location in China", "3 locations in China and United States", "No locations listed"."""
    locations = protocol.registry.locations
    if not locations:
        return _l(labels, "No locations listed")
    countries: list[str] = []
    for loc in locations:
        if loc.country and loc.country not in countries:
            countries.append(loc.country)
    key = "{count} location" + ("s" if len(locations) != 1 else "")
    text = _l(labels, key).format(count=len(locations))
    if countries:
        and_ = _l(labels, " and ")
        names = countries[0] if len(countries) == 1 else ", ".join(countries[:-1]) + and_ + countries[-1]
        text = _l(labels, "{summary} in {countries}").format(summary=text, countries=names)
    return text


def translated(protocol: Protocol, language: str) -> RegistryTranslation:
    """The protocol's registry texts in ``language``; an empty translation (all English) if none."""
    if language.lower().startswith("en"):
        return RegistryTranslation()
    return protocol.translation(language) or RegistryTranslation()


def trial_card(protocol: Protocol, language: str = "en", labels: Labels | None = None) -> TrialCard:
    reg = protocol.registry
    tr = translated(protocol, language)
    return TrialCard(
        nct_id=reg.nct_id,
        acronym=reg.acronym,
        title=tr.brief_title or reg.brief_title,
        sponsor=reg.sponsor,
        status=reg.overall_status.value,
        status_label=_l(labels, reg.overall_status.label),
        # The finder lists phases in the record's order ("Phase 1 / Phase 2"), as trialkit.protocol.search does.
        phases_label=" / ".join(_l(labels, PHASE_LABELS[p]) for p in reg.phases),
        conditions=tuple(tr.conditions or reg.conditions),
        enrollment_label=enrollment_label(protocol, labels),
        ages_label=ages_label(protocol, labels),
        locations_summary=locations_summary(protocol, labels),
    )


# --------------------------------------------------------------------------- building the page


def _paragraphs(text: str) -> Paragraphs:
    # A blank line separates paragraphs, as in the registry's plain-text descriptions.
    parts = [p.strip("\n") for p in re.split(r"\n\s*\n", text)]
    return Paragraphs(tuple(p for p in parts if p.strip()))


def _contact_card(contact: Contact) -> ContactCard:
    return ContactCard(contact.name, contact.role, contact.phone, contact.email)


# Design concealment (ICH E9 section 2.3.2: the block length should not be known to those who
# enrol; the seed never leaves the statistician). Public and site pages say how allocation works,
# never the block sizes or the seed: only the unblinded (DSMB) statistician sees those.
CONCEALED_BLOCKS = "permuted blocks of varying size"
METHOD_PUBLIC = {"permuted_block": CONCEALED_BLOCKS, "minimization": "minimization"}


def concealed_randomization(protocol: Protocol) -> str:
    """The randomization as the public and blinded staff may know it: ratio, method, strata, cohorts."""
    spec = protocol.randomization
    labels = {arm.id: arm.label for arm in protocol.arms}
    ratio = ":".join(str(w) for w in spec.ratio.values())
    arms = ", ".join(labels.get(a, a) for a in spec.ratio)
    text = f"Randomized {ratio} ({arms}) in {METHOD_PUBLIC[spec.method]}"
    if spec.stratify_by:
        text += ", stratified by " + ", ".join(f.label for f in spec.stratify_by)
    if spec.cohorts:
        text += f", in {len(spec.cohorts)} sequential cohorts"
    return text + ". Block sizes and the allocation seed are held by the unblinded statistician."


def public_assumption_text(protocol: Protocol, path: str, text: str) -> str:
    """The assumption as shown publicly: the randomization's own is replaced by the concealed design."""
    if path == "randomization":
        return concealed_randomization(protocol)
    return text


def concealed_protocol_dump(protocol: Protocol) -> dict[str, Any]:
    """The validated protocol as JSON for public output, its block sizes and their wording concealed."""
    data = protocol.model_dump(mode="json")
    randomization = data["randomization"]
    if randomization.get("block_sizes"):
        randomization["block_sizes"] = CONCEALED_BLOCKS
    if randomization.get("assumption"):
        randomization["assumption"] = concealed_randomization(protocol)
    data["assumptions"] = [
        {"path": path, "text": public_assumption_text(protocol, path, text)} for path, text in protocol.assumptions
    ]
    return data


def _assumption_topic(protocol: Protocol, path: str) -> str:
    """A reader's name for the part of the protocol an assumption belongs to."""
    nouns = {
        "registry": "Registry record",
        "design": "Trial design",
        "masking": "Masking",
        "arms": "Arm",
        "dose": "Dose",
        "product": "Product",
        "consent": "Consent",
        "randomization": "Randomization",
        "schedule": "Visit schedule",
        "visits": "Visit",
        "diary": "Diary",
        "endpoints": "Endpoint",
        "locations": "Location",
        "analysis_plan": "Analysis plan",
        "analyses": "Analysis",
        "stratify_by": "Stratification",
        "cohorts": "Cohort",
    }
    obj: Any = protocol
    words: list[str] = []
    for name, index in re.findall(r"([A-Za-z_]+)(?:\[(\d+)\])?", path):
        obj = getattr(obj, name, None)
        noun = nouns.get(name, name.replace("_", " ").capitalize())
        if index and isinstance(obj, (list, tuple)):
            obj = obj[int(index)]
            own = getattr(obj, "label", None) or getattr(obj, "name", None) or getattr(obj, "title", None)
            noun = f"{noun} “{own}”" if own else f"{noun} {int(index) + 1}"
        words.append(noun)
    # The registry and design parents add nothing a reader needs ("Masking", not "Trial design › Masking").
    kept = [w for w in words if w not in {"Registry record", "Trial design"}] or words
    return " › ".join(kept)


def build_page(protocol: Protocol, language: str = "en", labels: Labels | None = None) -> TrialPage:
    """The page in ``language``: translated registry texts where the protocol gives them, the fixed
    wording through ``labels`` (English text -> the language's; missing keys stay English)."""
    reg = protocol.registry
    design = protocol.design
    tr = translated(protocol, language)
    card = trial_card(protocol, language, labels)

    def L(text: str) -> str:
        return _l(labels, text)

    def criterion_text(criterion_id: str, text: str) -> str:
        return tr.criteria.get(criterion_id, text)

    details = L(DETAILS_PART)
    sections: list[Section] = [
        Section("title", None, (Lines((card.title,)),)),
        Section("sponsor", None, (Lines((reg.sponsor,)),)),
        Section(
            "status",
            L("Status and phase"),
            (Lines((L(reg.overall_status.label), *phases_in_page_order(protocol, labels))),),
        ),
        Section("conditions", L("Conditions"), (Lines(card.conditions),)),
        Section(
            "treatments",
            L("Treatments"),
            (Lines(tuple(treatment_label(protocol, i.id, labels) for i in reg.interventions)),),
        ),
        Section("study_type", L("Study type"), (Lines((L(STUDY_TYPE_LABELS[reg.study_type]),)),)),
        Section("funder_types", L("Funder types"), (Lines(tuple(L(FUNDER_TYPE_LABELS[f]) for f in reg.funder_types)),)),
        Section("identifiers", L("Identifiers"), (Lines((reg.nct_id, reg.org_study_id, *reg.secondary_ids)),)),
        Section("about", L("About"), (_paragraphs(tr.brief_summary or reg.brief_summary),), part=details),
    ]
    description = tr.detailed_description or reg.detailed_description
    if description:
        sections.append(Section("description", L("Full description"), (_paragraphs(description),), part=details))
    sections += [
        Section("enrollment", L("Enrollment"), (Lines((enrollment_label(protocol, labels),)),), part=details),
        Section("sex", L("Sex"), (Lines((L(SEX_LABELS[reg.sex]),)),), part=details),
        Section("ages", L("Ages"), (Lines((ages_label(protocol, labels),)),), part=details),
        Section("volunteers", L("Volunteers"), (Lines((volunteers_label(protocol, labels),)),), part=details),
        Section(
            "inclusion",
            L("Inclusion criteria"),
            (Bullets(tuple(Bullet(criterion_text(c.id, c.text), c.id) for c in protocol.eligibility.inclusion)),),
            part=details,
        ),
        Section(
            "exclusion",
            L("Exclusion criteria"),
            (Bullets(tuple(Bullet(criterion_text(c.id, c.text), c.id) for c in protocol.eligibility.exclusion)),),
            part=details,
        ),
    ]
    arms = tuple(
        ArmCard(
            label=arm.label,
            group_type=L(ARM_TYPE_LABELS[arm.type]),
            description=tr.arms.get(arm.id, arm.description),
            treatments=tuple(treatment_label(protocol, ref, labels) for ref in arm.interventions),
            ref=arm.id,
        )
        for arm in protocol.arms
    )
    sections.append(
        Section(
            "design",
            L("Trial design"),
            (
                Group(L("Primary purpose"), (Lines((L(PURPOSE_LABELS[design.primary_purpose]),)),)),
                Group(L("Allocation"), (Lines((L(ALLOCATION_LABELS[design.allocation]),)),)),
                Group(L("Interventional model"), (Lines((L(MODEL_LABELS[design.intervention_model]),)),)),
                Group(L("Masking"), (Lines((L(MASKING_LABELS[design.masking.masking]),)),)),
                Lines((groups_summary(protocol, labels),)),
                *arms,
            ),
        )
    )
    locations = tuple(
        LocationCard(
            name=loc.name,
            place=place_label(loc),
            status=loc.status,
            contacts=tuple(_contact_card(c) for c in loc.contacts),
            assumed=loc.assumption is not None,
            ref=loc.id,
        )
        for loc in reg.locations
    )
    contact_blocks: list[Any] = [Group(L("Locations"), (Lines((locations_summary(protocol, labels),)), *locations))]
    if reg.central_contacts:
        heading = L("Central trial contact" if len(reg.central_contacts) == 1 else "Central trial contacts")
        contact_blocks.append(Group(heading, tuple(_contact_card(c) for c in reg.central_contacts)))
    sections.append(Section("contacts", L("Trial contacts and locations"), tuple(contact_blocks)))

    assumptions = tuple(
        AssumptionItem(_assumption_topic(protocol, path), path, public_assumption_text(protocol, path, text))
        for path, text in protocol.assumptions
    )
    sections.append(
        Section(
            "assumptions",
            L(ASSUMPTIONS_HEADING),
            (Paragraphs((L(ASSUMPTIONS_INTRO),)), *assumptions),
            origin="trialkit",
        )
    )
    return TrialPage(
        nct_id=reg.nct_id,
        title=card.title,
        sponsor=reg.sponsor,
        card=card,
        sections=tuple(sections),
        source=reg.source,
        assumptions=assumptions,
        language=language,
        labels=dict(labels or {}),
    )


# --------------------------------------------------------------------------- text


def render_text(page: TrialPage) -> str:
    out: list[str] = []
    part: str | None = None
    for section in page.sections:
        if section.id == "title":
            title = section.blocks[0].lines[0]
            out += [title, "=" * len(title)]
            continue
        if section.origin == "trialkit" and part != "trialkit":
            out += ["", "-" * 72, "TrialKit (not part of the registry record)", "-" * 72]
            part = "trialkit"
        elif section.part != part and section.origin == "registry":
            if section.part:
                out += ["", section.part, "~" * len(section.part)]
            part = section.part
        if section.id == "sponsor":
            out += [section.blocks[0].lines[0]]
            continue
        out += ["", section.heading or ""]
        for block in section.blocks:
            out += _text_block(block, "  ")
        if section.id == "contacts" and page.source:
            out += ["", f"Registry facts from: {page.source}"]
    return "\n".join(out) + "\n"


def _text_block(block: Any, indent: str) -> list[str]:
    if isinstance(block, Lines):
        return [indent + line for line in block.lines]
    if isinstance(block, Paragraphs):
        out: list[str] = []
        for i, text in enumerate(block.texts):
            if i:
                out.append("")
            out += [indent + line for line in text.split("\n")]
        return out
    if isinstance(block, Bullets):
        out = []
        for bullet in block.items:
            lines = bullet.lines
            out.append(f"{indent}• {lines[0]}")
            out += [f"{indent}  {line}" for line in lines[1:]]
        return out
    if isinstance(block, Group):
        out = [indent + block.heading]
        for sub in block.blocks:
            out += _text_block(sub, indent + "  ")
        return out
    if isinstance(block, ArmCard):
        out = [
            "",
            indent + block.label,
            indent + block.group_type,
            indent + "Description:",
        ]
        out += [indent + "  " + line for line in block.description.split("\n")]
        out.append(indent + ("Treatment:" if len(block.treatments) == 1 else "Treatments:"))
        out += [indent + "  " + t for t in block.treatments]
        return out
    if isinstance(block, LocationCard):
        name = block.name + (" (not named by the registry; see assumptions)" if block.assumed else "")
        out = [indent + name]
        if block.place:
            out.append(indent + "  " + block.place)
        if block.status:
            out.append(indent + "  " + block.status)
        for contact in block.contacts:
            out += _text_block(contact, indent + "  ")
        return out
    if isinstance(block, ContactCard):
        details = [d for d in (block.phone, block.email) if d]
        return [indent + block.name] + [indent + "  " + d for d in details]
    if isinstance(block, AssumptionItem):
        return ["", f"{indent}{block.topic}  [{block.path}]", f"{indent}  {block.text}"]
    raise TypeError(f"no text rendering for {type(block).__name__}")


# --------------------------------------------------------------------------- HTML


def _t(text: str) -> str:
    """Escape a text node; quotes stay as written ("Parkinson's")."""
    return html.escape(text, quote=False)


def _a(value: str) -> str:
    return html.escape(value, quote=True)


def _lines_html(text: str) -> str:
    return "<br>\n".join(_t(line) for line in text.split("\n") if line.strip())


PAGE_CSS = """
:root { --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; --accent: #0b5cad; --note: #fff8e1; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f5f7fa; }
main { max-width: 52rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; background: #fff; }
h1 { font-size: 1.6rem; line-height: 1.3; margin: 0 0 .4rem; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .4rem; }
h3 { font-size: .95rem; margin: 1rem 0 .2rem; color: var(--muted); }
.part { font-size: 1.3rem; margin-top: 2.4rem; padding-bottom: .3rem; border-bottom: 2px solid var(--line); }
.sponsor { color: var(--muted); font-weight: 600; margin: 0 0 1rem; }
.lines { margin: 0; padding: 0; list-style: none; }
p { margin: 0 0 .8rem; }
ul.criteria { padding-left: 1.3rem; margin: .3rem 0; }
ul.criteria li { margin: .3rem 0; }
.arm, .location, .contact { border: 1px solid var(--line); border-radius: 6px; padding: .7rem .9rem; margin: .7rem 0; }
.arm .label { font-weight: 600; }
.arm .group-type { color: var(--accent); font-size: .9rem; }
.field { color: var(--muted); font-size: .85rem; margin-top: .3rem; }
.summary { font-weight: 600; margin-top: 1rem; }
.assumed { font-size: .85rem; color: var(--muted); }
.trialkit { margin-top: 3rem; padding: 1rem 1.2rem; background: var(--note); border: 1px solid #f0d98c; border-radius: 6px; }
.trialkit h2 { margin-top: 0; }
.trialkit dt { font-weight: 600; margin-top: .7rem; }
.trialkit dt code { font-weight: 400; color: var(--muted); font-size: .8rem; }
.trialkit dd { margin: .1rem 0 0 0; }
.source { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
""".strip()


def render_html_body(page: TrialPage) -> str:
    """The page's content (no document wrapper): the web app embeds it in its own layout."""
    body: list[str] = []
    part: str | None = None
    source_shown = False
    for section in page.sections:
        if section.id == "title":
            body.append(f"<h1>{_t(section.blocks[0].lines[0])}</h1>")
            continue
        if section.id == "sponsor":
            body.append(f'<p class="sponsor">{_t(section.blocks[0].lines[0])}</p>')
            continue
        if section.origin == "trialkit":
            if page.source and not source_shown:
                body.append(f'<p class="source">{_t(_l(page.labels, "Registry facts from:"))} {_t(page.source)}</p>')
                source_shown = True
            body.append(_html_trialkit_section(section, page.labels))
            continue
        if section.part != part:
            if section.part:
                body.append(f'<h2 class="part">{_t(section.part)}</h2>')
            part = section.part
        # "Trial design" and "Trial contacts and locations" head parts of their own on the registry page.
        major = section.id in {"design", "contacts"}
        heading = (
            f'<h2 class="part">{_t(section.heading or "")}</h2>' if major else f"<h2>{_t(section.heading or '')}</h2>"
        )
        body.append(f'<section id="{_a(section.id)}">')
        body.append(heading)
        body += [_html_block(block, page.labels) for block in section.blocks]
        body.append("</section>")
    if page.source and not source_shown:
        body.append(f'<p class="source">{_t(_l(page.labels, "Registry facts from:"))} {_t(page.source)}</p>')
    return "\n".join(body)


def render_html(page: TrialPage) -> str:
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{_a(page.language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_t(page.nct_id)}: {_t(page.title)}</title>\n"
        f"<style>\n{PAGE_CSS}\n</style>\n</head>\n<body>\n<main>\n"
        + render_html_body(page)
        + "\n</main>\n</body>\n</html>\n"
    )


def _html_trialkit_section(section: Section, labels: Labels | None = None) -> str:
    parts = [f'<section id="{_a(section.id)}" class="trialkit">', f"<h2>{_t(section.heading or '')}</h2>"]
    items = [b for b in section.blocks if isinstance(b, AssumptionItem)]
    parts += [_html_block(b, labels) for b in section.blocks if not isinstance(b, AssumptionItem)]
    if items:
        parts.append("<dl>")
        for item in items:
            parts.append(f"<dt>{_t(item.topic)} <code>{_t(item.path)}</code></dt>")
            parts.append(f"<dd>{_lines_html(item.text)}</dd>")
        parts.append("</dl>")
    parts.append("</section>")
    return "\n".join(parts)


def _html_block(block: Any, labels: Labels | None = None) -> str:
    if isinstance(block, Lines):
        return '<ul class="lines">' + "".join(f"<li>{_t(line)}</li>" for line in block.lines) + "</ul>"
    if isinstance(block, Paragraphs):
        return "\n".join(f"<p>{_lines_html(text)}</p>" for text in block.texts)
    if isinstance(block, Bullets):
        items = []
        for bullet in block.items:
            ref = f' id="criterion-{_a(bullet.ref)}"' if bullet.ref else ""
            items.append(f"<li{ref}>" + "<br>\n".join(_t(line) for line in bullet.lines) + "</li>")
        return '<ul class="criteria">\n' + "\n".join(items) + "\n</ul>"
    if isinstance(block, Group):
        return f"<h3>{_t(block.heading)}</h3>\n" + "\n".join(_html_block(b, labels) for b in block.blocks)
    if isinstance(block, ArmCard):
        label = _t(_l(labels, "Treatment:" if len(block.treatments) == 1 else "Treatments:"))
        return (
            f'<div class="arm" id="arm-{_a(block.ref)}">'
            f'<div class="label">{_t(block.label)}</div>'
            f'<div class="group-type">{_t(block.group_type)}</div>'
            f'<div class="field">{_t(_l(labels, "Description:"))}</div><div>{_lines_html(block.description)}</div>'
            f'<div class="field">{label}</div>' + "".join(f"<div>{_t(t)}</div>" for t in block.treatments) + "</div>"
        )
    if isinstance(block, LocationCard):
        note = (
            f'<div class="assumed">{_t(_l(labels, "Not named by the registry; see the assumptions below."))}</div>'
            if block.assumed
            else ""
        )
        return (
            f'<div class="location" id="site-{_a(block.ref)}"><div class="label">{_t(block.name)}</div>'
            + (f"<div>{_t(block.place)}</div>" if block.place else "")
            + (f"<div>{_t(block.status)}</div>" if block.status else "")
            + "".join(_html_block(c, labels) for c in block.contacts)
            + note
            + "</div>"
        )
    if isinstance(block, ContactCard):
        details = "".join(f"<div>{_t(d)}</div>" for d in (block.phone, block.email) if d)
        return f'<div class="contact"><div>{_t(block.name)}</div>{details}</div>'
    if isinstance(block, AssumptionItem):
        return f"<p><strong>{_t(block.topic)}</strong>: {_lines_html(block.text)}</p>"
    raise TypeError(f"no HTML rendering for {type(block).__name__}")
