"""Bulk review of a visit: source-verify or lock several of its forms with one reason.

All or nothing, in one transaction: every chosen form is locked first and checked with the same
rule as the single-form action (``services.verify_problem`` / ``lock_problem``); if any fails,
nothing is written and ``BulkRefused`` lists each form and why. Otherwise each form goes through
the single-form service, so each gets its own audit event carrying the shared reason. Forms
already verified (or locked) are left as they are and reported as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trialkit.instruments import FieldError
from trialkit.server.accounts.access import require
from trialkit.server.capture import services
from trialkit.server.capture.models import FormRecord, Visit
from trialkit.server.capture.oversight import form_title
from trialkit.server.capture.services import CaptureError


class BulkRefused(CaptureError):
    """Nothing was done: ``problems`` holds (form, why) for each form that could not be processed."""

    def __init__(self, action: str, problems: list[tuple[str, str]]):
        self.problems = problems
        listed = "; ".join(f"{name}: {why}" for name, why in problems)
        super().__init__(say(action, "refused", count=len(problems), forms=listed))


@dataclass
class BulkResult:
    done: list[FormRecord] = field(default_factory=list)
    skipped: list[tuple[FormRecord, str]] = field(default_factory=list)


def _name(form: FormRecord) -> str:
    title = form_title(form.instrument)
    return f"{title} (record {form.repeat})" if form.repeat > 1 else title


# The sentences of each action, whole (a translator sees "source-verified" and "locked" in context).
_SAY = {
    ("verify", "reason"): gettext_lazy("say why these forms are source-verified"),
    ("lock", "reason"): gettext_lazy("say why these forms are locked"),
    ("verify", "already"): gettext_lazy("already source-verified"),
    ("lock", "already"): gettext_lazy("already locked"),
    ("verify", "refused"): gettext_lazy("nothing was source-verified: %(count)s form(s) could not be — %(forms)s"),
    ("lock", "refused"): gettext_lazy("nothing was locked: %(count)s form(s) could not be — %(forms)s"),
    ("verify", "nothing"): gettext_lazy("Nothing was source-verified: these forms could not be."),
    ("lock", "nothing"): gettext_lazy("Nothing was locked: these forms could not be."),
    ("verify", "done"): gettext_lazy("%(visit)s: %(count)s form(s) source-verified."),
    ("lock", "done"): gettext_lazy("%(visit)s: %(count)s form(s) locked."),
}


def say(action: str, what: str, **names) -> str:
    """The sentence ``what`` of ``action`` in the active language, its placeholders filled."""
    text = str(_SAY[(action, what)])
    return text % names if names else text


ACTIONS = {
    # action: (who may, the single-form rule, already done?, past tense)
    "verify": ("capture.verify_form", services.verify_problem, lambda f: f.verified_at is not None, "source-verified"),
    "lock": ("capture.lock_form", services.lock_problem, lambda f: f.locked_at is not None, "locked"),
}


@transaction.atomic
def review_visit_forms(
    visit: Visit, action: str, form_ids: list[int], actor, *, reason: str, now: datetime
) -> BulkResult:
    """Source-verify (monitor) or lock (data manager) the chosen forms of one visit."""
    if action not in ACTIONS:
        raise CaptureError(_("unknown bulk action %(action)s (verify or lock)") % {"action": repr(action)})
    role, rule, already, _verb = ACTIONS[action]
    participant = visit.participant
    require(actor, participant.trial, role, site_id=participant.site_id)
    reason = (reason or "").strip()
    if not reason:
        raise services.FormInvalid([FieldError("reason", None, "required", say(action, "reason"))], "bulk review")
    wanted = sorted(set(form_ids))
    if not wanted:
        raise CaptureError(_("choose at least one form"))
    forms = list(
        FormRecord.objects.select_for_update().filter(visit=visit, pk__in=wanted).order_by("instrument", "repeat")
    )
    problems = [
        (_("form %(id)s") % {"id": pk}, _("is not a form of %(visit)s") % {"visit": visit.label})
        for pk in wanted
        if pk not in {f.pk for f in forms}
    ]
    result = BulkResult()
    todo = []
    for form in forms:
        if form.deleted_at is None and already(form):
            result.skipped.append((form, say(action, "already")))
            continue
        why = rule(form)
        if why:
            problems.append((_name(form), why))
        else:
            todo.append(form)
    if problems:
        raise BulkRefused(action, problems)
    for form in todo:
        if action == "verify":
            result.done.append(services.verify_form(form, actor, now=now, reason=reason))
        else:
            result.done.append(services.lock_form(form, actor, reason=reason, now=now))
    return result
