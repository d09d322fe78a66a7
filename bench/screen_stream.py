"""Population screening as a stream: parse-only rate against screening rate, and peak memory.

Generates synthetic ASSIST and IxCell facts records (JSON Lines, 10k and 100k records: ages, NIHSS
items, labs in either unit around the ×ULN limits, histories, medications, a few invalid records),
then times, each in its own process:

- parse: ``json.loads`` of every line (the floor: reading the input, with the JSON library the
  command itself reads with: the standard library's ``json``);
- screen: ``trialkit screen --summary --output <file>.jsonl`` (read, validate, screen, write);
- document: the same with ``--output <file>.json`` (one JSON document, indented, as ``-f json`` prints).

Rates are records per CPU second of the process (user + system), so that a machine shared with other
work does not skew the ratio. Each process is run ``BENCH_REPEAT`` times (default 3), parse and screen
alternated, and the least CPU time of each is kept (as ``timeit`` advises: the least is the run the
machine disturbed least; on a shared 2-core machine single runs of the same command differ by 10–30%).
Prints records/s for both, their ratio (the goal: screening within 3× of parsing), the screening rate
net of the command's start-up (a one-record run: Python, pydantic, the protocol), the spread of the
ratio over the pairs run, and the peak resident memory of each process (``ru_maxrss`` of the child,
the largest of the runs), which should not grow with the records.

    python bench/screen_stream.py            # 10k and 100k records
    python bench/screen_stream.py 2000       # one size only (a quick check)
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "screening"
PROTOCOLS = {"assist": "NCT04590118", "ixcell": "NCT07197606"}
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
NIHSS_MAX = {"1a": 3, "1b": 2, "1c": 2, "2": 2, "3": 3, "4": 3, "5a": 4, "5b": 4, "6a": 4, "6b": 4, "7": 2, "8": 2}
NIHSS_MAX |= {"9": 3, "10": 2, "11": 2}


def synthetic(kind: str, n: int, seed: int = 1) -> Any:
    """``n`` varied records built on the trial's example record; about 1 in 500 is invalid."""
    rng = random.Random(seed)
    base = json.loads((EXAMPLES / f"{kind}-eligible.json").read_text(encoding="utf-8"))
    for i in range(n):
        record = copy.deepcopy(base)
        record["id"] = f"{kind[:2].upper()}-{i:06d}"
        year = rng.randint(1940, 2006)
        record["birth_date"] = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        record["stroke"]["onset_date"] = (
            f"{rng.choice((2023, 2024, 2025))}-{rng.randint(1, 2):02d}-{rng.randint(1, 28):02d}"
        )
        record["nihss"] = {item: rng.randint(0, min(top, 2)) for item, top in NIHSS_MAX.items()}
        if rng.random() < 0.05:
            del record["nihss"][rng.choice(list(NIHSS_MAX))]
        if "labs" in record:
            labs = record["labs"]
            labs["ast"]["value"] = rng.choice((40, 80, 100, 101, 120, 32))  # ULN 40: 2.5×ULN is 100
            if rng.random() < 0.5:
                labs["albumin"] = {"value": rng.choice((30, 35, 41, 28)), "unit": "g/L"}
            if rng.random() < 0.3:
                labs["creatinine"] = {"value": rng.choice((79.6, 88.4, 115)), "unit": "µmol/L", "uln": 115}
            labs["platelets"]["value"] = rng.choice((99_000, 100_000, 235_000))
        if rng.random() < 0.1:
            record["conditions"] = [*record.get("conditions", []), {"name": "epilepsy", "date": "2019-03-01"}]
        if rng.random() < 0.002:
            record["sex"] = "unknown"  # invalid: reported, the run goes on
        yield record


def write_jsonl(path: Path, records: Any) -> None:
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


PARSE = """
import json, sys, time
n = 0
start = time.process_time()
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        if line.strip():
            json.loads(line)
            n += 1
print(n, time.process_time() - start)
"""


def run_child(args: list[str]) -> tuple[float, int, str]:
    """CPU seconds (user + system: the machine may be shared), peak RSS in MB (this child only, from
    wait4) and its standard output."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = usage.ru_utime + usage.ru_stime
        out.seek(0)
        text = out.read().decode()
    if proc.returncode not in (0, 1, 2):
        raise SystemExit(f"{args} exited {proc.returncode}")
    return seconds, usage.ru_maxrss // 1024, text


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    python = sys.executable
    print(
        "parse: json.loads of each line, the JSON library trialkit screen reads with (stdlib json); "
        f"rates per CPU second, the least of {REPEAT} runs each (parse and screen alternated); "
        "net: less the start-up of a one-record run; spread: the ratio of each pair run"
    )
    print(
        f"{'trial':7} {'records':>8} {'parse/s':>10} {'screen/s':>10} {'ratio':>6} {'net/s':>8} {'net ratio':>9} "
        f"{'spread':>11} {'doc net ratio':>13} {'parse MB':>9} {'screen MB':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind, protocol in PROTOCOLS.items():
            one = Path(tmp) / f"{kind}-1.jsonl"
            write_jsonl(one, synthetic(kind, 1))
            startup = min(
                run_child([python, "-m", "trialkit", "screen", "-p", protocol, "-i", str(one), "--summary"])[0]
                for _ in range(REPEAT)
            )
            for n in sizes:
                path = Path(tmp) / f"{kind}-{n}.jsonl"
                write_jsonl(path, synthetic(kind, n))
                out = Path(tmp) / f"{kind}-{n}.out.jsonl"
                command = [python, "-m", "trialkit", "screen", "-p", protocol, "-i", str(path)]
                document = Path(tmp) / f"{kind}-{n}.out.json"
                pairs = []  # (parse CPU s, screen CPU s) of each run
                document_seconds = []
                parse_mb = screen_mb = 0
                for _ in range(REPEAT):
                    _, mb, parsed = run_child([python, "-c", PARSE, str(path)])
                    count, parse_seconds = parsed.split()
                    assert int(count) == n, (count, n)
                    parse_mb = max(parse_mb, mb)
                    seconds, mb, summary = run_child([*command, "--summary", "-o", str(out), "-f", "json"])
                    screened = json.loads(summary)["summary"]["records"]
                    assert screened == n, (screened, n)
                    screen_mb = max(screen_mb, mb)
                    pairs.append((float(parse_seconds), seconds))
                    document_seconds.append(run_child([*command, "--summary", "-o", str(document)])[0])
                    document.unlink()
                parse_rate = n / min(p for p, _ in pairs)
                seconds = min(s for _, s in pairs)
                rate = n / seconds
                net = n / max(seconds - startup, 1e-9)
                ratios = [s / p for p, s in pairs]
                spread = f"{min(ratios):.2f}–{max(ratios):.2f}"
                document_net = n / max(min(document_seconds) - startup, 1e-9)
                print(
                    f"{kind:7} {n:>8,} {parse_rate:>10,.0f} {rate:>10,.0f} {parse_rate / rate:>6.2f} {net:>8,.0f} "
                    f"{parse_rate / net:>9.2f} {spread:>11} {parse_rate / document_net:>13.2f} {parse_mb:>9,} {screen_mb:>10,}",
                    flush=True,
                )
                path.unlink()
                out.unlink()


if __name__ == "__main__":
    main()
