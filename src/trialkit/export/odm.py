"""CDISC ODM 1.3.2 from a protocol: metadata (study events, forms, items) and clinical data.

Structure per the ODM 1.3.2 specification (CDISC, 2013): ODM → Study → GlobalVariables,
MetaDataVersion (Protocol → StudyEventRef; StudyEventDef → FormRef; FormDef → ItemGroupRef;
ItemGroupDef → ItemRef; ItemDef with Question/RangeCheck/CodeListRef; CodeList) and
ClinicalData → SubjectData → StudyEventData → FormData → ItemGroupData → ItemData. Element order
within MetaDataVersion and ItemDef follows the XSD sequence.

A repeating form (adverse events, medications, conditions, biomarkers) has ``Repeating="Yes"`` on
its FormDef and each record a ``FormRepeatKey`` (ODM 1.3.2 §3.1.4.1: the key that tells the
occurrences of a repeating form apart). A draft record, exported only when asked for, carries an
``Annotation`` whose ``Comment`` says so (ODM 1.3.2 §3.1.4.1: FormData may hold Annotation before
its ItemGroupData), so a receiving system never takes it for complete data.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TextIO

from trialkit.export.records import ExportData
from trialkit.export.stream import reiterable
from trialkit.protocol import Protocol

if TYPE_CHECKING:
    from trialkit.instruments import Instrument

NS = "http://www.cdisc.org/ns/odm/v1.3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

DRAFT_COMMENT = "draft: entered but not marked complete at the time of export"

_DATATYPES = {
    "integer": "integer",
    "number": "float",
    "choice": "text",
    "date": "date",
    "text": "text",
    "boolean": "boolean",
}


def _oid(*parts: str) -> str:
    return ".".join(re.sub(r"[^A-Za-z0-9_]", "_", p).upper() for p in parts)


def _translated(parent: ET.Element, tag: str, text: str) -> None:
    el = ET.SubElement(parent, tag)
    tt = ET.SubElement(el, "TranslatedText", {XML_LANG: "en"})
    tt.text = text


def _instrument(name: str) -> Instrument:
    from trialkit.instruments import get_instrument

    return get_instrument(name)


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_repeats(data: ExportData, offset: int = 0) -> None:
    """Each (subject, visit, form, repeat) once; a form that does not repeat has repeat 1. (A
    subject's forms are all in one chunk, so a chunk is checked on its own; ``offset`` is the
    number of forms in the chunks before it, so that indexes count from the first form.)"""
    seen: dict[tuple[str, str, str, int], int] = {}
    for index, f in enumerate(data.forms, start=offset):
        where = f"forms[{index}] (subject {f.subject_id}, visit {f.visit_id}, form {f.form})"
        if f.repeat != 1 and not _instrument(f.form).repeating:
            raise ValueError(f"{where}: repeat {f.repeat} given, but {f.form} is entered once per visit")
        key = (f.subject_id, f.visit_id, f.form, f.repeat)
        if key in seen:
            raise ValueError(
                f"{where}: the same record as forms[{seen[key]}] (repeat {f.repeat}); "
                "a record appears once, a repeating form's records have distinct repeat numbers"
            )
        seen[key] = index


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


def _manifestation(s: Any) -> str:
    """Printed name, date and time (UTC) and meaning of a signature (21 CFR 11.50)."""
    return f"Signed by {s.signer_name} on {_utc(s.signed_at)} UTC: {s.meaning}"


@dataclass
class _Scan:
    """What the metadata needs from the clinical data, read in a first pass over the chunks."""

    recorded: dict[str, list[str]] = field(default_factory=dict)  # visit -> forms recorded there, in order
    signers: dict[str, str] = field(default_factory=dict)  # signer id -> full name (first seen)
    meanings: list[str] = field(default_factory=list)
    subjects: int = 0
    forms: int = 0


def _scan(chunks: Iterable[ExportData]) -> _Scan:
    scan = _Scan()
    for chunk in chunks:
        _check_repeats(chunk, offset=scan.forms)
        scan.subjects += len(chunk.subjects)
        scan.forms += len(chunk.forms)
        for f in chunk.forms:
            visit_forms = scan.recorded.setdefault(f.visit_id, [])
            if f.form not in visit_forms:
                visit_forms.append(f.form)
            for s in f.signatures:
                if s.valid:
                    scan.signers.setdefault(s.signer_id, s.signer_name)
                    if s.meaning not in scan.meanings:
                        scan.meanings.append(s.meaning)
    return scan


def _admin_data(
    root: ET.Element, scan: _Scan, study_oid: str, mdv_oid: str, created: datetime
) -> dict[tuple[str, ...], str]:
    """AdminData with the signers (full names), the signing location and one SignatureDef per
    meaning, for the Signature elements of the clinical data; {} when nothing is signed."""
    if not scan.signers:
        return {}
    oids: dict[tuple[str, ...], str] = {("location",): "LOC.TRIALKIT"}
    admin = ET.SubElement(root, "AdminData", {"StudyOID": study_oid})
    for signer_id, signer_name in scan.signers.items():
        oids[("user", signer_id)] = oid = _oid("USR", signer_id)
        user = ET.SubElement(admin, "User", {"OID": oid})
        ET.SubElement(user, "LoginName").text = signer_id
        ET.SubElement(user, "FullName").text = signer_name
    location = ET.SubElement(
        admin, "Location", {"OID": oids[("location",)], "Name": "TrialKit electronic data capture"}
    )
    ET.SubElement(
        location,
        "MetaDataVersionRef",
        {"StudyOID": study_oid, "MetaDataVersionOID": mdv_oid, "EffectiveDate": created.date().isoformat()},
    )
    for number, meaning in enumerate(scan.meanings, start=1):
        oids[("meaning", meaning)] = oid = f"SD.{number}"
        definition = ET.SubElement(admin, "SignatureDef", {"OID": oid, "Methodology": "Electronic"})
        ET.SubElement(definition, "Meaning").text = meaning
        ET.SubElement(definition, "LegalReason").text = "Electronic signature under 21 CFR Part 11"
    return oids


def build_odm(protocol: Protocol, data: ExportData | None = None, created: datetime | None = None) -> str:
    """The ODM document as a string: metadata always, clinical data when ``data`` is given
    (``write_odm`` with one chunk)."""
    out = io.StringIO()
    write_odm(protocol, [data] if data is not None else None, out, created=created)
    return out.getvalue()


# Stands in for the subjects in the serialized document, which is cut there and the subjects
# written between the two halves one at a time.
_PLACEHOLDER = "TRIALKIT-SUBJECTS-STREAMED-HERE"


def write_odm(
    protocol: Protocol, chunks: Iterable[ExportData] | None, out: TextIO, created: datetime | None = None
) -> int:
    """Write the ODM document to ``out``: metadata always, the clinical data of ``chunks`` (read
    twice: see trialkit.export.stream) when given, one SubjectData at a time. Returns the number of
    forms written."""
    created = created or datetime.now(UTC)
    chunks = reiterable(chunks) if chunks is not None else None
    scan = _scan(chunks) if chunks is not None else _Scan()
    ET.register_namespace("", NS)
    study_oid = _oid("ST", protocol.id)
    mdv_oid = _oid("MDV", protocol.id, "1")
    root = ET.Element(
        "ODM",
        {
            "xmlns": NS,
            "FileType": "Snapshot",
            "FileOID": _oid("TRIALKIT", protocol.id, created.strftime("%Y%m%dT%H%M%S")),
            "CreationDateTime": created.isoformat(timespec="seconds"),
            "ODMVersion": "1.3.2",
            "Originator": "TrialKit",
        },
    )
    study = ET.SubElement(root, "Study", {"OID": study_oid})
    gv = ET.SubElement(study, "GlobalVariables")
    ET.SubElement(gv, "StudyName").text = protocol.registry.acronym or protocol.id
    ET.SubElement(gv, "StudyDescription").text = protocol.registry.brief_title
    ET.SubElement(gv, "ProtocolName").text = protocol.id
    mdv = ET.SubElement(study, "MetaDataVersion", {"OID": mdv_oid, "Name": f"{protocol.id} protocol metadata"})

    proto = ET.SubElement(mdv, "Protocol")
    for order, visit in enumerate(protocol.schedule.visits, start=1):
        ET.SubElement(
            proto,
            "StudyEventRef",
            {"StudyEventOID": _oid("SE", visit.id), "OrderNumber": str(order), "Mandatory": "Yes"},
        )
    forms_used: list[str] = []
    # Forms recorded at a visit beyond its scheduled ones (an adverse event at any visit) are
    # referenced too, so that every FormData has its FormRef and FormDef.
    recorded = scan.recorded
    for visit in protocol.schedule.visits:
        sed = ET.SubElement(
            mdv,
            "StudyEventDef",
            {"OID": _oid("SE", visit.id), "Name": visit.label, "Repeating": "No", "Type": "Scheduled"},
        )
        visit_forms = list(visit.forms) + [f for f in recorded.get(visit.id, ()) if f not in visit.forms]
        for order, form in enumerate(visit_forms, start=1):
            ET.SubElement(sed, "FormRef", {"FormOID": _oid("F", form), "OrderNumber": str(order), "Mandatory": "No"})
            if form not in forms_used:
                forms_used.append(form)
    instruments = {form: _instrument(form) for form in forms_used}
    for form, inst in instruments.items():
        fd = ET.SubElement(
            mdv, "FormDef", {"OID": _oid("F", form), "Name": inst.title, "Repeating": "Yes" if inst.repeating else "No"}
        )
        ET.SubElement(fd, "ItemGroupRef", {"ItemGroupOID": _oid("IG", form), "Mandatory": "Yes"})
    for form, inst in instruments.items():
        ig = ET.SubElement(mdv, "ItemGroupDef", {"OID": _oid("IG", form), "Name": inst.title, "Repeating": "No"})
        for order, item in enumerate(inst.items, start=1):
            ET.SubElement(
                ig,
                "ItemRef",
                {
                    "ItemOID": _oid("I", form, item.key),
                    "OrderNumber": str(order),
                    "Mandatory": "Yes" if item.required else "No",
                },
            )
    codelists: list[ET.Element] = []
    for form, inst in instruments.items():
        for item in inst.items:
            kind = item.type.value
            datatype = "text" if item.untestable else _DATATYPES[kind]
            attrs = {"OID": _oid("I", form, item.key), "Name": item.key, "DataType": datatype}
            if item.qs_testcd:
                attrs["SASFieldName"] = item.qs_testcd[:8]
            idef = ET.SubElement(mdv, "ItemDef", attrs)
            _translated(idef, "Question", item.label)
            if item.unit:
                pass  # units are stated in the question text; MeasurementUnit needs BasicDefinitions
            if not item.choices and kind in ("integer", "number") and not item.untestable:
                for comparator, bound in (("GE", item.minimum), ("LE", item.maximum)):
                    if bound is not None:
                        rc = ET.SubElement(idef, "RangeCheck", {"Comparator": comparator, "SoftHard": "Hard"})
                        ET.SubElement(rc, "CheckValue").text = _value_text(bound)
                        _translated(rc, "ErrorMessage", f"{item.key}: {item.describe_allowed()}")
            if item.choices or item.untestable:
                cl_oid = _oid("CL", form, item.key)
                ET.SubElement(idef, "CodeListRef", {"CodeListOID": cl_oid})
                cl = ET.Element(
                    "CodeList",
                    {
                        "OID": cl_oid,
                        "Name": f"{inst.name} {item.key}",
                        "DataType": "text" if (item.untestable or kind == "choice") else "integer",
                    },
                )
                for choice in item.choices:
                    cli = ET.SubElement(cl, "CodeListItem", {"CodedValue": str(choice.code)})
                    _translated(cli, "Decode", choice.label)
                if not item.choices:
                    for code in item.allowed_values or ():
                        if str(code) in item.untestable:
                            continue
                        cli = ET.SubElement(cl, "CodeListItem", {"CodedValue": str(code)})
                        _translated(cli, "Decode", str(code))
                for code in item.untestable:
                    cli = ET.SubElement(cl, "CodeListItem", {"CodedValue": code})
                    _translated(cli, "Decode", "Untestable")
                codelists.append(cl)
    for cl in codelists:
        mdv.append(cl)

    if chunks is None:
        ET.indent(root)
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode"))
        return 0
    signature_oids = _admin_data(root, scan, study_oid, mdv_oid, created)
    clinical = ET.SubElement(root, "ClinicalData", {"StudyOID": study_oid, "MetaDataVersionOID": mdv_oid})
    if scan.subjects:
        ET.SubElement(clinical, "SubjectData", {"SubjectKey": _PLACEHOLDER})
    ET.indent(root)
    document = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    if not scan.subjects:
        out.write(document)
        return 0
    head, _, tail = document.partition(f'<SubjectData SubjectKey="{_PLACEHOLDER}" />')
    out.write(head)
    visit_order = {v.id: i for i, v in enumerate(protocol.schedule.visits)}
    form_order = {form: i for i, form in enumerate(forms_used)}
    written = 0
    for chunk in chunks:
        forms_by_subject: dict[str, list[Any]] = {}
        for f in chunk.forms:
            forms_by_subject.setdefault(f.subject_id, []).append(f)
        for subject in chunk.subjects:
            sd = _subject_data(
                subject.subject_id,
                forms_by_subject.get(subject.subject_id, []),
                instruments,
                visit_order,
                form_order,
                signature_oids,
            )
            ET.indent(sd, level=2)
            if written:
                out.write("\n    ")
            out.write(ET.tostring(sd, encoding="unicode"))
            written += 1
        # Forms of subjects not in the export's subject list are not written (as before).
    out.write(tail)
    return scan.forms


def _subject_data(
    subject_id: str,
    subject_forms: list[Any],
    instruments: dict[str, Instrument],
    visit_order: dict[str, int],
    form_order: dict[str, int],
    signature_oids: dict[tuple[str, ...], str],
) -> ET.Element:
    """One SubjectData: the subject's forms by visit (in schedule order), each with its signature,
    its annotations (draft, signatures no longer valid) and its item values."""
    sd = ET.Element("SubjectData", {"SubjectKey": subject_id})
    records = sorted(subject_forms, key=lambda f: visit_order.get(f.visit_id, 99))
    by_visit: dict[str, list[Any]] = {}
    for f in records:
        by_visit.setdefault(f.visit_id, []).append(f)
    for visit_id, forms in by_visit.items():
        sed = ET.SubElement(sd, "StudyEventData", {"StudyEventOID": _oid("SE", visit_id)})
        for f in sorted(forms, key=lambda f: (form_order.get(f.form, 99), f.repeat)):
            inst = instruments.get(f.form) or _instrument(f.form)
            attrs = {"FormOID": _oid("F", f.form)}
            if inst.repeating:
                attrs["FormRepeatKey"] = str(f.repeat)
            fd = ET.SubElement(sed, "FormData", attrs)
            comments = [DRAFT_COMMENT] if f.status == "draft" else []
            valid = [s for s in f.signatures if s.valid]
            if valid:
                # ODM allows one Signature per FormData: the form's own before its visit's.
                s = sorted(valid, key=lambda s: s.scope != "form")[0]
                sig = ET.SubElement(fd, "Signature")
                ET.SubElement(sig, "UserRef", {"UserOID": signature_oids[("user", s.signer_id)]})
                ET.SubElement(sig, "LocationRef", {"LocationOID": signature_oids[("location",)]})
                ET.SubElement(sig, "SignatureRef", {"SignatureOID": signature_oids[("meaning", s.meaning)]})
                ET.SubElement(sig, "DateTimeStamp").text = _utc(s.signed_at)
            comments += [f"{_manifestation(s)} ({s.scope} signature) — {s.note}" for s in f.signatures if not s.valid]
            for seq, text in enumerate(comments, start=1):
                note = ET.SubElement(fd, "Annotation", {"SeqNum": str(seq)})
                ET.SubElement(note, "Comment", {"SponsorOrSite": "Site"}).text = text
            igd = ET.SubElement(fd, "ItemGroupData", {"ItemGroupOID": _oid("IG", f.form)})
            for item in inst.items:
                if item.key in f.values and f.values[item.key] not in (None, ""):
                    ET.SubElement(
                        igd,
                        "ItemData",
                        {"ItemOID": _oid("I", f.form, item.key), "Value": _value_text(f.values[item.key])},
                    )
    return sd
