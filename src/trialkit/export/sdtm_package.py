"""The SDTM package: every domain as SAS XPORT v5 and as Dataset-JSON v1.1, and the Define-XML
2.1 that describes them, written together into one directory.

Domains: DM, SV (special purpose); EX, CM (interventions); AE, DS, MH (events); LB, VS, QS, FT, RS
(findings); SUPPLB (the ×ULN of LB); TS, TE, TA, TV, TI (trial design, from the protocol). A blinded
export (no subject has an arm) has no TA and no arm in any file, Define-XML included.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from trialkit.export.records import ExportData
from trialkit.protocol import Protocol

ORDER = ("DM", "SV", "EX", "CM", "AE", "DS", "MH", "LB", "VS", "QS", "FT", "RS", "SUPPLB", "TS", "TE", "TA", "TV", "TI")


# SAS XPORT v5 holds ASCII text (FDA Study Data Technical Conformance Guide §3.3.2: "only
# printable ASCII characters"); the symbols of our protocols and units are spelled out, anything
# else is reduced to its base letters (NFKD), and what has none becomes "?", never dropped; line
# breaks and tabs (printable text only) become single spaces.
_ASCII = str.maketrans(
    {
        "≥": ">=",
        "≤": "<=",
        "×": "x",
        "µ": "u",
        "μ": "u",
        "–": "-",
        "—": "-",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "°": " deg ",
        "±": "+/-",
        "·": ".",
        "\u00a0": " ",
    }
)


def ascii_text(value: str) -> str:
    import unicodedata

    text = " ".join(value.translate(_ASCII).split()) if any(c in value for c in "\n\r\t") else value.translate(_ASCII)
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c if c.isascii() else ("" if unicodedata.combining(c) else "?") for c in decomposed)


class PackageError(ValueError):
    """A dataset that does not match the variable table (a programming error, never data)."""


def build_package(protocol: Protocol, data: ExportData) -> dict[str, pd.DataFrame]:
    from trialkit.export import sdtm, sdtm_domains, trial_design
    from trialkit.export.sdtm_metadata import columns

    built = sdtm.build_domains(protocol, data)
    lb, supplb = sdtm_domains.build_lb_and_supplb(protocol, data)
    built.update(
        {
            "SV": sdtm_domains.build_sv(protocol, data),
            "EX": sdtm_domains.build_ex(protocol, data),
            "CM": sdtm_domains.build_cm(protocol, data),
            "MH": sdtm_domains.build_mh(protocol, data),
            "LB": lb,
            "SUPPLB": supplb,
        }
    )
    built.update(trial_design.build_trial_design(protocol, blinded=data.blinded))
    for name, frame in built.items():
        for column in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[column]):
                frame[column] = frame[column].map(lambda v: ascii_text(v) if isinstance(v, str) else v)
        if list(frame.columns) != columns(name):
            raise PackageError(f"{name}: columns {list(frame.columns)} differ from the variable table {columns(name)}")
    return {name: built[name] for name in ORDER if name in built}


def write_package(
    protocol: Protocol, data: ExportData, directory: Path, created: datetime | None = None
) -> dict[str, Path]:
    """Write <domain>.xpt, <domain>.json and define.xml into ``directory``; returns file name -> path
    in the order written."""
    domains = build_package(protocol, data)
    return write_datasets(protocol, domains, directory, blinded=data.blinded, created=created)


def write_datasets(
    protocol: Protocol,
    domains: dict[str, pd.DataFrame],
    directory: Path,
    *,
    blinded: bool,
    created: datetime | None = None,
) -> dict[str, Path]:
    from trialkit.export.dataset_json import build_dataset_json
    from trialkit.export.define_xml import build_define
    from trialkit.export.sdtm import write_xpt

    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, frame in domains.items():
        (xpt,) = write_xpt({name: frame}, directory, created=created)
        written[xpt.name] = xpt
        path = directory / f"{name.lower()}.json"
        path.write_text(
            json.dumps(build_dataset_json(protocol, name, frame, created=created), indent=1), encoding="utf-8"
        )
        written[path.name] = path
    define = directory / "define.xml"
    define.write_text(build_define(protocol, domains, blinded=blinded, created=created), encoding="utf-8")
    written[define.name] = define
    return written
