"""Electronic signatures bound to what was signed (21 CFR 11.70) and shown with their meaning (11.50).

A signature stores a SHA-256 of the signed content: the form's data, scores, status and version
(for a visit, those of each of its forms and the visit date). Whenever a signature is shown or
exported, the content is hashed again: a signature whose record changed since, by any route, is
shown as no longer valid, never carried over. A change made through the services also voids it
(with the reason) in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from trialkit.server.capture.models import FormRecord, Signature, Visit


def _digest(payload) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def form_content(form: FormRecord) -> dict:
    return {
        "form": form.pk,
        "participant": form.participant_id,
        "instrument": form.instrument,
        "visit": form.visit_id,
        "repeat": form.repeat,
        "version": form.version,
        "status": form.status,
        "data": form.data,
        "scores": form.scores,
        "deleted": form.deleted_at is not None,
    }


def form_hash(form: FormRecord) -> str:
    return _digest(form_content(form))


def visit_hash(visit: Visit, forms=None) -> str:
    """``forms``: the visit's forms not deleted, when already loaded (any order)."""
    if forms is None:
        forms = FormRecord.objects.filter(visit=visit, deleted_at__isnull=True).order_by("instrument", "repeat")
    else:
        forms = sorted((f for f in forms if f.deleted_at is None), key=lambda f: (f.instrument, f.repeat))
    return _digest(
        {
            "visit": visit.pk,
            "visit_id": visit.visit_id,
            "done_on": visit.done_on,
            "forms": [form_content(f) for f in forms],
        }
    )


def content_hash(signature: Signature, visit_forms=None) -> str:
    """The hash of what the signature covers, as the record stands now."""
    return form_hash(signature.form) if signature.form_id else visit_hash(signature.visit, visit_forms)


def utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class SignatureView:
    """A signature as people and exports see it: name, time (UTC), meaning and whether it still holds."""

    signature: Signature
    state: str  # valid | voided | changed
    note: str

    @property
    def valid(self) -> bool:
        return self.state == "valid"

    @property
    def signer_name(self) -> str:
        return self.signature.signer_name

    @property
    def signed_at_utc(self) -> str:
        return utc(self.signature.signed_at)

    @property
    def meaning(self) -> str:
        return self.signature.meaning

    @property
    def manifestation(self) -> str:
        """The printed name, date and time, and meaning, as 21 CFR 11.50 asks."""
        return f"Signed by {self.signer_name} on {self.signed_at_utc} — {self.meaning}"

    def as_dict(self) -> dict:
        return {
            "signer_name": self.signer_name,
            "signed_at": self.signature.signed_at.isoformat(),
            "meaning": self.meaning,
            "valid": self.valid,
            "state": self.state,
            "note": self.note,
            "content_hash": self.signature.content_hash,
        }


def describe(signature: Signature, visit_forms=None) -> SignatureView:
    if signature.voided_at is not None:
        return SignatureView(
            signature, "voided", f"no longer valid: voided {utc(signature.voided_at)} ({signature.void_reason})"
        )
    if signature.content_hash:
        if signature.content_hash != content_hash(signature, visit_forms):
            return SignatureView(signature, "changed", "no longer valid: the record changed after it was signed")
    elif signature.form_id and signature.form_version != signature.form.version:
        # Signed before signatures were bound to a hash: the version number is what binds it.
        return SignatureView(
            signature,
            "changed",
            f"no longer valid: version {signature.form_version} was signed, the form is now "
            f"version {signature.form.version}",
        )
    return SignatureView(signature, "valid", "valid")


def current_signature(*, form: FormRecord | None = None, visit: Visit | None = None) -> SignatureView | None:
    """The latest signature of a form (or a visit), valid or not, as it should be shown."""
    qs = Signature.objects.select_related("form", "visit")
    qs = qs.filter(form=form) if form is not None else qs.filter(visit=visit)
    latest = qs.order_by("-signed_at", "-id").first()
    return describe(latest) if latest else None


def current_signatures_of(forms: list[FormRecord]) -> dict[int, list[SignatureView]]:
    """For many forms at once, in three queries: form pk -> [the form's latest signature, its
    visit's latest signature] (each if any), as ``current_signature`` gives them one by one."""
    form_ids = [f.pk for f in forms]
    visit_ids = {f.visit_id for f in forms}
    latest_form: dict[int, Signature] = {}
    for sig in Signature.objects.filter(form_id__in=form_ids).select_related("form").order_by("signed_at", "id"):
        latest_form[sig.form_id] = sig
    latest_visit: dict[int, Signature] = {}
    for sig in Signature.objects.filter(visit_id__in=visit_ids).select_related("visit").order_by("signed_at", "id"):
        latest_visit[sig.visit_id] = sig
    # The forms of every visit of the page (not only the signed ones): always one query, whatever is signed.
    visit_forms: dict[int, list[FormRecord]] = {v: [] for v in visit_ids}
    for f in FormRecord.objects.filter(visit_id__in=visit_ids, deleted_at__isnull=True):
        visit_forms[f.visit_id].append(f)
    shown_visit = {v: describe(sig, visit_forms[v]) for v, sig in latest_visit.items()}
    out = {}
    for f in forms:
        views = [describe(latest_form[f.pk])] if f.pk in latest_form else []
        if f.visit_id in shown_visit:
            views.append(shown_visit[f.visit_id])
        out[f.pk] = views
    return out
