"""The SDTM package: every domain as SAS XPORT v5 and as Dataset-JSON v1.1, and the Define-XML
2.1 that describes them, written together into one directory.

Domains: DM, SV (special purpose); EX, CM (interventions); AE, DS, MH (events); LB, VS, QS, FT, RS
(findings); SUPPLB (the ×ULN of LB); TS, TE, TA, TV, TI (trial design, from the protocol). A blinded
export (no subject has an arm) has no TA and no arm in any file, Define-XML included.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import pandas as pd

from trialkit.export.define_xml import DatasetSummary, build_define, summarize
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


def _data_domains(protocol: Protocol, data: ExportData) -> dict[str, pd.DataFrame]:
    """The subject-data domains of ``data`` (all but the trial design), text made ASCII."""
    from trialkit.export import sdtm, sdtm_domains

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
    return {name: _checked(name, frame) for name, frame in built.items()}


def _checked(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    from trialkit.export.sdtm_metadata import columns

    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].map(lambda v: ascii_text(v) if isinstance(v, str) else v)
    if list(frame.columns) != columns(name):
        raise PackageError(f"{name}: columns {list(frame.columns)} differ from the variable table {columns(name)}")
    return frame


def build_package(protocol: Protocol, data: ExportData) -> dict[str, pd.DataFrame]:
    """Every domain of ``data`` in memory at once (tests, small exports; ``write_package_chunks``
    writes a trial of any size)."""
    from trialkit.export import trial_design

    built = _data_domains(protocol, data)
    built.update(
        {
            name: _checked(name, frame)
            for name, frame in trial_design.build_trial_design(protocol, blinded=data.blinded).items()
        }
    )
    return {name: built[name] for name in ORDER if name in built}


def write_package(
    protocol: Protocol, data: ExportData, directory: Path, created: datetime | None = None
) -> dict[str, Path]:
    """Write <domain>.xpt, <domain>.json and define.xml into ``directory``; returns file name -> path
    in the order written."""
    return {
        name: path for name, (path, _) in write_package_chunks(protocol, [data], directory, created=created).items()
    }


def write_package_chunks(
    protocol: Protocol,
    chunks: Iterable[ExportData],
    directory: Path,
    *,
    created: datetime | None = None,
) -> dict[str, tuple[Path, int]]:
    """Write the package of the records in ``chunks`` (read once; see trialkit.export.stream) into
    ``directory``: file name -> (path, rows), in the order written.

    Each chunk's domains are built and put aside in a scratch folder, one file per domain; then
    each domain in turn is read back whole (XPORT is written from one data frame), written as XPT
    and Dataset-JSON, summarised for Define-XML and dropped. Memory holds one chunk's records, then
    one domain, never the whole package.
    """
    from trialkit.export import trial_design

    directory.mkdir(parents=True, exist_ok=True)
    blinded = True
    with tempfile.TemporaryDirectory(prefix=".sdtm-", dir=directory) as scratch:
        pieces = {name: Path(scratch) / f"{name}.pickle" for name in ORDER}
        with ExitStack() as stack:
            sinks = {name: stack.enter_context(open(path, "wb")) for name, path in pieces.items()}
            for chunk in chunks:
                blinded = blinded and chunk.blinded
                for name, frame in _data_domains(protocol, chunk).items():
                    if len(frame):
                        pickle.dump(frame, sinks[name], protocol=pickle.HIGHEST_PROTOCOL)
        empty = _data_domains(protocol, ExportData())
        design = trial_design.build_trial_design(protocol, blinded=blinded)
        written: dict[str, tuple[Path, int]] = {}
        summaries: dict[str, DatasetSummary] = {}
        for name in ORDER:
            if name in design:
                frame = _checked(name, design[name])
            elif name in empty:
                frame = _read_pieces(pieces[name], empty[name])
            else:
                continue
            written.update(_write_dataset(protocol, name, frame, directory, created))
            summaries[name] = summarize(name, frame)
            del frame
    define = directory / "define.xml"
    define.write_text(build_define(protocol, summaries, blinded=blinded, created=created), encoding="utf-8")
    written[define.name] = (define, len(summaries))
    return written


def _read_pieces(path: Path, empty: pd.DataFrame) -> pd.DataFrame:
    """A domain put aside chunk by chunk, read back as one frame (``empty`` when it has no rows)."""
    frames = []
    with open(path, "rb") as handle:  # written by this process, in its own scratch folder
        while True:
            try:
                frames.append(pickle.load(handle))
            except EOFError:
                break
    if not frames:
        return empty
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _write_dataset(
    protocol: Protocol, name: str, frame: pd.DataFrame, directory: Path, created: datetime | None
) -> dict[str, tuple[Path, int]]:
    from trialkit.export.dataset_json import build_dataset_json
    from trialkit.export.sdtm import write_xpt

    (xpt,) = write_xpt({name: frame}, directory, created=created)
    path = directory / f"{name.lower()}.json"
    path.write_text(json.dumps(build_dataset_json(protocol, name, frame, created=created), indent=1), encoding="utf-8")
    return {xpt.name: (xpt, len(frame)), path.name: (path, len(frame))}


def write_datasets(
    protocol: Protocol,
    domains: dict[str, pd.DataFrame],
    directory: Path,
    *,
    blinded: bool,
    created: datetime | None = None,
) -> dict[str, Path]:
    """Write the frames of ``build_package`` (<domain>.xpt, <domain>.json, define.xml)."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, frame in domains.items():
        written.update(
            {file: path for file, (path, _) in _write_dataset(protocol, name, frame, directory, created).items()}
        )
    define = directory / "define.xml"
    define.write_text(build_define(protocol, domains, blinded=blinded, created=created), encoding="utf-8")
    written[define.name] = define
    return written
