"""Design search: simulated power of the mRS shift analysis over a grid of designs, on Dask.

A grid is every combination of common odds ratios × control-arm sizes × dropout probabilities ×
allocation ratios (treatment:control); each cell is ``trials`` simulated trials run by the vectorized
engine of ``trialkit simulate power`` (``simulate_power``), so a cell *is* that command at the same
parameters and seed.

Reproducibility: one ``numpy.random.SeedSequence(seed)`` is spawned into one child per cell, in grid
order, and cell i simulates from child i alone. What a cell draws depends on its index and the seed,
never on which worker runs it, in which order, or how many workers there are. Each row reports its
cell's seed, so ``trialkit simulate power --seed <that seed>`` reproduces the row.

Where it runs: ``local_cluster(workers)`` starts a ``dask.distributed.LocalCluster`` of single-threaded
worker processes (every core by default); ``Client(address)`` reaches an existing cluster of many
machines (``dask scheduler`` / ``dask worker``). ``run_design_search`` without a client runs the cells
in this process, one after the other. The core imports Dask only inside the functions that use it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from trialkit.simulation.ordinal_power import (
    SimulationInputError,
    simulate_power,
    validate_probabilities,
    validate_trials,
)

COLUMNS = [
    "cell",
    "common_or",
    "n_per_arm",
    "dropout",
    "ratio",
    "n_control",
    "n_treatment",
    "trials",
    "power",
    "ci95_low",
    "ci95_high",
    "whitehead_power",
    "median_estimated_or",
    "mean_analysed",
    "separated",
    "seed",
]


@dataclass(frozen=True)
class DesignCell:
    index: int
    common_or: float
    n_per_arm: int
    dropout: float
    ratio: float


def design_grid(
    odds_ratios: Sequence[float],
    sizes: Sequence[int],
    dropouts: Sequence[float] = (0.0,),
    ratios: Sequence[float] = (1.0,),
) -> list[DesignCell]:
    """Every combination, in the order odds ratio, size, dropout, ratio (the last varies fastest)."""
    for name, values in (
        ("--odds-ratios", odds_ratios),
        ("--n-per-arm", sizes),
        ("--dropouts", dropouts),
        ("--ratios", ratios),
    ):
        if not values:
            raise SimulationInputError(f"{name}: give at least one value")
    if any(v <= 0 for v in odds_ratios):
        raise SimulationInputError("--odds-ratios: every odds ratio must be > 0")
    if any(int(v) != v or v < 1 for v in sizes):
        raise SimulationInputError("--n-per-arm: every size must be a whole number ≥ 1")
    if any(not 0 <= v < 1 for v in dropouts):
        raise SimulationInputError("--dropouts: every dropout must be in [0, 1)")
    if any(v <= 0 for v in ratios):
        raise SimulationInputError("--ratios: every allocation ratio (treatment:control) must be > 0")
    combos = itertools.product(odds_ratios, sizes, dropouts, ratios)
    return [DesignCell(i, float(o), int(n), float(d), float(r)) for i, (o, n, d, r) in enumerate(combos)]


def cell_seeds(seed: int | None, count: int) -> list[int]:
    """One seed per cell, from ``SeedSequence(seed).spawn(count)``: cell i's depends on i and the seed only."""
    children = np.random.SeedSequence(seed).spawn(count)
    return [int(child.generate_state(1)[0]) for child in children]


def run_cell(cell: DesignCell, seed: int, control: Sequence[float], alpha: float, trials: int) -> dict[str, Any]:
    """One cell of the grid: ``simulate_power`` at its parameters (runs on a Dask worker)."""
    result = simulate_power(control, cell.common_or, cell.n_per_arm, cell.ratio, cell.dropout, alpha, trials, seed)
    return {
        "cell": cell.index,
        "common_or": cell.common_or,
        "n_per_arm": cell.n_per_arm,
        "dropout": cell.dropout,
        "ratio": cell.ratio,
        "n_control": result.n_control,
        "n_treatment": result.n_treatment,
        "trials": result.trials,
        "power": result.power,
        "ci95_low": result.ci95[0],
        "ci95_high": result.ci95[1],
        "whitehead_power": result.whitehead_power,
        "median_estimated_or": result.median_estimated_or,
        "mean_analysed": result.mean_analysed,
        "separated": result.separated,
        "seed": seed,
    }


@dataclass(frozen=True)
class DesignSearchResult:
    rows: list[dict[str, Any]]
    control: list[float]
    alpha: float
    trials: int
    seed: int | None
    workers: int | None  # Dask workers that ran it (None: in this process)
    scheduler: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_design_search(
    cells: Sequence[DesignCell],
    control: Sequence[float],
    alpha: float = 0.05,
    trials: int = 1000,
    seed: int | None = None,
    client: Any = None,
    progress: Callable[[int], None] | None = None,
) -> DesignSearchResult:
    """Simulate every cell, on the Dask ``client``'s workers if one is given; rows in grid order."""
    probabilities = [float(p) for p in validate_probabilities(control)]
    if not 0 < alpha < 1:
        raise SimulationInputError("--alpha: must be in (0, 1)")
    validate_trials(trials)
    seeds = cell_seeds(seed, len(cells))
    rows: list[dict[str, Any]] = []
    workers = scheduler = None
    if client is None:
        for cell, cell_seed in zip(cells, seeds):
            rows.append(run_cell(cell, cell_seed, probabilities, alpha, trials))
            if progress is not None:
                progress(1)
    else:
        from distributed import as_completed

        # Cells and their seeds are mapped together (keyword arguments are not mapped, only passed).
        # pure=False: a cell is never answered from another cell's cache, and each runs once.
        futures = client.map(
            run_cell, list(cells), seeds, control=probabilities, alpha=alpha, trials=trials, pure=False
        )
        for future in as_completed(futures):
            rows.append(future.result())
            if progress is not None:
                progress(1)
        workers = len(client.scheduler_info().get("workers", {}))
        scheduler = client.scheduler.address
    rows.sort(key=lambda row: row["cell"])
    return DesignSearchResult(rows, probabilities, float(alpha), int(trials), seed, workers, scheduler)


@contextmanager
def local_cluster(workers: int | None = None):
    """A Dask client on a LocalCluster of ``workers`` single-threaded processes (default: every core)."""
    from distributed import Client, LocalCluster

    count = workers or os.cpu_count() or 1
    # One thread per process: the simulator is numpy-bound and holds the GIL between array operations.
    # No dashboard: nothing listens on a port the operator did not ask for.
    with (
        LocalCluster(
            n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def remote_cluster(address: str):
    """A Dask client of an existing cluster (``tcp://host:8786``)."""
    from distributed import Client

    with Client(address, timeout="20s") as client:
        yield client


def write_csv(result: DesignSearchResult, path: str) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(result.rows)


def plot_design_search(result: DesignSearchResult, path: str) -> None:
    """Power against the control-arm size, one line per odds ratio, one panel per (dropout, ratio);
    error bars are the 95% Monte Carlo intervals; dotted line at 0.8, grey at alpha."""
    from matplotlib.figure import Figure

    panels = sorted({(r["dropout"], r["ratio"]) for r in result.rows})
    columns = min(len(panels), 3)
    lines = (len(panels) + columns - 1) // columns
    fig = Figure(figsize=(4.2 * columns, 3.4 * lines))
    axes = np.atleast_1d(fig.subplots(lines, columns, squeeze=False)).ravel()
    for ax, (dropout, ratio) in zip(axes, panels):
        for odds_ratio in sorted({r["common_or"] for r in result.rows}):
            rows = sorted(
                (r for r in result.rows if (r["dropout"], r["ratio"], r["common_or"]) == (dropout, ratio, odds_ratio)),
                key=lambda r: r["n_per_arm"],
            )
            n = [r["n_per_arm"] for r in rows]
            power = np.array([r["power"] for r in rows])
            errors = [power - [r["ci95_low"] for r in rows], [r["ci95_high"] for r in rows] - power]
            ax.errorbar(n, power, yerr=errors, fmt="o-", capsize=2, ms=3, label=f"OR {odds_ratio:g}")
        ax.axhline(result.alpha, color="grey", lw=0.8)
        ax.axhline(0.8, color="grey", lw=0.8, ls=":")
        ax.set_ylim(0, 1)
        ax.set_xlabel("control arm size (treatment = ratio × size)")
        ax.set_ylabel("power")
        ax.set_title(f"dropout {dropout:g}, ratio {ratio:g}:1", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"mRS shift power, {result.trials} trials per cell (seed {result.seed})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
