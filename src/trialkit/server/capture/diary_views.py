"""The participant diary: a personal code opens one participant's diary and nothing else.

No Django login happens here: the code in the URL is checked on every request against the keyed
hashes of active codes, and the pages reach only that participant's diary entries.

An entry is written, and changed (with a reason), only on its own day at the participant's site;
earlier days are shown read-only (schedule/diary.py says why).
"""

from __future__ import annotations

from datetime import date

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from trialkit.server.capture import services
from trialkit.server.capture.models import DiaryEntry


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
    status = 200
    if request.method == "POST":
        code = "".join(ch for ch in request.POST.get("code", "").upper() if ch.isalnum())
        if services.diary_access_for_code(code):
            return redirect("diary:diary", code=code)
        error = _("This code is not valid. Check it, or ask the study team for a new one.")
        status = 400
    return _private(render(request, "capture/diary_code.html", {"error": error}, status=status))


def _field_value(raw: dict, section: str, key: str):
    value = (raw.get(section) or {}).get(key, "")
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return value


@never_cache
@csrf_protect
def diary(request, code: str):
    """Today's entry (written, or changed with a reason, on its own day only); earlier days read-only.

    "Today" is the participant's day at their site (Site.time_zone). An entry for any other day
    is refused by ``services.save_diary_entry`` whatever the page shows, with nothing written.
    """
    access = services.diary_access_for_code(code)
    if access is None:
        return _private(
            render(
                request,
                "capture/diary_code.html",
                {"error": _("This diary link is not valid or has been withdrawn.")},
                status=404,
            )
        )
    participant = access.participant
    protocol_diary = participant.trial.protocol.diary
    now = timezone.now()
    today = services.diary_today(participant, now)
    errors: dict[str, list[str]] = {}
    saved = False
    raw: dict[str, dict[str, str]] = {}
    reason = ""
    asked = request.POST.get("entry_date") if request.method == "POST" else request.GET.get("date")
    try:
        entry_date = date.fromisoformat(asked) if asked else today
    except ValueError:
        entry_date = today
        errors.setdefault("entry_date", []).append(_("Day: not a valid date"))
    if request.method == "POST" and not errors:
        raw = {
            s: {key: request.POST.get(f"{s}.{key}", "") for key, _l, _k in services.DIARY_FIELDS[s]}
            for s in protocol_diary.sections
        }
        reason = request.POST.get("reason", "")
        try:
            services.save_diary_entry(access, entry_date, raw, now=now, reason=reason)
            saved = True
            reason = ""
        except services.FormInvalid as exc:
            for e in exc.errors:
                errors.setdefault(e.item, []).append(e.message)
        except services.CaptureError as exc:
            errors.setdefault("(diary)", []).append(str(exc))
    current = DiaryEntry.objects.filter(participant=participant, entry_date=entry_date, entered_by=access.who).first()
    if participant.has_ended:
        refusal: str | None = _("the diary is closed: participation in the study has ended")
    else:
        refusal = services.diary_day_refusal(participant, entry_date, now)
    editable = refusal is None
    if not editable or (not raw and current):
        # A day that cannot be written shows what is kept, never what was just refused.
        raw = current.sections if current else {}
    sections = []
    for s in protocol_diary.sections:
        fields = []
        for key, label, kind in services.DIARY_FIELDS[s]:
            name = f"{s}.{key}"
            fields.append(
                {
                    "name": name,
                    "label": _(label),
                    "kind": kind,
                    "value": _field_value(raw, s, key),
                    "errors": errors.get(name, []),
                }
            )
        sections.append({"label": _(services.DIARY_SECTION_LABELS[s]), "fields": fields})
    recent = DiaryEntry.objects.filter(participant=participant, entered_by=access.who).order_by("-entry_date", "-id")[
        :14
    ]
    top_errors = [m for k in ("(diary)", "entry_date") for m in errors.get(k, [])]
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
                "top_errors": top_errors,
                "reason_errors": errors.get("reason", []),
                "reason": reason,
                "saved": saved,
                "editable": editable,
                "refusal": refusal,
                "changing": current is not None,
                "recent": recent,
                "trial": participant.trial,
            },
            status=400 if errors else 200,
        )
    )
