"""Design search on Dask: the same seed gives the same table whatever the number of workers, and every
cell is the single-run `trialkit simulate power` at its parameters and reported seed."""

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.simulation import simulate_power
from trialkit.simulation.design_search import cell_seeds, design_grid, local_cluster, run_design_search
from trialkit.simulation.ordinal_power import SimulationInputError

CONTROL = [0.05, 0.10, 0.15, 0.25, 0.20, 0.15, 0.10]
GRID = dict(odds_ratios=[1.0, 2.0], sizes=[20, 35], dropouts=[0.0, 0.1], ratios=[1.0, 2.0])


def test_the_grid_is_every_combination_in_a_fixed_order():
    cells = design_grid(**GRID)
    assert len(cells) == 16 and [c.index for c in cells] == list(range(16))
    assert (cells[0].common_or, cells[0].n_per_arm, cells[0].dropout, cells[0].ratio) == (1.0, 20, 0.0, 1.0)
    assert (cells[1].ratio, cells[2].dropout, cells[4].n_per_arm, cells[8].common_or) == (2.0, 0.1, 35, 2.0)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"odds_ratios": [0]}, "--odds-ratios"),
        ({"sizes": [10.5]}, "--n-per-arm"),
        ({"dropouts": [1.0]}, "--dropouts"),
        ({"ratios": [-1]}, "--ratios"),
        ({"sizes": []}, "at least one value"),
    ],
)
def test_a_bad_grid_names_the_setting(changes, message):
    with pytest.raises(SimulationInputError, match=message):
        design_grid(**{**GRID, **changes})


def test_cell_seeds_depend_on_the_index_and_seed_only():
    # SeedSequence.spawn: child i's state is the same however many children are spawned.
    assert cell_seeds(7, 3) == cell_seeds(7, 10)[:3]
    assert cell_seeds(7, 3) != cell_seeds(8, 3)


@pytest.mark.slow  # slow: starts a Dask cluster; make test-all and CI run it
def test_one_worker_and_two_workers_give_identical_tables_equal_to_simulate_power():
    cells = design_grid([1.0, 2.0], [20, 35], [0.0, 0.1], [1.0])
    serial = run_design_search(cells, CONTROL, trials=300, seed=42)
    with local_cluster(1) as client:
        one = run_design_search(cells, CONTROL, trials=300, seed=42, client=client)
    with local_cluster(2) as client:
        ticks = []
        two = run_design_search(cells, CONTROL, trials=300, seed=42, client=client, progress=ticks.append)
    assert one.workers == 1 and two.workers == 2 and sum(ticks) == len(cells)
    assert one.rows == two.rows == serial.rows
    # Each cell is the single-run engine at the same parameters and the cell's seed.
    for row in two.rows:
        single = simulate_power(
            CONTROL, row["common_or"], row["n_per_arm"], row["ratio"], row["dropout"], 0.05, 300, row["seed"]
        )
        assert (row["power"], row["ci95_low"], row["ci95_high"], row["separated"], row["median_estimated_or"]) == (
            single.power,
            single.ci95[0],
            single.ci95[1],
            single.separated,
            single.median_estimated_or,
        )
    # With OR = 2 power grows with n (the level at OR = 1 is checked against Whitehead and alpha by the
    # power tests, with more trials than this one runs).
    by_n = {r["n_per_arm"]: r["power"] for r in two.rows if r["common_or"] == 2.0 and r["dropout"] == 0.0}
    assert by_n[35] > by_n[20]


@pytest.mark.slow  # slow: starts a Dask cluster; make test-all and CI run it
def test_the_cli_writes_json_csv_and_the_figure(tmp_path):
    table, figure = tmp_path / "design.csv", tmp_path / "power.png"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "design",
            "--control",
            ",".join(map(str, CONTROL)),
            "--odds-ratios",
            "1.5,2.5",
            "--n-per-arm",
            "25",
            "--ratios",
            "1,3",
            "--trials",
            "200",
            "--seed",
            "5",
            "--workers",
            "1",
            "--output",
            str(table),
            "--plot",
            str(figure),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(r["common_or"], r["ratio"], r["n_treatment"]) for r in data["rows"]] == [
        (1.5, 1.0, 25),
        (1.5, 3.0, 75),
        (2.5, 1.0, 25),
        (2.5, 3.0, 75),
    ]
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["power"]) for r in rows] == [r["power"] for r in data["rows"]]
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.all(np.diff([r["whitehead_power"] for r in data["rows"][:2]]) > 0)  # 3:1 with more people


def test_the_cli_refuses_bad_settings_before_starting_a_cluster():
    runner = CliRunner()
    bad = runner.invoke(app, ["simulate", "design", "--control", "0.5,0.6", "--odds-ratios", "2", "--n-per-arm", "20"])
    assert bad.exit_code != 0 and "--control" in bad.output
    both = runner.invoke(
        app,
        [
            "simulate",
            "design",
            "--control",
            "0.5,0.5",
            "--odds-ratios",
            "2",
            "--n-per-arm",
            "20",
            "--workers",
            "2",
            "--scheduler",
            "tcp://127.0.0.1:1",
        ],
    )
    assert both.exit_code != 0 and "--workers" in both.output


@pytest.mark.slow  # slow: starts a Dask cluster; make test-all and CI run it
def test_scheduler_runs_the_grid_on_an_existing_cluster_with_the_same_table():
    from distributed import LocalCluster

    args = [
        "simulate",
        "design",
        "--control",
        ",".join(map(str, CONTROL)),
        "--odds-ratios",
        "2",
        "--n-per-arm",
        "20,30",
        "--trials",
        "150",
        "--seed",
        "9",
        "--format",
        "json",
    ]
    # An existing cluster, reached by its address as a cluster of many machines would be.
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, scheduler_port=8623, dashboard_address=None
    ) as cluster:
        result = CliRunner().invoke(app, [*args, "--scheduler", cluster.scheduler_address])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["scheduler"] == cluster.scheduler_address and data["workers"] == 1
    cells = design_grid([2.0], [20, 30])
    assert data["rows"] == run_design_search(cells, CONTROL, trials=150, seed=9).rows
