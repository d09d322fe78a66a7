"""The plain records an export is built from; the shell (or a JSON file) provides them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExportSubject(_Record):
    subject_id: str = Field(min_length=1)
    site_id: str = Field(min_length=1)
    sex: str | None = None  # M, F or U (SDTM SEX)
    birth_date: date | None = None
    age: int | None = None
    consent_date: date | None = None
    randomized_on: date | None = None
    anchor_date: date | None = Field(None, description="Day 1 of the study day count (first dose).")
    end_date: date | None = None
    status: str | None = None  # completed, withdrawn, lost_to_follow_up, died, ongoing
    arm_id: str | None = Field(None, description="Only in unblinded exports.")
    country: str | None = None
    baseline_nihss: int | None = Field(None, description="NIHSS total at screening (the eligibility fact).")


class ExportSignature(_Record):
    """An electronic signature of a form (or of its visit), as 21 CFR 11.50 asks it shown."""

    signer_id: str
    signer_name: str
    signed_at: datetime
    meaning: str
    scope: Literal["form", "visit"] = "form"
    valid: bool = True
    note: str = ""  # why a signature no longer holds


class ExportForm(_Record):
    subject_id: str
    visit_id: str
    form: str
    values: dict[str, Any]
    collected_on: date | None = None
    status: Literal["complete", "draft"] = "complete"  # drafts are exported only when asked for
    repeat: int = Field(1, ge=1, description="Numbers the records of a repeating form at one visit.")
    signatures: list[ExportSignature] = []
    total: float | None = Field(None, description="The scale's total as scored when the form was entered.")


class ExportAdverseEvent(_Record):
    subject_id: str
    seq: int = Field(ge=1)
    term: str
    onset_date: date | None = None
    resolution_date: date | None = None
    grade: int | None = Field(None, ge=1, le=5)
    serious: bool = False
    related: str | None = None
    outcome: str | None = None
    action_taken: str | None = None


class ExportScreening(_Record):
    """One screening record: its outcome and, for a screen failure, the criteria failed."""

    screening_id: str
    outcome: str  # enrolled, screen_failed, or a status still in screening
    reasons: list[str] = []


class ExportExposure(_Record):
    """One administration of the study treatment (SDTM EX). ``weight_kg`` and ``volume_ml`` read the
    same in every arm (the final infusion volume is weight x ml/kg, equal across arms); the dose
    level is unblinded data and is refused in a blinded export (see ``ExportData``)."""

    subject_id: str
    administered_on: date
    weight_kg: float | None = Field(None, gt=0)
    volume_ml: float | None = Field(None, gt=0)
    dose_level: str | None = Field(None, description="Only in unblinded exports: the arm's dose level id.")


class ExportLab(_Record):
    """A laboratory result as the laboratory reported it (SDTM LB): value and unit, and the
    laboratory's upper limit of normal with its unit when known."""

    subject_id: str
    visit_id: str | None = Field(None, description="None: a screening fact, shown at the screening visit.")
    analyte: str
    value: float
    unit: str
    uln: float | None = Field(None, gt=0)
    uln_unit: str | None = None
    collected_on: date | None = None

    @field_validator("analyte")
    @classmethod
    def _known_analyte(cls, value: str) -> str:
        from trialkit.instruments.labs import LabUnitError, get_analyte

        try:
            return get_analyte(value).key
        except LabUnitError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("unit", "uln_unit")
    @classmethod
    def _known_unit(cls, value: str | None) -> str | None:
        from trialkit.instruments.labs import LabUnitError, normalize_unit

        if value is None:
            return None
        try:
            return normalize_unit(value)
        except LabUnitError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _unit_of_the_analyte(self) -> ExportLab:
        from trialkit.instruments.labs import get_analyte

        units = get_analyte(self.analyte).units
        for name in ("unit", "uln_unit"):
            value = getattr(self, name)
            if value is not None and value not in units:
                raise ValueError(f"{name}: {value!r} is not a unit of {self.analyte} (allowed: {', '.join(units)})")
        return self


class ExportData(_Record):
    subjects: list[ExportSubject] = []
    forms: list[ExportForm] = []
    adverse_events: list[ExportAdverseEvent] = []
    screenings: list[ExportScreening] = []
    exposures: list[ExportExposure] = []
    labs: list[ExportLab] = []

    @model_validator(mode="after")
    def _no_dose_level_when_blinded(self) -> ExportData:
        # The dose level names the arm: a blinded export (no subject has an arm) must not carry it.
        if self.blinded:
            for i, e in enumerate(self.exposures):
                if e.dose_level is not None:
                    raise ValueError(
                        f"exposures.{i}.dose_level: only allowed in an unblinded export (no subject has an arm_id)"
                    )
        return self

    @property
    def blinded(self) -> bool:
        return all(s.arm_id is None for s in self.subjects)
