"""Population screening as a stream: the reader, per-record problems, the summary, Dask partitions, the CLI."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import date

import pytest
from eligibility_helpers import ASSIST, IXCELL, example
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.cli.output import to_json
from trialkit.eligibility import screen
from trialkit.eligibility.partitioned import screen_partitioned
from trialkit.eligibility.stream import (
    RecordProblem,
    ScreeningOutcome,
    StreamInputError,
    Summary,
    read_records,
    screen_stream,
)
from trialkit.protocol import load_protocol

runner = CliRunner()


@pytest.fixture(scope="module")
def assist():
    return load_protocol(ASSIST)


def population(n: int = 12) -> list[dict]:
    """Varied ASSIST records: eligible, ineligible (age, AST, epilepsy) and incomplete (no NIHSS)."""
    base = example("assist-eligible")
    out = []
    for i in range(n):
        record = copy.deepcopy(base)
        record["id"] = f"AS-{i:03d}"
        if i % 3 == 1:
            record["labs"]["ast"]["value"] = 101  # 2.525×ULN: fails ≤ 2.5×ULN
        if i % 4 == 2:
            del record["nihss"]
        if i % 5 == 3:
            record["conditions"] = [{"name": "epilepsy", "date": "2019-03-01"}]
        out.append(record)
    return out


def chunked(text: str, size: int):
    return (text[i : i + size] for i in range(0, len(text), size))


# --------------------------------------------------------------------------- the reader


@pytest.mark.slow
@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_a_json_array_and_json_lines_read_the_same_records_whatever_the_chunk_size(size):
    records = population(5)
    as_array = json.dumps(records, indent=2)
    as_lines = "\n".join(json.dumps(r) for r in records) + "\n"
    for text in (as_array, as_lines):
        read = list(read_records(chunked(text, size)))
        assert [r.value for r in read] == records
        assert [r.index for r in read] == [1, 2, 3, 4, 5]


def test_one_object_over_several_lines_is_one_record():
    text = json.dumps(example("ixcell-eligible"), indent=2)
    read = list(read_records(chunked(text, 10)))
    assert len(read) == 1 and read[0].value["id"] == "IX-01-001"


def test_the_reader_is_lazy():
    """The first record comes out before the rest of the input is read."""
    taken = []

    def chunks():
        yield '[{"id": "A"},'
        taken.append("second chunk")
        yield '{"id": "B"}]'

    records = read_records(chunks())
    first = next(records)
    assert first.value == {"id": "A"} and taken == []
    assert next(records).value == {"id": "B"} and taken == ["second chunk"]


def test_screening_is_lazy(assist):
    def endless():
        record = example("assist-eligible")
        while True:
            yield json.dumps(record) + "\n"

    outcomes = screen_stream(assist, read_records(endless()))
    assert [next(outcomes).result.verdict for _ in range(3)] == ["eligible"] * 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no records"),
        ("  \n ", "no records"),
        ('[{"id": "A"} {"id": "B"}]', "expecting ',' or ']'"),
        ('[{"id": "A"},', "not valid JSON"),
        ('[{"id": "A"}] x', "text after the closing"),
        ("[" * 50_000, "nested too deeply"),
    ],
)
def test_input_with_no_next_record_stops_the_run(text, message):
    with pytest.raises(StreamInputError, match=message):
        list(read_records(chunked(text, 1000)))


# --------------------------------------------------------------------------- stream equals batch


def test_the_stream_gives_what_screening_each_record_gives(assist):
    records = population()
    text = "\n".join(json.dumps(r) for r in records)
    streamed = list(screen_stream(assist, read_records(chunked(text, 333)), today=date(2025, 3, 3)))
    batch = [screen(assist, r, today=date(2025, 3, 3)) for r in records]
    assert [o.result for o in streamed] == batch
    assert {r.verdict for r in batch} == {"eligible", "ineligible", "incomplete"}


def test_a_bad_record_in_the_middle_is_reported_and_the_others_screened(assist):
    records = population(5)
    records[2]["labs"]["albumin"]["unit"] = "mg"
    lines = [json.dumps(r) for r in records]
    lines.insert(4, '{"id": "broken", ')
    lines.insert(5, "[1, 2]")
    outcomes = list(screen_stream(assist, read_records(["\n".join(lines) + "\n"])))
    assert [type(o).__name__ for o in outcomes] == [
        "ScreeningOutcome",
        "ScreeningOutcome",
        "RecordProblem",
        "ScreeningOutcome",
        "RecordProblem",
        "RecordProblem",
        "ScreeningOutcome",
    ]
    bad_field, bad_json, not_object = (o for o in outcomes if isinstance(o, RecordProblem))
    assert (bad_field.index, bad_field.line, bad_field.record_id) == (3, 3, "AS-002")
    assert bad_field.errors[0][:2] == ("labs.albumin.unit", "lab_vocabulary")
    assert "mg" in bad_field.errors[0][2]
    assert (bad_json.index, bad_json.errors[0][1]) == (5, "json")
    assert bad_json.message().startswith("line 5: not valid JSON")
    assert (not_object.index, not_object.errors[0][1]) == (6, "record_type")
    assert [o.result.record_id for o in outcomes if isinstance(o, ScreeningOutcome)] == [
        "AS-000",
        "AS-001",
        "AS-003",
        "AS-004",
    ]


def test_pydantic_rules_are_named(assist):
    record = example("assist-eligible") | {"sex": "unknown", "shoe_size": 43}
    (problem,) = screen_stream(assist, read_records([json.dumps(record)]))
    assert {(f, r) for f, r, _ in problem.errors} == {("sex", "literal_error"), ("shoe_size", "extra_forbidden")}


# --------------------------------------------------------------------------- the summary


def test_summary_counts_equal_a_hand_count(assist):
    records = population(20)
    outcomes = list(screen_stream(assist, read_records([json.dumps(records)]), today=date(2025, 3, 3)))
    summary = Summary.for_protocol(assist)
    for outcome in outcomes:
        summary.add(outcome)
    data = summary.as_dict()
    # By hand: i % 3 == 1 fails AST, i % 5 == 3 has epilepsy, i % 4 == 2 lacks the NIHSS.
    ast_fail = [i for i in range(20) if i % 3 == 1]
    epilepsy = [i for i in range(20) if i % 5 == 3]
    no_nihss = [i for i in range(20) if i % 4 == 2]
    ineligible = set(ast_fail) | set(epilepsy)
    incomplete = set(no_nihss) - ineligible
    assert data["verdicts"] == {
        "eligible": 20 - len(ineligible) - len(incomplete),
        "ineligible": len(ineligible),
        "incomplete": len(incomplete),
    }
    assert data["records"] == data["screened"] == 20 and data["invalid"] == 0
    rows = {row["id"]: row for row in data["criteria"]}
    hand = Counter()
    for outcome in outcomes:
        for criterion in outcome.result.criteria:
            hand[criterion.id, criterion.status] += 1
    for criterion_id, row in rows.items():
        assert (row["pass"], row["fail"], row["unknown"]) == tuple(
            hand[criterion_id, s] for s in ("pass", "fail", "unknown")
        )
    assert rows["exc-epilepsy"]["fail"] == len(epilepsy)
    assert rows["exc-epilepsy"]["fail_share"] == round(len(epilepsy) / 20, 4)
    assert sum(rows[c]["unknown"] for c in rows if c.startswith("inc-nihss")) >= len(no_nihss)
    assert [row["id"] for row in data["criteria"]] == [c.id for c in assist.eligibility.criteria]


# --------------------------------------------------------------------------- Dask


@pytest.mark.slow
def test_dask_partitions_give_the_serial_results(assist, tmp_path):
    records = population(30)
    lines = [json.dumps(r) for r in records]
    lines.insert(7, "not json")
    lines.insert(12, "")
    path = tmp_path / "population.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    on = date(2025, 3, 3)
    serial = list(screen_stream(assist, read_records([path.read_text(encoding="utf-8")]), today=on))
    # Small blocks: several partitions, cut inside records' byte ranges and realigned to line ends.
    partitioned = list(screen_partitioned(assist, path, on, workers=2, scheduler="threads", block_bytes=4000))
    assert partitioned == serial
    assert sum(isinstance(o, RecordProblem) for o in serial) == 1


# --------------------------------------------------------------------------- the command


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, ["screen", *args], input=stdin)


def test_the_streamed_json_document_is_the_batch_document(tmp_path):
    records = population(6)
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    result = run("-p", ASSIST, "-i", str(path), "-f", "json", "--today", "2025-03-03")
    assert result.exit_code == 1, result.output
    protocol = load_protocol(ASSIST)
    batch = [screen(protocol, r, today=date(2025, 3, 3)).as_dict() for r in records]
    assert result.stdout == to_json({"protocol": ASSIST, "results": batch}) + "\n"


def test_an_empty_array_is_an_empty_result_list(tmp_path):
    path = tmp_path / "none.json"
    path.write_text("[]", encoding="utf-8")
    result = run("-p", ASSIST, "-i", str(path), "-f", "json")
    assert result.exit_code == 0 and result.stdout == to_json({"protocol": ASSIST, "results": []}) + "\n"


def test_a_bad_record_is_reported_in_json_lines_and_the_others_written(tmp_path):
    records = population(4)
    records[1]["sex"] = "unknown"
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run("-p", ASSIST, "-i", str(path), "-o", str(out))
    assert result.exit_code == 2, result.output  # bad input, reported; the rest screened
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["index"] for line in lines] == [1, 2, 3, 4]
    assert lines[1]["errors"] == [
        {"field": "sex", "rule": "literal_error", "message": lines[1]["errors"][0]["message"]}
    ]
    assert lines[1]["id"] == "AS-001" and "verdict" not in lines[1]
    assert [line.get("verdict") for line in lines] == ["eligible", None, "incomplete", "ineligible"]
    assert "record AS-001: sex:" in result.stderr


def test_a_bad_record_in_the_json_document_goes_to_errors(tmp_path):
    records = population(3)
    records[1]["sex"] = "unknown"
    path = tmp_path / "in.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    result = run("-p", ASSIST, "-i", str(path), "-f", "json")
    assert result.exit_code == 2 and result.stderr == ""
    data = json.loads(result.stdout)
    assert [r["id"] for r in data["results"]] == ["AS-000", "AS-002"]
    assert [(e["index"], e["id"], e["errors"][0]["field"]) for e in data["errors"]] == [(2, "AS-001", "sex")]
    assert data["exit_code"] == 2 and "record AS-001: sex" in data["error"]


def test_summary_as_json_and_as_a_table(tmp_path):
    records = population(10)
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    result = run("-p", ASSIST, "-i", str(path), "--summary", "-f", "json", "--today", "2025-03-03")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert "results" not in data and data["summary"]["records"] == 10
    expected = Summary.for_protocol(load_protocol(ASSIST))
    for outcome in screen_stream(load_protocol(ASSIST), read_records([json.dumps(records)]), date(2025, 3, 3)):
        expected.add(outcome)
    assert data["summary"] == expected.as_dict()
    text = run("-p", ASSIST, "-i", str(path), "--summary", "--today", "2025-03-03")
    assert "exc-epilepsy" in text.stdout and "fail %" in text.stdout and "10 records" in text.stdout
    assert "Traceback" not in text.output


def test_summary_with_output_writes_results_and_prints_the_forecast(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in population(5)) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run("-p", ASSIST, "-i", str(path), "--summary", "-o", str(out), "-f", "json")
    assert json.loads(result.stdout)["summary"]["screened"] == 5
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5


def test_workers_need_a_json_lines_file():
    result = run("-p", IXCELL, "-i", "-", "--workers", "2", stdin="[]")
    assert result.exit_code == 2 and "--workers" in result.stderr


@pytest.mark.parametrize(
    "line",
    [
        '{"id": "a"}',
        '{"id": "a"}\r',
        '{"id": "a"}  \t',
        '  {"id": "a"}',
        '\ufeff{"id": "a"}',
        '{"id": "a"} x',
        '{"id": "a"}{"id": "b"}',
        '{"id": "a"',
        '{"id": NaN, "n": -Infinity}',
        "[1, 2]",
        "42",
        '"text"',
        "nul",
        '{"a": 1,}',
        "[" * 100_000,
    ],
)
def test_a_line_is_read_as_json_loads_reads_it(line):
    """The reader's fast path (the decoder's scanner without json.loads around it) gives json.loads'
    value, or its error with its message, for a line of any shape."""
    from trialkit.eligibility.stream import _loads

    def outcome(read):
        try:
            return ("value", read(line))
        except json.JSONDecodeError as exc:
            return ("error", exc.msg, exc.pos)
        except RecursionError:
            return ("recursion",)

    assert repr(outcome(_loads)) == repr(outcome(json.loads))  # repr: NaN is not equal to itself


@pytest.mark.slow
@pytest.mark.parametrize(("trial", "kind"), [(ASSIST, "assist"), (IXCELL, "ixcell")])
def test_the_summary_of_a_varied_population_is_the_count_of_screen_results(trial, kind):
    """The summary counts a compiled record by its statuses all at once (added to each criterion when read):
    the counts must be those of screen()'s results counted one by one, also when read part-way through and
    when results of the reference screening are mixed in."""
    from test_eligibility_compiled import records

    protocol = load_protocol(trial)
    population = records(kind, 400, seed=5)
    today = date(2025, 3, 3)
    summary = Summary.for_protocol(protocol)
    want = {c.id: Counter() for c in protocol.eligibility.criteria}
    verdicts = Counter()
    for number, outcome in enumerate(screen_stream(protocol, read_records([json.dumps(population)]), today)):
        if number % 7 == 0 and isinstance(outcome, ScreeningOutcome):
            outcome = ScreeningOutcome(outcome.index, outcome.result)  # as a Dask partition sends it
        summary.add(outcome)
        if number == 150:
            assert sum(summary.criteria[protocol.eligibility.criteria[0].id].values()) == summary.screened
        if isinstance(outcome, RecordProblem):
            continue
        result = screen(protocol, population[number], today=today)
        verdicts[result.verdict] += 1
        for checked in result.criteria:
            want[checked.id][checked.status] += 1
    data = summary.as_dict()
    assert data["verdicts"] == {v: verdicts[v] for v in ("eligible", "ineligible", "incomplete")}
    assert {c["id"]: {s: c[s] for s in ("pass", "fail", "unknown")} for c in data["criteria"]} == {
        cid: {s: counts[s] for s in ("pass", "fail", "unknown")} for cid, counts in want.items()
    }
    assert summary.criteria == {c["id"]: {s: c[s] for s in ("pass", "fail", "unknown")} for c in data["criteria"]}
    assert len(set(verdicts)) == 3 and data["invalid"] > 10
