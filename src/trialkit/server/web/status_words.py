"""The reader's words for status values that are stored (and kept by the core) in English: visit
statuses of the schedule, form and query statuses, and the next-step badges of the home panels.

The stored values never change; only their display is translated here. Form and query statuses are
the models' own choice labels (one translation of each), shown as a badge's lower-case word. None of
these words depends on a participant's arm (the same status gives the same word in every arm).
"""

from __future__ import annotations

from django.db.models import TextChoices
from django.utils.translation import pgettext_lazy

from trialkit.schedule import VisitStatus
from trialkit.server.capture.models import FormRecord, Query

VISIT_STATUS = {
    VisitStatus.UPCOMING: pgettext_lazy("visit status", "upcoming"),
    VisitStatus.IN_WINDOW: pgettext_lazy("visit status", "in window"),
    VisitStatus.MISSED: pgettext_lazy("visit status", "missed"),
    VisitStatus.INCOMPLETE: pgettext_lazy("visit status", "forms incomplete"),
    VisitStatus.OVERDUE: pgettext_lazy("visit status", "forms overdue"),
    VisitStatus.DONE: pgettext_lazy("visit status", "done"),
    VisitStatus.OUT_OF_WINDOW: pgettext_lazy("visit status", "out of window"),
    VisitStatus.NOT_EXPECTED: pgettext_lazy("visit status", "not expected"),
}

# The next step a home panel's badge names.
BADGES = {
    "enroll": pgettext_lazy("next step", "eligible and consented: enroll"),
    "consent": pgettext_lazy("next step", "eligible: record consent"),
    "close": pgettext_lazy("next step", "ineligible: close as screen failure"),
    "continue": pgettext_lazy("next step", "facts missing: continue screening"),
    "randomize": pgettext_lazy("next step", "randomize"),
    "attest": pgettext_lazy("next step", "attest criteria"),
    "prepare": pgettext_lazy("next step", "prepare dose"),
    "given": pgettext_lazy("next step", "given"),
    "awaiting_infusion": pgettext_lazy("next step", "awaiting infusion"),
    "receipt": pgettext_lazy("next step", "confirm receipt"),
    "review": pgettext_lazy("next step", "review"),
    "check": pgettext_lazy("next step", "check"),
    "stale": pgettext_lazy("next step", "stale screening"),
    "new": pgettext_lazy("next step", "new"),
    "review_screening": pgettext_lazy("next step", "review screening data"),
    "sign": pgettext_lazy("next step", "sign"),
    "verify": pgettext_lazy("next step", "verify"),
    "lock": pgettext_lazy("next step", "ready to lock"),
}


def visit_status_label(status) -> str:
    try:
        return str(VISIT_STATUS[VisitStatus(getattr(status, "value", status))])
    except (KeyError, ValueError):
        return str(status)


def _choice_word(choices: type[TextChoices], status) -> str:
    try:
        return str(choices(str(status)).label).lower()
    except ValueError:
        return str(status)


def form_status_label(status) -> str:
    return _choice_word(FormRecord.Status, status)


def query_status_label(status) -> str:
    return _choice_word(Query.Status, status)
