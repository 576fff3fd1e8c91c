"""Peak memory of chapter 03's held-out step at the paper's shapes: streamed predictions and chunked metrics
against the implementation they replace, in the same run.

Synthetic data at the paper's shapes: a target store of 3600 frames x 576 patches x 1024 (float16, 4.2 GB on
disk), 2000 neurons, two test windows per frame, and a decoder with the paper's widths (``EncoderConfig()``,
random weights: memory does not depend on training). Each scenario runs in a fresh process
(``measure.run_isolated``) and reports its peak RSS above the RSS it had once the model and the spike data were
in memory ("above the model"). What each scenario does is chapter 03's section 3 for one regime:
predict every frame (averaged over its windows), write the predictions file, then patch cosine against the
frames' own and shuffled targets, CKA, retrieval ranks and KNN purity of the patch-averaged grids.

- ``streamed`` (this project): ``SpikeDecoder.predict_by_frame`` -> ``write_predictions`` (blocks of frames,
  float32 sums, batches of at most 128 MB of outputs) -> ``read_predictions`` rows on disk ->
  ``metrics.mean_patch_cosine`` / ``metrics.patch_means`` a chunk at a time.
- ``in_memory`` (the code before): ``predict(by_frame=True)`` summing every frame's grid in one float64 array in
  batches of 256 windows, ``np.savez`` of the whole float16 array, the held-out targets read whole as float32,
  and the float64 patch cosine of whole arrays.

``in_memory`` does not fit this machine at 3600 frames (its sums alone are 3600 x 576 x 1024 x 8 B = 17 GB),
so both run at two small sizes, and its need at 3600 frames is extrapolated from them (peak grows linearly
with frames); ``streamed`` also runs at 3600 frames.

Usage: .venv/bin/python benchmarks/predict_memory.py [--frames 3600] [--small 150 300] [--work DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from measure import run_isolated, save

PATCHES, DIM, NEURONS, WINDOWS_PER_FRAME = 576, 1024, 2000, 2

PREPARE = """
import numpy as np
rng = np.random.default_rng(0)
store = np.lib.format.open_memmap({store!r}, mode="w+", dtype=np.float16, shape=({frames}, {patches}, {dim}))
for start in range(0, {frames}, 100):
    stop = min(start + 100, {frames})
    store[start:stop] = rng.normal(size=(stop - start, {patches}, {dim})).astype(np.float16)
store.flush()
del store
_result = {{}}
"""

SETUP = """
import re, numpy as np, torch
from neurrator.data.splits import zscore_stats
from neurrator.data.windows import SpikeWindows
from neurrator.evaluation import metrics
from neurrator.models.objectives import Outputs, pooled_targets
from neurrator.models.training import EncoderConfig, SpikeDecoder, TrainConfig
from neurrator.vlm.targets import StoredTargets
torch.set_num_threads(2)
FRAMES, STORE_FRAMES, PER = {frames}, {store_frames}, {per}
rng = np.random.default_rng(1)
counts = rng.poisson(0.3, size=(FRAMES * PER + 20, {neurons})).astype(np.uint8)   # one bin per window, 10 bins of margin
frame = np.concatenate([np.full(10, -1), np.tile(np.arange(FRAMES), PER), np.full(10, -1)])
centres = np.arange(10, 10 + FRAMES * PER)
mean, std = zscore_stats(counts, np.ones(len(counts), bool))
test = SpikeWindows(counts, frame, centres, mean, std)
decoder = SpikeDecoder("patches", EncoderConfig(), TrainConfig(), progress=False)
decoder.outputs_, decoder.zscore_ = Outputs(({patches}, {dim})), (mean, std)
decoder.model_ = decoder._build({neurons}).eval()
store = StoredTargets({store!r}, (STORE_FRAMES, {patches}, {dim}))
def rss_mb(field):
    return int(re.search(field + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
BASE = rss_mb("VmRSS")
def finish(frame_ids, pooled, rows):
    pooled_all = pooled_targets(store, np.arange(FRAMES))
    labels = frame_ids % 20
    rows.update({{"CKA": metrics.linear_cka(pooled, pooled_all[frame_ids]),
                 "median rank": float(np.median(metrics.ranks_among(pooled, pooled_all, frame_ids))),
                 "KNN purity": metrics.knn_purity(pooled, labels)}})
    return {{"frames": FRAMES, "windows": len(test), "rss_after_model_mb": round(BASE, 1),
            "peak_above_model_mb": round(rss_mb("VmHWM") - BASE, 1), **{{k: round(v, 4) for k, v in rows.items()}}}}
"""

STREAMED = """
from neurrator.models.predictions import read_predictions, write_predictions
from neurrator.rowfiles import select
frame_ids, blocks = decoder.predict_by_frame(test)
predicted = read_predictions(write_predictions({out!r}, frame_ids, blocks, made_by="03_train", out_shape=decoder.out_shape_), made_by="03_train")
shuffle = np.random.default_rng(0).permutation(len(frame_ids))
rows = {{"patch cosine": metrics.mean_patch_cosine(predicted.outputs, select(store, frame_ids)),
        "patch cosine (shuffled)": metrics.mean_patch_cosine(predicted.outputs, select(store, frame_ids[shuffle]))}}
_result = finish(frame_ids, metrics.patch_means(predicted.outputs), rows)
"""

IN_MEMORY = """
def predict_in_memory(windows, batch_size=256):   # SpikeDecoder.predict(by_frame=True) before the change
    frames_all = windows.frames[windows.centres].astype(np.int64)
    frame_ids, slot = np.unique(frames_all, return_inverse=True)
    sums = torch.zeros((len(frame_ids), *decoder.out_shape_), dtype=torch.float64)
    counts = np.bincount(slot, minlength=len(frame_ids))
    slot = torch.from_numpy(slot)
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            index = np.arange(start, min(start + batch_size, len(windows)))
            x, _ = windows.batch(index)
            sums.index_add_(0, slot[index], decoder.model_(x).float().double())
    return frame_ids, (sums.numpy() / counts.reshape(-1, 1, 1)).astype(np.float32)

def cosine_in_memory(p, t):   # metrics.mean_patch_cosine before the change
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    return float(np.mean((p * t).sum(-1) / np.maximum(np.linalg.norm(p, axis=-1) * np.linalg.norm(t, axis=-1), 1e-12)))

frame_ids, grids = predict_in_memory(test)
np.savez({out!r}, frame_ids=frame_ids, outputs=grids.astype(np.float16))
true = store.rows(frame_ids)
shuffle = np.random.default_rng(0).permutation(len(frame_ids))
rows = {{"patch cosine": cosine_in_memory(grids, true), "patch cosine (shuffled)": cosine_in_memory(grids, true[shuffle])}}
_result = finish(frame_ids, grids.mean(1), rows)
"""


def scenario(body: str, frames: int, store: Path, store_frames: int, out: Path) -> dict:
    values = dict(frames=frames, store_frames=store_frames, per=WINDOWS_PER_FRAME, neurons=NEURONS,
                  patches=PATCHES, dim=DIM, store=str(store), out=str(out))
    return run_isolated(SETUP.format(**values) + body.format(**values), timeout=7200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3600)
    parser.add_argument("--small", type=int, nargs=2, default=[150, 300])
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (needs 2 x 4.2 GB at 3600 frames)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work) as scratch:
        work = Path(scratch)
        store = work / "targets.npy"
        run_isolated(PREPARE.format(store=str(store), frames=args.frames, patches=PATCHES, dim=DIM), timeout=3600)
        runs = []
        for frames in args.small:
            for name, body in (("in_memory", IN_MEMORY), ("streamed", STREAMED)):
                runs.append({"implementation": name, **scenario(body, frames, store, args.frames, work / f"{name}.npz")})
                print(runs[-1], flush=True)
        runs.append({"implementation": "streamed", **scenario(STREAMED, args.frames, store, args.frames, work / "full.npz")})
        print(runs[-1], flush=True)

    (a, b), paper = args.small, args.frames
    peaks = {name: [r["peak_above_model_mb"] for r in runs[:4] if r["implementation"] == name] for name in ("in_memory", "streamed")}
    slope = (peaks["in_memory"][1] - peaks["in_memory"][0]) / (b - a)
    need = peaks["in_memory"][1] + slope * (paper - b)
    streamed_full = runs[-1]["peak_above_model_mb"]
    summary = {"frames": paper, "patches": PATCHES, "dim": DIM, "windows_per_frame": WINDOWS_PER_FRAME,
               "in_memory_mb_per_frame": round(slope, 2),
               "in_memory_peak_above_model_mb_extrapolated": round(need),
               "streamed_peak_above_model_mb": streamed_full,
               "ratio_in_memory_over_streamed": round(need / streamed_full, 1),
               f"measured_ratio_at_{b}_frames": round(peaks["in_memory"][1] / peaks["streamed"][1], 2),
               "goal_mb": 3 * 1024, "meets_goal": streamed_full < 3 * 1024}
    print(summary)
    print("saved", save("predict_memory", {"runs": runs, "summary": summary}))


if __name__ == "__main__":
    main()
