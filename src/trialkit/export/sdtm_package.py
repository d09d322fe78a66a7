"""The SDTM package: every domain as SAS XPORT v5 and as Dataset-JSON v1.1, and the Define-XML
2.1 that describes them, written together into one directory.

Domains: DM, SV (special purpose); EX, CM (interventions); AE, DS, MH (events); LB, VS, QS, FT, RS
(findings); SUPPLB (the ×ULN of LB); TS, TE, TA, TV, TI (trial design, from the protocol). A blinded
export (no subject has an arm) has no TA and no arm in any file, Define-XML included.
"""

from __future__ import annotations

import json
import pickle
import struct
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

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
    each domain in turn is read back a chunk at a time, twice: first for what the headers need
    (widths, decimals, coded values, rows), then to write its rows to XPT and Dataset-JSON
    (``_stream_dataset``). Memory holds one chunk's records, never a whole domain.
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
                if pieces[name].stat().st_size:
                    summary, files = _stream_dataset(protocol, name, pieces[name], directory, created)
                    written.update(files)
                    summaries[name] = summary
                    continue
                frame = empty[name]
            else:
                continue
            written.update(_write_dataset(protocol, name, frame, directory, created))
            summaries[name] = summarize(name, frame)
    define = directory / "define.xml"
    define.write_text(build_define(protocol, summaries, blinded=blinded, created=created), encoding="utf-8")
    written[define.name] = (define, len(summaries))
    return written


def _pieces(path: Path) -> Iterator[pd.DataFrame]:
    """The frames of a domain put aside chunk by chunk, read back one at a time."""
    with open(path, "rb") as handle:  # written by this process, in its own scratch folder
        while True:
            try:
                yield pickle.load(handle)
            except EOFError:
                return


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` that decide how pyreadstat types and sizes each column: per column its
    first value present and its longest text. Their concatenation over the chunks has the dtypes and
    the widths of the concatenation of the whole chunks."""
    rows: set[int] = set()
    for position in range(len(frame.columns)):
        values = frame.iloc[:, position]
        present = values.notna().to_numpy()
        if present.any():
            rows.add(int(present.argmax()))
        if not pd.api.types.is_numeric_dtype(values):
            lengths = values.map(lambda v: len(v) if isinstance(v, str) else -1).to_numpy()
            if lengths.max() >= 0:
                rows.add(int(lengths.argmax()))
    return frame.iloc[sorted(rows)]


_OBS_HEADER = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!000000000000000000000000000000  "
_NAMESTR_HEADER = b"HEADER RECORD*******NAMESTR HEADER RECORD"


def _xpt_header(
    name: str, template: pd.DataFrame, scratch: Path, created: datetime | None
) -> tuple[bytes, list[tuple[bool, int]]]:
    """The XPORT header (everything before the observations) pyreadstat writes for the whole
    dataset, made from ``template`` (same columns, types and widths: the header holds no row
    count), and each variable's (is_text, width) from its NAMESTR record."""
    from trialkit.export.sdtm import write_xpt

    (path,) = write_xpt({name: template}, scratch, created=created)
    content = path.read_bytes()
    path.unlink()
    header = content[: content.index(_OBS_HEADER) + len(_OBS_HEADER)]
    start = header.index(_NAMESTR_HEADER) + 80
    layout = []
    for k in range(len(template.columns)):
        record = header[start + 140 * k : start + 140 * (k + 1)]
        kind, _, width = struct.unpack(">hhh", record[:6])
        layout.append((kind == 2, width))
    return header, layout


def _ibm(value: Any) -> bytes:
    """A number as an IBM double (SAS XPORT), exact for every IEEE double in IBM's range; missing is '.'."""
    if value is None or value != value:
        return b"." + bytes(7)
    if value == 0:
        return bytes(8)
    bits: int = struct.unpack(">Q", struct.pack(">d", float(value)))[0]
    sign, exponent = bits >> 63, (bits >> 52) & 0x7FF
    fraction = (bits & ((1 << 52) - 1)) | (1 << 52)  # the value is fraction * 2**(exponent - 1075)
    # IBM: mantissa (56 bits, first hex digit not 0) * 16**(ibm_exponent - 64) * 2**-56
    power = exponent - 1075 + 56
    ibm_exponent, shift = power // 4 + 64, power % 4
    if not 0 <= ibm_exponent <= 127:
        raise PackageError(f"{value!r} is outside the range of a SAS XPORT number")
    return bytes([(sign << 7) | ibm_exponent]) + (fraction << shift).to_bytes(7, "big")


def _xpt_row(record: tuple[Any, ...], layout: list[tuple[bool, int]]) -> bytes:
    parts = []
    for value, (text, width) in zip(record, layout):
        if text:
            word = value.encode("utf-8") if isinstance(value, str) else b""
            parts.append(word[:width].ljust(width, b" "))
        else:
            parts.append(_ibm(value))
    return b"".join(parts)


def _stream_dataset(
    protocol: Protocol, name: str, path: Path, directory: Path, created: datetime | None
) -> tuple[DatasetSummary, dict[str, tuple[Path, int]]]:
    """Write a domain put aside chunk by chunk as XPT and Dataset-JSON, a chunk at a time: a first
    pass over the chunks takes what the headers need (widths, decimals, coded values, rows), a
    second writes the rows. The files are those ``_write_dataset`` writes from the whole frame."""
    from trialkit.export.dataset_json import dataset_json_head, row_values
    from trialkit.export.define_xml import DatasetSummary

    rows = 0
    summary: DatasetSummary | None = None
    samples = []
    for piece in _pieces(path):
        rows += len(piece)
        samples.append(_sample(piece))
        part = summarize(name, piece)
        if summary is None:
            summary = part
        else:
            summary = DatasetSummary(
                lengths={k: max(v, part.lengths[k]) for k, v in summary.lengths.items()},
                decimals={k: max(v, part.decimals[k]) for k, v in summary.decimals.items()},
                coded={k: sorted(set(v) | set(part.coded[k])) for k, v in summary.coded.items()},
            )
    assert summary is not None  # only called with at least one chunk
    template = samples[0] if len(samples) == 1 else pd.concat(samples, ignore_index=True)
    header, layout = _xpt_header(name, template, path.parent, created)

    doc = dataset_json_head(protocol, name, summary.lengths, created=created)
    doc["records"] = rows
    doc["rows"] = [_ROWS]
    head, _, tail = json.dumps(doc, indent=1).partition(json.dumps(_ROWS))
    xpt_path, json_path = directory / f"{name.lower()}.xpt", directory / f"{name.lower()}.json"
    with open(xpt_path, "wb") as xpt, open(json_path, "w", encoding="utf-8") as out:
        xpt.write(header)
        size = len(header)
        out.write(head)
        first = True
        for piece in _pieces(path):
            for record in piece.itertuples(index=False):
                line = _xpt_row(record, layout)
                xpt.write(line)
                size += len(line)
                if not first:
                    out.write(",\n  ")
                out.write(json.dumps(row_values(name, record), indent=1).replace("\n", "\n  "))
                first = False
        xpt.write(b" " * (-size % 80))
        out.write(tail)
    return summary, {xpt_path.name: (xpt_path, rows), json_path.name: (json_path, rows)}


_ROWS = "\ue000rows"


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
    """Write the frames of ``build_package`` (<domain>.xpt, <domain>.json, define.xml), each XPT
    by pyreadstat from the whole frame: the reference the streaming writer
    (``write_package_chunks``) equals byte for byte (tests/export/test_export_streaming.py)."""
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
