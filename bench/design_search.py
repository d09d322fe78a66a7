"""Benchmark: the design search on a local Dask cluster of 1 worker, then of every core.

A grid of 4 odds ratios × 3 sizes × 2 dropouts × 2 allocation ratios (48 cells) of 1000 trials each,
run on each cluster after it has started (start-up is timed apart); prints the speed-up and checks
that both tables are identical (one seed per cell, whatever the workers).

    python bench/design_search.py [--trials 1000]
"""

from __future__ import annotations

import argparse
import os
import time

from trialkit.simulation.design_search import design_grid, local_cluster, run_design_search

CONTROL = [0.05, 0.10, 0.15, 0.25, 0.20, 0.15, 0.10]


def timed(workers: int, cells, trials: int):
    start = time.perf_counter()
    with local_cluster(workers) as client:
        client.submit(sum, [1], pure=False).result()  # workers up and answering
        ready = time.perf_counter()
        result = run_design_search(cells, CONTROL, trials=trials, seed=2024, client=client)
        done = time.perf_counter()
    return result, ready - start, done - ready


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000, help="trials per cell")
    args = parser.parse_args()
    cells = design_grid([1.0, 1.5, 2.0, 2.5], [30, 45, 60], [0.0, 0.1], [1.0, 2.0])
    cores = os.cpu_count() or 1
    one, start_one, run_one = timed(1, cells, args.trials)
    many, start_many, run_many = timed(cores, cells, args.trials)
    print(f"design search: {len(cells)} cells x {args.trials} trials")
    print(f"1 worker: {run_one:.2f} s (cluster start {start_one:.1f} s)")
    print(f"{cores} workers (every core): {run_many:.2f} s (cluster start {start_many:.1f} s)")
    print(f"speed-up 1 -> {cores} workers: {run_one / run_many:.2f}x")
    print(f"identical tables: {one.rows == many.rows}")
    if one.rows != many.rows:
        raise SystemExit("the tables differ between 1 and all workers")


if __name__ == "__main__":
    main()
