"""The rules for ending a participant's participation: outcome, date and reason (pure; no Django).

How a participant leaves the trial follows the CDISC SDTM DS disposition events (COMPLETED,
WITHDRAWAL BY SUBJECT, LOST TO FOLLOW-UP, DEATH; see ``trialkit.export.sdtm.DISPOSITION``). Every
end but completion says why; a completion needs the protocol's end-of-study visit to have been held
and is not dated before it; no end lies in the future or before enrollment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from trialkit.instruments import FieldError

END_OUTCOMES: dict[str, str] = {
    "completed": "Completed",
    "withdrawn": "Withdrawn",
    "lost_to_follow_up": "Lost to follow-up",
    "died": "Died",
}
REASON_NEEDED = frozenset({"withdrawn", "lost_to_follow_up", "died"})


@dataclass(frozen=True)
class EndOfStudyVisit:
    """The protocol's end-of-study visit and the day this participant held it (None: not yet)."""

    id: str
    label: str
    done_on: date | None


def parse_date(field_name: str, value: Any, errors: list[FieldError]) -> date | None:
    """A date from a date, a datetime or ``YYYY-MM-DD``; a missing or malformed one is an error."""
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.append(FieldError(field_name, None, "required", "give the date"))
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        errors.append(FieldError(field_name, value, "type", "is not a date (YYYY-MM-DD)"))
        return None


def end_problems(
    outcome: str, ended_on: Any, reason: str, *, today: date, enrolled_on: date, end_visit: EndOfStudyVisit | None
) -> tuple[date | None, list[FieldError]]:
    """The end date as a date, and every problem with the request at once, each naming its field
    and rule (``outcome``/``choice`` or ``end_of_study_visit``; ``ended_on``/``required``, ``type``
    or ``range``; ``reason``/``required``). ``end_visit`` is None when the protocol has none."""
    errors: list[FieldError] = []
    if outcome not in END_OUTCOMES:
        errors.append(FieldError("outcome", outcome, "choice", "must be one of " + ", ".join(END_OUTCOMES)))
    day = parse_date("ended_on", ended_on, errors)
    if day is not None:
        if day > today:
            errors.append(FieldError("ended_on", day, "range", f"cannot be in the future (today is {today})"))
        elif day < enrolled_on:
            errors.append(FieldError("ended_on", day, "range", f"cannot be before enrollment on {enrolled_on}"))
    if outcome in REASON_NEEDED and not reason:
        errors.append(
            FieldError(
                "reason", None, "required", f"say why the participant is recorded as {END_OUTCOMES[outcome].lower()}"
            )
        )
    if outcome == "completed":
        if end_visit is None:
            errors.append(
                FieldError(
                    "outcome",
                    outcome,
                    "end_of_study_visit",
                    "the protocol's schedule has no end-of-study visit (kind end_of_study), "
                    "so completion cannot be checked",
                )
            )
        elif end_visit.done_on is None:
            errors.append(
                FieldError(
                    "outcome",
                    outcome,
                    "end_of_study_visit",
                    f"completion needs the date of the end-of-study visit, {end_visit.label} "
                    f"({end_visit.id}); record that visit first",
                )
            )
        elif day is not None and day < end_visit.done_on:
            errors.append(
                FieldError(
                    "ended_on",
                    day,
                    "range",
                    f"a completion cannot be dated before the end-of-study visit, "
                    f"{end_visit.label} on {end_visit.done_on}",
                )
            )
    return day, errors
