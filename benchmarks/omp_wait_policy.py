"""OpenMP's wait policy when two processes share the cores, as in ``make test`` (two xdist workers).

torch's OpenMP threads spin while they wait for work (``OMP_WAIT_POLICY`` ACTIVE, the default); when
another process holds a core, a spinning thread takes time the working one needs. This times two
torch workloads of the chain, each in a fresh process with 2 threads, alone and beside a busy process,
under the default policy and under PASSIVE, and checks that the results are the same bits:
the demo world's float64 mid-level features (64 frames) and 40 training steps of a small
convolutional network. Usage: .venv/bin/python benchmarks/omp_wait_policy.py   (about 2 minutes)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from measure import save

WORKLOAD = r"""
import hashlib, json, sys, time
import numpy as np, torch
torch.set_num_threads(2)
kind = sys.argv[1]
if kind == "midlevel features":
    from neurrator.world.neurons import midlevel_features
    from neurrator.world.stimuli import build_stimuli
    frames = build_stimuli(movie_three_frames=60, n_scenes=6, progress=False).arrays()["natural_movie_one"][:64]
    midlevel_features(frames[:2])
    start = time.perf_counter()
    out = midlevel_features(frames)
else:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv1d(64, 128, 5, padding=2), torch.nn.GELU(), torch.nn.Conv1d(128, 128, 5, padding=2))
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x = torch.randn(64, 64, 400)
    start = time.perf_counter()
    for _ in range(40):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
    out = torch.cat([p.detach().flatten() for p in net.parameters()]).numpy()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "sha256": hashlib.sha256(np.ascontiguousarray(out).tobytes()).hexdigest()}))
"""


def _run(kind: str, policy: str | None, busy: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | ({"OMP_WAIT_POLICY": policy} if policy else {})
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        done = subprocess.run([sys.executable, "-c", WORKLOAD, kind], capture_output=True, text=True, env=env, timeout=900)
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    result = {"cores": os.cpu_count()}
    for kind in ("midlevel features", "training steps"):
        rows = {f"{policy or 'default'}, {'beside a busy process' if busy else 'alone'}": _run(kind, policy, busy)
                for policy in (None, "PASSIVE") for busy in (False, True)}
        hashes = {row.pop("sha256") for row in rows.values()}
        for row in rows.values():
            row["seconds"] = round(row["seconds"], 2)
        result[kind] = {"runs": rows, "same_results": len(hashes) == 1,
                        "busy_speedup_passive_over_default": round(rows["default, beside a busy process"]["seconds"]
                                                                   / rows["PASSIVE, beside a busy process"]["seconds"], 2),
                        "alone_cost_passive_over_default": round(rows["PASSIVE, alone"]["seconds"]
                                                                 / rows["default, alone"]["seconds"], 2)}
        print(kind, json.dumps(result[kind]), flush=True)
    print("saved", save("omp_wait_policy", result))


if __name__ == "__main__":
    main()
