"""The demo world's spikes do not depend on the CPU kernels (the same seed gives the same spikes on
any x86-64 machine).

Another processor changes the kernels that torch, oneDNN, OpenBLAS and numpy dispatch to; on one
machine the same switch is made with their environment variables, read when each library loads,
so every setting runs in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from neurrator.book.environment import KERNEL_VARIABLES

#: generic kernels everywhere: torch's scalar ATen build, oneDNN capped at SSE4.1, OpenBLAS's oldest
#: core type on one thread, numpy without its AVX dispatch
GENERIC_KERNELS = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Prescott",
                   "OPENBLAS_NUM_THREADS": "1", "NPY_DISABLE_CPU_FEATURES": "AVX2 FMA3 F16C AVX"}

SMALL_WORLD = """
import hashlib, json
import numpy as np
import torch
from neurrator.world import simulate as sim
from neurrator.world.neurons import StimulusDrives, unit_drives
from neurrator.vlm.efficientnet import load_efficientnet_lite0, preprocess

def digest(arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()

config = sim.WorldConfig(genotypes=("Sst",), units_per_session=64, movie_one_repeats=2, movie_three_repeats=1,
                         scene_repeats=1, n_scenes=6, opto_trials_per_condition=6)
rng = np.random.default_rng(7)
def frames(n):  # smooth random images: coarse integer grids, upsampled
    coarse = rng.integers(0, 256, (n, 19, 38), dtype=np.uint8)
    return np.kron(coarse, np.ones((16, 16), np.uint8))
stimuli = {"natural_movie_one": frames(12), "natural_movie_three": frames(8), "natural_scenes": frames(6)}
drives = {name: StimulusDrives.from_frames(f, rng.random(len(f)) < 0.3) for name, f in stimuli.items()}
layout = sim.layout_session(0, "Sst", config)
raw = {name: unit_drives(layout.units, d) for name, d in drives.items()}
session, _ = sim.simulate_session(layout, config, raw, (12, 8))
with torch.inference_mode():  # the float32 network, as a check that the kernel switch took effect
    float32 = load_efficientnet_lite0()._conv_stem(preprocess(stimuli["natural_scenes"])).numpy()
print(json.dumps({
    "capability": torch.backends.cpu.get_cpu_capability(),
    "float32 features": digest([float32]),
    "mid-level features": digest(d.midlevel for d in drives.values()),
    "spikes": digest(session.spike_times[u] for u in sorted(session.spike_times)),
    "spike count": int(sum(len(s) for s in session.spike_times.values())),
}))
"""


def _run(env_overrides: dict) -> dict:
    """SMALL_WORLD in a fresh process with the machine's native kernels plus ``env_overrides`` (kernel
    variables of the caller, e.g. a CI run under generic kernels, are dropped first)."""
    env = {k: v for k, v in os.environ.items() if k not in KERNEL_VARIABLES} | env_overrides
    done = subprocess.run([sys.executable, "-c", SMALL_WORLD], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def native_and_generic():
    return _run({}), _run(GENERIC_KERNELS)


def test_kernel_switch_changes_float32_results(native_and_generic):
    """The instrument works: under generic kernels a float32 convolution gives other bits."""
    native, generic = native_and_generic
    assert generic["capability"] == "DEFAULT"
    assert native["float32 features"] != generic["float32 features"]


def test_same_seed_gives_same_spikes_under_other_kernels(native_and_generic):
    native, generic = native_and_generic
    assert native["spike count"] > 1000
    assert native["mid-level features"] == generic["mid-level features"]
    assert native["spikes"] == generic["spikes"]
