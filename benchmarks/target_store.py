"""Patch-target store: write throughput and peak memory, and the memory of reading random batches.

Compares, each scenario in a fresh process:
- writing a 900-frame store with the demo backend (frames/s, peak RSS);
- reading 20 random batches of 64 frames from the float16 store (positioned reads), for a 900- and a 3600-frame
  store (peak RSS must stay below the model + 2 batches, whatever the store size);
- the reference implementation's approach: the whole patch table loaded into RAM as float32.

Usage: .venv/bin/python benchmarks/target_store.py [--frames 900] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import tempfile

from measure import run_isolated, save

SETUP = """
import numpy as np, time, torch
from neurrator.world.images import packaged_photographs, ALLEN_FRAME_SHAPE
from neurrator.vlm.targets import PatchTargetStore, StoredTargets

def panning_movie(n_frames):
    # a movie of slow pans across the packaged photographs (deterministic)
    photos, _ = packaged_photographs(shape=(ALLEN_FRAME_SHAPE[0] + 40, ALLEN_FRAME_SHAPE[1] + 80))
    frames = np.empty((n_frames, *ALLEN_FRAME_SHAPE), np.uint8)
    for i in range(n_frames):
        photo = photos[(i // 60) % len(photos)]
        t = (i % 60) / 59
        frames[i] = photo[int(40 * t):int(40 * t) + ALLEN_FRAME_SHAPE[0], int(80 * t):int(80 * t) + ALLEN_FRAME_SHAPE[1]]
    return frames
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=900)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="store-bench-")
    n, big = args.frames, 4 * args.frames

    write = run_isolated(SETUP + f"""
from neurrator.vlm.demo import DemoBackend
frames = panning_movie({n})
backend = DemoBackend(cache_dir={work!r} + "/models")
torch.set_num_threads(torch.get_num_threads())
start = time.perf_counter()
PatchTargetStore({work!r}).write("movie", frames, backend, chunk_size=32, progress=False)
seconds = time.perf_counter() - start
_result = dict(frames={n}, seconds=round(seconds, 1), frames_per_s=round({n} / seconds, 1))
""")
    # a 4x longer store in the same format (random values: only the size matters for reading)
    run_isolated(SETUP + f"""
from neurrator.artifacts import write_artifact
rng = np.random.default_rng(0)
def fill(tmp):
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=({big}, 49, 1280))
    for s in range(0, {big}, 256):
        out[s:s + 256] = rng.normal(size=(min(256, {big} - s), 49, 1280)).astype(np.float16)
    out.flush()
write_artifact({work!r} + "/long.npy", fill, made_by="02_targets", params=dict(shape=[{big}, 49, 1280]))
_result = {{}}
""")
    baseline = run_isolated(SETUP + "_result = {}\nfrom neurrator.vlm.demo import DemoBackend\nDemoBackend(cache_dir='/tmp')")
    reads = {}
    for name, frames in (("movie", n), ("long", big)):
        reads[name] = run_isolated(SETUP + f"""
from neurrator.vlm.demo import DemoBackend
DemoBackend(cache_dir='/tmp')  # the model is resident while training reads targets
array = StoredTargets({work!r} + "/{name}.npy", ({frames}, 49, 1280))
rng = np.random.default_rng(0)
start = time.perf_counter()
for _ in range(20):
    batch = array.rows(rng.choice({frames}, 64, replace=False))
_result = dict(frames={frames}, batches_per_s=round(20 / (time.perf_counter() - start), 1))
""")
    mapped = run_isolated(SETUP + f"""
from neurrator.vlm.demo import DemoBackend
DemoBackend(cache_dir='/tmp')
array = np.load({work!r} + "/long.npy", mmap_mode="r")   # the alternative: a memory map
rng = np.random.default_rng(0)
start = time.perf_counter()
for _ in range(20):
    batch = array[np.sort(rng.choice({big}, 64, replace=False))].astype(np.float32)
_result = dict(frames={big}, batches_per_s=round(20 / (time.perf_counter() - start), 1))
""")
    reference = run_isolated(SETUP + f"""
array = np.load({work!r} + "/movie.npy").astype(np.float32)   # reference: whole table in RAM as float32
rng = np.random.default_rng(0)
start = time.perf_counter()
for _ in range(20):
    batch = array[rng.choice({n}, 64, replace=False)]
_result = dict(frames={n}, batches_per_s=round(20 / (time.perf_counter() - start), 1))
""")
    batch_mb = 64 * 49 * 1280 * 4 / 2**20
    model_mb = baseline["peak_rss_mb"]
    result = {
        "write_900_frames": write,
        "process_with_model_only_mb": model_mb,
        "one_batch_float32_mb": round(batch_mb, 1),
        "read_random_batches": reads,
        "memory_mapped_reads_long": mapped,
        "reference_float32_table_in_ram": reference,
        "read_peak_over_model_mb": {k: round(v["peak_rss_mb"] - model_mb, 1) for k, v in reads.items()},
        "memory_mapped_read_peak_over_model_mb": round(mapped["peak_rss_mb"] - model_mb, 1),
        "limit_2_batches_mb": round(2 * batch_mb, 1),
        "paper_shapes_float32_table_gb": {"900": round(900 * 576 * 1024 * 4 / 1e9, 2), "3600": round(3600 * 576 * 1024 * 4 / 1e9, 2)},
        "paper_shapes_float16_store_gb": {"900": round(900 * 576 * 1024 * 2 / 1e9, 2), "3600": round(3600 * 576 * 1024 * 2 / 1e9, 2)},
        "paper_batch_of_64_float32_mb": round(64 * 576 * 1024 * 4 / 2**20, 1),
    }
    for key, value in result.items():
        print(f"{key:>34}: {value}")
    print("saved", save("target_store", result))


if __name__ == "__main__":
    main()
