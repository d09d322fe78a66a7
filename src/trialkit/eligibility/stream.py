"""Screening a population as a stream: records read one at a time, results out as they are made.

    from trialkit.eligibility.stream import read_records, screen_stream, Summary
    with open("population.jsonl", encoding="utf-8") as f:
        for outcome in screen_stream(protocol, read_records(iter(lambda: f.read(1 << 20), ""))):
            ...  # a ScreeningOutcome (outcome.result) or a RecordProblem (a record that cannot be read)

The reader takes text in chunks and keeps at most one record (and one chunk) in memory:

- a JSON array (``[{...}, {...}]``) is read element by element;
- JSON Lines (one object a line) line by line: a line that is not valid JSON is one record's problem;
- one JSON object, even over several lines, is one record (read whole, up to ``MAX_DOCUMENT_CHARS``).

A record that cannot be read (not JSON, not an object, a field the facts record refuses) becomes a
``RecordProblem`` naming its position, field, rule and message; the records around it are screened.
Only input that leaves no way to find the next record (a broken array, a line longer than
``MAX_RECORD_CHARS``, an empty input) raises ``StreamInputError``.

``Summary`` counts pass, fail and unknown per criterion and the verdicts: the screen-failure forecast.
Nothing here imports Django; the same ``screen_line`` runs in each partition of a Dask bag.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from trialkit.eligibility.compiled import CompactResult, CompiledProtocol, compiled, document_entry
from trialkit.eligibility.facts import FactsError
from trialkit.eligibility.screening import ScreeningResult

if TYPE_CHECKING:
    from trialkit.protocol import Protocol

# One record is a few kilobytes; a line or array element this long is not a screening record.
MAX_RECORD_CHARS = 4 * 1024 * 1024
# A single JSON object spread over lines is read whole: the command's old limit for a whole input.
MAX_DOCUMENT_CHARS = 64 * 1024 * 1024

_WHITESPACE = " \t\r\n\ufeff"
_DECODER = json.JSONDecoder()
# What json.loads runs (the decoder's C scanner), without its checks in Python around it.
_SCAN: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]
_JSON_WHITESPACE = " \t\n\r"


class StreamInputError(ValueError):
    """Input in which the next record cannot be found: the run stops here (exit code 2)."""


@dataclass(frozen=True)
class RecordProblem:
    """A record that could not be screened: its 1-based position, line, id and each problem
    as (field, rule, message)."""

    index: int
    line: int | None
    record_id: str | None
    errors: tuple[tuple[str, str, str], ...]

    def message(self) -> str:
        if self.record_id:
            who = f"record {self.record_id}"
        else:
            who = f"line {self.line}" if self.line is not None else f"record #{self.index}"
        problems = "; ".join(f"{path}: {message}" if path else message for path, _, message in self.errors)
        return f"{who}: {problems}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "line": self.line,
            "id": self.record_id,
            "error": self.message(),
            "errors": [{"field": path, "rule": rule, "message": message} for path, rule, message in self.errors],
        }


class ScreeningOutcome:
    """A screened record: its 1-based position in the input and the result.

    ``screened`` is the compiled screening's compact result (``result`` builds the ``ScreeningResult``
    of ``screen()`` from it when asked), or that ``ScreeningResult`` itself. One is made per record,
    so it is a plain slotted class (a frozen dataclass costs several times more to make)."""

    __slots__ = ("index", "screened")

    def __init__(self, index: int, screened: CompactResult | ScreeningResult):
        self.index = index
        self.screened = screened

    def __repr__(self) -> str:
        return f"ScreeningOutcome(index={self.index!r}, screened={self.screened!r})"

    @property
    def result(self) -> ScreeningResult:
        screened = self.screened
        return screened.result() if isinstance(screened, CompactResult) else screened

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, **self.result.as_dict()}

    def json_line(self) -> str:
        """``as_dict()`` as one line of JSON (``json.dumps(..., ensure_ascii=False)``)."""
        if isinstance(self.screened, CompactResult):
            return self.screened.json_line(self.index)
        return json.dumps(self.as_dict(), ensure_ascii=False)

    def document_entry(self) -> str:
        """``as_dict()`` less the index, as an entry of the JSON document's ``results`` (indented JSON)."""
        if isinstance(self.screened, CompactResult):
            return self.screened.document_entry()
        return document_entry(self.screened.as_dict())

    def json_bytes(self, end: bytes = b"") -> bytes:
        """``json_line()`` in UTF-8, then ``end`` (a line's newline)."""
        if isinstance(self.screened, CompactResult):
            return self.screened.json_bytes(self.index, end)
        return self.json_line().encode() + end

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScreeningOutcome):
            return NotImplemented
        return self.index == other.index and self.result == other.result

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent between processes (a Dask partition) as the plain result, not the compiled protocol.
        return (ScreeningOutcome, (self.index, self.result))


Outcome = ScreeningOutcome | RecordProblem


class RawRecord:
    """A value read from the input at a position (``problem`` set when it is not valid JSON).
    One is made per record: a plain slotted class (a frozen dataclass costs several times more)."""

    __slots__ = ("index", "line", "problem", "value")

    def __init__(self, index: int, line: int | None, value: Any = None, problem: tuple[str, str] | None = None) -> None:
        self.index = index
        self.line = line
        self.value = value
        self.problem = problem  # (rule, message)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawRecord):
            return NotImplemented
        return (self.index, self.line, self.value, self.problem) == (
            other.index,
            other.line,
            other.value,
            other.problem,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RawRecord(index={self.index!r}, line={self.line!r}, value={self.value!r}, problem={self.problem!r})"


# --------------------------------------------------------------------------- reading


class _Buffer:
    """Text taken from an iterator of chunks, consumed from ``pos``; counts lines consumed."""

    def __init__(self, chunks: Iterable[str]):
        self._chunks = iter(chunks)
        self.text = ""
        self.pos = 0
        self.eof = False
        self.line = 1  # the line at ``pos``

    def more(self) -> bool:
        """Append the next chunk; False at the end of the input."""
        if self.eof:
            return False
        for chunk in self._chunks:
            if chunk:
                if self.pos:
                    self.text = self.text[self.pos :]
                    self.pos = 0
                self.text += chunk
                return True
        self.eof = True
        return False

    def advance(self, to: int) -> None:
        self.line += self.text.count("\n", self.pos, to)
        self.pos = to

    def skip_whitespace(self) -> str | None:
        """The next character that is not whitespace (not consumed), or None at the end."""
        while True:
            text, pos = self.text, self.pos
            while pos < len(text) and text[pos] in _WHITESPACE:
                pos += 1
            self.advance(pos)
            if pos < len(text):
                return text[pos]
            if not self.more():
                return None

    def pending(self) -> int:
        return len(self.text) - self.pos


def read_records(chunks: Iterable[str]) -> Iterator[RawRecord]:
    """The records of a JSON array, JSON Lines or one JSON object, read lazily from text chunks."""
    buf = _Buffer(chunks)
    first = buf.skip_whitespace()
    if first is None:
        raise StreamInputError("no records (the input is empty)")
    if first == "[":
        yield from _array(buf)
    else:
        yield from _lines(buf, first == "{")


def _array(buf: _Buffer) -> Iterator[RawRecord]:
    buf.advance(buf.pos + 1)  # the "["
    index = 0
    if buf.skip_whitespace() == "]":
        buf.advance(buf.pos + 1)
        _only_whitespace_after(buf)
        return
    while True:
        if buf.skip_whitespace() is None:
            raise StreamInputError(f"line {buf.line}: not valid JSON (the array is not closed)")
        line = buf.line
        value, end = _decode_at(buf)
        index += 1
        buf.advance(end)
        yield RawRecord(index, line, value)
        after = buf.skip_whitespace()
        if after == ",":
            buf.advance(buf.pos + 1)
        elif after == "]":
            buf.advance(buf.pos + 1)
            _only_whitespace_after(buf)
            return
        else:
            raise StreamInputError(f"line {buf.line}: not valid JSON (expecting ',' or ']' after record #{index})")


def _decode_at(buf: _Buffer) -> tuple[Any, int]:
    """The JSON value starting at ``buf.pos`` and where it ends, reading more text as needed."""
    while True:
        try:
            value, end = _DECODER.raw_decode(buf.text, buf.pos)
        except RecursionError:
            raise StreamInputError(f"line {buf.line}: JSON nested too deeply") from None
        except json.JSONDecodeError as exc:
            if buf.pending() > MAX_RECORD_CHARS:
                raise StreamInputError(f"line {buf.line}: a record longer than {MAX_RECORD_CHARS:,} characters")
            if buf.more():
                continue
            line = buf.line + buf.text.count("\n", buf.pos, exc.pos)
            raise StreamInputError(f"line {line}: not valid JSON ({exc.msg})") from None
        # A number (or literal) that ends with the text read so far may go on in the next chunk.
        if end == len(buf.text) and not isinstance(value, (dict, list, str)) and buf.more():
            continue
        return value, end


def _only_whitespace_after(buf: _Buffer) -> None:
    if buf.skip_whitespace() is not None:
        raise StreamInputError(f"line {buf.line}: not valid JSON (text after the closing ']')")


def _lines(buf: _Buffer, starts_with_object: bool) -> Iterator[RawRecord]:
    index = 0
    first = True
    while True:
        newline = buf.text.find("\n", buf.pos)
        while newline < 0 and not buf.eof:
            if buf.pending() > MAX_RECORD_CHARS:
                raise StreamInputError(f"line {buf.line}: a line longer than {MAX_RECORD_CHARS:,} characters")
            searched, old_pos = len(buf.text), buf.pos
            if not buf.more():
                break
            # more() drops the consumed text, shifting what was searched by old_pos - pos.
            newline = buf.text.find("\n", searched - (old_pos - buf.pos))
        end = len(buf.text) if newline < 0 else newline
        if end - buf.pos > MAX_RECORD_CHARS:
            raise StreamInputError(f"line {buf.line}: a line longer than {MAX_RECORD_CHARS:,} characters")
        text = buf.text[buf.pos : end]
        line = buf.line
        if text.strip(_WHITESPACE):
            index += 1
            try:
                value = _loads(text)
            except RecursionError:
                yield RawRecord(index, line, problem=("json", "JSON nested too deeply"))
            except json.JSONDecodeError as exc:
                if first and starts_with_object:
                    # Not JSON Lines: one object over several lines (or not JSON at all).
                    yield from _document(buf)
                    return
                yield RawRecord(index, line, problem=("json", f"not valid JSON ({exc.msg})"))
            else:
                yield RawRecord(index, line, value)
            first = False
        if newline < 0:
            return
        buf.pos = newline + 1
        buf.line += 1


def _loads(text: str) -> Any:
    """``json.loads(text)``: a line that is one JSON value with at most JSON whitespace after it is read by
    the decoder's C scanner directly (without ``json.loads``'s steps in Python around it); anything else
    (whitespace before, text after, not JSON) by ``json.loads`` itself, which raises its own error."""
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, json.JSONDecodeError, RecursionError):
        return json.loads(text)
    if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
        return json.loads(text)
    return value


def _document(buf: _Buffer) -> Iterator[RawRecord]:
    while buf.more():
        if buf.pending() > MAX_DOCUMENT_CHARS:
            raise StreamInputError(f"not JSON Lines, and longer than {MAX_DOCUMENT_CHARS:,} characters as one document")
    text = buf.text[buf.pos :]
    try:
        data = json.loads(text)
    except RecursionError:
        raise StreamInputError("JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise StreamInputError(f"line {buf.line + exc.lineno - 1}: not valid JSON ({exc.msg})") from None
    for index, value in enumerate(data if isinstance(data, list) else [data], start=1):
        yield RawRecord(index, None, value)


# --------------------------------------------------------------------------- screening


def screen_raw(protocol: Protocol, raw: RawRecord, today: date | None = None) -> Outcome:
    """Screen one record read from the input; a record that cannot be read is its problem, not an exception."""
    return _screen_raw(compiled(protocol), raw, today)


def _screen_raw(screener: CompiledProtocol, raw: RawRecord, today: date | None) -> Outcome:
    if raw.problem is not None:
        rule, message = raw.problem
        return RecordProblem(raw.index, raw.line, None, (("", rule, message),))
    value = raw.value
    if not isinstance(value, dict):
        message = f"a JSON {type(value).__name__}, not a JSON object"
        return RecordProblem(raw.index, raw.line, None, (("", "record_type", message),))
    try:
        # The protocol's criteria compiled once: the outcome of screen(protocol, value, today), faster.
        result = screener.screen(value, today)
    except FactsError as exc:
        record_id = exc.record_id if exc.record_id is not None else _id_of(value)
        return RecordProblem(raw.index, raw.line, record_id, tuple(exc.details))
    return ScreeningOutcome(raw.index, result)


def _id_of(value: dict[str, Any]) -> str | None:
    record_id = value.get("id")
    return str(record_id) if record_id is not None else None


def screen_stream(protocol: Protocol, records: Iterable[RawRecord], today: date | None = None) -> Iterator[Outcome]:
    """Each record's outcome, lazily, in input order."""
    screener = compiled(protocol)
    screen = screener.screen
    for raw in records:
        value = raw.value
        if raw.problem is None and type(value) is dict:  # what JSON gives for a record: _screen_raw inline
            try:
                result = screen(value, today)
            except FactsError as exc:
                record_id = exc.record_id if exc.record_id is not None else _id_of(value)
                yield RecordProblem(raw.index, raw.line, record_id, tuple(exc.details))
            else:
                yield ScreeningOutcome(raw.index, result)
        else:
            yield _screen_raw(screener, raw, today)


def screen_line(protocol: Protocol, index: int, line: int | None, text: str, today: date | None = None) -> Outcome:
    """Screen one line of JSON Lines (the unit of a Dask partition)."""
    try:
        value = _loads(text)
    except RecursionError:
        return screen_raw(protocol, RawRecord(index, line, problem=("json", "JSON nested too deeply")), today)
    except json.JSONDecodeError as exc:
        return screen_raw(protocol, RawRecord(index, line, problem=("json", f"not valid JSON ({exc.msg})")), today)
    return screen_raw(protocol, RawRecord(index, line, value), today)


# --------------------------------------------------------------------------- the forecast


STATUSES = ("pass", "fail", "unknown")
VERDICTS = ("eligible", "ineligible", "incomplete")


@dataclass
class Summary:
    """Counts of pass, fail and unknown per criterion, of verdicts, and of records not read."""

    # Counts per criterion id, less the records still pending (read ``criteria`` or ``as_dict()``).
    by_criterion: dict[str, dict[str, int]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    invalid: int = 0
    # The compiled protocol already set up, and its criteria's counts in its order.
    _ready: Any = field(default=None, repr=False, compare=False)
    # Its records counted by their statuses in the criteria's order (a population has few such
    # combinations: one dict update a record), added to ``criteria`` when read (``as_dict``).
    _pending: dict[tuple[str, ...], int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def for_protocol(cls, protocol: Protocol) -> Summary:
        summary = cls()
        for criterion in protocol.eligibility.criteria:
            summary.by_criterion[criterion.id] = dict.fromkeys(STATUSES, 0)
            summary.types[criterion.id] = criterion.type
        return summary

    def add(self, outcome: Outcome) -> None:
        if isinstance(outcome, RecordProblem):
            self.invalid += 1
            return
        screened = outcome.screened
        if isinstance(screened, CompactResult):
            screener = screened.screener
            ready = self._ready
            if ready is None or ready[0] is not screener:  # the compiled protocol's criteria, counted from now on
                self._count_pending()
                for criterion in screener.criteria:
                    self.by_criterion.setdefault(criterion.id, dict.fromkeys(STATUSES, 0))
                    self.types.setdefault(criterion.id, criterion.type)
                ready = self._ready = (screener, [self.by_criterion[c.id] for c in screener.criteria])
            self.verdicts[screened.verdict] += 1
            statuses = screened.statuses
            pending = self._pending
            pending[statuses] = pending.get(statuses, 0) + 1
            if len(pending) > 4096:
                self._count_pending()
            return
        result = outcome.result
        self.verdicts[result.verdict] += 1
        for checked in result.criteria:
            counts = self.by_criterion.setdefault(checked.id, dict.fromkeys(STATUSES, 0))
            self.types.setdefault(checked.id, checked.type)
            counts[checked.status] += 1

    def _count_pending(self) -> None:
        """Add the records counted by their statuses to each criterion's counts."""
        if self._pending:
            criteria = self._ready[1]
            for statuses, number in self._pending.items():
                for counts, status in zip(criteria, statuses):
                    counts[status] += number
            self._pending.clear()

    def add_dict(self, outcome: dict[str, Any]) -> None:
        """Count an outcome already turned into its dict (``as_dict``), as a Dask partition returns it."""
        if "verdict" not in outcome:
            self.invalid += 1
            return
        self.verdicts[outcome["verdict"]] += 1
        for criterion in outcome["criteria"]:
            counts = self.by_criterion.setdefault(criterion["id"], dict.fromkeys(STATUSES, 0))
            self.types.setdefault(criterion["id"], criterion["type"])
            counts[criterion["status"]] += 1

    @property
    def criteria(self) -> dict[str, dict[str, int]]:
        """Pass, fail and unknown counts per criterion id."""
        self._count_pending()
        return self.by_criterion

    @property
    def screened(self) -> int:
        return sum(self.verdicts.values())

    def as_dict(self) -> dict[str, Any]:
        self._count_pending()
        screened = self.screened
        return {
            "records": screened + self.invalid,
            "screened": screened,
            "invalid": self.invalid,
            "verdicts": dict(self.verdicts),
            "criteria": [
                {
                    "id": criterion_id,
                    "type": self.types.get(criterion_id),
                    **counts,
                    "fail_share": round(counts["fail"] / screened, 4) if screened else None,
                }
                for criterion_id, counts in self.by_criterion.items()
            ],
        }
