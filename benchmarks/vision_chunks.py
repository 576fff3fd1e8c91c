"""Frames per EfficientNet-Lite0 pass on a CPU: the world's float64 mid-level features and the demo targets.

The demo world computes EfficientNet-Lite0's 14 x 14 x 80 stage in float64 for every stimulus frame
(``neurrator.world.neurons.midlevel_features``) and chapter 02 computes the float32 target grids
(``EfficientNetGrid``). Both are memory-bound on a CPU: 32 frames a pass make activations of
~100 MB (float64) that spill out of cache. This times the old batch (32) against the new defaults
(1 and 4) on the same frames in one run, and checks that the float16 results are identical.
Usage: .venv/bin/python benchmarks/vision_chunks.py [--frames N]  (about 2 minutes on two cores for 300)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from measure import save


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()

    from neurrator.vlm.efficientnet import EfficientNetGrid
    from neurrator.world.neurons import midlevel_features
    from neurrator.world.stimuli import build_stimuli

    stimuli = build_stimuli(progress=False).arrays()
    frames = np.concatenate([stimuli["natural_movie_one"], stimuli["natural_scenes"]])
    frames = frames[np.linspace(0, len(frames) - 1, args.frames).astype(int)]
    midlevel_features(frames[:2])                     # warm-up: weights and kernels loaded once
    result = {"frames": int(len(frames))}

    old, t_old = _timed(lambda: midlevel_features(frames, chunk=32))
    new, t_new = _timed(lambda: midlevel_features(frames))
    result["midlevel_float64"] = {"chunk_old": 32, "seconds_old": round(t_old, 1), "seconds_new": round(t_new, 1),
                                  "speedup": round(t_old / t_new, 2), "identical": bool(np.array_equal(old, new))}

    vision = EfficientNetGrid()
    default = vision.chunk_size
    new, t_new = _timed(lambda: vision.grids(frames).astype(np.float16))
    vision.chunk_size = 32
    old, t_old = _timed(lambda: vision.grids(frames).astype(np.float16))
    result["target_grids_float32"] = {"chunk_old": 32, "chunk_new": default, "seconds_old": round(t_old, 1),
                                      "seconds_new": round(t_new, 1), "speedup": round(t_old / t_new, 2),
                                      "identical_float16": bool(np.array_equal(old, new))}
    for name, row in result.items():
        print(name, row)
    print("saved", save("vision_chunks", result))


if __name__ == "__main__":
    main()
