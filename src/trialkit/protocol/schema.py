"""The protocol schema: everything TrialKit needs to run one trial, validated by pydantic.

A protocol file (``protocols/<NCT id>.yaml``) has these sections:

- ``registry``: the facts of the registry record (identifiers, titles, sponsor, status, phases,
  conditions, enrollment, ages, contacts, locations, interventions). Field names follow the
  ClinicalTrials.gov API v2 record where one exists.
- ``design``: purpose, allocation, interventional model, masking and who is masked.
- ``arms``: each arm with its registry description verbatim and its dose rule.
- ``eligibility``: the criteria in registry order, verbatim, each with a stable id and a computable
  rule or an investigator attestation.
- ``consent``, ``randomization``, ``schedule``, ``diary``, ``endpoints``, ``analysis_plan``: how the
  trial is run. The registry rarely states these; every choice not stated by the registry carries an
  ``assumption`` text saying so, and the trial page lists them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from enum import Enum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trialkit.eligibility.facts import Name
from trialkit.eligibility.rules import Rule
from trialkit.eligibility.vocabulary import OTHER, ConditionVocabulary, condition_names_in, vocabulary_from

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)]
NctId = Annotated[str, Field(pattern=r"^NCT\d{8}$")]
Assumption = Annotated[
    str | None,
    Field(description="Why this choice was made: set wherever the registry does not state it."),
]


class LocatedError(ValueError):
    """A rule broken below the object being validated; ``loc`` points at the offending field.

    Pydantic reports a validator's error at the validated object; the loader appends ``loc`` so
    that messages name the exact field and line (``randomization.ratio.bogus``, not ``(top level)``).
    """

    def __init__(self, message: str, *loc: str | int):
        super().__init__(message)
        self.loc = loc


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


# --------------------------------------------------------------------------- registry


class OverallStatus(str, Enum):
    NOT_YET_RECRUITING = "NOT_YET_RECRUITING"
    RECRUITING = "RECRUITING"
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION"
    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    COMPLETED = "COMPLETED"
    WITHDRAWN = "WITHDRAWN"
    UNKNOWN = "UNKNOWN"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


# Wording of the public registry pages the seed trials come from.
STATUS_LABELS = {
    OverallStatus.NOT_YET_RECRUITING: "Not yet enrolling",
    OverallStatus.RECRUITING: "Recruiting",
    OverallStatus.ENROLLING_BY_INVITATION: "Enrolling by invitation",
    OverallStatus.ACTIVE_NOT_RECRUITING: "Active, not recruiting",
    OverallStatus.SUSPENDED: "Suspended",
    OverallStatus.TERMINATED: "Terminated",
    OverallStatus.COMPLETED: "Completed",
    OverallStatus.WITHDRAWN: "Withdrawn",
    OverallStatus.UNKNOWN: "Unknown",
}

Phase = Literal["EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA"]
PHASE_LABELS = {
    "EARLY_PHASE1": "Early Phase 1",
    "PHASE1": "Phase 1",
    "PHASE2": "Phase 2",
    "PHASE3": "Phase 3",
    "PHASE4": "Phase 4",
    "NA": "Not Applicable",
}


class Contact(Model):
    name: str = Field(min_length=1)
    role: str | None = None
    phone: str | None = None
    email: str | None = None


class Location(Model):
    id: Slug = Field(description="Site code used throughout the trial (screening numbers, strata).")
    name: str = Field(min_length=1)
    city: str | None = None
    state: str | None = None
    country: str | None = None
    status: str | None = None
    contacts: list[Contact] = []
    # WGS 84 decimal degrees of the site (city level is enough for "trials near me"); both or neither.
    latitude: float | None = Field(None, ge=-90, le=90, description="Site latitude, WGS 84 decimal degrees.")
    longitude: float | None = Field(None, ge=-180, le=180, description="Site longitude, WGS 84 decimal degrees.")
    assumption: Assumption = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> Location:
        if (self.latitude is None) != (self.longitude is None):
            missing = "longitude" if self.longitude is None else "latitude"
            raise LocatedError("a site's coordinates need both latitude and longitude", missing)
        return self

    @property
    def coordinates(self) -> tuple[float, float] | None:
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)


class Intervention(Model):
    id: Slug
    type: Literal["DRUG", "BIOLOGICAL", "DEVICE", "PROCEDURE", "OTHER"]
    name: str = Field(min_length=1)
    description: str | None = None


class Enrollment(Model):
    count: int = Field(gt=0)
    type: Literal["ESTIMATED", "ACTUAL"]


class Registry(Model):
    nct_id: NctId
    org_study_id: str = Field(min_length=1)
    secondary_ids: list[str] = []
    acronym: str | None = None
    brief_title: str = Field(min_length=1)
    official_title: str | None = None
    sponsor: str = Field(min_length=1)
    collaborators: list[str] = []
    overall_status: OverallStatus
    start_date: date | None = None
    phases: list[Phase] = Field(min_length=1)
    conditions: list[str] = Field(min_length=1)
    keywords: list[str] = []
    study_type: Literal["INTERVENTIONAL", "OBSERVATIONAL"]
    funder_types: list[Literal["NIH", "FED", "INDUSTRY", "OTHER", "OTHER_GOV", "INDIV", "NETWORK", "UNKNOWN"]]
    enrollment: Enrollment
    sex: Literal["ALL", "FEMALE", "MALE"]
    minimum_age_years: int | None = Field(None, ge=0, le=120)
    maximum_age_years: int | None = Field(None, ge=0, le=120)
    healthy_volunteers: bool
    brief_summary: str = Field(min_length=1)
    detailed_description: str | None = None
    interventions: list[Intervention] = Field(min_length=1)
    central_contacts: list[Contact] = []
    locations: list[Location] = []
    source: str | None = Field(None, description="Where these registry facts were read from.")
    assumption: Assumption = None  # a registry fact TrialKit needs but the registry does not give (e.g. an acronym)

    @model_validator(mode="after")
    def _ages_ordered(self) -> Registry:
        lo, hi = self.minimum_age_years, self.maximum_age_years
        if lo is not None and hi is not None and lo > hi:
            raise LocatedError(f"minimum_age_years {lo} is greater than maximum_age_years {hi}", "minimum_age_years")
        return self


# --------------------------------------------------------------------------- design


MaskedRole = Literal["PARTICIPANT", "CARE_PROVIDER", "INVESTIGATOR", "OUTCOMES_ASSESSOR"]
MASKING_COUNT = {"NONE": 0, "SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "QUADRUPLE": 4}


class Masking(Model):
    masking: Literal["NONE", "SINGLE", "DOUBLE", "TRIPLE", "QUADRUPLE"]
    who_masked: list[MaskedRole] = []
    assumption: Assumption = None

    @model_validator(mode="after")
    def _count_matches(self) -> Masking:
        # ClinicalTrials.gov derives the masking level from the number of masked roles.
        expected = MASKING_COUNT[self.masking]
        if len(set(self.who_masked)) != expected:
            raise LocatedError(
                f"masking {self.masking} needs {expected} masked roles, got {len(set(self.who_masked))}",
                "who_masked",
            )
        return self


class Design(Model):
    primary_purpose: Literal["TREATMENT", "PREVENTION", "DIAGNOSTIC", "SUPPORTIVE_CARE", "OTHER"]
    allocation: Literal["RANDOMIZED", "NON_RANDOMIZED", "NA"]
    intervention_model: Literal["SINGLE_GROUP", "PARALLEL", "CROSSOVER", "FACTORIAL", "SEQUENTIAL"]
    masking: Masking


# --------------------------------------------------------------------------- arms and doses


class DoseLevel(Model):
    id: Slug
    label: str
    amount: float = Field(gt=0, description="Dose per kilogram of body weight, in the rule's unit.")


class Product(Model):
    """What the pharmacy receives: used to turn a dose into vials and a volume."""

    name: str
    units_per_vial: float = Field(gt=0, description="Cells (or ml) in one vial.")
    concentration_per_ml: float | None = Field(
        None, gt=0, description="Cells per ml in the vial; None for a liquid dosed by volume."
    )
    diluent: str | None = None
    assumption: Assumption = None


class DoseRule(Model):
    basis: Literal["per_kg", "flat"] = "per_kg"
    unit: Literal["cells", "ml", "mg"]
    levels: list[DoseLevel] = Field(min_length=1)
    route: Literal["IV", "IA", "IT", "SC", "IM", "PO"] = "IV"
    administrations: int = Field(1, ge=1)
    infusion_volume_ml_per_kg: float | None = Field(
        None, gt=0, description="Final infusion volume per kg, identical in every arm to keep the blind."
    )
    weight_range_kg: tuple[float, float] = (30.0, 200.0)
    use_within_hours: float | None = Field(
        None, gt=0, description="Hours from preparation to use (the label's use-by), identical in every arm."
    )
    product: Product | None = None
    assumption: Assumption = None

    @model_validator(mode="after")
    def _weight_range(self) -> DoseRule:
        lo, hi = self.weight_range_kg
        if not 0 < lo < hi:
            raise LocatedError(
                f"weight_range_kg must be two increasing positive numbers, got {lo}, {hi}", "weight_range_kg"
            )
        _require_unique([level.id for level in self.levels], "dose level", "levels")
        return self


class Arm(Model):
    id: Slug
    label: str = Field(min_length=1)
    type: Literal["EXPERIMENTAL", "PLACEBO_COMPARATOR", "ACTIVE_COMPARATOR", "NO_INTERVENTION", "SHAM_COMPARATOR"]
    description: str = Field(min_length=1, description="The registry's arm description, verbatim.")
    interventions: list[Slug] = Field(min_length=1)
    dose: DoseRule | None = None


# --------------------------------------------------------------------------- the product's chain, infusion and supply


class ReleaseSpec(Model):
    """What a lot must show before it may be shipped (the certificate of analysis)."""

    min_viability_percent: float | None = Field(
        None, ge=0, le=100, description="Lowest viability of a cell lot; None: not checked."
    )
    cell_count_tolerance_percent: float | None = Field(
        None, gt=0, le=100, description="Allowed deviation of the cells per vial from the protocol's vial content."
    )
    sterility_required: bool = True
    assumption: Assumption = None


class InfusionLimits(Model):
    """Maxima the infusion record and the preparation are checked against (the same for every arm)."""

    max_rate_ml_per_hour: float | None = Field(None, gt=0)
    max_volume_ml: float | None = Field(None, gt=0, description="Largest volume of one infusion.")
    max_volume_ml_per_kg: float | None = Field(None, gt=0)
    max_concentration_per_ml: float | None = Field(
        None, gt=0, description="Highest concentration of the final bag (cells per ml); checked at preparation."
    )
    assumption: Assumption = None


class Supply(Model):
    min_stock_per_site: int = Field(2, ge=0, description="Available kits below which a resupply is requested.")
    resupply_quantity: int = Field(4, ge=1)
    expiry_warning_days: int = Field(30, ge=0)
    assumption: Assumption = None


class ProductHandling(Model):
    """The chain of identity and custody: storage, thaw-to-infusion limit, masking, infusion limits, supply."""

    max_thaw_to_infusion_hours: float = Field(
        gt=0, description="Hours from thawing a kit to the end of its use; the label's use-by is thaw + this."
    )
    storage_temperature_c: tuple[float, float] = Field(
        (-196.0, -135.0), description="Allowed storage range; a reading outside it quarantines the kits."
    )
    masking: str | None = Field(None, description="Masking printed on the blinded label, e.g. 'opaque bag'.")
    release: ReleaseSpec = ReleaseSpec()
    infusion: InfusionLimits = InfusionLimits()
    supply: Supply = Supply()
    assumption: Assumption = None

    @model_validator(mode="after")
    def _storage_range(self) -> ProductHandling:
        lo, hi = self.storage_temperature_c
        if not lo < hi:
            raise LocatedError(
                f"storage_temperature_c must be two increasing numbers, got {lo}, {hi}", "storage_temperature_c"
            )
        return self


ARM_TYPE_LABELS = {
    "EXPERIMENTAL": "Experimental group",
    "PLACEBO_COMPARATOR": "Placebo Comparator group",
    "ACTIVE_COMPARATOR": "Active Comparator group",
    "NO_INTERVENTION": "No Intervention group",
    "SHAM_COMPARATOR": "Sham Comparator group",
}


# --------------------------------------------------------------------------- eligibility


class Criterion(Model):
    id: Slug = Field(description="Stable id; screening records and attestations refer to it.")
    type: Literal["inclusion", "exclusion"]
    text: str = Field(min_length=1, description="The registry's text, verbatim.")
    rule: Rule | None = Field(
        None,
        description="A computable rule over the screening facts (see docs/eligibility.md); "
        "None means the investigator attests to it.",
    )
    note: str | None = None


class MedicalHistory(Model):
    """Medical history the trial records beyond the names its rules screen on (docs/protocols.md)."""

    terms: list[Name] = Field(
        default_factory=list,
        description="Conditions recorded without screening on them, e.g. hypertension, diabetes.",
    )
    synonyms: dict[Name, Name] = Field(
        default_factory=dict,
        description="Another way to write a condition -> the listed name it stands for, "
        "e.g. seizure_disorder: epilepsy.",
    )
    assumption: Assumption = None

    @field_validator("terms")
    @classmethod
    def _terms_listed_once(cls, terms: list[str]) -> list[str]:
        seen: set[str] = set()
        for i, term in enumerate(terms):
            if term == OTHER:
                raise LocatedError(f"{OTHER!r} is not a term: it is how a condition outside the list is entered", i)
            if term in seen:
                raise LocatedError(f"term {term!r} is listed twice", i)
            seen.add(term)
        return terms


class EligibilityTiming(Model):
    """How long a screening stays valid (docs/eligibility.md, "Re-checked on the day")."""

    max_days_screening_to_infusion: int | None = Field(
        None,
        ge=0,
        le=365,
        description="At most this many days from the screening date to the infusion (dose administration); "
        "checked at randomization and at infusion. None: the protocol sets no bound.",
    )
    assumption: Assumption = None


class Eligibility(Model):
    criteria: list[Criterion] = Field(min_length=1)
    medical_history: MedicalHistory = Field(
        default_factory=MedicalHistory,
        description="The condition vocabulary beyond the names the rules screen on: terms and synonyms.",
    )
    timing: EligibilityTiming | None = Field(
        None,
        description="Bounds on the time from screening to treatment; time-dependent criteria are re-checked "
        "at randomization and infusion whether or not this is given.",
    )

    @field_validator("criteria")
    @classmethod
    def _unique_ids(cls, criteria: list[Criterion]) -> list[Criterion]:
        _require_unique([c.id for c in criteria], "criterion")  # loc is relative to the criteria list
        return criteria

    @model_validator(mode="after")
    def _vocabulary_consistent(self) -> Eligibility:
        for c, criterion in enumerate(self.criteria):
            for loc, name in condition_names_in(criterion.rule, ("rule",)):
                if name == OTHER:
                    raise LocatedError(
                        f"a rule cannot screen on {OTHER!r}: it stands for any condition not listed",
                        "criteria",
                        c,
                        *loc,
                    )
        vocabulary = self.condition_vocabulary
        for synonym, target in self.medical_history.synonyms.items():
            where = ("medical_history", "synonyms", synonym)
            if synonym == OTHER or synonym in vocabulary.names:
                raise LocatedError(
                    f"synonym {synonym!r} is itself a listed name; a synonym must be another way to write one", *where
                )
            if target not in vocabulary.names:
                close = vocabulary.suggestions(target)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise LocatedError(
                    f"synonym {synonym!r} points to {target!r}, which no rule screens on and "
                    f"medical_history.terms does not list{hint}",
                    *where,
                )
        return self

    @cached_property
    def condition_vocabulary(self) -> ConditionVocabulary:
        """The names screening facts may give a condition: those the rules screen on, then the terms."""
        screened = [name for c in self.criteria for _, name in condition_names_in(c.rule)]
        return vocabulary_from(screened, self.medical_history.terms, self.medical_history.synonyms)

    @property
    def inclusion(self) -> list[Criterion]:
        return [c for c in self.criteria if c.type == "inclusion"]

    @property
    def exclusion(self) -> list[Criterion]:
        return [c for c in self.criteria if c.type == "exclusion"]


Signer = Literal["participant", "legal_guardian", "spouse", "legal_representative"]
ConsentLanguage = Literal["en", "zh-Hans"]
CONSENT_LANGUAGES: tuple[str, ...] = ("en", "zh-Hans")


class ConsentDocument(Model):
    """One informed consent form: one version in one language, as the ethics committee approved it.

    ICH E6(R3) 2.8.1(a) and China GCP 2020 Art. 23: the form is used only once the IRB/IEC has approved it,
    so ``approved_on`` is the first day it may be signed. ICH E6(R3) 2.8.7 and China GCP 2020 Art. 23(6):
    when the participant (or the representative) cannot read, an impartial witness attends the whole
    discussion and signs too; ``witness`` says when this trial asks for one.
    """

    version: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z._\-]*$", max_length=32)
    language: ConsentLanguage
    approved_on: date = Field(description="Day the ethics committee approved this version (ICH E6(R3) 2.8.1(a)).")
    approved_by: str = Field(min_length=1, description="The ethics committee (IRB/IEC) that approved it.")
    title: str = Field(min_length=1)
    text: str = Field(
        min_length=1, description="The text the person reads and signs, paragraphs separated by blank lines."
    )
    signers: list[Signer] = Field(
        min_length=1, description="Who may sign this version: the participant and the representatives the trial allows."
    )
    witness: Literal["never", "if_unable_to_read", "always"] = Field(
        "if_unable_to_read",
        description="When an impartial witness signs too (ICH E6(R3) 2.8.7; China GCP 2020 Art. 23(6)).",
    )
    affects: Literal["all"] | list[str] = Field(
        "all",
        description="The forms that may not be entered until the participant has consented to this version "
        "(or a later one): 'all' or a list of form ids. A version after the first requires re-consent for these.",
    )
    assumption: Assumption = None


class Consent(Model):
    """The consent documents by version and language, oldest version first.

    A version listed after the first is an amendment: once approved, participants who signed an earlier
    version re-consent before data of its ``affects`` forms are entered (ICH E6(R3) 2.8.2; China GCP 2020
    Art. 23(2)).
    """

    documents: list[ConsentDocument] = Field(min_length=1)
    assumption: Assumption = None

    @model_validator(mode="after")
    def _versions(self) -> Consent:
        seen: dict[tuple[str, str], int] = {}
        order: list[str] = []
        for i, doc in enumerate(self.documents):
            key = (doc.version, doc.language)
            if key in seen:
                raise LocatedError(f"version {doc.version!r} in {doc.language!r} is listed twice", "documents", i)
            seen[key] = i
            if doc.version not in order:
                order.append(doc.version)
            elif order[-1] != doc.version:
                raise LocatedError(
                    f"the documents of version {doc.version!r} must be listed together", "documents", i, "version"
                )
        for v, version in enumerate(order):
            docs = self.for_version(version)
            first = docs[0]
            for doc in docs[1:]:
                i = self.documents.index(doc)
                for name in ("approved_on", "signers", "witness", "affects"):
                    if getattr(doc, name) != getattr(first, name):
                        raise LocatedError(
                            f"version {version!r} in {doc.language!r} differs from {first.language!r} in {name}; "
                            "the languages of one version are one approved document",
                            "documents",
                            i,
                            name,
                        )
            if v:
                previous = self.for_version(order[v - 1])[0]
                if first.approved_on < previous.approved_on:
                    i = self.documents.index(first)
                    raise LocatedError(
                        f"version {version!r} is approved ({first.approved_on}) before the version it follows "
                        f"({previous.version!r}, {previous.approved_on}); list versions oldest first",
                        "documents",
                        i,
                        "approved_on",
                    )
        return self

    @property
    def versions(self) -> list[str]:
        """Version ids, oldest first."""
        found: list[str] = []
        for doc in self.documents:
            if doc.version not in found:
                found.append(doc.version)
        return found

    def for_version(self, version: str) -> list[ConsentDocument]:
        return [d for d in self.documents if d.version == version]

    def document(self, version: str, language: str) -> ConsentDocument | None:
        return next((d for d in self.documents if d.version == version and d.language == language), None)

    def version_index(self, version: str) -> int:
        """Position of ``version`` among the versions (-1 for a version the protocol does not list)."""
        versions = self.versions
        return versions.index(version) if version in versions else -1

    def in_effect(self, on: date) -> str | None:
        """The newest version approved on or before ``on`` (None before the first approval)."""
        current = None
        for version in self.versions:
            if self.for_version(version)[0].approved_on <= on:
                current = version
        return current

    def required_version(self, form: str, on: date) -> str | None:
        """The newest amendment approved by ``on`` that names ``form``: a participant who signed an
        older version re-consents before ``form`` is entered. None when no amendment affects it."""
        needed = None
        for version in self.versions[1:]:
            doc = self.for_version(version)[0]
            if doc.approved_on <= on and (doc.affects == "all" or form in doc.affects):
                needed = version
        return needed

    @property
    def document_version(self) -> str:
        """The newest version listed."""
        return self.versions[-1]

    @property
    def signers(self) -> list[str]:
        """Everyone who may sign some version, in the order first listed."""
        found: list[str] = []
        for doc in self.documents:
            for signer in doc.signers:
                if signer not in found:
                    found.append(signer)
        return found


# --------------------------------------------------------------------------- randomization


class StratumLevel(Model):
    id: Slug
    label: str
    min: float | None = None
    max: float | None = None


class StratificationFactor(Model):
    id: Slug
    label: str
    source: str = Field(description="'site' or a screening fact: 'nihss_total', 'age', 'sex' or a dotted path.")
    levels: list[StratumLevel] = []


class Cohort(Model):
    id: Slug
    label: str
    dose_level: Slug = Field(description="The dose level (of the experimental arm) this cohort receives.")
    size: int = Field(gt=0)


class SentinelDosing(Model):
    """The first participants of a cohort are dosed alone; the rest wait ``wait_days`` after the last of them."""

    participants: int = Field(gt=0, description="How many participants open each cohort as sentinels.")
    wait_days: int = Field(gt=0, description="Days after the last sentinel's dosing before the rest of the cohort.")


class StoppingRule(Model):
    """Randomization pauses (and the DSMB is notified) once ``threshold`` events of a kind are counted."""

    id: Slug
    label: str
    event: Literal["dose_limiting_toxicity", "related_sae"] = Field(
        description="dose_limiting_toxicity: an adverse event the investigator marks as a DLT; "
        "related_sae: a serious adverse event at least possibly related to study treatment."
    )
    threshold: int = Field(gt=0)
    scope: Literal["cohort", "trial"] = Field("cohort", description="Count within the enrolling cohort or trial-wide.")
    assumption: Assumption = None


class Escalation(Model):
    """Dose-escalation gates: a cohort opens only after a recorded DSMB decision on the one before."""

    safety_follow_up_days: int = Field(
        gt=0, description="Days after the last dosing of a cohort before the DSMB may decide on escalation."
    )
    sentinel: SentinelDosing | None = None
    stopping_rules: list[StoppingRule] = []
    assumption: Assumption = None


class Minimization(Model):
    probability: float = Field(0.85, gt=0.5, le=1.0)
    imbalance: Literal["range", "sd", "variance"] = "range"
    weights: dict[str, float] = {}


class Randomization(Model):
    method: Literal["permuted_block", "minimization"]
    ratio: dict[Slug, int] = Field(description="Arm id -> integer weight, e.g. {msc: 1, placebo: 1}.")
    block_sizes: list[int] = []
    stratify_by: list[StratificationFactor] = []
    minimization: Minimization | None = None
    cohorts: list[Cohort] = []
    escalation: Escalation | None = None
    kit_prefix: str = Field("K", max_length=8)
    assumption: Assumption = None

    @model_validator(mode="after")
    def _consistent(self) -> Randomization:
        for arm_id, weight in self.ratio.items():
            if weight <= 0:
                raise LocatedError(f"every ratio weight must be a positive integer, got {self.ratio}", "ratio", arm_id)
        total = sum(self.ratio.values())
        for i, size in enumerate(self.block_sizes):
            if size <= 0 or size % total:
                raise LocatedError(
                    f"block size {size} is not a positive multiple of the ratio total {total}", "block_sizes", i
                )
        if self.method == "permuted_block" and not self.block_sizes:
            raise LocatedError("permuted_block needs at least one block size", "block_sizes")
        if self.method == "minimization" and self.minimization is None:
            raise LocatedError("minimization needs a 'minimization' section", "method")
        _require_unique([c.id for c in self.cohorts], "cohort", "cohorts")
        if self.cohorts and self.stratify_by:
            # A cohort is one list shared by every site: per-site lists of a cohort of 20 end mid-block
            # and give 2 to 7 placebo participants instead of 5 (issue 18); the cohort's ratio must hold.
            raise LocatedError(
                "a trial with dose cohorts randomizes each cohort from one list shared by all sites, "
                "so stratify_by must be empty (the cohort's ratio holds only in one list)",
                "stratify_by",
            )
        if self.escalation is not None:
            if not self.cohorts:
                raise LocatedError("escalation gates need dose cohorts", "escalation")
            _require_unique(
                [r.id for r in self.escalation.stopping_rules], "stopping rule", "escalation", "stopping_rules"
            )
            sentinel = self.escalation.sentinel
            if sentinel is not None:
                for cohort in self.cohorts:
                    if sentinel.participants >= cohort.size:
                        raise LocatedError(
                            f"sentinel participants ({sentinel.participants}) must be fewer than cohort "
                            f"{cohort.id!r}'s size ({cohort.size})",
                            "escalation",
                            "sentinel",
                        )
        return self


# --------------------------------------------------------------------------- schedule


class Visit(Model):
    id: Slug
    label: str
    kind: Literal["screening", "baseline", "treatment", "follow_up", "end_of_study"]
    day: int = Field(description="Day offset from the schedule's anchor (day 0).")
    window_before: int = Field(0, ge=0, description="Days allowed before the target day.")
    window_after: int = Field(0, ge=0, description="Days allowed after the target day.")
    forms: list[str] = []
    assumption: Assumption = None

    @property
    def window(self) -> tuple[int, int]:
        return (self.day - self.window_before, self.day + self.window_after)


class Schedule(Model):
    anchor: Literal["randomization", "infusion"]
    visits: list[Visit] = Field(min_length=1)
    assumption: Assumption = None

    @model_validator(mode="after")
    def _ordered(self) -> Schedule:
        _require_unique([v.id for v in self.visits], "visit", "visits")
        days = [v.day for v in self.visits]
        for i in range(1, len(days)):
            if days[i] < days[i - 1]:
                raise LocatedError(f"visits must be listed in order of their day, got days {days}", "visits", i, "day")
        return self

    def visit(self, visit_id: str) -> Visit:
        for v in self.visits:
            if v.id == visit_id:
                return v
        raise KeyError(visit_id)


class Diary(Model):
    sections: list[Literal["symptoms", "functional_activities", "rehabilitation_medicines", "assistive_devices"]] = (
        Field(min_length=1)
    )
    start_visit: Slug
    end_visit: Slug
    who: list[Literal["participant", "caregiver"]] = ["participant", "caregiver"]
    assumption: Assumption = None


# --------------------------------------------------------------------------- endpoints and analysis


class Endpoint(Model):
    id: Slug
    kind: Literal["primary", "secondary", "safety", "exploratory"]
    title: str
    instrument: str | None = None
    visit: Slug | None = None
    description: str | None = None
    assumption: Assumption = None


class Analysis(Model):
    id: Slug
    endpoint: Slug | None = None
    method: Literal["mrs_shift", "dichotomized_mrs", "ancova", "safety", "consort"]
    outcome: str | None = Field(None, description="Instrument name whose total is analysed.")
    visit: Slug | None = None
    baseline_visit: Slug | None = None
    covariates: list[str] = []
    threshold: int | None = Field(None, description="For dichotomized_mrs: good outcome is mRS <= threshold.")
    treatment_arm: Slug | None = None
    control_arm: Slug | None = None


class InterimMonitoring(Model):
    """Planned looks at the primary analysis for the DSMB, with group-sequential boundaries by alpha
    spending (``trialkit.analysis.group_sequential``) at the plan's alpha."""

    analysis: Slug = Field(description="The id of the analysis monitored (an mrs_shift, dichotomized_mrs or ancova).")
    spending: Literal["obrien_fleming", "pocock"] = Field(
        "obrien_fleming", description="Lan–DeMets spending function: O'Brien–Fleming type or Pocock type."
    )
    information_fractions: list[float] = Field(
        min_length=2,
        max_length=20,
        description="Information at each look over the information planned at the end: increasing, in (0, 1], "
        "the last 1 (the final analysis).",
    )
    sides: Literal[1, 2] = 2
    assumption: Assumption = None

    @field_validator("information_fractions")
    @classmethod
    def _fractions(cls, values: list[float]) -> list[float]:
        for i, t in enumerate(values):
            if not 0 < t <= 1:
                raise ValueError(f"information_fractions[{i}] = {t} is not in (0, 1]")
            if i and t <= values[i - 1]:
                raise ValueError(f"information_fractions[{i}] = {t} does not increase (previous {values[i - 1]})")
        if values and values[-1] != 1:
            raise ValueError(f"the last information fraction is the final analysis and must be 1, got {values[-1]}")
        return values


MONITORABLE_METHODS = ("mrs_shift", "dichotomized_mrs", "ancova")


class AnalysisPlan(Model):
    alpha: float = Field(0.05, gt=0, lt=1)
    population: Literal["ITT", "mITT", "PP"] = "ITT"
    analyses: list[Analysis] = []
    interim: InterimMonitoring | None = None
    assumption: Assumption = None


# --------------------------------------------------------------------------- the protocol


# The screening facts a pre-screen question may fill, with the kind of answer each takes. Facts a lay
# person cannot give (laboratory values, NIHSS items) are left to the site.
PRESCREEN_FACTS: dict[str, str] = {
    "age": "number",
    "sex": "choice",
    "stroke.type": "choice",
    "stroke.territory": "choice",
    "stroke.onset_date": "date",
    "premorbid_mrs": "choice",
    "pregnant": "yes_no",
    "lactating": "yes_no",
}


class PrescreenChoice(Model):
    value: str | int = Field(description="The fact's value this answer gives (e.g. ischemic, 0).")
    label: str = Field(min_length=1)
    labels: dict[str, str] = Field({}, description="The label in other languages, by language code (zh-hans).")


class PrescreenQuestion(Model):
    """One plain-language question of the public pre-screener.

    ``fact`` names the screening fact the answer fills; a question without one is asked for the
    site only (its answer travels with a referral but decides nothing)."""

    id: Slug
    kind: Literal["number", "choice", "date", "yes_no"]
    text: str = Field(min_length=1)
    texts: dict[str, str] = Field({}, description="The question in other languages, by language code (zh-hans).")
    help: str | None = None
    helps: dict[str, str] = {}
    fact: str | None = Field(None, description="Screening fact path: " + ", ".join(PRESCREEN_FACTS) + ".")
    min: int | None = None
    max: int | None = None
    choices: list[PrescreenChoice] = []

    @model_validator(mode="after")
    def _consistent(self) -> PrescreenQuestion:
        if self.fact is not None:
            if self.fact not in PRESCREEN_FACTS:
                raise LocatedError(
                    f"fact {self.fact!r} cannot be asked of a lay person; one of: {', '.join(PRESCREEN_FACTS)}", "fact"
                )
            if PRESCREEN_FACTS[self.fact] != self.kind:
                raise LocatedError(f"fact {self.fact!r} takes a {PRESCREEN_FACTS[self.fact]} question", "kind")
        if self.kind == "choice" and not self.choices:
            raise LocatedError("a choice question needs choices", "choices")
        if self.kind != "choice" and self.choices:
            raise LocatedError(f"a {self.kind} question has no choices", "choices")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise LocatedError("min is greater than max", "min")
        return self


class Prescreen(Model):
    """The public pre-screener: plain questions mapped to screening facts, screened by ``screen()``."""

    intro: str | None = None
    intros: dict[str, str] = {}
    questions: list[PrescreenQuestion] = Field(min_length=1)
    assumption: Assumption = None


# --------------------------------------------------------------------------- translated registry texts

# Languages a protocol file may translate its registry texts into: the languages the web pages are
# offered in besides English (Django's LANGUAGES, written here as BCP 47 tags).
TRANSLATION_LANGUAGES = ("zh-Hans",)


class RegistryTranslation(Model):
    """The registry's texts in another language, for the public trial page. Every field is optional:
    what is missing is shown in English. Codes, identifiers, names and numbers are never translated."""

    brief_title: str | None = Field(None, min_length=1)
    official_title: str | None = Field(None, min_length=1)
    brief_summary: str | None = Field(None, min_length=1)
    detailed_description: str | None = Field(None, min_length=1)
    conditions: list[str] | None = Field(
        None, description="The registry's conditions, translated, in the same order and number."
    )
    criteria: dict[str, str] = Field(default_factory=dict, description="Eligibility criterion texts by criterion id.")
    arms: dict[str, str] = Field(default_factory=dict, description="Arm descriptions by arm id.")


class Protocol(Model):
    schema_version: Literal[1] = 1
    registry: Registry
    design: Design
    arms: list[Arm] = Field(min_length=1)
    eligibility: Eligibility
    consent: Consent
    randomization: Randomization
    schedule: Schedule
    diary: Diary | None = None
    prescreen: Prescreen | None = None
    product: ProductHandling | None = None
    endpoints: list[Endpoint] = []
    analysis_plan: AnalysisPlan = AnalysisPlan()
    translations: dict[str, RegistryTranslation] = Field(
        default_factory=dict,
        description="Registry texts in other languages, by language tag (zh-Hans); see docs/participants.md.",
    )

    @property
    def id(self) -> str:
        return self.registry.nct_id

    @property
    def title(self) -> str:
        return self.registry.brief_title

    def translation(self, language: str) -> RegistryTranslation | None:
        """The registry texts in ``language`` (a tag such as ``zh-Hans`` or Django's ``zh-hans``), if given."""
        for tag, texts in self.translations.items():
            if tag.lower() == language.lower():
                return texts
        return None

    def arm(self, arm_id: str) -> Arm:
        for arm in self.arms:
            if arm.id == arm_id:
                return arm
        raise KeyError(arm_id)

    @cached_property
    def condition_vocabulary(self) -> ConditionVocabulary:
        """The condition names this trial's screening facts may use (``trialkit.eligibility.vocabulary``)."""
        return replace(self.eligibility.condition_vocabulary, owner=self.id)

    @property
    def assumptions(self) -> list[tuple[str, str]]:
        """Every (path, text) marked as an assumption not stated by the registry."""
        found: list[tuple[str, str]] = []
        _collect_assumptions(self, "", found)
        return found

    @model_validator(mode="after")
    def _cross_references(self) -> Protocol:
        arm_ids = [a.id for a in self.arms]
        _require_unique(arm_ids, "arm", "arms")
        intervention_ids = {i.id for i in self.registry.interventions}
        for a, arm in enumerate(self.arms):
            for r, ref in enumerate(arm.interventions):
                if ref not in intervention_ids:
                    raise LocatedError(
                        f"arm {arm.id!r} names intervention {ref!r}, which registry.interventions lacks",
                        "arms",
                        a,
                        "interventions",
                        r,
                    )
        if set(self.randomization.ratio) != set(arm_ids):
            unknown = [key for key in self.randomization.ratio if key not in arm_ids]
            ratio_at = ("randomization", "ratio", unknown[0]) if unknown else ("randomization", "ratio")
            raise LocatedError(
                f"randomization.ratio must name every arm exactly: arms {sorted(arm_ids)}, "
                f"ratio {sorted(self.randomization.ratio)}",
                *ratio_at,
            )
        levels = {lvl.id for arm in self.arms if arm.dose for lvl in arm.dose.levels}
        for c, cohort in enumerate(self.randomization.cohorts):
            if cohort.dose_level not in levels:
                raise LocatedError(
                    f"cohort {cohort.id!r} names dose level {cohort.dose_level!r}, which no arm has",
                    "randomization",
                    "cohorts",
                    c,
                    "dose_level",
                )
        if self.randomization.cohorts:
            total = sum(c.size for c in self.randomization.cohorts)
            if total != self.registry.enrollment.count:
                raise LocatedError(
                    f"cohort sizes add up to {total}, but registry.enrollment.count is {self.registry.enrollment.count}",
                    "randomization",
                    "cohorts",
                )
        site_ids = [loc.id for loc in self.registry.locations]
        _require_unique(site_ids, "location", "registry", "locations")
        if self.prescreen:
            _require_unique([q.id for q in self.prescreen.questions], "question", "prescreen", "questions")
        visit_ids = {v.id for v in self.schedule.visits}
        for e, endpoint in enumerate(self.endpoints):
            if endpoint.visit and endpoint.visit not in visit_ids:
                raise LocatedError(
                    f"endpoint {endpoint.id!r} names visit {endpoint.visit!r}, which the schedule lacks",
                    "endpoints",
                    e,
                    "visit",
                )
        endpoint_ids = {e.id for e in self.endpoints}
        for n, analysis in enumerate(self.analysis_plan.analyses):
            where: tuple[str | int, ...] = ("analysis_plan", "analyses", n)
            for field, named in (("visit", analysis.visit), ("baseline_visit", analysis.baseline_visit)):
                if named and named not in visit_ids:
                    raise LocatedError(
                        f"analysis {analysis.id!r} {field} {named!r} is not a visit of the schedule", *where, field
                    )
            for field, named in (("treatment_arm", analysis.treatment_arm), ("control_arm", analysis.control_arm)):
                if named and named not in arm_ids:
                    raise LocatedError(f"analysis {analysis.id!r} {field} {named!r} is not an arm", *where, field)
            if analysis.endpoint and analysis.endpoint not in endpoint_ids:
                raise LocatedError(
                    f"analysis {analysis.id!r} names endpoint {analysis.endpoint!r}, which is not defined",
                    *where,
                    "endpoint",
                )
        interim = self.analysis_plan.interim
        if interim is not None:
            monitored = {a.id: a for a in self.analysis_plan.analyses}.get(interim.analysis)
            if monitored is None or monitored.method not in MONITORABLE_METHODS:
                raise LocatedError(
                    f"interim.analysis {interim.analysis!r} must be the id of an analysis of the plan with method "
                    f"{', '.join(MONITORABLE_METHODS)}",
                    "analysis_plan",
                    "interim",
                    "analysis",
                )
        form_ids = {form for v in self.schedule.visits for form in v.forms}
        for d, doc in enumerate(self.consent.documents):
            if doc.affects != "all":
                for f, form in enumerate(doc.affects):
                    if form not in form_ids:
                        raise LocatedError(
                            f"consent version {doc.version!r} affects form {form!r}, which no visit of the schedule has",
                            "consent",
                            "documents",
                            d,
                            "affects",
                            f,
                        )
        if self.diary:
            for field, ref in (("start_visit", self.diary.start_visit), ("end_visit", self.diary.end_visit)):
                if ref not in visit_ids:
                    raise LocatedError(f"diary visit {ref!r} is not a visit of the schedule", "diary", field)
        self._check_translations(set(arm_ids))
        return self

    def _check_translations(self, arm_ids: set[str]) -> None:
        criterion_ids = {c.id for c in self.eligibility.criteria}
        for language, texts in self.translations.items():
            if language not in TRANSLATION_LANGUAGES:
                raise LocatedError(
                    f"language {language!r} is not one TrialKit offers; translations may be given in "
                    f"{', '.join(TRANSLATION_LANGUAGES)}",
                    "translations",
                    language,
                )
            where = ("translations", language)
            if texts.conditions is not None and len(texts.conditions) != len(self.registry.conditions):
                raise LocatedError(
                    f"{len(texts.conditions)} conditions translated, but registry.conditions lists "
                    f"{len(self.registry.conditions)}: give one translation for each, in the same order",
                    *where,
                    "conditions",
                )
            for key in texts.criteria:
                if key not in criterion_ids:
                    raise LocatedError(f"criterion {key!r} is not one of eligibility.criteria", *where, "criteria", key)
            for key in texts.arms:
                if key not in arm_ids:
                    raise LocatedError(f"arm {key!r} is not one of arms", *where, "arms", key)


def _require_unique(ids: list[str], what: str, *prefix: str | int) -> None:
    seen: set[str] = set()
    for i, item in enumerate(ids):
        if item in seen:
            raise LocatedError(f"{what} id {item!r} is used twice; ids must be unique", *prefix, i, "id")
        seen.add(item)


def _collect_assumptions(obj: Any, path: str, found: list[tuple[str, str]]) -> None:
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            sub = f"{path}.{name}" if path else name
            if name == "assumption" and isinstance(value, str):
                found.append((path or "(protocol)", value))
            else:
                _collect_assumptions(value, sub, found)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            _collect_assumptions(item, f"{path}[{i}]", found)
    elif isinstance(obj, dict):
        for key, item in obj.items():
            _collect_assumptions(item, f"{path}.{key}", found)


NCT_PATTERN = re.compile(r"^NCT\d{8}$")
