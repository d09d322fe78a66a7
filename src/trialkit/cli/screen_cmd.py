"""``trialkit screen``: screen facts records against a protocol's eligibility criteria, as a stream.

Records are read one at a time (a JSON array element by element, JSON Lines line by line) and each
result is written as soon as it is made, so memory does not grow with the number of records. A record
that cannot be read is reported (its position, field, rule and message) and the run goes on.
"""

from __future__ import annotations

import codecs
import gc
import io
import json
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import typer

from trialkit.cli.output import FORMAT_OPTION, Format, emit, fail, writable_output

if TYPE_CHECKING:
    from trialkit.eligibility.stream import Outcome, RecordProblem, Summary

STATUS_MARKS = {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]", "unknown": "[yellow]unknown[/yellow]"}
CHUNK = 1 << 20
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


def register(app: typer.Typer) -> None:
    app.command("screen")(screen_command)


def screen_command(
    protocol: str = typer.Option(..., "--protocol", "-p", help="NCT id of a protocol, or a protocol file."),
    input_path: str = typer.Option(
        ..., "--input", "-i", help="Facts records: a JSON object, a JSON array, or JSON Lines ('-' for stdin)."
    ),
    today: str | None = typer.Option(
        None, "--today", help="Date (YYYY-MM-DD) for records without screening_date; default: the system date."
    ),
    output: str | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write the results to this file as they are made: JSON Lines if it ends .jsonl or .ndjson "
        "(one result or problem a line), else one JSON document.",
    ),
    lines: bool = typer.Option(False, "--lines", help="Write JSON Lines to standard output (one record a line)."),
    summary: bool = typer.Option(
        False,
        "--summary",
        help="Print pass/fail/unknown counts per criterion and the verdict counts (the screen-failure "
        "forecast) instead of each record's result; with --output the results still go to the file.",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=256,
        help="Screen a JSON Lines file in partitions on Dask with this many worker processes (1: in this process).",
    ),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Screen each facts record: every criterion pass, fail or unknown with its reason, and a verdict.

    Exit 0 when every record is eligible or incomplete, 1 when some record is ineligible (a finding),
    2 when some record could not be read (each is reported; the others are screened) or the input is
    unusable.

    Condition names come from the protocol's vocabulary (rule names, medical_history terms, synonyms).
    Another name, or "other" without a description, is that record's problem, naming the field and close matches.
    """
    from trialkit.eligibility.stream import StreamInputError, Summary, read_records, screen_stream
    from trialkit.protocol import ProtocolError, load_protocol

    try:
        trial = load_protocol(protocol)
    except ProtocolError as exc:
        fail(str(exc), fmt=fmt)
    on = _parse_day(today) if today else None
    source = _Source(input_path)
    target = writable_output(output) if output else None
    if workers > 1 and (input_path == "-" or source.first_character() == "["):
        fail("--workers: partitioned screening reads a JSON Lines file (not standard input or a JSON array)")

    if target is not None:
        mode = "jsonl" if target.suffix.lower() in JSON_LINES_SUFFIXES else "json"
    elif lines:
        mode = "jsonl"
    else:
        mode = "json" if fmt is Format.json else "text"
    write_results = target is not None or not summary
    sink: IO[str] = target.open("w", encoding="utf-8", buffering=1 << 20) if target is not None else _Stdout()
    writer = _writer(mode, sink, trial.id, input_path, write_results, fmt)
    counts = Summary.for_protocol(trial)
    exit_code = 0
    progress = _progress(source, show=_show_progress(fmt, mode, write_results, target))
    # What start-up made (modules, pydantic's schemas, the protocol) outlives the run: kept out of the
    # garbage collector's passes, which a population's records would otherwise repeat over it (about
    # a tenth of the CPU time at 100k records); given back to it when the run ends.
    gc.freeze()
    try:
        if workers > 1:
            from trialkit.eligibility.partitioned import screen_partitioned

            outcomes: Iterator[Outcome] = screen_partitioned(trial, input_path, on, workers=workers)
        else:
            outcomes = screen_stream(trial, read_records(source.chunks()), on)
        for outcome in outcomes:
            counts.add(outcome)
            writer.write(outcome)
            if progress is not None:
                progress.advance(source.bytes_read, counts)
    except StreamInputError as exc:
        message = f"--input: {input_path}: {exc}"
        if not writer.started and counts.invalid == 0:
            _close(sink, target)
            fail(message)
        writer.fatal(message)
        exit_code = 2
    finally:
        gc.unfreeze()
        if progress is not None:
            progress.stop()
    writer.finish(counts if summary and target is None else None)
    _close(sink, target)
    if summary and target is not None:
        emit({"protocol": trial.id, "summary": counts.as_dict()}, fmt, text=lambda _: render_summary(trial.id, counts))
    elif summary and mode == "text":
        typer.echo(render_summary(trial.id, counts))
    if counts.invalid or exit_code:
        raise typer.Exit(2)  # bad input: the records reported could not be screened
    if counts.verdicts["ineligible"]:
        raise typer.Exit(1)  # a finding: somebody screened is not eligible


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--today: {text!r} is not a date (YYYY-MM-DD)")


def _close(sink: IO[str], target: Path | None) -> None:
    if target is not None:
        sink.close()
    else:
        sink.flush()


class _Stdout(io.TextIOBase):
    """Standard output as it is when written (the test runner swaps sys.stdout)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


# --------------------------------------------------------------------------- input


class _Source:
    """The input read in chunks of text; counts bytes read (for the progress bar)."""

    def __init__(self, path: str):
        self.path = path
        self.bytes_read = 0
        self.size: int | None = None
        if path != "-":
            file = Path(path)
            if not file.exists():
                fail(f"--input: {path}: no such file")
            if not file.is_file():
                fail(f"--input: {path}: {'a directory' if file.is_dir() else 'not a regular file'}, not a file")
            self.size = file.stat().st_size

    def first_character(self) -> str | None:
        with open(self.path, "rb") as f:
            head = f.read(4096).decode("utf-8", errors="replace").lstrip(" \t\r\n\ufeff")
        return head[:1] or None

    def chunks(self) -> Iterator[str]:
        if self.path == "-":
            while chunk := sys.stdin.read(CHUNK):
                self.bytes_read += len(chunk)
                yield chunk
            return
        decoder = codecs.getincrementaldecoder("utf-8")()
        with open(self.path, "rb") as f:
            while True:
                data = f.read(CHUNK)
                try:
                    text = decoder.decode(data, final=not data)
                except UnicodeDecodeError as exc:
                    from trialkit.eligibility.stream import StreamInputError

                    bad = exc.object[exc.start : exc.start + 1]
                    raise StreamInputError(f"not UTF-8 text (byte {self.bytes_read + exc.start} is {bad!r})") from None
                self.bytes_read += len(data)
                if text:
                    yield text
                if not data:
                    return


# --------------------------------------------------------------------------- output


class _Writer:
    """Writes outcomes as they come; ``started`` once anything is written."""

    def __init__(self, sink: IO[str], protocol_id: str, input_path: str, results: bool, fmt: Format):
        self.sink = sink
        self.protocol_id = protocol_id
        self.input_path = input_path
        self.results = results
        self.fmt = fmt
        self.started = False
        self.problems = 0
        self.first_problem: str | None = None
        from trialkit.eligibility.stream import RecordProblem

        self.record_problem = RecordProblem  # imported once, not per record

    def write(self, outcome: Outcome) -> None:
        if isinstance(outcome, self.record_problem):
            self.problems += 1
            if self.first_problem is None:
                self.first_problem = f"{self.input_path}: {outcome.message()}"
            self.problem(outcome)
        elif self.results:
            self.result(outcome)

    def error_message(self) -> str:
        if self.problems == 1:
            return self.first_problem or ""
        return f"{self.problems:,} records could not be read; the first: {self.first_problem}"

    def result(self, outcome: Any) -> None:
        raise NotImplementedError

    def problem(self, problem: RecordProblem) -> None:
        raise NotImplementedError

    def fatal(self, message: str) -> None:
        typer.echo(f"error: {message}", err=True)

    def finish(self, summary: Summary | None) -> None:
        return None


class _TextWriter(_Writer):
    def result(self, outcome: Any) -> None:
        self.started = True
        self.sink.write(render_text(self.protocol_id, [outcome.result]) + "\n\n")

    def problem(self, problem: RecordProblem) -> None:
        typer.echo(f"error: {self.input_path}: {problem.message()}", err=True)


class _LinesWriter(_Writer):
    """One line of JSON per outcome. To a file every line goes to the file's binary buffer as UTF-8
    (each criterion's text is encoded once per protocol, not once per record); to standard output as text."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.binary: IO[bytes] | None = getattr(self.sink, "buffer", None)

    def _line(self, text: str) -> None:
        if self.binary is not None:
            self.binary.write(text.encode() + b"\n")
        else:
            self.sink.write(text + "\n")

    def result(self, outcome: Any) -> None:
        self.started = True
        if self.binary is not None:
            self.binary.write(outcome.json_bytes(b"\n"))
        else:
            self.sink.write(outcome.json_line() + "\n")

    def problem(self, problem: RecordProblem) -> None:
        self.started = True
        self._line(json.dumps(problem.as_dict(), ensure_ascii=False))
        if self.fmt is Format.text:
            typer.echo(f"error: {self.input_path}: {problem.message()}", err=True)

    def fatal(self, message: str) -> None:
        self._line(json.dumps({"error": message, "exit_code": 2}, ensure_ascii=False))
        if self.fmt is Format.text:
            super().fatal(message)

    def finish(self, summary: Summary | None) -> None:
        if summary is not None:
            self._line(json.dumps({"summary": summary.as_dict()}, ensure_ascii=False))


class _DocumentWriter(_Writer):
    """One JSON document, ``{"protocol", "results": [...], "errors": [...]}``, written as it goes:
    for valid records the same text as ``to_json`` of the whole (the command's output before streaming)."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.count = 0
        # Problems wait here (on disk past 1 MB) for the "errors" list after the results; closed in finish().
        self.spool = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8")  # noqa: SIM115
        self.fatal_message: str | None = None

    def _open(self) -> None:
        if not self.started:
            self.started = True
            self.sink.write("{\n" + f'  "protocol": {json.dumps(self.protocol_id, ensure_ascii=False)}')
            if self.results:
                self.sink.write(',\n  "results": [')

    def result(self, outcome: Any) -> None:
        self._open()
        self.sink.write(("\n" if self.count == 0 else ",\n") + outcome.document_entry())
        self.count += 1

    def problem(self, problem: RecordProblem) -> None:
        self._open()
        self.spool.write(json.dumps(problem.as_dict(), ensure_ascii=False) + "\n")

    def fatal(self, message: str) -> None:
        self._open()
        self.fatal_message = message

    def finish(self, summary: Summary | None) -> None:
        from trialkit.eligibility.compiled import indented_json

        self._open()
        if self.results:
            self.sink.write("\n  ]" if self.count else "]")
        if summary is not None:
            self.sink.write(',\n  "summary": ' + indented_json(summary.as_dict(), 2).lstrip())
        if self.problems:
            self.sink.write(',\n  "errors": [')
            self.spool.seek(0)
            for number, line in enumerate(self.spool):
                self.sink.write(("\n" if number == 0 else ",\n") + indented_json(json.loads(line), 4))
            self.sink.write("\n  ]")
        if self.problems or self.fatal_message:
            message = self.fatal_message or self.error_message()
            self.sink.write(f',\n  "error": {json.dumps(message, ensure_ascii=False)},\n  "exit_code": 2')
        self.sink.write("\n}\n")
        self.spool.close()


def _writer(mode: str, sink: IO[str], protocol_id: str, input_path: str, results: bool, fmt: Format) -> _Writer:
    kind = {"text": _TextWriter, "jsonl": _LinesWriter, "json": _DocumentWriter}[mode]
    return kind(sink, protocol_id, input_path, results, fmt)


# --------------------------------------------------------------------------- progress


def _show_progress(fmt: Format, mode: str, results: bool, target: Path | None) -> bool:
    """A bar on a terminal only: standard error is a TTY, the output is not JSON on standard output,
    and the records' tables are not being printed to the same terminal."""
    if fmt is Format.json or not sys.stderr.isatty():
        return False
    return not (target is None and results and sys.stdout.isatty())


class _Progress:
    def __init__(self, source: _Source):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("screening"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[records]} records"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task("screen", total=source.size, records="0")
        self.every = 0
        self.progress.start()

    def advance(self, done: int, counts: Summary) -> None:
        self.every += 1
        if self.every % 200 == 0:
            self.progress.update(self.task, completed=done, records=f"{counts.screened + counts.invalid:,}")

    def stop(self) -> None:
        self.progress.stop()


def _progress(source: _Source, show: bool) -> _Progress | None:
    return _Progress(source) if show else None


# --------------------------------------------------------------------------- text


def render_text(protocol_id: str, results: list[Any]) -> str:
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=140, force_terminal=False, highlight=False)
    for result in results:
        title = f"{protocol_id} · {result.record_id or 'record'} · screened {result.screening_date} · {result.verdict.upper()}"
        table = Table(title=title, title_justify="left", show_lines=False, expand=True)
        table.add_column("criterion", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("reason", ratio=1)
        for criterion in result.criteria:
            table.add_row(criterion.id, STATUS_MARKS[criterion.status], criterion.reason)
        console.print(table)
        if result.missing:
            console.print(f"still needed: {', '.join(result.missing)}")
        console.print()
    return buffer.getvalue().rstrip()


def render_summary(protocol_id: str, counts: Summary) -> str:
    from rich.console import Console
    from rich.table import Table

    data = counts.as_dict()
    buffer = io.StringIO()
    console = Console(file=buffer, width=140, force_terminal=False, highlight=False)
    verdicts = data["verdicts"]
    title = (
        f"{protocol_id} · {data['records']:,} records · {verdicts['eligible']:,} eligible · "
        f"{verdicts['ineligible']:,} ineligible · {verdicts['incomplete']:,} incomplete · {data['invalid']:,} not read"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("criterion", no_wrap=True)
    table.add_column("type", no_wrap=True)
    for column in ("pass", "fail", "unknown", "fail %"):
        table.add_column(column, justify="right")
    for row in data["criteria"]:
        share = "" if row["fail_share"] is None else f"{100 * row['fail_share']:.1f}"
        table.add_row(
            row["id"], row["type"] or "", f"{row['pass']:,}", f"{row['fail']:,}", f"{row['unknown']:,}", share
        )
    console.print(table)
    return buffer.getvalue().rstrip()
