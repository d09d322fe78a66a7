"""The participant diary: a personal code opens one participant's diary and nothing else.

No Django login happens here: the code in the URL is checked on every request against the keyed
hashes of active codes, and the pages reach only that participant's diary entries.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from trialkit.server.capture import services
from trialkit.server.capture.models import DiaryEntry

# A participant may fill in a forgotten day within a week; older days are for the site to annotate.
BACKFILL_DAYS = 7


def _private(response: HttpResponse) -> HttpResponse:
    # The code travels in the URL: keep it out of Referer headers sent to other sites and out of
    # shared caches. "same-origin" (not "no-referrer") because with "no-referrer" Chromium posts
    # ``Origin: null`` and Django's CSRF check refuses the diary's own form.
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@csrf_protect
def enter_code(request):
    error = ""
    if request.method == "POST":
        code = "".join(ch for ch in request.POST.get("code", "").upper() if ch.isalnum())
        if services.diary_access_for_code(code):
            return redirect("diary:diary", code=code)
        error = "This code is not valid. Check it, or ask the study team for a new one."
    return _private(render(request, "capture/diary_code.html", {"error": error}))


@never_cache
@csrf_protect
def diary(request, code: str):
    access = services.diary_access_for_code(code)
    if access is None:
        return _private(
            render(
                request,
                "capture/diary_code.html",
                {"error": "This diary link is not valid or has been withdrawn."},
                status=404,
            )
        )
    participant = access.participant
    protocol_diary = participant.trial.protocol.diary
    today = timezone.localdate()
    errors: dict[str, list[str]] = {}
    saved = False
    raw: dict[str, dict[str, str]] = {}
    try:
        entry_date = date.fromisoformat(request.POST.get("entry_date") or request.GET.get("date") or today.isoformat())
    except ValueError:
        entry_date = today
        errors.setdefault("entry_date", []).append("not a valid date")
    if request.method == "POST" and not errors:
        raw = {
            s: {key: request.POST.get(f"{s}.{key}", "") for key, _l, _k in services.DIARY_FIELDS[s]}
            for s in protocol_diary.sections
        }
        if entry_date < today - timedelta(days=BACKFILL_DAYS):
            errors.setdefault("entry_date", []).append(f"only the last {BACKFILL_DAYS} days can be filled in here")
        else:
            try:
                services.save_diary_entry(access, entry_date, raw, now=timezone.now())
                saved = True
            except services.FormInvalid as exc:
                for e in exc.errors:
                    errors.setdefault(e.item, []).append(e.message)
            except services.CaptureError as exc:
                errors.setdefault("(diary)", []).append(str(exc))
    current = DiaryEntry.objects.filter(participant=participant, entry_date=entry_date, entered_by=access.who).first()
    if not raw and current:
        raw = current.sections
    sections = []
    for s in protocol_diary.sections:
        fields = []
        for key, label, kind in services.DIARY_FIELDS[s]:
            value = (raw.get(s) or {}).get(key, "")
            if value is True:
                value = "yes"
            elif value is False:
                value = "no"
            fields.append(
                {
                    "name": f"{s}.{key}",
                    "label": label,
                    "kind": kind,
                    "value": value,
                    "errors": errors.get(f"{s}.{key}", []),
                }
            )
        sections.append({"label": services.DIARY_SECTION_LABELS[s], "fields": fields})
    recent = DiaryEntry.objects.filter(participant=participant, entered_by=access.who).order_by("-entry_date", "-id")[
        :14
    ]
    return _private(
        render(
            request,
            "capture/diary.html",
            {
                "code": code,
                "access": access,
                "entry_date": entry_date,
                "today": today,
                "sections": sections,
                "errors": errors,
                "saved": saved,
                "recent": recent,
                "trial": participant.trial,
            },
        )
    )
