"""Demo narrator: batched narration (``narrate``) against one grid at a time, in the same run.

Uses 32+ grids with distinct label sets (so the narration cache cannot help) from packaged
photographs and their mirror images, crops and contrast changes. The cache is cleared before the
batched run so both sides decode every sentence.

Usage: .venv/bin/python benchmarks/narration_batching.py [--batch-size 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from measure import save
from neurrator.book.environment import quiet_model_loading
from neurrator.world.images import packaged_photographs
from neurrator.vlm.demo import DemoBackend


def varied_frames() -> np.ndarray:
    photos, _ = packaged_photographs()
    variants = [photos, photos[:, :, ::-1], photos[:, 40:-40, 80:-80], (photos * 0.6).astype(np.uint8)]
    from neurrator.world.images import to_allen_frame

    return np.stack([to_allen_frame(f) for group in variants for f in group])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    quiet_model_loading()
    backend = DemoBackend(cache_dir=tempfile.mkdtemp(prefix="narration-bench-"))
    grids = backend.compute_targets(varied_frames())
    labels = backend.labels(grids)
    _, first = np.unique([backend.writer.decoder_input(l) for l in labels], return_index=True)
    grids = grids[np.sort(first)][: args.batch_size]  # distinct decoder inputs only
    backend.narrate(grids[:2])  # warm-up (model load, first-call overheads)

    start = time.perf_counter()
    single = backend.narrate_one_at_a_time(grids)
    single_s = time.perf_counter() - start
    backend.writer.cache.clear()
    start = time.perf_counter()
    batched = backend.narrate(grids, batch_size=args.batch_size)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    backend.narrate(grids, batch_size=args.batch_size)
    cached_s = time.perf_counter() - start

    result = {
        "grids": len(grids), "batch_size": args.batch_size,
        "one_at_a_time_s": round(single_s, 2), "batched_s": round(batched_s, 2), "cached_repeat_s": round(cached_s, 3),
        "throughput_ratio_batched_vs_single": round(single_s / batched_s, 2),
        "identical_sentences": single == batched,
        "examples": [{"labels": list(l), "sentence": s} for l, s in zip(backend.labels(grids[:10]), batched[:10])],
    }
    for key, value in result.items():
        print(f"{key:>34}: {value}")
    print("saved", save("narration_batching", result))


if __name__ == "__main__":
    main()
