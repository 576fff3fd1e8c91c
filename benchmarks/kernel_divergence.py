"""Where does the chain stop being bit-identical when the CPU kernels change?

Runs the demo chain's stages in fresh processes under several kernel settings (torch's
``ATEN_CPU_CAPABILITY``, oneDNN's ISA cap, OpenBLAS's core type and threads, numpy's SIMD
dispatch), hashes each intermediate artifact and reports the first one that differs from the
native run. Stages: stimuli -> working luminance -> mid-level features -> unit drives -> frame
rates -> spikes (two whole sessions: a wild-type and an Sst one) -> optotagging ratios -> target
grids (64 frames) -> a short encoder fit (weights) -> its predictions.

The raw unit drives are float64 sums whose last bits follow the BLAS kernel; they are rounded
(``quantize_drive``) before the rates, so the rates and spikes after them must still agree.

A different processor changes the same kernels that these switches change on one machine, so a
stage that survives every switch here is expected to survive a move to another x86-64 CPU.

Usage: .venv/bin/python benchmarks/kernel_divergence.py [--settings native,aten-default,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from measure import save

#: kernel settings: environment variables read when the libraries load (so each runs in its own process)
SETTINGS = {
    "native": {},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "onednn-sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "openblas-sandybridge-1thread": {"OPENBLAS_CORETYPE": "SandyBridge", "OPENBLAS_NUM_THREADS": "1"},
    "numpy-no-avx2": {"NPY_DISABLE_CPU_FEATURES": "AVX2 FMA3 F16C AVX"},
    "all-generic": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Prescott",
                    "OPENBLAS_NUM_THREADS": "1", "NPY_DISABLE_CPU_FEATURES": "AVX2 FMA3 F16C AVX"},
}

STAGES = """
import hashlib, json, sys
import numpy as np
import torch

def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]

out = {"torch capability": torch.backends.cpu.get_cpu_capability()}
from neurrator.world import simulate as sim
from neurrator.world.neurons import StimulusDrives, midlevel_features, unit_drives, working_luminance
from neurrator.world.stimuli import build_stimuli

config = sim.WorldConfig()
stimuli = build_stimuli(config.movie_three_frames, config.n_scenes, seed=config.seed, progress=False)
arrays = stimuli.arrays()
out["stimuli"] = digest(*arrays.values())
out["working luminance"] = digest(*(working_luminance(f) for f in arrays.values()))
drives = {name: StimulusDrives.from_frames(f, stimuli.frame_info[name]["vehicle"].to_numpy(bool))
          for name, f in arrays.items()}
out["mid-level features"] = digest(*(d.midlevel for d in drives.values()))
layouts = [sim.layout_session(k, g, config) for k, g in enumerate(config.genotypes)]
import pandas as pd
all_units = pd.concat([l.units for l in layouts], ignore_index=True)
raw = {name: unit_drives(all_units, d) for name, d in drives.items()}
out["unit drives"] = digest(*raw.values())
lengths = (len(stimuli.movie_one), len(stimuli.movie_three))
start, rates, spikes, sessions = 0, [], [], {}
for k, layout in enumerate(layouts):
    cols = slice(start, start + len(layout.units))
    start += len(layout.units)
    session_drives = {n: v[:, cols] for n, v in raw.items()}
    rates.extend(sim.frame_rates(layout.units, session_drives).values())
    if k in (0, 4):
        session, _ = sim.simulate_session(layout, config, session_drives, lengths)
        spikes.extend(session.spike_times[u] for u in sorted(session.spike_times))
        sessions[k] = session
out["frame rates"] = digest(*rates)
out["spikes (sessions 0 and 4)"] = digest(*spikes)
out["spike count"] = int(sum(len(s) for s in spikes))

from neurrator.vlm.efficientnet import EfficientNetGrid
grids = EfficientNetGrid().grids(arrays["natural_movie_one"][:64])
out["target grids (64 frames)"] = digest(grids.astype(np.float16))

torch.manual_seed(0)
from neurrator.models.encoder import NeurratorEncoder, patch_loss
torch.set_num_threads(2)
model = NeurratorEncoder(n_neurons=64, n_patches=49, patch_dim=1280, d_model=64, conv_channels=32, heads=4, dropout=0.0)
opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
g = torch.Generator().manual_seed(1)
x = torch.randn(32, 20, 64, generator=g)
y = torch.from_numpy(grids[:32].astype(np.float32))
for _ in range(20):
    opt.zero_grad()
    loss = patch_loss(model(x), y)
    loss.backward()
    opt.step()
out["encoder weights (20 steps)"] = digest(*(p.detach().numpy() for p in model.parameters()))
with torch.no_grad():
    out["encoder predictions"] = digest(model(x).numpy())
print(json.dumps(out))
"""


def run_setting(env_overrides: dict) -> dict:
    env = {**os.environ, **env_overrides}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", STAGES], capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"stages failed under {env_overrides}:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def first_divergence(reference: dict, other: dict) -> str | None:
    """Name of the first hashed stage whose digest differs (dicts keep the stage order)."""
    for key, value in reference.items():
        if key in ("seconds", "torch capability", "spike count"):
            continue
        if other.get(key) != value:
            return key
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, from {list(SETTINGS)}")
    args = parser.parse_args()
    names = args.settings.split(",")
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown setting(s) {unknown}; choose from {list(SETTINGS)}")
    if "native" not in names:
        names.insert(0, "native")
    results = {}
    for name in names:
        results[name] = run_setting(SETTINGS[name])
        print(f"{name:>30}: {results[name]['seconds']} s", flush=True)
    reference = results["native"]
    report = {name: {"environment": SETTINGS[name], "first divergent stage": first_divergence(reference, r),
                     "digests": r} for name, r in results.items()}
    for name, entry in report.items():
        print(f"{name:>30}: first divergent stage = {entry['first divergent stage']}")
    print("saved", save("kernel_divergence", report))


if __name__ == "__main__":
    main()
