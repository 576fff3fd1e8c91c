"""``neurrator sweep`` on a Dask LocalCluster of 2 workers against the same grid run sequentially, in one run.

A 2 x 2 grid of a small notebook (each point one papermill run, its own kernel), twice over:
- ``light``: the notebook does almost nothing, so a point is mostly kernel start-up and papermill I/O;
- ``cpu-bound``: the notebook multiplies 1500 x 1500 matrices for a fixed number of rounds with BLAS
  on 2 threads (as the chain's training does), so two points at once compete for the same 2 cores.
Reported: wall time of each way and the ratio parallel / sequential (below 1: the workers help).

Usage: .venv/bin/python benchmarks/sweep_workers.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from measure import save

from neurrator.book.sweep import sweep

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
size = 0
rounds = 0

# %%
import numpy as np
from threadpoolctl import threadpool_limits

rng = np.random.default_rng(seed)
with threadpool_limits(2):
    a = rng.standard_normal((1500, 1500))
    for _ in range(rounds):
        a = np.tanh(a @ a / 1500)
print(float(a.sum()) if rounds else size)
'''


def timed(notebook: Path, grid: dict, scheduler: str, runs: Path) -> float:
    started = time.perf_counter()
    summary = sweep([notebook], grid, name=scheduler, runs_dir=runs, project_root=ROOT, scheduler=scheduler,
                    workers=2, progress=False)
    if (summary.outcomes["status"] != "ok").any():
        raise RuntimeError(f"a point failed:\n{summary.outcomes}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="matrix products per point in the cpu-bound case")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as work:
        notebook = Path(work) / "small.py"
        notebook.write_text(NOTEBOOK)
        for case, rounds in (("light", 0), ("cpu-bound", args.rounds)):
            grid = {"seed": [0, 1], "size": [1, 2], "rounds": rounds}
            sequential = timed(notebook, grid, "inprocess", Path(work) / case)
            parallel = timed(notebook, grid, "local", Path(work) / case)
            rows[case] = {"sequential_s": round(sequential, 1), "two_workers_s": round(parallel, 1),
                          "ratio_two_workers_to_sequential": round(parallel / sequential, 2)}
            print(f"{case:10s} sequential {sequential:6.1f} s   2 workers {parallel:6.1f} s   ratio {parallel / sequential:.2f}")
    print(save("sweep_workers", {"cores": os.cpu_count(), "points": 4, "rounds": args.rounds, "results": rows}))


if __name__ == "__main__":
    main()
