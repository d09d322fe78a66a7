"""The PDF snapshot of a signed consent: the text of the version signed, in its language, with the
signatures block (signer, witness, time of signature, who recorded it). 21 CFR 11.50 / ICH E6(R3)
2.8.7: the record shows who signed, when, and what.

Rendered with reportlab. Simplified Chinese uses reportlab's built-in CID font ``STSong-Light``
(Adobe-GB1): the PDF names the font and a reader supplies the glyphs, so no font file ships with
TrialKit and none is read from the machine. The file is written with ``invariant`` on (no creation
time or random id inside), so the same consent gives the same bytes; its SHA-256 is kept on the row.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from trialkit.server.private_files import private_dir, private_file

CJK_FONT = "STSong-Light"
_registered = False


def _fonts() -> None:
    global _registered
    if not _registered:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
        _registered = True


def render(consent, document) -> bytes:
    """The PDF of ``consent`` (a Consent row) signed on ``document`` (the protocol's ConsentDocument)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table

    _fonts()
    chinese = document.language == "zh-Hans"
    font = CJK_FONT if chinese else "Helvetica"
    bold = CJK_FONT if chinese else "Helvetica-Bold"
    wrap = "CJK" if chinese else None
    body = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=15, wordWrap=wrap, spaceAfter=6)
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=11)
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=15, leading=20, spaceAfter=4)
    heading = ParagraphStyle("heading", parent=body, fontName=bold, fontSize=12, leading=16, spaceBefore=8)
    record = consent.screening
    trial = record.trial
    with translation.override(document.language):
        signed_at = consent.signed_at or timezone.now()
        recorder = consent.recorded_by.get_full_name() or consent.recorded_by.get_username()
        rows = [
            (_("Signed by"), f"{consent.get_signed_by_display()}: {consent.signer_name or _('the participant')}"),
            (_("Impartial witness"), consent.witness_name or _("none")),
            (_("Date and time of signature (UTC)"), signed_at.astimezone(timezone.UTC).strftime("%Y-%m-%d %H:%M:%S")),
            (_("Recorded by"), recorder),
            (_("Screening number"), record.screening_number),
            (_("Consent record"), str(consent.pk)),
        ]
        story = [
            Paragraph(escape(document.title), title),
            Paragraph(
                escape(f"{trial.nct_id} · {trial.short_name}")
                + "<br/>"
                + escape(
                    _("Version %(version)s (%(language)s), approved on %(date)s by %(committee)s")
                    % {
                        "version": document.version,
                        "language": document.language,
                        "date": document.approved_on.isoformat(),
                        "committee": document.approved_by,
                    }
                ),
                small,
            ),
            Spacer(1, 4 * mm),
        ]
        for paragraph in document.text.split("\n\n"):
            if paragraph.strip():
                story.append(Paragraph(escape(paragraph.strip()).replace("\n", "<br/>"), body))
        story.append(Paragraph(escape(_("Signatures")), heading))
        story.append(
            Table(
                [[Paragraph(escape(label), body), Paragraph(escape(value), body)] for label, value in rows],
                colWidths=[55 * mm, 115 * mm],
            )
        )
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=document.title,
        author=trial.nct_id,
        invariant=1,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    pdf.build(story)
    return buffer.getvalue()


def consents_dir() -> Path:
    return Path(settings.DATA_DIR) / "consents"


def store(consent, document) -> tuple[str, str]:
    """Render and write the snapshot privately (0600 in a 0700 folder); (path under DATA_DIR, SHA-256)."""
    data = render(consent, document)
    folder = private_dir(consents_dir() / consent.screening.trial.nct_id)
    name = f"consent-{consent.pk}.pdf"
    # A temporary name of its own (two processes writing into one data folder must not meet there),
    # then one atomic rename: a reader sees no file or the whole of it.
    descriptor, temporary_name = tempfile.mkstemp(dir=folder, prefix=f".tmp-{name}-")
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        private_file(temporary)
        os.replace(temporary, folder / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return str((folder / name).relative_to(Path(settings.DATA_DIR))), hashlib.sha256(data).hexdigest()


def open_snapshot(consent) -> bytes:
    """The stored PDF, checked against the SHA-256 recorded when it was written."""
    path = Path(settings.DATA_DIR) / consent.snapshot_path
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != consent.snapshot_sha256:
        raise OSError(f"the consent snapshot {consent.snapshot_path} does not match its recorded SHA-256")
    return data
