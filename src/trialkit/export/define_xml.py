"""Define-XML 2.1 for the SDTM package, built with odmlib's Define-XML 2.1 model.

Every dataset written is an ItemGroupDef (name, label, SDTM class, structure, keys, the file as
its def:leaf); every variable an ItemDef (name, label, data type, length, its def:Origin, and a
CodeListRef when it takes coded values); every code list lists the coded values present in the
data (CDISC CT code lists carry their NCI code as an Alias and point at the CT standard). The
variable metadata come from ``sdtm_metadata`` (SDTMIG 3.4), so the XPT files, the Dataset-JSON
files and this document cannot disagree.

A blinded export has no arm values, so no arm code list is ever written for it: the arm
variables of DM are described (they exist, empty) without a CodeListRef.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from trialkit.export.sdtm_metadata import CODELISTS, CT_VERSION, DATASETS, SDTMIG_VERSION, Var, variable_length
from trialkit.protocol import Protocol

DEFINE_NS = "http://www.cdisc.org/ns/def/v2.1"
MDV_OID = "MDV.TRIALKIT.SDTMIG.3.4"
STANDARD_IG = "STD.SDTMIG.3.4"
STANDARD_CT = "STD.CT.SDTM"
# Variables whose values are coded in an arm code list: never given one in a blinded export.
ARM_CODELIST = "ARM"
_ORIGIN_SOURCE = {"Collected": "Investigator", "Derived": "Sponsor", "Assigned": "Sponsor", "Protocol": None}


def is_required(dataset: str, name: str) -> bool:
    """SDTMIG 3.4 "Req" variables among ours: identifiers, the sequence number and the topic
    variable (--TESTCD/--TEST, --TRT, --TERM) and, in trial design and supplemental datasets,
    their keys and parameter values."""
    d = dataset if not dataset.startswith("SUPP") else ""
    required = {
        "STUDYID",
        "DOMAIN",
        "USUBJID",
        "RDOMAIN",
        "QNAM",
        "QLABEL",
        "QVAL",
        "IDVAR",
        "IDVARVAL",
        "TSPARMCD",
        "TSPARM",
        "TSVAL",
        "ETCD",
        "ELEMENT",
        "TESTRL",
        "ARMCD",
        "ARM",
        "TAETORD",
        "EPOCH",
        "VISITNUM",
        "IETESTCD",
        "IETEST",
        "IECAT",
        "SUBJID",
        "SITEID",
        "SEX",
    }
    if d:
        required |= {f"{d}SEQ", f"{d}TESTCD", f"{d}TEST", f"{d}TRT", f"{d}TERM", f"{d}DECOD"}
    if dataset == "DM":
        required -= {"ARMCD", "ARM"}  # Expected, not Required, in DM (empty when not yet known)
    return name in required


def item_oid(dataset: str, name: str) -> str:
    return f"IT.{dataset}.{name}"


def codelist_oid(dataset: str, var: Var) -> str:
    return f"CL.{dataset}.{var.name}"


def _data_type(var: Var, frame: pd.DataFrame | None = None) -> str:
    if var.type == "Char":
        return "date" if var.name.endswith("DTC") else "text"
    # Counts, sequence numbers, visit numbers and study days are whole by definition; results,
    # doses and volumes are not, whatever values one export happens to hold.
    whole = var.name.endswith(("SEQ", "DY")) or var.name in ("AGE", "VISITNUM", "TAETORD")
    return "integer" if whole else "float"


def _decimals(values: pd.Series) -> int:
    """The most decimal places any value has (as Python writes it shortest): SignificantDigits."""
    places = [len(repr(float(v)).split(".")[1].rstrip("0")) for v in values.dropna() if "e" not in repr(float(v))]
    return max(places, default=0)


def _text(model, text: str):
    return model.Description(TranslatedText=[model.TranslatedText(_content=text, lang="en")])


def _coded_values(frame: pd.DataFrame, var: Var) -> list[str]:
    if var.name not in frame.columns:
        return []
    return sorted({str(v) for v in frame[var.name].dropna() if str(v) != ""})


@dataclass(frozen=True)
class DatasetSummary:
    """What Define-XML says of a dataset's values: each variable's length, the decimal places of its
    floats and its coded values. Taken from a dataset once written, so that the datasets need not
    be held together until define.xml is written."""

    lengths: dict[str, int]
    decimals: dict[str, int]
    coded: dict[str, list[str]]


def summarize(name: str, frame: pd.DataFrame) -> DatasetSummary:
    variables = DATASETS[name].variables
    return DatasetSummary(
        lengths={var.name: variable_length(frame, var) for var in variables},
        decimals={var.name: _decimals(frame[var.name]) for var in variables if _data_type(var, frame) == "float"},
        coded={var.name: _coded_values(frame, var) for var in variables if var.codelist},
    )


def build_define(
    protocol: Protocol,
    domains: Mapping[str, pd.DataFrame | DatasetSummary],
    *,
    blinded: bool,
    created: datetime | None = None,
) -> str:
    """Define-XML 2.1 (as a string) for ``domains``, the SDTM datasets written beside it (each as
    its frame or its summary)."""
    import odmlib.define_2_1.model as DEFINE

    created = created or datetime.now().astimezone()
    stamp = created.isoformat(timespec="seconds")
    mdv = DEFINE.MetaDataVersion(
        OID=MDV_OID,
        Name=f"{protocol.id} SDTM",
        Description=f"SDTMIG {SDTMIG_VERSION} tabulation of {protocol.id}",
        DefineVersion="2.1.0",
        Standards=DEFINE.Standards(
            Standard=[
                DEFINE.Standard(OID=STANDARD_IG, Name="SDTMIG", Type="IG", Version=SDTMIG_VERSION, Status="Final"),
                DEFINE.Standard(
                    OID=STANDARD_CT,
                    Name="CDISC/NCI",
                    Type="CT",
                    PublishingSet="SDTM",
                    Version=CT_VERSION,
                    Status="Final",
                ),
            ]
        ),
    )
    item_defs, codelists = [], []
    for name, dataset in domains.items():
        summary = dataset if isinstance(dataset, DatasetSummary) else summarize(name, dataset)
        meta = DATASETS[name]
        refs = []
        for order, var in enumerate(meta.variables, start=1):
            oid = item_oid(name, var.name)
            key = meta.keys.index(var.name) + 1 if var.name in meta.keys else None
            mandatory = key is not None or is_required(name, var.name)
            refs.append(
                DEFINE.ItemRef(
                    ItemOID=oid,
                    OrderNumber=order,
                    Mandatory="Yes" if mandatory else "No",
                    **({"KeySequence": key} if key else {}),
                )
            )
            item = DEFINE.ItemDef(
                OID=oid,
                Name=var.name,
                SASFieldName=var.name,
                DataType=_data_type(var, None),
                Length=summary.lengths[var.name],
                Description=_text(DEFINE, var.label),
            )
            if item.DataType == "float":
                item.SignificantDigits = summary.decimals[var.name]
            source = _ORIGIN_SOURCE[var.origin]
            origin = DEFINE.Origin(Type=var.origin, **({"Source": source} if source else {}))
            if var.origin == "Protocol":
                origin.Description = _text(DEFINE, f"Protocol file {protocol.id}")
            item.Origin = [origin]
            values = summary.coded.get(var.name, [])
            arm = var.codelist == ARM_CODELIST
            if var.codelist and values and not (arm and blinded):
                cl_oid = codelist_oid(name, var)
                item.CodeListRef = DEFINE.CodeListRef(CodeListOID=cl_oid)
                ct = var.codelist in CODELISTS
                cl = DEFINE.CodeList(
                    OID=cl_oid,
                    Name=f"{name}.{var.name}" + (f" ({CODELISTS[var.codelist]})" if ct else ""),
                    DataType="text",
                    **({"StandardOID": STANDARD_CT} if ct else {}),
                )
                cl.EnumeratedItem = [
                    DEFINE.EnumeratedItem(CodedValue=v, OrderNumber=i) for i, v in enumerate(values, start=1)
                ]
                if ct:
                    cl.Alias = [DEFINE.Alias(Context="nci:ExtCodeID", Name=var.codelist)]
                codelists.append(cl)
            item_defs.append(item)
        group = DEFINE.ItemGroupDef(
            # One record per subject (DM) or not subject data at all (trial design): not repeating.
            OID=f"IG.{name}",
            Name=name,
            SASDatasetName=name,
            Repeating="No" if name == "DM" or meta.klass == "TRIAL DESIGN" else "Yes",
            IsReferenceData="Yes" if meta.klass == "TRIAL DESIGN" else "No",
            Purpose="Tabulation",
            Structure=meta.structure,
            StandardOID=STANDARD_IG,
            ArchiveLocationID=f"LF.{name}",
            Description=_text(DEFINE, meta.label),
            **({"Domain": name} if not name.startswith("SUPP") else {"Domain": name[4:]}),
        )
        group.ItemRef = refs
        group.Class = DEFINE.Class(Name=meta.klass)
        group.leaf = DEFINE.leaf(
            ID=f"LF.{name}", href=f"{name.lower()}.xpt", title=DEFINE.title(_content=f"{name.lower()}.xpt")
        )
        mdv.ItemGroupDef.append(group)
    mdv.ItemDef = item_defs
    mdv.CodeList = codelists
    study = DEFINE.Study(
        OID=f"ST.{protocol.id}",
        GlobalVariables=DEFINE.GlobalVariables(
            StudyName=DEFINE.StudyName(_content=protocol.id),
            StudyDescription=DEFINE.StudyDescription(_content=protocol.registry.brief_title),
            ProtocolName=DEFINE.ProtocolName(_content=protocol.registry.org_study_id),
        ),
        MetaDataVersion=mdv,
    )
    odm = DEFINE.ODM(
        FileOID=f"DEFINE.{protocol.id}",
        FileType="Snapshot",
        CreationDateTime=stamp,
        ODMVersion="1.3.2",
        Originator="TrialKit",
        SourceSystem="TrialKit",
        SourceSystemVersion="0.1.0",
        Context="Submission",
        Study=study,
    )
    return odm.to_xml_string(xml_declaration=True)
