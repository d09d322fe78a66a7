"""The public face: the trial finder and each trial's registry page. No login needed."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils.translation import get_language

from trialkit.protocol import ProtocolError
from trialkit.protocol.schema import PHASE_LABELS, STATUS_LABELS, OverallStatus
from trialkit.protocol.search import TrialQuery, matches, phase_label
from trialkit.server.accounts.lookups import public_trial
from trialkit.server.trials.models import Trial


def _sites_text(trial: Trial) -> list[str]:
    return [" ".join(filter(None, (s.name, s.city, s.country))) for s in trial.sites.all()]


def finder(request):
    query = TrialQuery(
        text=request.GET.get("q", "").strip(),
        condition=request.GET.get("condition", "").strip(),
        status=request.GET.get("status", "").strip(),
        phase=request.GET.get("phase", "").strip(),
        location=request.GET.get("location", "").strip(),
    )
    cards = []
    conditions: set[str] = set()
    for trial in Trial.objects.prefetch_related("sites"):
        protocol = trial.protocol
        conditions.update(protocol.registry.conditions)
        if not matches(protocol, query, _sites_text(trial)):
            continue
        r = protocol.registry
        cards.append(
            {
                "trial": trial,
                "protocol": protocol,
                "status": r.overall_status.label,
                "phases": phase_label(protocol),
                "places": sorted(
                    {s.place for s in trial.sites.all() if s.place}
                    | {", ".join(filter(None, (l.city, l.country))) for l in r.locations if l.country}
                ),
            }
        )
    context = {
        "query": query,
        "cards": cards,
        "statuses": [(s.value, STATUS_LABELS[s]) for s in OverallStatus],
        "phases": list(PHASE_LABELS.items()),
        "conditions": sorted(conditions),
    }
    template = "trials/_results.html" if request.htmx else "trials/finder.html"
    return render(request, template, context)


def trial_page(request, nct_id: str):
    trial = public_trial(nct_id)
    try:
        protocol = trial.protocol
    except ProtocolError as exc:
        raise Http404(f"The protocol of {nct_id} cannot be read: {exc}") from exc
    from trialkit.protocol.page import build_page, render_html_body
    from trialkit.server.trials.page_wording import page_labels

    # The body in the request's language: the protocol's translated registry texts and the page's
    # fixed wording from the catalogue (LocaleMiddleware chose the language).
    page = build_page(protocol, get_language() or "en", page_labels())
    return render(
        request,
        "trials/trial_page.html",
        {"trial": trial, "page": page, "protocol": protocol, "body": render_html_body(page)},
    )
