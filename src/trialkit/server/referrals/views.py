"""The coordinator's referral pages: the site's list, one referral, and "create the screening record"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from trialkit.eligibility.prescreen import questions
from trialkit.server.accounts.lookups import referral_for, trial_for
from trialkit.server.referrals import services
from trialkit.server.screening.services import ScreeningError


@login_required
def referral_list(request, nct_id: str):
    trial, _access = trial_for(request.user, nct_id, "screening.referrals")
    rows = services.referrals_for(request.user, trial)
    return render(request, "referrals/list.html", {"trial": trial, "referrals": rows})


def _in_language(default: str, translations: dict[str, str]) -> str:
    language = (get_language() or "").lower()
    return translations.get(language) or translations.get(language.split("-")[0]) or default


def _answer_rows(referral) -> list[tuple[str, str]]:
    """Each pre-screen question and its answer in the page's language (the protocol's texts and
    choice labels, as the person read them); numbers and dates as given."""
    asked = {q.id: q for q in questions(referral.trial.protocol)}
    rows = []
    for qid, value in referral.answers.items():
        q = asked.get(qid)
        if q is None:
            rows.append((qid, value))
            continue
        if q.kind == "choice":
            value = {str(c.value): _in_language(c.label, c.labels) for c in q.choices}.get(str(value), value)
        elif q.kind == "yes_no":
            value = {"yes": _("Yes"), "no": _("No")}.get(str(value), value)
        rows.append((_in_language(q.text, q.texts), value))
    return rows


@login_required
def referral_detail(request, nct_id: str, pk: int):
    trial, _access = trial_for(request.user, nct_id)
    referral, _access = referral_for(request.user, trial, pk)
    return render(
        request,
        "referrals/detail.html",
        {"trial": trial, "referral": referral, "answers": _answer_rows(referral)},
    )


@login_required
@require_POST
def referral_convert(request, nct_id: str, pk: int):
    trial, _access = trial_for(request.user, nct_id)
    referral, _access = referral_for(request.user, trial, pk)
    try:
        record = services.convert_to_screening(referral, request.user, timezone.localdate(), timezone.now())
    except (services.ReferralError, ScreeningError) as exc:
        messages.error(request, str(getattr(exc, "message", exc)))
        return redirect(reverse("referrals:detail", args=[nct_id, pk]))
    messages.success(
        request, _("Screening record %(number)s created from the referral.") % {"number": record.screening_number}
    )
    return redirect(reverse("screening:record", args=[nct_id, record.screening_number]))
