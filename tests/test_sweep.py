"""Sweeps on Dask: the notebook grid (``neurrator sweep``) and the in-notebook map, on a LocalCluster."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cloudpickle
import pytest

from neurrator import scheduler
from neurrator.book.sweep import expand_grid, point_name, sweep

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile = "demo"
data_dir = None
seed = 0
scale = 3
labels = ["a"]

# %%
import numpy as np
import pandas as pd

from neurrator.evaluation import results
from neurrator.layout import DataLayout

if seed == 1 and scale == 4:
    raise ValueError("a deliberately failing point")
layout = DataLayout.resolve(data_dir, profile)
value = float(np.random.default_rng(seed).normal(size=scale).sum())
table = pd.DataFrame({"value": [round(value, 6)]}, index=["sum"])
results.record(layout, "tiny", {"numbers": results.table_record(table, {"value": results.EXACT})})
print(f"seed {seed} scale {scale}: {value:.6f}; labels {'+'.join(labels)}")
'''


@pytest.fixture(scope="module")
def tiny_notebook(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep_notebook") / "tiny.py"
    path.write_text(NOTEBOOK)
    return path


def test_grids_cross_lists_and_keep_fixed_values():
    points, varying = expand_grid({"seed": [0, 1], "session_id": [7, 8], "profile": "paper"})
    assert varying == ["seed", "session_id"] and len(points) == 4
    assert points[1] == {"profile": "paper", "seed": 0, "session_id": 8}
    assert point_name(points[1], varying) == "seed=0,session_id=8"
    assert point_name({"x": "a b/c"}, ["x"]) == "x=a_b_c"
    with pytest.raises(ValueError, match="no values"):
        expand_grid({"seed": []})
    with pytest.raises(ValueError, match="empty"):
        expand_grid({})


def _stdout(notebook: Path) -> str:
    nb = json.loads(notebook.read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []) if o.get("name") == "stdout")


def test_a_grid_on_two_workers_equals_the_sequential_run_resumes_and_reports_a_failure(tiny_notebook, tmp_path):
    grid = {"seed": [0, 1], "scale": [3, 4]}
    parallel = sweep([tiny_notebook], grid, name="tiny", runs_dir=tmp_path / "dask", project_root=ROOT,
                     scheduler="local", workers=2, progress=False)
    sequential = sweep([tiny_notebook], grid, name="tiny", runs_dir=tmp_path / "seq", project_root=ROOT,
                       scheduler="inprocess", progress=False)
    for summary in (parallel, sequential):
        status = dict(zip(summary.outcomes["point"], summary.outcomes["status"]))
        assert status == {"seed=0,scale=3": "ok", "seed=0,scale=4": "ok", "seed=1,scale=3": "ok", "seed=1,scale=4": "failed"}
        (failed,) = summary.failed.itertuples()
        assert "tiny" in failed.error and "cell" in failed.error and "deliberately failing" in failed.error
        assert Path(failed.log).is_file() and "FAILED" in Path(failed.log).read_text()
    for point in ("seed=0,scale=3", "seed=0,scale=4", "seed=1,scale=3"):
        a, b = (s.folder / point for s in (parallel, sequential))
        assert _stdout(a / "notebooks" / "tiny.ipynb") == _stdout(b / "notebooks" / "tiny.ipynb") != ""
        assert json.loads((a / "results" / "tiny.json").read_text())["tables"] == \
            json.loads((b / "results" / "tiny.json").read_text())["tables"]
        assert (a / "data" / "demo" / "results" / "tiny.json").is_file()       # each point its own data directory
    merged = parallel.results
    assert sorted(merged["point"].unique()) == ["seed=0,scale=3", "seed=0,scale=4", "seed=1,scale=3"]
    assert (parallel.folder / "results.csv").is_file() and (parallel.folder / "outcomes.csv").is_file()

    again = sweep([tiny_notebook], grid, name="tiny", runs_dir=tmp_path / "dask", project_root=ROOT,
                  scheduler="inprocess", progress=False)
    assert sorted(again.outcomes["status"]) == ["skipped (done)"] * 3 + ["skipped (failed earlier)"]
    retried = sweep([tiny_notebook], grid, name="tiny", runs_dir=tmp_path / "dask", project_root=ROOT,
                    scheduler="inprocess", retry_failed=True, progress=False)
    assert dict(zip(retried.outcomes["point"], retried.outcomes["status"]))["seed=1,scale=4"] == "failed"
    assert (retried.outcomes["status"] == "skipped (done)").sum() == 3


def test_unknown_grid_parameters_are_refused_before_anything_runs(tiny_notebook, tmp_path):
    from neurrator.book.runner import UnknownParameter

    with pytest.raises(UnknownParameter, match="sed"):
        sweep([tiny_notebook], {"sed": [0, 1]}, name="x", runs_dir=tmp_path, project_root=ROOT, scheduler="inprocess")
    assert not (tmp_path / "x").exists()


def _square_plus(point, offset, counter):
    return point * point + offset, os.getpid(), next(counter)


def test_map_grid_on_a_local_cluster_builds_per_worker_objects_once_and_keeps_point_order():
    import itertools

    points = list(range(12))
    here = scheduler.map_grid(_square_plus, points, shared={"offset": 1}, per_worker={"counter": itertools.count},
                              progress=False)
    assert [r[0] for r in here] == [p * p + 1 for p in points] and [r[2] for r in here] == points
    cloudpickle.register_pickle_by_value(sys.modules[__name__])      # workers cannot import this test module
    try:
        with scheduler.client_for("local", workers=2) as client:
            there = scheduler.map_grid(_square_plus, points, client=client, shared={"offset": 1},
                                       per_worker={"counter": itertools.count}, progress=False)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [r[0] for r in there] == [r[0] for r in here]
    by_worker: dict[int, list[int]] = {}
    for _, pid, count in there:
        by_worker.setdefault(pid, []).append(count)
    assert os.getpid() not in by_worker
    for counts in by_worker.values():                                  # one counter per worker, never rebuilt
        assert sorted(counts) == list(range(len(counts)))


def test_a_failing_point_is_raised_after_the_others_finished():
    def boom(point):
        if point == 2:
            raise ValueError("point 2 is bad")
        return point

    with pytest.raises(ValueError, match="point 2"):
        scheduler.map_grid(boom, [1, 2, 3], progress=False)


def test_the_slurm_job_script_asks_for_the_gpu_cores_memory_and_walltime():
    script = scheduler.job_script("slurm", cores=8, memory="64GB", gpus=1, walltime="04:00:00", queue="gpu")
    lines = script.splitlines()
    assert "#SBATCH --cpus-per-task=8" in lines and "#SBATCH -t 04:00:00" in lines and "#SBATCH -p gpu" in lines
    assert "#SBATCH --gres=gpu:1" in lines and any(line.startswith("#SBATCH --mem=") for line in lines)
    assert "--resources GPU=1" in script
    pbs = scheduler.job_script("pbs", cores=4, memory="32GB", gpus=1, job_extra_directives=["-l ngpus=1"])
    assert "#PBS -l ngpus=1" in pbs and "GPU=1" in pbs
    with pytest.raises(ValueError, match="differs between sites"):
        scheduler.job_script("pbs", cores=4, memory="32GB", gpus=1)
    with pytest.raises(ValueError, match="unknown cluster kind"):
        scheduler.job_script("kubernetes")


def test_a_bad_scheduler_name_is_refused():
    with pytest.raises(ValueError, match="tcp://host:8786"):
        with scheduler.client_for("localhost"):
            pass


def test_an_unreachable_scheduler_is_one_line_naming_the_address():
    import socket

    with socket.socket() as probe:                      # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ValueError, match=rf"^cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 2s .*"
                                         r"leave --scheduler out"):
        with scheduler.client_for(f"tcp://127.0.0.1:{port}", connect_timeout="2s"):
            pass


def test_fixed_parameters_are_passed_as_they_are_and_a_shared_data_dir_runs_points_one_at_a_time(tiny_notebook, tmp_path):
    summary = sweep([tiny_notebook], {"seed": [0]}, fixed={"labels": ["x", "y"]}, name="fixed", runs_dir=tmp_path,
                    project_root=ROOT, scheduler="inprocess", progress=False)
    assert list(summary.outcomes["status"]) == ["ok"]
    assert "labels x+y" in _stdout(summary.folder / "seed=0" / "notebooks" / "tiny.ipynb")
    with pytest.raises(ValueError, match="overwrite each other"):
        sweep([tiny_notebook], {"seed": [0, 1]}, fixed={"data_dir": str(tmp_path / "shared")}, name="shared",
              runs_dir=tmp_path, project_root=ROOT, scheduler="local", progress=False)
    with pytest.raises(ValueError, match="cluster"):
        sweep([tiny_notebook], {"seed": [0, 1]}, name="gpus", runs_dir=tmp_path, project_root=ROOT,
              scheduler="inprocess", batch={"gpus": 1}, progress=False)
