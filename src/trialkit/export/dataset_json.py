"""CDISC Dataset-JSON v1.1 beside each XPT file, built with odmlib's Dataset-JSON 1.1 model.

One file per dataset: the file, study and metadata references (``metaDataRef`` is the
define.xml written beside it, ``itemGroupOID`` and every column's ``itemOID`` are its OIDs), the
columns with name, label, data type, length and key sequence from the same variable table as
Define-XML, and the rows as arrays in column order. An empty text value and a missing number are
``null`` (Dataset-JSON has no empty-string convention of XPT's); dates are ISO 8601 text
(dataType "date"); whole numbers are JSON integers, others JSON numbers ("double").
"""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

from trialkit.export.define_xml import MDV_OID, _data_type, item_oid
from trialkit.export.sdtm_metadata import DATASETS, variable_length
from trialkit.protocol import Protocol

VERSION = "1.1.0"
_TYPES = {"text": "string", "date": "date", "integer": "integer", "float": "double"}


def _cell(value, data_type: str):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if data_type in ("text", "date"):
        return None if value == "" else str(value)
    if data_type == "integer":
        return int(value)
    return float(value)


def build_dataset_json(protocol: Protocol, name: str, frame: pd.DataFrame, *, created: datetime | None = None) -> dict:
    meta = DATASETS[name]
    doc = dataset_json_head(
        protocol, name, {var.name: variable_length(frame, var) for var in meta.variables}, created=created
    )
    rows = [row_values(name, record) for record in frame.itertuples(index=False)]
    if rows:
        doc["records"] = len(rows)
        doc["rows"] = rows
    return doc


def row_values(name: str, record) -> list:
    """One row of the dataset (a record of the frame, in column order) as Dataset-JSON values."""
    return [_cell(value, _data_type(var)) for var, value in zip(DATASETS[name].variables, record)]


def dataset_json_head(
    protocol: Protocol, name: str, lengths: dict[str, int], *, created: datetime | None = None
) -> dict:
    """The Dataset-JSON document of dataset ``name`` without its rows (``rows: []``, ``records: 0``):
    the writer adds the rows, all at once or one at a time."""
    from odmlib.dataset_json_1_1.model import Column, DatasetJSON, SourceSystem

    meta = DATASETS[name]
    created = created or datetime.now().astimezone()
    dataset = DatasetJSON(
        datasetJSONCreationDateTime=created.replace(tzinfo=None).isoformat(timespec="seconds"),
        datasetJSONVersion=VERSION,
        fileOID=f"{protocol.id}.SDTM.{name}",
        originator="TrialKit",
        sourceSystem=SourceSystem(name="TrialKit", version="0.1.0"),
        studyOID=f"ST.{protocol.id}",
        metaDataVersionOID=MDV_OID,
        metaDataRef="define.xml",
        itemGroupOID=f"IG.{name}",
        records=0,
        name=name,
        label=meta.label,
    )
    for var in meta.variables:
        extra = {"keySequence": meta.keys.index(var.name) + 1} if var.name in meta.keys else {}
        dataset.add_column(
            Column(
                itemOID=item_oid(name, var.name),
                name=var.name,
                label=var.label,
                dataType=_TYPES[_data_type(var)],
                length=lengths[var.name],
                **extra,
            )
        )
    dataset.rows = []
    doc = dataset.to_dict()
    doc.setdefault("rows", [])  # odmlib leaves out an empty list; a dataset with no records still has rows: []
    return doc
