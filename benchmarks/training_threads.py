"""Torch threads and AdamW's implementation for the demo encoder's training on a CPU.

The real ``SpikeDecoder("patches").fit`` of chapter 03 (the demo preset, sparse-random split of its session, seed 0)
for ``--epochs`` epochs, each scenario in a fresh process: two torch threads with AdamW's per-tensor loop (the
settings before), one thread with the same loop, one thread with AdamW's fused CPU kernel (the settings now).
Each runs alone and beside a busy single-threaded process (a matrix product in a loop), as in ``make test``,
whose two workers share two cores; the scenarios are interleaved over ``--rounds`` rounds (the machine's speed
drifts). Reported: the fit's wall time and the process's CPU time (user and system), their medians, and the
ratio of each scenario's medians to the settings before, in the same run.
The loop and the fused kernel give different last bits (the fused kernel orders its arithmetic otherwise); so
do one and two threads. Numbers of the book change within the last digits: the chain was retrained.

Usage: .venv/bin/python benchmarks/training_threads.py [--epochs 2] [--rounds 3] [--data-dir DIR]   (about 8 minutes)
Inputs: notebooks 01_preprocess (binned sessions) and 02_targets (target store).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
from measure import run_isolated, save

SCENARIOS = {"2 threads, per-tensor AdamW (before)": (2, False), "1 thread, per-tensor AdamW": (1, False),
             "1 thread, fused AdamW (now)": (1, True)}
BEFORE = "2 threads, per-tensor AdamW (before)"

FIT = """
import resource, time, torch
from dataclasses import replace
from neurrator import profiles
from neurrator.data import allen, splits
from neurrator.data.binning import BinnedStimulus
from neurrator.layout import DataLayout
from neurrator.models.training import SpikeDecoder
from neurrator.vlm.targets import PatchTargetStore
if not {fused}:   # the per-tensor loop, as the solver built AdamW before
    _AdamW = torch.optim.AdamW
    torch.optim.AdamW = lambda *a, fused=None, **k: _AdamW(*a, **k)
layout = DataLayout.resolve({data_dir!r}, "demo", create=False)
enc, tr = profiles.get("demo").encoder_preset(seed=0)
tr = replace(tr, max_epochs={epochs}, patience={epochs}, threads={threads})
session = int(allen.session_pools(layout)["visual units"].idxmax())
conditions = splits.heldout_conditions("natural_movie_one", "natural_movie_three", "natural_scenes", ["sparse_random"],
                                       [], [])
conditions = {{"sparse_random": conditions["sparse_random"]}}
binned = {{"natural_movie_one": BinnedStimulus.of_session(layout, session, "natural_movie_one")}}
run = splits.heldout_windows(conditions, binned, allen_cache=layout.allen_cache, seed=0, fractions=(0.7, 0.15, 0.15),
                             jitter=tr.jitter, neuron_dropout=tr.neuron_dropout)["sparse_random"]
targets = PatchTargetStore(layout.targets).open("natural_movie_one")
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
decoder = SpikeDecoder("patches", enc, tr, progress=False).fit(run.train, run.val, targets)
wall = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
_result = {{"wall_s": round(wall, 2), "user_s": round(after.ru_utime - before.ru_utime, 2),
           "system_s": round(after.ru_stime - before.ru_stime, 2),
           "val_score": round(float(decoder.history_["val_score"].iloc[-1]), 4)}}
"""

BUSY = "import numpy as np\na = np.random.default_rng(0).random((1500, 1500))\nwhile True:\n    a = (a @ a) / 1500.0\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each scenario (medians are reported)")
    parser.add_argument("--data-dir", default=os.environ.get("NEURRATOR_DATA"))
    args = parser.parse_args()
    one_thread = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    os.environ.update(one_thread)   # as `make test` runs the chain
    runs: dict[str, list[dict]] = {}
    for beside in (False, True):
        busy = subprocess.Popen([sys.executable, "-c", BUSY], env={**os.environ, **one_thread}) if beside else None
        try:
            time.sleep(1 if beside else 0)
            for round_ in range(args.rounds):   # the scenarios interleaved, in a rotated order each round
                names = list(SCENARIOS)
                for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                    threads, fused = SCENARIOS[name]
                    key = f"{name}, {'beside a busy process' if beside else 'alone'}"
                    runs.setdefault(key, []).append(
                        run_isolated(FIT.format(data_dir=args.data_dir, epochs=args.epochs, threads=threads, fused=fused)))
                    print(key, runs[key][-1], flush=True)
        finally:
            if busy:
                busy.kill()
    medians = {key: {field: float(np.median([r[field] for r in rs])) for field in ("wall_s", "user_s", "system_s")}
               for key, rs in runs.items()}
    ratios = {}
    for where in ("alone", "beside a busy process"):
        ref = medians[f"{BEFORE}, {where}"]
        for name in SCENARIOS:
            if name != BEFORE:
                r = medians[f"{name}, {where}"]
                ratios[f"{name} over before, {where}: wall"] = round(r["wall_s"] / ref["wall_s"], 3)
                ratios[f"{name} over before, {where}: CPU"] = round((r["user_s"] + r["system_s"]) /
                                                                  (ref["user_s"] + ref["system_s"]), 3)
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), "?")
    path = save("training_threads", {"machine": {"cpu": model, "cores": os.cpu_count()}, "epochs": args.epochs,
                                     "command": "benchmarks/training_threads.py " + " ".join(sys.argv[1:]),
                                     "medians": medians, "ratios": ratios, "runs": runs})
    print(path)
    for key, value in ratios.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
