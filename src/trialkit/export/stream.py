"""Export records a chunk at a time: the input of the streaming writers (ODM, SDTM, FHIR).

A writer takes ``chunks``, an iterable of ``ExportData`` in which every subject's records (its
forms, adverse events, exposures, labs) are in the chunk that holds the subject; screening records
may come in chunks of their own. The one extract (``server.exports.extract.iter_chunks``) yields
exactly that. Writers that need a first look at the records before they write (ODM's metadata
names every form recorded at a visit and every signer; Define-XML needs each variable's longest
value) read ``chunks`` twice, so it must be re-iterable: a list, or a ``ChunkSpool``, which keeps
the chunks in a file (one JSON line each) and reads them back one at a time. A generator is
refused (it would be empty the second time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from trialkit.export.records import ExportData


class ChunkSpool:
    """Chunks of export records kept in a file, one JSON line per chunk, read back one at a time
    (any number of times): memory holds one chunk, whatever the size of the trial."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")
        self.chunks = 0

    def add(self, chunk: ExportData) -> ExportData:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(chunk.model_dump_json())
            handle.write("\n")
        self.chunks += 1
        return chunk

    def __iter__(self) -> Iterator[ExportData]:
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                yield ExportData.model_validate_json(line)


def reiterable(chunks: Iterable[ExportData] | ExportData) -> Iterable[ExportData]:
    """``chunks`` as something that can be read more than once (one ExportData: a list of it)."""
    if isinstance(chunks, ExportData):
        return [chunks]
    if iter(chunks) is chunks:  # an iterator or generator: read once only
        raise TypeError("the export writers read their chunks twice: pass a list or a ChunkSpool, not a generator")
    return chunks


def is_blinded(chunks: Iterable[ExportData]) -> bool:
    """No subject of any chunk carries an arm (ExportData.blinded over the whole export)."""
    return all(chunk.blinded for chunk in chunks)
