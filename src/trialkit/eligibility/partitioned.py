"""Screening a JSON Lines file partitioned on Dask: the same core (``stream.screen_line``) per partition.

The file is cut into byte ranges at line ends; a ``dask.bag`` holds one range per partition, and each
partition screens its lines as the serial stream does. Partitions are computed a few at a time and
their outcomes handed back in input order, with record positions and line numbers made global, so the
output (and the summary) is the serial run's, and memory is bounded by the window, not the file.

    for outcome in screen_partitioned(protocol, "population.jsonl", workers=4):
        ...

``scheduler`` is Dask's: ``"processes"`` (the default: one process per worker on this machine),
``"threads"`` or ``"synchronous"``, or a ``dask.distributed.Client`` for a cluster of machines (the
protocol and the file path must then be readable where the workers run).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialkit.eligibility.stream import Outcome, ScreeningOutcome, screen_line

if TYPE_CHECKING:
    from trialkit.protocol import Protocol

# About 2,000 ASSIST records a partition: large enough to pay for a task, small enough to stream.
DEFAULT_BLOCK_BYTES = 4 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Block:
    """Lines of the file from byte ``start`` up to ``end`` (both at line starts)."""

    path: str
    start: int
    end: int


@dataclasses.dataclass
class BlockOutcome:
    """A partition's outcomes, positions local to the block; ``records`` and ``lines`` counted in it."""

    outcomes: list[Outcome]
    records: int
    lines: int


def blocks(path: str | Path, block_bytes: int = DEFAULT_BLOCK_BYTES) -> list[Block]:
    """Byte ranges of about ``block_bytes`` each, every one starting at the start of a line."""
    size = Path(path).stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        while cuts[-1] < size:
            f.seek(min(cuts[-1] + block_bytes, size))
            if f.tell() < size:
                f.readline()  # to the end of the line the cut falls in
            cuts.append(min(f.tell(), size))
    return [Block(str(path), a, b) for a, b in itertools.pairwise(cuts) if b > a]


def screen_block(block: Block, protocol: Protocol, today: date | None = None) -> BlockOutcome:
    """Screen the lines of one block (runs on a Dask worker)."""
    with open(block.path, "rb") as f:
        f.seek(block.start)
        data = f.read(block.end - block.start)
    text = data.decode("utf-8")
    outcomes: list[Outcome] = []
    records = 0
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the block ends with a newline
    for number, line in enumerate(lines, start=1):
        if line.strip():
            records += 1
            outcomes.append(screen_line(protocol, records, number, line, today))
    return BlockOutcome(outcomes, records, len(lines))


def screen_partitioned(
    protocol: Protocol,
    path: str | Path,
    today: date | None = None,
    workers: int = 2,
    scheduler: Any = "processes",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Iterator[Outcome]:
    """Each record's outcome in input order, the records screened in Dask partitions."""
    import dask.bag as db
    from dask.base import compute

    parts = blocks(path, block_bytes)
    if not parts:
        return
    bag = db.from_sequence(parts, npartitions=len(parts)).map(  # type: ignore[no-untyped-call]
        screen_block, protocol, today
    )
    delayed = bag.to_delayed()
    records_before = lines_before = 0
    window = max(1, 2 * workers)
    for first in range(0, len(delayed), window):
        chunk = delayed[first : first + window]
        if hasattr(scheduler, "compute"):  # a dask.distributed Client
            computed = scheduler.gather(scheduler.compute(chunk))
        else:
            computed = compute(*chunk, scheduler=scheduler, num_workers=workers)  # type: ignore[no-untyped-call]
        for partition in computed:
            for block in partition:
                for outcome in block.outcomes:
                    if isinstance(outcome, ScreeningOutcome):
                        yield ScreeningOutcome(outcome.index + records_before, outcome.screened)
                        continue
                    changes: dict[str, Any] = {"index": outcome.index + records_before}
                    if outcome.line is not None:
                        changes["line"] = outcome.line + lines_before
                    yield dataclasses.replace(outcome, **changes)
                records_before += block.records
                lines_before += block.lines
