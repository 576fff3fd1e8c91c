"""The pan-session encoder's demo schedule: validation quality against training time, in one run.

Chapter 05 trains one encoder on the pan-session pseudo-mouse (every unit of every demo session, 1699
units). Its input convolution grows with the units, so chapter 03's demo preset (12 epochs of 2048
windows, lr 3e-4) takes ~5 minutes there on two cores, more than the chapter's budget. This script trains
the same model (``profiles.get("demo").encoder_preset()`` widths, sparse-random split, seed 0, 2 threads) under each candidate
schedule, each in a fresh process, and reports the best validation patch cosine and the fit time, with
the time as a ratio to chapter 03's preset: the basis of ``PAN_SESSION_OPTIONS["demo"]``.

Usage: .venv/bin/python benchmarks/pan_session_schedule.py [--data-dir DIR]   (about 12 minutes)
Inputs (demo): notebooks 01_preprocess (binned sessions) and 02_targets (target store).
"""

from __future__ import annotations

import argparse

from measure import run_isolated, save

SCHEDULES = {   # name: overrides of profiles.get("demo").encoder_preset()
    "chapter 03 preset (12 x 2048, lr 3e-4)": {},
    "6 x 1024, lr 3e-4": {"max_epochs": 6, "windows_per_epoch": 1024, "val_windows": 512},
    "6 x 1024, lr 1e-3": {"max_epochs": 6, "windows_per_epoch": 1024, "val_windows": 512, "lr": 1e-3},
    "6 x 1024, lr 2e-3": {"max_epochs": 6, "windows_per_epoch": 1024, "val_windows": 512, "lr": 2e-3},
}

TRAIN = """
import time
from neurrator.data.pseudomice import pan_session_mouse
from neurrator.data.windows import regime_windows
from neurrator.layout import DataLayout
from neurrator import profiles
from neurrator.models.training import SpikeDecoder
from neurrator.vlm.targets import PatchTargetStore

layout = DataLayout.resolve({data_dir!r}, "demo")
binned = pan_session_mouse(layout, "natural_movie_one").as_binned()
data = regime_windows(binned, "sparse_random", seed=0)
encoder, train = profiles.get("demo").encoder_preset(**{overrides!r})
decoder = SpikeDecoder("patches", encoder, train, progress=False)
started = time.perf_counter()
decoder.fit(data.train, data.val, PatchTargetStore(layout.targets).open("natural_movie_one"), resume=False)
_result = {{"fit_seconds": round(time.perf_counter() - started, 1), "units": int(binned.counts.shape[1]),
           "best_val_cosine": round(float(decoder.history_["val_score"].max()), 3),
           "val_cosine_by_epoch": [round(float(v), 3) for v in decoder.history_["val_score"]]}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    rows = {name: run_isolated(TRAIN.format(data_dir=args.data_dir, overrides=overrides), timeout=3600)
            for name, overrides in SCHEDULES.items()}
    reference = rows["chapter 03 preset (12 x 2048, lr 3e-4)"]["fit_seconds"]
    print(f"{'schedule':42s} {'best val cosine':>16s} {'fit s':>7s} {'time / ch03 preset':>19s}")
    for name, row in rows.items():
        row["time_ratio_to_chapter03_preset"] = round(row["fit_seconds"] / reference, 2)
        print(f"{name:42s} {row['best_val_cosine']:16.3f} {row['fit_seconds']:7.0f} {row['time_ratio_to_chapter03_preset']:19.2f}")
    print(save("pan_session_schedule", {"schedules": SCHEDULES, "results": rows}))


if __name__ == "__main__":
    main()
