"""The plain records an export is built from; the shell (or a JSON file) provides them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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


class ExportData(_Record):
    subjects: list[ExportSubject] = []
    forms: list[ExportForm] = []
    adverse_events: list[ExportAdverseEvent] = []
    screenings: list[ExportScreening] = []

    @property
    def blinded(self) -> bool:
        return all(s.arm_id is None for s in self.subjects)
