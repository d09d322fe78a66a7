"""Every command, fed a table of bad inputs, ends with the documented exit code and one line, never a traceback.

Exit codes (docs/cli.md): 0 success, 1 a finding, 2 bad input, 3 could not run. The commands run in this
process through typer's CliRunner (fast), under a deadline so that a command that hangs fails the test;
a few run as real processes for their real exit codes (database unreachable or absent).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from trialkit.cli.main import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


class Hung(BaseException):
    """Not an Exception: the command line's error mapping must not turn it into an exit code."""


@contextmanager
def deadline(seconds: float):
    def expire(signum, frame):
        raise Hung(f"the command ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def invoke(args: list[str], seconds: float = 60):
    with deadline(seconds):
        return runner.invoke(app, args)


def assert_one_line(result, code: int, *, contains: str = "") -> None:
    output = result.stdout + result.stderr
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}:\n{output}"
    assert "Traceback" not in output and not isinstance(result.exception, (Hung,)), output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{output}"
    assert contains in output, output


# --------------------------------------------------------------------------- the bad files


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    made = {
        "non-utf8": root / "latin1.json",
        "nul-bytes": root / "nul.json",
        "nested": root / "nested.json",
        "one-30MB-line": root / "big.csv",
        "empty": root / "empty.json",
        "missing": root / "missing.json",
        "directory": root / "a-directory",
    }
    made["non-utf8"].write_bytes('{"name": "Müller"}'.encode("latin-1"))
    made["nul-bytes"].write_bytes(b'{"a": 1}\x00\x00\x00arm,mrs\n')
    made["nested"].write_text("[" * 100_000 + "]" * 100_000)
    made["one-30MB-line"].write_text("1," * 15_000_000)
    made["empty"].write_text("")
    made["directory"].mkdir()
    good = root / "good"
    good.mkdir()
    frame = pd.DataFrame(
        {
            "arm": ["msc", "placebo"] * 10,
            "mrs": [0, 1, 2, 3, 4, 5, 6, 2, 3, 1] * 2,
            "fma_b": range(20),
            "fma_m3": [v * 1.5 + (v % 3) for v in range(20)],
        }
    )
    frame.to_csv(good / "outcomes.csv", index=False)
    made["good-csv"] = good / "outcomes.csv"
    from trialkit.protocol import load_protocol
    from trialkit.simulation.dataset import simulate_dataset

    made["good-data"] = simulate_dataset(load_protocol("NCT07197606"), good / "data", seed=1)
    (root / "a-file").write_text("x")
    made["under-a-file"] = root / "a-file"
    return made


BAD_KINDS = ["non-utf8", "nul-bytes", "nested", "one-30MB-line", "empty", "missing", "directory"]

# Commands with a file input; {f} is the bad file, {tmp} a fresh directory.
FILE_COMMANDS = {
    "score": ["score", "mrs", "--input", "{f}"],
    "screen": ["screen", "--protocol", "assist", "--input", "{f}"],
    "analyze mrs-shift": ["analyze", "mrs-shift", "--input", "{f}", "--treatment", "msc", "--control", "placebo"],
    "analyze ancova": [
        "analyze",
        "ancova",
        "--input",
        "{f}",
        "--outcome",
        "fma_m3",
        "--baseline",
        "fma_b",
        "--treatment",
        "msc",
        "--control",
        "placebo",
    ],
    "analyze boundaries": ["analyze", "boundaries", "--protocol", "{f}"],
    "export odm": ["export", "odm", "--protocol", "IxCell", "--data", "{f}", "--output", "{tmp}/odm.xml"],
    "export sdtm": ["export", "sdtm", "--protocol", "IxCell", "--data", "{f}", "--output", "{tmp}/sdtm"],
    "export fhir": ["export", "fhir", "--protocol", "IxCell", "--data", "{f}", "--output", "{tmp}/bundle.json"],
    "protocol import": ["protocol", "import", "{f}", "-o", "{tmp}/draft.yaml"],
    "facts from-fhir": ["facts", "from-fhir", "{f}"],
    "facts from-fhir --merge": [
        "facts",
        "from-fhir",
        str(REPO / "examples/fhir/screening-labs.json"),
        "--merge",
        "{f}",
    ],
    "report": ["report", "--protocol", "IxCell", "--data", "{f}", "--out", "{tmp}/report"],
    "protocol show": ["protocol", "show", "{f}"],
    "allocation generate": ["allocation", "generate", "--protocol", "{f}", "--seed", "1"],
    "allocation check": ["allocation", "check", "--protocol", "{f}"],
    "simulate trial": ["simulate", "trial", "--protocol", "{f}", "--trials", "10"],
    "simulate dataset": ["simulate", "dataset", "--protocol", "{f}", "--out", "{tmp}/dataset"],
}


def fill(template: list[str], **values: str) -> list[str]:
    return [part.format(**values) for part in template]


@pytest.mark.slow
@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("command", sorted(FILE_COMMANDS))
def test_a_bad_file_exits_2_with_one_line(files, tmp_path, command, kind):
    if command == "report" and kind == "directory":
        pytest.skip("a directory is report's own input format (tested below with the files missing)")
    result = invoke(fill(FILE_COMMANDS[command], f=str(files[kind]), tmp=str(tmp_path)))
    assert_one_line(result, 2)


@pytest.mark.slow
def test_report_of_an_empty_directory_or_a_csv_file_names_the_data_option(files, tmp_path):
    assert_one_line(invoke(["report", "--protocol", "IxCell", "--data", str(files["directory"])]), 2, contains="--data")
    assert_one_line(
        invoke(["report", "--protocol", "IxCell", "--data", str(files["good-csv"]), "--out", str(tmp_path)]),
        2,
        contains="is not an SQLite database",
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_protocol_validate_reports_a_bad_file_as_a_finding(files, kind):
    result = invoke(["protocol", "validate", str(files[kind])])
    if kind == "missing":
        assert_one_line(result, 2, contains="no such file")
    elif kind == "directory":
        assert result.exit_code == 0 and "no protocol files found" in result.stdout  # a directory is its input
    else:
        assert_one_line(result, 1)  # the file is checked and found invalid: a finding, reported as such


def test_a_json_error_is_printed_once_as_json_on_stdout(files):
    result = invoke(["score", "mrs", "--input", str(files["nested"]), "--format", "json"])
    assert result.exit_code == 2 and result.stderr == ""
    assert json.loads(result.stdout) == {"error": "--input: JSON nested too deeply", "exit_code": 2}
    text = invoke(["score", "mrs", "--input", str(files["nested"])])
    assert text.stdout == "" and text.stderr == "error: --input: JSON nested too deeply\n"


# --------------------------------------------------------------------------- counts and options

CONTROL = "0.05,0.1,0.15,0.25,0.25,0.1,0.1"
BAD_OPTIONS = {
    "simulate trial --trials 0": (["simulate", "trial", "--protocol", "IxCell", "--trials", "0"], "--trials"),
    "simulate trial --trials 1e9": (["simulate", "trial", "--protocol", "IxCell", "--trials", "1000000000"], "at most"),
    "simulate power --trials 0": (
        ["simulate", "power", "--control", CONTROL, "--common-or", "2", "--n-per-arm", "40", "--trials", "0"],
        "--trials",
    ),
    "simulate power --trials 1e9": (
        ["simulate", "power", "--control", CONTROL, "--common-or", "2", "--n-per-arm", "40", "--trials", "1000000000"],
        "at most",
    ),
    "simulate power --n-per-arm 0": (
        ["simulate", "power", "--control", CONTROL, "--common-or", "2", "--n-per-arm", "0"],
        "--n-per-arm",
    ),
    "simulate design --trials 0": (
        ["simulate", "design", "--control", CONTROL, "--odds-ratios", "2", "--n-per-arm", "30", "--trials", "0"],
        "--trials",
    ),
    "allocation generate --n 1e8": (
        ["allocation", "generate", "--protocol", "IxCell", "--seed", "1", "--n", "100000000"],
        "at most 10,000",
    ),
    "allocation generate --n 0": (["allocation", "generate", "--protocol", "IxCell", "--seed", "1", "--n", "0"], "--n"),
    "allocation check --n 1e8": (["allocation", "check", "--protocol", "assist", "--n", "100000000"], "at most"),
    "analyze boundaries --alpha 2": (["analyze", "boundaries", "--looks", "0.5,1", "--alpha", "2"], "alpha"),
    "analyze boundaries --looks a": (["analyze", "boundaries", "--looks", "a,b"], "--looks"),
    "score unknown instrument": (["score", "nope", "--input", "-"], "nope"),
    "a missing option": (["analyze", "mrs-shift"], "Missing option '--input'"),
    "an unknown option": (["protocol", "list", "--frobnicate"], "--frobnicate"),
    "a value of the wrong type": (["simulate", "trial", "--protocol", "IxCell", "--trials", "many"], "--trials"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_a_bad_count_or_option_exits_2_at_once(case):
    args, message = BAD_OPTIONS[case]
    assert_one_line(invoke(args, seconds=30), 2, contains=message)


def test_permutations_below_zero_name_the_option(files):
    result = invoke(
        [
            "analyze",
            "mrs-shift",
            "--input",
            str(files["good-csv"]),
            "--treatment",
            "msc",
            "--control",
            "placebo",
            "--permutations",
            "-1",
        ]
    )
    assert_one_line(result, 2, contains="--permutations")
    huge = invoke(
        [
            "analyze",
            "mrs-shift",
            "--input",
            str(files["good-csv"]),
            "--treatment",
            "msc",
            "--control",
            "placebo",
            "--permutations",
            "1000000000",
        ],
        seconds=30,
    )
    assert_one_line(huge, 2, contains="--permutations: at most 100,000")


# --------------------------------------------------------------------------- the protocol reference

PROTOCOL_COMMANDS = {
    "screen": ["screen", "--protocol", "{p}", "--input", "{good}"],
    "allocation generate": ["allocation", "generate", "--protocol", "{p}", "--seed", "1"],
    "allocation check": ["allocation", "check", "--protocol", "{p}"],
    "analyze boundaries": ["analyze", "boundaries", "--protocol", "{p}"],
    "simulate trial": ["simulate", "trial", "--protocol", "{p}", "--trials", "10"],
    "simulate dataset": ["simulate", "dataset", "--protocol", "{p}", "--out", "{tmp}/d"],
    "report": ["report", "--protocol", "{p}", "--data", "{good}"],
    "export odm": ["export", "odm", "--protocol", "{p}", "--output", "{tmp}/odm.xml"],
    "protocol show": ["protocol", "show", "{p}"],
}


@pytest.mark.slow
@pytest.mark.parametrize("ref", ["NCT99999999", "nope", ""])
@pytest.mark.parametrize("command", sorted(PROTOCOL_COMMANDS))
def test_an_unknown_protocol_exits_2_listing_the_known_trials(files, tmp_path, command, ref):
    result = invoke(fill(PROTOCOL_COMMANDS[command], p=ref, good=str(files["good-csv"]), tmp=str(tmp_path)))
    assert_one_line(result, 2)
    if ref:
        assert "known: NCT04590118 (ASSIST), NCT07197606 (IxCell)" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("ref", ["NCT04590118", "nct04590118", "assist", "ASSIST", "Assist"])
def test_the_protocol_is_named_by_its_nct_id_or_acronym_in_any_case(ref):
    result = invoke(["protocol", "show", ref, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["registry"]["nct_id"] == "NCT04590118"


@pytest.mark.slow
def test_ixcell_in_any_case():
    for ref in ("ixcell", "IXCELL", "IxCell", "nct07197606"):
        result = invoke(["allocation", "generate", "--protocol", ref, "--seed", "1", "--n", "4", "--format", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["protocol"] == "NCT07197606"


# --------------------------------------------------------------------------- outputs


@pytest.fixture(scope="module")
def unwritable():
    """A directory this process may not write in (as root, chmod is no barrier: a read-only /sys)."""
    if os.geteuid() != 0:
        with tempfile.TemporaryDirectory() as root:
            locked = Path(root) / "locked"
            locked.mkdir(mode=0o555)
            yield locked
            locked.chmod(0o755)
        return
    for candidate in (Path("/sys/fs"), Path("/proc/sys")):
        try:
            with tempfile.TemporaryFile(dir=candidate):
                pass
        except OSError:
            yield candidate
            return
    pytest.skip("no unwritable directory on this machine")


OUTPUT_COMMANDS = {
    "export odm": ["export", "odm", "--protocol", "IxCell", "--output", "{o}/odm.xml"],
    "export sdtm": ["export", "sdtm", "--protocol", "IxCell", "--data", "{data}", "--output", "{o}/sdtm"],
    "export from-db": ["export", "from-db", "--trial", "NCT07197606", "--output", "{o}/export.zip"],
    "protocol show": ["protocol", "show", "assist", "--output", "{o}/page.txt"],
    "report": ["report", "--protocol", "IxCell", "--data", "{dir}", "--out", "{o}/report"],
    "simulate power": [
        "simulate",
        "power",
        "--control",
        CONTROL,
        "--common-or",
        "2",
        "--n-per-arm",
        "30",
        "--trials",
        "10",
        "--plot",
        "{o}/power.png",
    ],
    "simulate design": [
        "simulate",
        "design",
        "--control",
        CONTROL,
        "--odds-ratios",
        "2",
        "--n-per-arm",
        "30",
        "--trials",
        "10",
        "--output",
        "{o}/design.csv",
    ],
    "simulate dataset": ["simulate", "dataset", "--protocol", "IxCell", "--out", "{o}/dataset"],
}


@pytest.fixture(scope="module")
def export_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "records.json"
    path.write_text(json.dumps({"subjects": []}))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(OUTPUT_COMMANDS))
def test_an_unwritable_output_is_refused_before_any_work(files, unwritable, export_data, command):
    args = fill(OUTPUT_COMMANDS[command], o=str(unwritable), data=str(export_data), dir=str(files["good-data"]))
    assert_one_line(invoke(args), 3, contains="cannot write there")
    under_a_file = fill(
        OUTPUT_COMMANDS[command], o=str(files["under-a-file"]), data=str(export_data), dir=str(files["good-data"])
    )
    assert_one_line(invoke(under_a_file), 2, contains="is a file, not a directory")


@pytest.mark.slow
def test_no_help_page_shows_a_stray_type_label():
    import typer.main

    def walk(command, path):
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path in walk(typer.main.get_command(app), []):
        result = invoke([*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.stdout, (path, result.stdout)


# --------------------------------------------------------------------------- real processes


def run_process(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "TRIALKIT_DATA_DIR", "DJANGO_SETTINGS_MODULE", "TRIALKIT_PROTOCOL_DIR"}
    }
    return subprocess.run(
        [sys.executable, "-m", "trialkit", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


UNREACHABLE = "postgres://postgres@127.0.0.1:1/x"


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [["export", "from-db", "--trial", "NCT04590118", "--output", "x.zip"], ["audit", "verify"], ["jobs", "list"]],
)
def test_an_unreachable_database_exits_3_not_1(tmp_path, args):
    done = run_process(args, tmp_path, DATABASE_URL=UNREACHABLE, TRIALKIT_DEMO="1")
    assert done.returncode == 3, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    assert "127.0.0.1" in output and "OperationalError" in output


@pytest.mark.slow
def test_a_database_command_outside_a_project_says_where_it_looked_and_creates_nothing(tmp_path):
    done = run_process(
        ["export", "from-db", "--trial", "NCT04590118", "--output", "x.zip"], tmp_path, TRIALKIT_DEMO="1"
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"looked for {tmp_path / 'data' / 'trialkit.sqlite3'}" in done.stderr
    assert "TRIALKIT_DATA_DIR" in done.stderr and "DATABASE_URL" in done.stderr
    assert not (tmp_path / "data").exists()  # no empty database, nor its directory


@pytest.mark.slow
def test_real_exit_codes_for_a_bad_file_and_a_30_mb_line(files, tmp_path):
    done = run_process(["score", "mrs", "--input", str(files["non-utf8"])], tmp_path)
    assert (done.returncode, done.stdout) == (2, "") and done.stderr.startswith("error: --input:")
    done = run_process(
        ["analyze", "mrs-shift", "--input", str(files["one-30MB-line"]), "--treatment", "msc", "--control", "placebo"],
        tmp_path,
    )
    assert done.returncode == 2 and "the first line is longer than" in done.stderr
