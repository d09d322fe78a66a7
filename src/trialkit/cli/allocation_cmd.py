"""``trialkit allocation``: generate the concealed list (statistician) and check its balance."""

from __future__ import annotations

import csv
import enum
import io

import typer

from trialkit.cli.output import FORMAT_OPTION, Format, emit, fail
from trialkit.protocol import ProtocolError, load_protocol
from trialkit.randomization import StratumError, balance_report, generate_list
from trialkit.randomization.balance import BalanceReport
from trialkit.randomization.minimization import MinimizationCheck, simulate_minimization
from trialkit.randomization.permuted_blocks import MAX_SLOTS_PER_STRATUM, SLOT_FIELDS, AllocationList
from trialkit.randomization.predictability import list_predictability, minimization_guess_rate

allocation_app = typer.Typer(
    help="Concealed allocation lists: generate (unblinded statistician only) and check balance.",
    no_args_is_help=True,
)


# `allocation check` simulates 400 lists (or 100 minimization trials) of n: about half a minute at 1,000.
MAX_CHECKED = 1_000


class ListFormat(str, enum.Enum):
    json = "json"
    csv = "csv"
    text = "text"


def _load_list(protocol_ref: str, seed: int, n: int | None, fmt: str) -> AllocationList:
    try:
        protocol = load_protocol(protocol_ref)
    except ProtocolError as exc:
        fail(f"--protocol: {exc}", fmt=Format.json if fmt == "json" else Format.text)
    if n is not None and n <= 0:
        fail(
            f"--n must be a positive number of slots per stratum, got {n}",
            fmt=Format.json if fmt == "json" else Format.text,
        )
    if n is not None and n > MAX_SLOTS_PER_STRATUM:
        fail(f"--n must be at most {MAX_SLOTS_PER_STRATUM:,} slots per stratum, got {n:,}")
    try:
        return generate_list(protocol, seed, n=n)
    except (ValueError, StratumError) as exc:
        fail(f"randomization: {exc}", fmt=Format.json if fmt == "json" else Format.text)


def _slots_csv(allocation_list: AllocationList) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SLOT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for slot in allocation_list.slots:
        writer.writerow(slot.as_dict())
    return buffer.getvalue().rstrip("\n")


def _slots_text(allocation_list: AllocationList) -> str:
    head = (
        f"Allocation list {allocation_list.protocol_id}, seed {allocation_list.seed}: "
        f"{len(allocation_list.slots)} slots in {len(allocation_list.strata)} strata. "
        "UNBLINDED: for the trial statistician only."
    )
    rows = [("rand. no.", "kit", "stratum", "block", "arm", "dose level")]
    rows += [
        (
            s.randomization_number,
            s.kit_number,
            s.stratum,
            f"{s.block_no} ({s.block_size})",
            s.arm_id,
            s.dose_level or "",
        )
        for s in allocation_list.slots
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([head, "", *lines])


@allocation_app.command("generate")
def generate(
    protocol: str = typer.Option(..., "--protocol", help="NCT id (from the protocol directory) or a protocol file."),
    seed: int = typer.Option(..., "--seed", help="Seed; the same seed always gives the same list."),
    n: int | None = typer.Option(
        None, "--n", help="Slots per stratum (default: the cohort size, else the planned enrollment)."
    ),
    fmt: ListFormat = typer.Option(ListFormat.text, "--format", "-f", help="text for people (default), json or csv."),
) -> None:
    """Print the concealed allocation list (arm, dose level and kit for every slot)."""
    allocation_list = _load_list(protocol, seed, n, fmt.value)
    if fmt is ListFormat.csv:
        typer.echo(_slots_csv(allocation_list))
    else:
        emit(allocation_list.as_dict(), fmt.value, lambda _: _slots_text(allocation_list))


def _report_text(report: BalanceReport) -> str:
    ratio = ":".join(str(w) for w in report.ratio.values())
    lines = [
        f"Balance of {report.protocol_id}, seed {report.seed}: ratio {ratio} ({', '.join(report.ratio)}), "
        f"block sizes {', '.join(map(str, report.block_sizes))}",
        "Imbalance of arms a:b is n_a·w_b − n_b·w_a (0 when counts are in ratio); "
        f"block bound {', '.join(f'{k} ≤ {v}' for k, v in report.bound.items())}.",
        "",
    ]
    for s in report.strata:
        counts = ", ".join(f"{arm} {c}" for arm, c in s.counts.items())
        worst = ", ".join(f"{k} {v}" for k, v in s.max_prefix_imbalance.items())
        final = ", ".join(f"{k} {v:+d}" for k, v in s.final_imbalance.items())
        mark = "ok" if s.within_bound else "OUT OF BOUND"
        lines.append(f"{s.stratum}: {counts}; final {final}; worst prefix {worst} [{mark}]")
    overall = ", ".join(f"{arm} {c}" for arm, c in report.overall_counts.items())
    lines += [
        "",
        f"Overall: {overall}",
        f"Largest prefix imbalance: {report.max_imbalance}; every prefix within the block bound: "
        f"{'yes' if report.within_bound else 'NO'}",
    ]
    return "\n".join(lines)


@allocation_app.command("check")
def check(
    protocol: str = typer.Option(..., "--protocol", help="NCT id (from the protocol directory) or a protocol file."),
    seed: int = typer.Option(1, "--seed", help="Seed of the list to check."),
    n: int | None = typer.Option(
        None, "--n", help="Slots per stratum (default: the cohort size, else the planned enrollment)."
    ),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Report per-stratum and overall counts per arm and whether every prefix stays within the block bound.

    For a minimization trial: simulate ``--n`` participants (default: the planned enrollment) with
    random factor levels and report the counts per arm at every factor level and the imbalance."""
    try:
        loaded = load_protocol(protocol)
    except ProtocolError as exc:
        fail(f"--protocol: {exc}", fmt=fmt)
    if n is not None and n > MAX_CHECKED:
        fail(f"--n: the check simulates hundreds of lists of n; at most {MAX_CHECKED:,}, got {n:,}")
    if loaded.randomization.method == "minimization":
        _check_minimization(loaded, seed, n, fmt)
        return
    report = balance_report(_load_list(protocol, seed, n, fmt.value))
    spec = loaded.randomization
    length = n or (spec.cohorts[0].size if spec.cohorts else loaded.registry.enrollment.count)
    predictability = list_predictability(spec.ratio, spec.block_sizes, length, seed=seed)
    emit(
        {**report.as_dict(), "predictability": predictability},
        fmt,
        lambda _: _report_text(report) + "\n\n" + _predictability_text(predictability),
    )
    if not report.within_bound:
        raise typer.Exit(1)


def _rate(entry: dict) -> str:
    if entry.get("method") == "simulation":
        return f"{entry['rate']:.4f} (± {entry['standard_error']:.4f}, {entry['lists']} simulated lists)"
    exact = f" = {entry['rate_fraction']}" if "rate_fraction" in entry and len(entry["rate_fraction"]) <= 15 else ""
    return f"{entry['rate']:.4f}{exact} (exact)"


def _predictability_text(p: dict) -> str:
    return "\n".join(
        [
            f"Predictability over a list of {p['n']} (share of assignments the best guesser names correctly):",
            f"  knowing each block's size once it has started: {_rate(p['knows_block'])}",
            f"  seeing only the past assignments:              {_rate(p['past_only'])}",
            f"  always naming the largest arm:                 {p['baseline']:.4f}",
        ]
    )


def _minimization_text(check: MinimizationCheck) -> str:
    ratio = ":".join(str(w) for w in check.ratio.values())
    lines = [
        f"Minimization check of {check.protocol_id}, seed {check.seed}: {check.n} simulated participants with "
        f"random factor levels, ratio {ratio} ({', '.join(check.ratio)})",
        "Imbalance at a level is the range of ratio-adjusted counts (n_arm / weight).",
        "",
    ]
    for factor, per_level in check.counts.items():
        for level, counts in per_level.items():
            lines.append(f"{factor}={level}: " + ", ".join(f"{arm} {c}" for arm, c in counts.items()))
        lines.append(f"  worst imbalance for {factor}: {check.max_level_imbalance[factor]:g}")
    lines += [
        "",
        "Overall: " + ", ".join(f"{arm} {c}" for arm, c in check.overall_counts.items()),
        f"Marginal imbalance (sum over every level): {check.marginal_imbalance:g}",
    ]
    return "\n".join(lines)


def _check_minimization(protocol, seed: int, n: int | None, fmt: Format) -> None:
    if n is not None and n <= 0:
        fail(f"--n must be a positive number of participants, got {n}", fmt=fmt)
    try:
        check = simulate_minimization(protocol, seed, n or protocol.registry.enrollment.count)
    except (ValueError, StratumError) as exc:
        fail(f"randomization: {exc}", fmt=fmt)
    guess = minimization_guess_rate(protocol, seed, n or protocol.registry.enrollment.count, trials=100)
    emit(
        {**check.as_dict(), "predictability": guess.as_dict()},
        fmt,
        lambda _: (
            _minimization_text(check)
            + (
                f"\n\nPredictability (a guesser who knows the past assignments and the next participant's levels "
                f"names the most probable arm): {guess.rate:.4f} (± {guess.standard_error:.4f}, {guess.trials} simulated "
                f"trials); always naming the largest arm: {guess.baseline:.4f}"
            )
        ),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(allocation_app, name="allocation")
