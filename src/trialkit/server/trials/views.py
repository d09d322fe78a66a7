"""The public face: the trial finder, each trial's registry page, the pre-screener and "contact the
site". No login needed; nothing a person types is stored unless they ask a site to contact them."""

from __future__ import annotations

import time

from django import forms
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.validators import RegexValidator
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from trialkit.eligibility.prescreen import MAX_ANSWER_LENGTH, PrescreenError, prescreen, questions
from trialkit.protocol import ProtocolError
from trialkit.protocol.page import translated
from trialkit.protocol.places import find_place
from trialkit.protocol.schema import PHASE_LABELS, STATUS_LABELS, OverallStatus
from trialkit.protocol.search import (
    MAX_DISTANCE_KM,
    TrialQuery,
    distances_km,
    matches,
    nearest_km,
    site_coordinates,
)
from trialkit.server.accounts.lookups import public_trial
from trialkit.server.referrals import services as referrals
from trialkit.server.trials.models import Site, Trial

WITHIN_CHOICES = (25, 50, 100, 250, 500, 1000, 2000)


def _sites_text(trial: Trial) -> list[str]:
    return [" ".join(filter(None, (s.name, s.city, s.country))) for s in trial.sites.all()]


def _site_contacts(trial: Trial, site: Site) -> list[dict[str, str]]:
    """Whom to contact about a site: the site's own contact, else the protocol's for its location,
    else the trial's central contacts."""
    if site.contact_name or site.contact_email or site.contact_phone:
        return [{"name": site.contact_name, "email": site.contact_email, "phone": site.contact_phone}]
    r = trial.protocol.registry
    listed = next((loc.contacts for loc in r.locations if loc.id == site.code and loc.contacts), None)
    contacts = listed or r.central_contacts
    return [{"name": c.name, "email": c.email or "", "phone": c.phone or "", "role": c.role or ""} for c in contacts]


def _site_rows(trial: Trial, origin: tuple[float, float] | None) -> list[dict]:
    protocol = trial.protocol
    sites = list(trial.sites.all())
    # The gazetteer is asked only when a distance is wanted (it loads on first use).
    far = distances_km(origin, {s.code: site_coordinates(protocol, s.code, s.city) for s in sites}) if origin else {}
    rows = [
        {"site": s, "place": s.place, "km": far.get(s.code), "contacts": _site_contacts(trial, s)}
        for s in sites
        if s.active
    ]
    if origin:
        rows.sort(key=lambda row: (row["km"] is None, row["km"] or 0.0))
    return rows


def _within(raw: str) -> tuple[float | None, str]:
    if not raw:
        return None, ""
    try:
        km = float(raw)
    except ValueError:
        return None, _("Within: enter a distance in kilometres, a number.")
    if not 1 <= km <= MAX_DISTANCE_KM:
        return None, _("Within: the distance must be between 1 and %(max)s km.") % {"max": MAX_DISTANCE_KM}
    return km, ""


def finder(request):
    query = TrialQuery(
        text=request.GET.get("q", "").strip(),
        condition=request.GET.get("condition", "").strip(),
        status=request.GET.get("status", "").strip(),
        phase=request.GET.get("phase", "").strip(),
        location=request.GET.get("location", "").strip(),
    )
    near = request.GET.get("near", "").strip()[:200]
    within_raw = request.GET.get("within", "").strip()[:20]
    within, within_error = _within(within_raw)
    place = find_place(near) if near and "\x00" not in near else None
    place_unknown = bool(near) and place is None
    origin = place.coordinates if place else None
    from trialkit.protocol.page import translated, trial_card
    from trialkit.server.trials.page_wording import page_labels

    # The cards in the request's language, like the trial page: the protocol's translated registry
    # texts where it gives them, the fixed wording (status, phases) from the catalogue.
    language, labels = get_language() or "en", page_labels()
    cards = []
    conditions: dict[str, str] = {}  # the registry's condition (the filter's value) -> its name in the language
    for trial in Trial.objects.prefetch_related("sites"):
        protocol = trial.protocol
        named = translated(protocol, language).conditions or protocol.registry.conditions
        for condition, name in zip(protocol.registry.conditions, named, strict=True):
            conditions.setdefault(condition, name)
        if not matches(protocol, query, _sites_text(trial)):
            continue
        rows = _site_rows(trial, origin)
        nearest = nearest_km({row["site"].code: row["km"] for row in rows}) if origin else None
        if origin and within is not None and (nearest is None or nearest > within):
            continue
        r = protocol.registry
        card = trial_card(protocol, language, labels)
        cards.append(
            {
                "trial": trial,
                "protocol": protocol,
                "title": card.title,
                "conditions": card.conditions,
                "summary": translated(protocol, language).brief_summary or r.brief_summary,
                "status": card.status_label,
                "phases": card.phases_label,
                "places": sorted(
                    {s.place for s in trial.sites.all() if s.place}
                    | {", ".join(filter(None, (l.city, l.country))) for l in r.locations if l.country}
                ),
                "sites": rows,
                "nearest_km": nearest,
                "has_prescreen": protocol.prescreen is not None,
            }
        )
    if origin:
        cards.sort(key=lambda card: (card["nearest_km"] is None, card["nearest_km"] or 0.0))
    context = {
        "query": query,
        "near": near,
        "within": within_raw,
        "within_choices": WITHIN_CHOICES,
        "place": place,
        "place_unknown": place_unknown,
        "within_error": within_error,
        "cards": cards,
        "statuses": [(s.value, labels.get(STATUS_LABELS[s], STATUS_LABELS[s])) for s in OverallStatus],
        "phases": [(value, labels.get(label, label)) for value, label in PHASE_LABELS.items()],
        "conditions": sorted(conditions.items()),
    }
    template = "trials/_results.html" if request.htmx else "trials/finder.html"
    return render(request, template, context, status=400 if within_error else 200)


def _protocol_of(trial: Trial):
    try:
        return trial.protocol
    except ProtocolError as exc:
        raise Http404(f"The protocol of {trial.nct_id} cannot be read: {exc}") from exc


def trial_page(request, nct_id: str):
    trial = public_trial(nct_id)
    protocol = _protocol_of(trial)
    from trialkit.protocol.page import build_page, render_html_body
    from trialkit.server.trials.page_wording import page_labels

    # The body in the request's language: the protocol's translated registry texts and the page's
    # fixed wording from the catalogue (LocaleMiddleware chose the language).
    page = build_page(protocol, get_language() or "en", page_labels())
    return render(
        request,
        "trials/trial_page.html",
        {
            "trial": trial,
            "page": page,
            "protocol": protocol,
            "body": render_html_body(page),
            "sites": _site_rows(trial, None),
            "has_prescreen": protocol.prescreen is not None,
        },
    )


# --------------------------------------------------------------------------- the pre-screener


def _in_language(default: str, translations: dict[str, str]) -> str:
    language = (get_language() or "").lower()
    return translations.get(language) or translations.get(language.split("-")[0]) or default


def _question_rows(protocol, given: dict[str, str], errors: dict[str, str]) -> list[dict]:
    rows = []
    for q in questions(protocol):
        if q.kind == "choice":
            choices = [(str(c.value), _in_language(c.label, c.labels)) for c in q.choices]
        elif q.kind == "yes_no":
            choices = [("yes", _("Yes")), ("no", _("No"))]
        else:
            choices = []
        rows.append(
            {
                "id": q.id,
                "name": f"a-{q.id}",
                "kind": q.kind,
                "text": _in_language(q.text, q.texts),
                "help": _in_language(q.help, q.helps) if q.help else "",
                "min": q.min if q.min is not None else 0,
                "max": q.max if q.max is not None else 130,
                "choices": choices,
                "value": given.get(q.id, ""),
                "error": errors.get(q.id, ""),
                "asks_fact": q.fact is not None,
            }
        )
    return rows


def _answer_error(question, rule: str, message: str) -> str:
    """The reader's-language sentence for a refused answer: the core's rule code and the question's
    bounds, never the core's English sentence (which stays for the command line)."""
    if rule == "integer_range":
        return _("Enter a whole number from %(min)s to %(max)s.") % {
            "min": question.min if question.min is not None else 0,
            "max": question.max if question.max is not None else 130,
        }
    if rule == "choice":
        return _('Choose one of the answers, or "I don\'t know".')
    if rule == "date":
        return _("Enter a date (year-month-day), not in the future and not before 1900.")
    if rule == "yes_no":
        return _('Answer yes or no, or "I don\'t know".')
    if rule == "max_length":
        return _("Keep the answer to at most %(max)s characters.") % {"max": MAX_ANSWER_LENGTH}
    if rule == "null_characters":
        return _("The answer contains a character that cannot be read.")
    if rule == "type":
        return _("The answer must be text.")
    return message


def _answer_errors(protocol, exc: PrescreenError) -> dict[str, str]:
    by_id = {q.id: q for q in questions(protocol)}
    return {qid: _answer_error(by_id.get(qid), rule, message) for qid, rule, message in exc.errors}


def _criterion_rows(protocol, results) -> list[dict[str, str]]:
    """The criteria of a pre-screen result in the reader's language: the protocol's translated text
    (as on the trial page) and why it failed. The core's technical reason is English and names facts,
    so a reader in another language gets a plain sentence instead."""
    language = get_language() or "en"
    texts = translated(protocol, language).criteria
    english = language.lower().startswith("en")
    rows = []
    for c in results:
        if english:
            why = c.reason
        elif c.type == "inclusion":
            why = _("your answers do not meet this condition")
        else:
            why = _("your answers show that this applies")
        rows.append({"id": c.id, "text": texts.get(c.id, c.text), "reason": why})
    return rows


def _answers_from(data) -> dict[str, str]:
    return {key[2:]: value for key, value in data.items() if key.startswith("a-")}


_STAMP_SALT = "trialkit.prescreen.started"


def _started_token() -> str:
    return signing.TimestampSigner(salt=_STAMP_SALT).sign(str(int(time.time())))


def _seconds_since(token: str) -> float | None:
    try:
        started = int(signing.TimestampSigner(salt=_STAMP_SALT).unsign(token, max_age=24 * 3600))
    except (signing.BadSignature, ValueError):
        return None
    return time.time() - started


class ContactForm(forms.Form):
    site = forms.ChoiceField(label=gettext_lazy("Site"))
    name = forms.CharField(label=gettext_lazy("Your name"), max_length=200)
    relationship = forms.ChoiceField(
        label=gettext_lazy("You are"),
        choices=[
            ("self", gettext_lazy("the person who had the stroke")),
            ("caregiver", gettext_lazy("a family member or caregiver")),
            ("doctor", gettext_lazy("a referring doctor")),
        ],
    )
    phone = forms.CharField(
        label=gettext_lazy("Phone"),
        max_length=50,
        required=False,
        validators=[
            RegexValidator(
                r"^\+?[0-9][0-9 ()\-]{4,48}$", gettext_lazy("Enter a phone number: digits, spaces, + ( ) -.")
            )
        ],
    )
    email = forms.EmailField(label=gettext_lazy("E-mail"), max_length=254, required=False)
    consent = forms.BooleanField(
        label=gettext_lazy("I agree that the site's study staff may contact me about this trial."),
        error_messages={"required": gettext_lazy("The site may contact you only if you agree: tick the box.")},
    )
    # Spam resistance: a field people do not see (bots fill it) and the time since the form was shown.
    website = forms.CharField(required=False, max_length=200)
    started = forms.CharField(max_length=200)

    def __init__(self, *args, trial: Trial, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [(s.code, f"{s.name} · {s.place}") for s in referrals.recruiting_sites(trial)]

    def clean(self):
        data = super().clean()
        if not (data.get("phone") or data.get("email")) and "phone" not in self.errors and "email" not in self.errors:
            self.add_error("phone", _("Give a phone number or an e-mail address."))
        return data


def _prescreen_context(request, trial, protocol, given, errors, result=None, contact_form=None) -> dict:
    return {
        "trial": trial,
        "protocol": protocol,
        "intro": _in_language(protocol.prescreen.intro or "", protocol.prescreen.intros),
        "questions": _question_rows(protocol, given, errors),
        "errors": errors,
        "result": result,
        "reasons": _criterion_rows(protocol, result.reasons) if result else [],
        "site_checks": _criterion_rows(protocol, result.site_checks) if result else [],
        "answers": given,
        "contact_form": contact_form,
        "started": _started_token(),
    }


@require_http_methods(["GET", "POST"])
def prescreen_page(request, nct_id: str):
    trial = public_trial(nct_id)
    protocol = _protocol_of(trial)
    if protocol.prescreen is None:
        raise Http404(f"{nct_id} has no pre-screener")
    if request.method == "GET":
        return render(request, "trials/prescreen.html", _prescreen_context(request, trial, protocol, {}, {}))
    given = _answers_from(request.POST)
    try:
        result = prescreen(protocol, given, today=timezone.localdate())
    except PrescreenError as exc:
        errors = _answer_errors(protocol, exc)
        context = _prescreen_context(request, trial, protocol, given, errors)
        return render(request, "trials/prescreen.html", context, status=400)
    contact = ContactForm(trial=trial, initial={"started": request.POST.get("started", "")})
    context = _prescreen_context(request, trial, protocol, result.answers, {}, result, contact)
    context["started"] = request.POST.get("started") or context["started"]
    return render(request, "trials/prescreen.html", context)


def _client_ip(request) -> str:
    # Behind the proxy of docs/operations.md the address is the proxy's; a deployment that passes the
    # client's address sets REMOTE_ADDR from it (gunicorn --forwarded-allow-ips).
    return request.META.get("REMOTE_ADDR") or "unknown"


def _over_rate_limit(request) -> bool:
    """At most REFERRAL_RATE_LIMIT referrals per client address per hour (Django's cache)."""
    limit = getattr(settings, "TRIALKIT_REFERRAL_RATE_LIMIT", 5)
    key = f"referral-rate:{_client_ip(request)}"
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    return count > limit


@require_POST
def contact_site(request, nct_id: str):
    trial = public_trial(nct_id)
    protocol = _protocol_of(trial)
    if protocol.prescreen is None:
        raise Http404(f"{nct_id} has no pre-screener")
    given = _answers_from(request.POST)
    if _over_rate_limit(request):
        return render(request, "trials/contact_refused.html", {"trial": trial, "too_many": True}, status=429)
    try:
        result = prescreen(protocol, given, today=timezone.localdate())
    except PrescreenError as exc:
        errors = _answer_errors(protocol, exc)
        return render(
            request, "trials/prescreen.html", _prescreen_context(request, trial, protocol, given, errors), status=400
        )
    form = ContactForm(request.POST, trial=trial)
    context = _prescreen_context(request, trial, protocol, result.answers, {}, result, form)
    if not form.is_valid():
        context["started"] = request.POST.get("started") or context["started"]
        return render(request, "trials/prescreen.html", context, status=400)
    data = form.cleaned_data
    if data["website"]:
        # A field hidden from people was filled: a bot. It is told nothing different; nothing is stored.
        return render(request, "trials/contact_sent.html", {"trial": trial, "site": None})
    elapsed = _seconds_since(data["started"])
    minimum = getattr(settings, "TRIALKIT_REFERRAL_MIN_SECONDS", 3)
    if elapsed is None or elapsed < minimum:
        form.add_error(None, _("Please take a moment to check your answers, then send again."))
        return render(request, "trials/prescreen.html", context, status=400)
    site = referrals.recruiting_sites(trial).get(code=data["site"])
    contact = referrals.Contact(
        name=data["name"].strip(),
        phone=data["phone"].strip(),
        email=data["email"].strip(),
        relationship=data["relationship"],
        consent_to_contact=data["consent"],
    )
    try:
        referrals.submit_referral(trial, site, result, contact, get_language() or "")
    except referrals.ReferralError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return render(request, "trials/prescreen.html", context, status=400)
    return render(request, "trials/contact_sent.html", {"trial": trial, "site": site})
