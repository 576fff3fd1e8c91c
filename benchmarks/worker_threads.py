"""Threads per xdist worker in ``make test``: the paper chain on its stand-ins (tests/test_paper_chain.py: every
notebook 00-08 executed end to end, a fair sample of the chain's work: world, targets, training, narration,
SBERT, CEBRA, the SAE) with torch's, OpenBLAS's and MKL's default thread count and with one thread, alone and
as two copies side by side (the two workers of ``make test`` on the cores). Wall time, and the CPU time the
runs took (user and system) from the children's resource usage.

Usage: .venv/bin/python benchmarks/worker_threads.py [--alone-only]   (about 25 minutes on 2 cores; 9 alone)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import save

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _chain(env: dict, basetemp: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pytest", "tests/test_paper_chain.py", "-q", "-p", "no:randomly",
                             "-p", "no:cacheprovider", f"--basetemp={basetemp}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _run(threads: str, copies: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ONE_THREAD} | {"OMP_WAIT_POLICY": "PASSIVE"}
    if threads == "one":
        env |= ONE_THREAD
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [_chain(env, f"{tmp}/copy{i}") for i in range(copies)]
        codes = [run.wait() for run in runs]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if any(codes):
        raise RuntimeError(f"the paper chain failed under {threads} thread(s) x {copies}: exit codes {codes}")
    return {"wall_s": round(wall, 1), "user_s": round(after.ru_utime - before.ru_utime, 1),
            "system_s": round(after.ru_stime - before.ru_stime, 1)}


def main() -> None:
    copies = (1,) if "--alone-only" in sys.argv else (1, 2)
    result = {"cores": os.cpu_count(), "command": "cd benchmarks && ../.venv/bin/python worker_threads.py", "runs": {}}
    for n in copies:
        for threads in ("default", "one"):
            key = f"{threads} thread(s), {'alone' if n == 1 else 'two side by side'}"
            result["runs"][key] = _run(threads, n)
            print(key, json.dumps(result["runs"][key]), flush=True)
    runs = result["runs"]
    for setting in ("alone", "two side by side"):
        default, one = runs.get(f"default thread(s), {setting}"), runs.get(f"one thread(s), {setting}")
        if default and one:
            result[f"{setting}: wall, default over one thread"] = round(default["wall_s"] / one["wall_s"], 2)
            result[f"{setting}: CPU, default over one thread"] = round(
                (default["user_s"] + default["system_s"]) / (one["user_s"] + one["system_s"]), 2)
    print("saved", save("worker_threads", result))


if __name__ == "__main__":
    main()
