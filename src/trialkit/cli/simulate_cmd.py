"""``trialkit simulate``: power of the mRS shift analysis and rehearsal of a protocol."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import typer

from trialkit.cli.output import FORMAT_OPTION, Format, emit, fail, writable_output

simulate_app = typer.Typer(help="Simulate trials before the first patient.", no_args_is_help=True)


@contextmanager
def _progress_bar(total: int, show: bool, label: str):
    """A rich progress bar on stderr (stdout stays clean JSON); a no-op callback when hidden."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done: progress.advance(task, done)


def _parse_probabilities(text: str, fmt: Format) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail("--control: give comma-separated probabilities, e.g. 0.05,0.1,0.15,0.25,0.2,0.15,0.1", fmt=fmt)


def _power_text(r: dict) -> str:
    return (
        f"Power: {r['power']:.3f} (95% MC interval {r['ci95'][0]:.3f}–{r['ci95'][1]:.3f}, {r['trials']} trials)\n"
        f"Whitehead 1993: {r['whitehead_power']:.3f}\n"
        f"Arms: {r['n_treatment']} treatment, {r['n_control']} control; dropout {r['dropout']:g}; "
        f"common OR {r['common_or']:g}; alpha {r['alpha']:g}"
    )


@simulate_app.command("power")
def power_command(
    control: str = typer.Option(..., "--control", help="Control mRS probabilities p0,...,p6."),
    common_or: float = typer.Option(..., "--common-or", help="Common OR of a better mRS with treatment."),
    n_per_arm: int = typer.Option(..., "--n-per-arm", help="Control arm size; treatment arm = ratio × this."),
    ratio: float = typer.Option(1.0, "--ratio", help="Allocation ratio treatment:control."),
    dropout: float = typer.Option(0.0, "--dropout", help="Probability a participant has no outcome."),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level."),
    trials: int = typer.Option(1000, "--trials"),
    seed: int = typer.Option(None, "--seed"),
    plot: str = typer.Option(None, "--plot", help="Write a power curve over a range of odds ratios (PNG)."),
    progress: bool = typer.Option(False, "--progress", help="Show a progress bar even when stderr is not a terminal."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Simulated power of the proportional odds shift analysis, vectorized across trials."""
    import numpy as np

    from trialkit.simulation.ordinal_power import SimulationInputError, plot_power_curve, power_curve, simulate_power

    probabilities = _parse_probabilities(control, fmt)
    if plot:
        writable_output(plot, "--plot")
    show = progress or sys.stderr.isatty()
    curve_ors = []
    if plot and common_or > 0:
        top = max(common_or, 1 / common_or) ** 1.5
        curve_ors = list(np.exp(np.linspace(0, np.log(top), 8)) ** (1 if common_or >= 1 else -1))
    try:
        with _progress_bar(trials * (1 + len(curve_ors)), show, "simulating") as advance:
            result = simulate_power(probabilities, common_or, n_per_arm, ratio, dropout, alpha, trials, seed, advance)
            out = result.to_dict()
            if plot:
                curve = power_curve(probabilities, curve_ors, n_per_arm, ratio, dropout, alpha, trials, seed, advance)
                plot_power_curve(curve, plot)
                out["curve"] = [
                    {"common_or": r.common_or, "power": r.power, "ci95": r.ci95, "whitehead_power": r.whitehead_power}
                    for r in curve
                ]
                out["plot"] = plot
    except SimulationInputError as exc:
        fail(str(exc), fmt=fmt)
    emit(out, fmt, _power_text)


def _rehearsal_text(r: dict) -> str:
    lines = [
        f"{r['nct_id']}: {r['trials']} virtual trials of {r['n']}, common OR {r['common_or']:g}, "
        f"dropout {r['dropout']:g}, alpha {r['alpha']:g}",
        f"Allocation: {r['allocation']}",
    ]
    for a in r["analyses"]:
        lines.append(
            f"  {a['analysis_id']} ({a['method']}): power {a['power']:.3f} "
            f"[{a['power_ci95'][0]:.3f}, {a['power_ci95'][1]:.3f}] at {a['effect']}; type I error "
            f"{a['type1_error']:.3f} [{a['type1_ci95'][0]:.3f}, {a['type1_ci95'][1]:.3f}], "
            f"{a['type1_verdict']} {r['alpha']:g}"
        )
    above = [a["analysis_id"] for a in r["analyses"] if a["type1_verdict"] == "above alpha"]
    if above:
        lines.append(
            f"Type I error above the nominal alpha at n={r['n']}: {', '.join(above)} "
            "(consider the permutation test: trialkit analyze mrs-shift --permutations)"
        )
    if r["not_rehearsed"]:
        lines.append(f"Not rehearsed: {', '.join(r['not_rehearsed'])}")
    return "\n".join(lines)


@simulate_app.command("trial")
def trial_command(
    protocol: str = typer.Option(..., "--protocol", help="NCT id or protocol file."),
    common_or: float = typer.Option(2.0, "--common-or"),
    control: str = typer.Option(None, "--control", help="Control mRS probabilities p0,...,p6."),
    dropout: float = typer.Option(0.1, "--dropout"),
    trials: int = typer.Option(1000, "--trials"),
    seed: int = typer.Option(None, "--seed"),
    progress: bool = typer.Option(False, "--progress"),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Rehearse a protocol: eligible virtual participants, its allocation, dropout and mRS analyses."""
    from trialkit.protocol import ProtocolError, load_protocol
    from trialkit.simulation.ordinal_power import SimulationInputError
    from trialkit.simulation.rehearsal import DEFAULT_CONTROL, rehearse_trial

    try:
        loaded = load_protocol(protocol)
    except (ProtocolError, FileNotFoundError) as exc:
        fail(f"--protocol: {exc}", fmt=fmt)
    probabilities = _parse_probabilities(control, fmt) if control else DEFAULT_CONTROL
    try:
        with _progress_bar(2 * trials, progress or sys.stderr.isatty(), "rehearsing") as advance:
            result = rehearse_trial(loaded, common_or, probabilities, dropout, trials, seed, progress=advance)
    except SimulationInputError as exc:
        fail(str(exc), fmt=fmt)
    emit(result.to_dict(), fmt, _rehearsal_text)


def _parse_list(text: str, name: str, kind, fmt: Format) -> list:
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail(f"{name}: give comma-separated numbers, e.g. 1.5,2,2.5", fmt=fmt)


def _design_text(r: dict) -> str:
    where = f"{r['workers']} Dask workers at {r['scheduler']}" if r["workers"] else "this process"
    lines = [
        f"Design search: {len(r['rows'])} cells x {r['trials']} trials, seed {r['seed']}, alpha {r['alpha']:g}; "
        f"ran on {where}",
        f"{'OR':>6} {'n/arm':>6} {'dropout':>7} {'ratio':>5} {'n_t':>5} {'power':>6} {'95% MC interval':>17} "
        f"{'Whitehead':>9} {'cell seed':>10}",
    ]
    for row in r["rows"]:
        lines.append(
            f"{row['common_or']:>6g} {row['n_per_arm']:>6} {row['dropout']:>7g} {row['ratio']:>5g} "
            f"{row['n_treatment']:>5} {row['power']:>6.3f}   [{row['ci95_low']:.3f}, {row['ci95_high']:.3f}] "
            f"{row['whitehead_power']:>9.3f} {row['seed']:>10}"
        )
    for key in ("output", "plot"):
        if r.get(key):
            lines.append(f"{key}: {r[key]}")
    return "\n".join(lines)


@simulate_app.command("design")
def design_command(
    control: str = typer.Option(..., "--control", help="Control mRS probabilities p0,...,p6."),
    odds_ratios: str = typer.Option(..., "--odds-ratios", help="Common ORs, comma-separated, e.g. 1,1.5,2,2.5."),
    n_per_arm: str = typer.Option(..., "--n-per-arm", help="Control arm sizes, comma-separated, e.g. 30,40,50."),
    dropouts: str = typer.Option("0", "--dropouts", help="Dropout probabilities, comma-separated."),
    ratios: str = typer.Option("1", "--ratios", help="Allocation ratios treatment:control, comma-separated."),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level."),
    trials: int = typer.Option(2000, "--trials", help="Simulated trials per cell."),
    seed: int = typer.Option(None, "--seed", help="Spawns one seed per cell (numpy SeedSequence)."),
    workers: int = typer.Option(None, "--workers", help="Local Dask worker processes (default: every core)."),
    scheduler: str = typer.Option(
        None,
        "--scheduler",
        help="Address of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786, instead of a local cluster.",
    ),
    output: str = typer.Option(None, "--output", help="Write the table as CSV."),
    plot: str = typer.Option(None, "--plot", help="Write the power curves (PNG)."),
    progress: bool = typer.Option(False, "--progress", help="Show a progress bar even when stderr is not a terminal."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Power of the mRS shift analysis over a grid of designs (ORs x sizes x dropouts x ratios), on Dask."""
    from trialkit.simulation.design_search import (
        design_grid,
        local_cluster,
        plot_design_search,
        remote_cluster,
        run_design_search,
        write_csv,
    )
    from trialkit.simulation.ordinal_power import SimulationInputError, validate_trials

    probabilities = _parse_probabilities(control, fmt)
    if output:
        writable_output(output)
    if plot:
        writable_output(plot, "--plot")
    if workers is not None and workers < 1:
        fail("--workers: must be at least 1", fmt=fmt)
    if workers is not None and scheduler:
        fail("--workers: the workers of --scheduler are the cluster's; give one or the other", fmt=fmt)
    try:
        cells = design_grid(
            _parse_list(odds_ratios, "--odds-ratios", float, fmt),
            _parse_list(n_per_arm, "--n-per-arm", float, fmt),
            _parse_list(dropouts, "--dropouts", float, fmt),
            _parse_list(ratios, "--ratios", float, fmt),
        )
        # Checked before a cluster starts, so bad settings fail at once.
        from trialkit.simulation.ordinal_power import validate_probabilities

        validate_probabilities(probabilities)
        if not 0 < alpha < 1:
            raise SimulationInputError("--alpha: must be in (0, 1)")
        validate_trials(trials)
    except SimulationInputError as exc:
        fail(str(exc), fmt=fmt)
    try:
        cluster = remote_cluster(scheduler) if scheduler else local_cluster(workers)
        with cluster as client, _progress_bar(len(cells), progress or sys.stderr.isatty(), "design cells") as advance:
            result = run_design_search(cells, probabilities, alpha, trials, seed, client=client, progress=advance)
    except SimulationInputError as exc:
        fail(str(exc), fmt=fmt)
    except (OSError, TimeoutError) as exc:
        fail(
            f"--scheduler: cannot reach the Dask scheduler {scheduler!r} ({exc})"
            if scheduler
            else f"the local Dask cluster could not start ({exc})",
            fmt=fmt,
        )
    out = result.to_dict()
    if output:
        write_csv(result, output)
        out["output"] = output
    if plot:
        plot_design_search(result, plot)
        out["plot"] = plot
    emit(out, fmt, _design_text)


@simulate_app.command("dataset")
def dataset_command(
    protocol: str = typer.Option(..., "--protocol"),
    out: str = typer.Option(..., "--out", help="Directory to write participants.csv, outcomes.csv, ..."),
    seed: int = typer.Option(0, "--seed"),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Write a simulated dataset of a protocol in the report's data directory format."""
    from trialkit.protocol import ProtocolError, load_protocol
    from trialkit.simulation.dataset import simulate_dataset

    try:
        loaded = load_protocol(protocol)
    except (ProtocolError, FileNotFoundError) as exc:
        fail(f"--protocol: {exc}", fmt=fmt)
    writable_output(out, "--out", directory=True)
    directory = simulate_dataset(loaded, out, seed=seed)
    emit(
        {"directory": str(directory), "files": sorted(p.name for p in directory.glob("*.csv"))},
        fmt,
        lambda r: f"wrote {', '.join(r['files'])} to {r['directory']}",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(simulate_app, name="simulate")
